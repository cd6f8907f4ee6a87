"""The DVAE's six corruptions do what their names and strengths say, batched, and under vmap."""

import math

import pytest
import torch
from torch.func import vmap

from genaug.generators.corruptions import CORRUPTIONS, DEFAULT_STRENGTH, blur_kernel, corrupt


def blob(n=16, size=28, sigma=3.0):
    """Centred Gaussian blobs with some off-centre mass, all well inside the frame."""
    t = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(t[:, None] ** 2 + (t[None, :] - 3) ** 2) / (2 * sigma**2))
    return (0.9 * g).expand(n, 1, size, size).clone()


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def test_gaussian_adds_zero_mean_noise_of_the_given_std():
    x = torch.full((64, 1, 28, 28), 0.5)
    d = corrupt(x, "gaussian", 0.1) - x
    assert abs(d.mean().item()) < 0.005 and d.std().item() == pytest.approx(0.1, rel=0.03)


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.3])
def test_salt_pepper_sets_exactly_the_requested_fraction_of_pixels(fraction):
    x = torch.full((32, 3, 28, 28), 0.5)
    out = corrupt(x, "salt_pepper", fraction)
    hit = (out != 0.5).all(1)  # a pixel position is hit in every channel at once
    assert ((out != 0.5).any(1) == hit).all()
    assert (hit.flatten(1).sum(1) == round(fraction * 28 * 28)).all()
    values = out[:, 0][hit]
    assert set(values.unique().tolist()) == {0.0, 1.0}
    assert 0.4 < values.mean().item() < 0.6  # about as much salt as pepper


def test_rotation_preserves_mass_and_turns_by_at_most_the_strength():
    x = blob()
    out = corrupt(x, "rotation", 30.0)
    assert torch.allclose(out.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.02)
    assert not torch.allclose(out, x, atol=0.05)  # it did turn
    # The blob's centre of mass moves on a circle by the angle: at most 30 degrees.
    t = torch.arange(28, dtype=torch.float32) - 13.5
    def centre(im):
        m = im.sum((1, 2, 3))
        return (im[:, 0] * t[None, None, :]).sum((1, 2)) / m, (im[:, 0] * t[None, :, None]).sum((1, 2)) / m
    (x0, y0), (x1, y1) = centre(x), centre(out)
    angle = torch.rad2deg(torch.atan2(y1, x1) - torch.atan2(y0, x0)).abs()
    assert (angle <= 30.5).all() and angle.max() > 5
    assert torch.allclose(corrupt(x, "rotation", 0.0), x, atol=1e-5)


def test_brightness_shifts_each_image_by_one_offset_within_the_strength():
    x = torch.rand(64, 1, 28, 28) * 0.2 + 0.4  # far from 0 and 1: no clipping at strength 0.3
    d = corrupt(x, "brightness", 0.3) - x
    per_image = d.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-6)
    assert (per_image[:, 0].abs() <= 0.3 + 1e-6).all() and per_image[:, 0].std() > 0.1


def test_contrast_scales_deviations_about_the_mean_within_the_strength():
    x = torch.rand(64, 1, 28, 28) * 0.2 + 0.4
    out = corrupt(x, "contrast", 0.5)
    assert torch.allclose(out.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=1e-5)
    factor = out.std((1, 2, 3)) / x.std((1, 2, 3))
    assert (factor >= 0.5 - 1e-4).all() and (factor <= 1.5 + 1e-4).all() and factor.std() > 0.1


def test_blur_is_a_normalised_gaussian_that_keeps_mass_and_smooths():
    k = blur_kernel(1.5)
    assert k.sum().item() == pytest.approx(1.0) and len(k) == 2 * math.ceil(4.5) + 1
    x = blob(sigma=1.0)
    out = corrupt(x, "blur", 1.5)
    assert torch.allclose(out.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=1e-4)
    assert out.max() < 0.6 * x.max()
    # Blurring twice by s equals once by s * sqrt(2) (Gaussians compose).
    twice = corrupt(corrupt(x, "blur", 1.0), "blur", 1.0)
    assert torch.allclose(twice, corrupt(x, "blur", math.sqrt(2)), atol=2e-3)
    assert torch.equal(corrupt(x, "blur", 0.0), x)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_corruption_stays_in_range_keeps_shape_and_runs_under_vmap(name):
    x = torch.rand(3, 8, 3, 32, 32)  # 3 stacked models' batches, RGB 32x32
    out = vmap(lambda b: corrupt(b, name), randomness="different")(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, x)
    if name != "blur":  # blur is deterministic; the others draw fresh randomness per stacked model
        assert not torch.allclose(out[0] - x[0], out[1] - x[1])
    assert DEFAULT_STRENGTH[name] > 0
