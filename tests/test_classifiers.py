"""The 000 CNN and the shared early-stopping training loop, on real digits."""

import numpy as np
import pytest
import torch

from genaug.classifiers import CNN, TrainConfig, build_classifier, fit_classifier, predict
from genaug.errors import GenaugError
from genaug.scoring import classification_scores


def test_cnn_has_000s_parameter_count_and_a_128d_embedding():
    net = CNN(1, 28, 10)
    assert sum(p.numel() for p in net.parameters()) == 1_658_890
    assert net.embed(torch.rand(3, 1, 28, 28)).shape == (3, 128)


def test_cnn_builds_for_rgb_32px():
    net = build_classifier("cnn", (3, 32, 32), 7)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("channels,side", [(1, 28), (3, 32)])
def test_resnet18_keeps_spatial_resolution_for_small_images(channels, side):
    net = build_classifier("resnet18", (channels, side, side), 10)
    assert net.body.conv1.kernel_size == (3, 3) and net.body.conv1.stride == (1, 1)
    assert net.body.conv1.in_channels == channels and isinstance(net.body.maxpool, torch.nn.Identity)
    x = torch.rand(2, channels, side, side)
    assert net(x).shape == (2, 10) and net.embed(x).shape == (2, 512)
    # torchvision's resnet18 body (11.17 M weights) with a 3x3 stem instead of 7x7
    assert 11.1e6 < sum(p.numel() for p in net.parameters()) < 11.2e6


def test_softmax_regression_is_one_linear_layer_on_pixels():
    net = build_classifier("softmax", (1, 28, 28), 10)
    assert sum(p.numel() for p in net.parameters()) == 784 * 10 + 10
    assert net.embed(torch.rand(4, 1, 28, 28)).shape == (4, 784)


@pytest.mark.parametrize("arch,epochs,floor", [
    pytest.param("resnet18", 3, 0.7, marks=pytest.mark.slow),  # about a minute on one CPU core
    ("softmax", 15, 0.8),
])
def test_resnet18_and_softmax_learn_digits(digits, quiet, arch, epochs, floor):
    torch.manual_seed(0)
    net = build_classifier(arch, digits.image_shape, 10)
    cfg = TrainConfig(max_epochs=epochs, patience=epochs)
    result = fit_classifier(net, digits.train_x[:600], digits.train_y[:600], digits.train_x[600:800],
                            digits.train_y[600:800], cfg, seed=0, log=quiet)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    test_acc = (predict(net, digits.test_x).argmax(1) == digits.test_y).float().mean().item()
    assert test_acc > floor, test_acc


def test_unknown_classifier():
    with pytest.raises(GenaugError, match="unknown classifier 'vit'"):
        build_classifier("vit", (1, 28, 28), 10)


def test_training_learns_digits_and_keeps_the_best_validation_epoch(digits, quiet):
    torch.manual_seed(0)
    x, y = digits.train_x[:600], digits.train_y[:600]
    vx, vy = digits.train_x[600:800], digits.train_y[600:800]
    net = build_classifier("cnn", digits.image_shape, 10)
    result = fit_classifier(net, x, y, vx, vy, TrainConfig(max_epochs=6, patience=2), seed=0, log=quiet)
    val_acc = (predict(net, vx).argmax(1) == vy).float().mean().item()
    assert val_acc == pytest.approx(result.best_val_accuracy)  # the restored weights are the best epoch's
    assert result.best_val_accuracy == max(h["val_accuracy"] for h in result.history)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    test_acc = (predict(net, digits.test_x).argmax(1) == digits.test_y).float().mean().item()
    assert test_acc > 0.8


def test_early_stopping_stops_after_patience(digits, quiet):
    torch.manual_seed(0)
    net = build_classifier("cnn", digits.image_shape, 10)
    # A learning rate of 0 never improves on the first epoch.
    cfg = TrainConfig(max_epochs=20, patience=3, lr=0.0)
    result = fit_classifier(net, digits.train_x[:100], digits.train_y[:100], digits.train_x[100:200],
                            digits.train_y[100:200], cfg, seed=0, log=quiet)
    assert result.best_epoch == 0 and result.epochs_run == 4


def test_scores_match_their_definitions():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    s = classification_scores(y_true, y_pred, ["a", "b", "c"])
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert s["per_class"]["c"]["recall"] == pytest.approx(0.5)
    assert s["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
