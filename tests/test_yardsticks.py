"""The FD yardsticks: real images altered in known ways, whose domain FD over the floor a generator's is read
against. The alterations keep the count and the class balance, do what their words say, and are the same on
every run."""

import numpy as np
import pytest
import torch

from genaug import yardsticks as ys


def _dots(n: int) -> torch.Tensor:
    """n black 1x28x28 images with one white pixel at the centre."""
    x = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    x[:, 0, 14, 14] = 255
    return x


def test_a_repeated_draw_keeps_the_count_and_balance_with_a_fraction_of_the_images():
    labels = torch.tensor([0] * 100 + [1] * 100 + [2] * 19)
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)
    out = ys.YARDSTICKS["repeat10"][1](images, labels)
    assert out.shape == images.shape
    values = out[:, 0, 0, 0]
    for c, lo, hi, distinct in [(0, 0, 100, 10), (1, 100, 200, 10), (2, 200, 219, 1)]:
        mine = values[lo:hi]
        assert len(mine.unique()) == distinct and (labels[mine.long()] == c).all()  # the class's own images
        assert (torch.bincount(mine.long()) <= 10 + (c == 2) * 9).all()  # each at most 10 times (19 of one)


def test_a_shift_moves_every_image_by_at_most_its_pixels_and_uses_every_offset():
    torch.manual_seed(0)
    out = ys.YARDSTICKS["shift1"][1](_dots(400), torch.zeros(400, dtype=torch.long))
    where = torch.nonzero(out[:, 0] == 255)  # (image, row, column), one white pixel each
    assert len(where) == 400 and (where[:, 0] == torch.arange(400)).all()
    offsets = {(int(r) - 14, int(c) - 14) for r, c in where[:, 1:]}
    assert offsets == {(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)}


def test_a_blur_spreads_a_dot_and_keeps_uint8():
    out = ys.YARDSTICKS["blur1"][1](_dots(2), torch.zeros(2, dtype=torch.long))
    assert out.dtype == torch.uint8 and out.shape == (2, 1, 28, 28)
    assert 0 < int(out[0, 0, 14, 14]) < 255 and int(out[0, 0, 14, 15]) > 0 and int(out[0, 0, 14, 18]) == 0


def test_every_yardstick_has_words_and_unknown_keys_are_shown_as_they_are():
    assert all(ys.describe(k).startswith("real images") for k in ys.YARDSTICKS)
    assert ys.describe("warp3") == "warp3"


def test_scores_are_the_same_on_every_call_and_leave_the_callers_random_state_alone():
    from genaug.classifiers import build_classifier
    from genaug.metrics import features

    torch.manual_seed(0)
    net = build_classifier("cnn", (1, 28, 28), 2).eval()  # untrained: any fixed feature map will do here
    gen = torch.Generator().manual_seed(1)
    images = (torch.rand(200, 1, 28, 28, generator=gen) * 255).to(torch.uint8)
    labels = torch.arange(200) % 2
    real = features(net, images[:100]).astype(np.float64)
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    first = ys.score_yardsticks(net, real, [(images[100:], labels[100:])], floor_fd=2.0)
    assert torch.rand(1) == before  # the caller's stream is where it was
    assert first == ys.score_yardsticks(net, real, [(images[100:], labels[100:])], floor_fd=2.0)
    assert set(first) == set(ys.YARDSTICKS)
    assert all(v["ratio"] == pytest.approx(v["domain_fd"] / 2.0) and np.isfinite(v["domain_fd"])
               for v in first.values())
