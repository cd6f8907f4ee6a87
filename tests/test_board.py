"""Optional TensorBoard event files: written live by the training loops when asked, and only then."""

import pytest
import torch

from genaug import board
from genaug.classifiers import TrainConfig, build_classifier, fit_classifier
from genaug.config import ConfigError, check
from genaug.generators.base import train_loop

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def events(folder):
    acc = EventAccumulator(str(folder))
    acc.Reload()
    return acc


def test_training_loops_write_losses_and_validation_accuracy_when_asked(tmp_path, monkeypatch, digits, quiet):
    monkeypatch.setenv(board.ENV, "True")  # what jobenv sets from `tensorboard: true`
    w = torch.nn.Parameter(torch.tensor([3.0]))
    with board.beside(tmp_path / "gen" / "model.pt"):
        train_loop({"w": w}, lambda step, phase: ((w ** 2).sum(), {}), steps=40, lr=0.1, name="toy", log=quiet)
    losses = events(tmp_path / "gen" / "tensorboard").Scalars("toy/loss")
    assert len(losses) == 20 and losses[-1].value < losses[0].value and losses[-1].step == 40

    net = build_classifier("softmax", digits.image_shape, 10)
    with board.beside(tmp_path / "clf" / "metrics.json") as b:
        fit_classifier(net, digits.train_x[:300], digits.train_y[:300], digits.train_x[300:400],
                       digits.train_y[300:400], TrainConfig(max_steps=30, eval_every=5, patience_steps=30),
                       seed=0, log=quiet)
        b.image("samples/grid", _png(tmp_path / "grid.png"))
    acc = events(tmp_path / "clf" / "tensorboard")
    assert [e.step for e in acc.Scalars("classifier/val_accuracy")] == [5, 10, 15, 20, 25, 30]
    assert len(acc.Scalars("classifier/train_loss")) == 6 and acc.Tags()["images"] == ["samples/grid"]


def test_nothing_is_written_when_it_is_off(tmp_path, monkeypatch, quiet):
    monkeypatch.delenv(board.ENV, raising=False)
    w = torch.nn.Parameter(torch.tensor([3.0]))
    with board.beside(tmp_path / "model.pt"):
        train_loop({"w": w}, lambda step, phase: ((w ** 2).sum(), {}), steps=10, lr=0.1, name="toy", log=quiet)
    assert not (tmp_path / "tensorboard").exists()


def test_asking_for_it_without_the_extra_is_refused_at_config_time(monkeypatch):
    import yaml

    from .helpers import REPO

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["tensorboard"] = True
    monkeypatch.setattr(board, "available", lambda: False)
    with pytest.raises(ConfigError, match=r'tensorboard: true needs the tensorboard package: '
                                          r'pip install -e "\.\[tensorboard\]"'):
        check(config)


def _png(path):
    from PIL import Image

    Image.new("RGB", (20, 10), (200, 30, 30)).save(path)
    return path
