"""The Fréchet distance against known cases."""

import numpy as np
import pytest

from genaug.errors import GenaugError
from genaug.metrics import frechet_distance


def test_a_set_is_at_distance_about_zero_from_itself():
    a = np.random.default_rng(0).normal(size=(2000, 8))
    assert abs(frechet_distance(a, a)) < 1e-6


def test_gaussians_give_the_closed_form():
    """N(0, I) vs N(m, s^2 I) in d dims: |m|^2 + d (1 - s)^2, from 20,000 samples each."""
    rng = np.random.default_rng(1)
    d, m, s = 4, np.array([1.0, -2.0, 0.0, 0.5]), 2.0
    a = rng.normal(size=(20000, d))
    b = m + s * rng.normal(size=(20000, d))
    expected = float((m ** 2).sum() + d * (1 - s) ** 2)  # 5.25 + 4 = 9.25
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.03)


def test_singular_covariances_stay_finite_and_too_few_samples_are_refused():
    a = np.zeros((50, 3))
    a[:, 0] = np.random.default_rng(2).normal(size=50)
    assert np.isfinite(frechet_distance(a, a + 1.0))
    with pytest.raises(GenaugError, match="at least 2 samples"):
        frechet_distance(a[:1], a)
