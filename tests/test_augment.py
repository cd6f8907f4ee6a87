"""Classic augmentation: each transform does what it says, batched and seeded."""

import pytest
import torch

from genaug.augment import ClassicAugment, random_erase, random_hflip, random_shift


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def centred_blobs(n=64):
    x = torch.zeros(n, 1, 28, 28)
    x[:, :, 10:18, 9:20] = torch.rand(n, 1, 8, 11)
    return x


def test_shift_moves_content_without_losing_it_when_it_fits():
    x = centred_blobs()
    y = random_shift(x, 2, gen())
    torch.testing.assert_close(y.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))
    moved = (y != x).flatten(1).any(1)
    assert 0.7 < moved.float().mean() < 1.0  # 24 of 25 offsets move the image


def test_shift_is_a_pure_translation():
    x = centred_blobs(8)
    y = random_shift(x, 3, gen(1))
    for i in range(8):  # each output equals its input rolled by some offset in [-3, 3]^2
        assert any(
            torch.equal(torch.roll(x[i], (dy, dx), dims=(1, 2)), y[i])
            for dy in range(-3, 4) for dx in range(-3, 4)
        )


def test_hflip_mirrors_about_half_of_the_images():
    x = torch.rand(400, 1, 28, 28)
    y = random_hflip(x, gen())
    flipped = torch.tensor([torch.equal(a, b.flip(-1)) for a, b in zip(y, x)])
    kept = torch.tensor([torch.equal(a, b) for a, b in zip(y, x)])
    assert (flipped | kept).all()
    assert 0.4 < flipped.float().mean() < 0.6


def test_erase_zeroes_one_box_within_the_area_range():
    x = torch.ones(500, 1, 28, 28)
    y = random_erase(x, 1.0, (0.02, 0.2), (0.3, 3.3), gen())
    erased = (y == 0).flatten(1).float().mean(1)
    assert (erased > 0).all()
    assert erased.min() >= 0.01 and erased.max() <= 0.25  # rounding of the box sides widens the range a bit
    assert erased.std() > 0.02  # boxes vary


def test_erase_probability_zero_is_identity_and_pipeline_is_seeded():
    x = torch.rand(32, 1, 28, 28)
    assert torch.equal(random_erase(x, 0.0, (0.02, 0.2), (0.3, 3.3), gen()), x)
    aug = ClassicAugment(shift=2, flip=True, erase_p=0.5)
    assert torch.equal(aug(x, gen(5)), aug(x, gen(5)))
    assert not torch.equal(aug(x, gen(5)), aug(x, gen(6)))


@pytest.mark.parametrize("dataset,folder,flip,expected", [
    ("fashion_mnist", {}, "auto", True),
    ("mnist", {}, "auto", False),
    ("digits", {}, "auto", False),
    ("folder", {}, "auto", False),  # genaug cannot tell whether a user's classes survive a mirror
    ("folder", {"mirror_safe": True}, "auto", True),
    ("digits", {}, True, True),  # an explicit setting wins
    ("fashion_mnist", {}, False, False),
])
def test_the_classic_arm_flips_only_what_is_known_or_said_to_be_mirror_safe(dataset, folder, flip, expected):
    from genaug.config import classic_spec

    spec = classic_spec({"dataset": dataset, "folder": folder, "classic": {"flip": flip}})
    assert spec["flip"] is expected
