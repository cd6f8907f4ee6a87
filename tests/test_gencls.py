"""003's generative classifiers: the batched distances match a direct loop, vote fractions and
neighbourhood probabilities sum to 1, perfectly separated classes are classified perfectly and
identical ones at chance, and the discriminator baseline reads every class's discriminator."""

import numpy as np
import pytest
import torch

from genaug import config as gcfg
from genaug import generators as gens
from genaug.gencls import (classify, discriminator_margin, discriminator_scores, distances, nearest_class,
                           neighbourhood_probs, vote_fractions)


def test_batched_distances_match_a_direct_loop():
    g = torch.Generator().manual_seed(0)
    test, samples = torch.rand(7, 5, generator=g), torch.rand(3, 4, 5, generator=g)
    got = distances(test, samples, chunk=3)
    for t in range(7):
        for c in range(3):
            for j in range(4):
                assert got[t, c, j] == pytest.approx(float(torch.linalg.norm(test[t] - samples[c, j])), abs=1e-5)


def test_nearest_class_averages_the_L_smallest_distances():
    # class 0: one very near sample and far others; class 1: all moderately near
    dist = torch.tensor([[[0.1, 9.0, 9.0], [1.0, 1.0, 1.0]]])
    assert nearest_class(dist, L=1).item() == 0
    assert nearest_class(dist, L=2).item() == 1


def test_vote_fractions_and_neighbourhood_probabilities_sum_to_one():
    winners = torch.randint(0, 4, (7, 50), generator=torch.Generator().manual_seed(1))
    v = vote_fractions(winners, 4)
    assert torch.allclose(v.sum(1), torch.ones(50)) and (v * 7).round().eq(v * 7).all()
    dist = torch.rand(50, 4, 10, generator=torch.Generator().manual_seed(2))
    p = neighbourhood_probs(dist, mu=0.1)
    assert torch.allclose(p.sum(1), torch.ones(50))


def toy(separated: bool, k=3, m=30, d=6, per_class=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * (20 if separated else 0)
    test = torch.cat([centres[c] + torch.randn(per_class, d, generator=g) for c in range(k)])
    labels = torch.arange(k).repeat_interleave(per_class)

    def draw(r):
        gr = torch.Generator().manual_seed(100 + r)
        s = centres[:, None, :] + torch.randn(k, m, d, generator=gr)
        return {"pixel": s, "latent": s * 2}

    probs = classify({"pixel": test, "latent": test * 2}, draw, k, m=m, L=5, N=5, mu=0.05)
    return {name: float((p.argmax(1) == labels).float().mean()) for name, p in probs.items()}, probs


def test_separated_classes_are_classified_perfectly():
    acc, probs = toy(separated=True)
    assert set(acc) == {"M1", "M2", "M3", "M4"}
    assert all(a == 1.0 for a in acc.values()), acc
    for p in probs.values():
        assert torch.allclose(p.sum(1), torch.ones(len(p)))


def test_identical_classes_are_classified_at_chance():
    acc, _ = toy(separated=False)
    assert all(0.23 < a < 0.43 for a in acc.values()), acc


def test_the_discriminator_baseline_reads_each_class_discriminator(digits):
    x = digits.train_x[:40].float() / 255
    for name in ("gan", "cgan"):
        spec = gcfg.generator_spec({"models": {}, "effort": "smoke"}, name)
        model = gens.build(spec, digits.image_shape, digits.num_classes).eval()
        if name == "gan":
            model.trained[:] = True
            model.trained[3] = False  # a class without a model can never win
        scores = discriminator_scores(model, x, digits.num_classes)
        assert scores.shape == (40, 10)
        if name == "gan":
            assert torch.isinf(scores[:, 3]).all() and np.isfinite(np.delete(scores.numpy(), 3, 1)).all()
        else:
            assert torch.isfinite(scores).all() and scores.std(1).gt(0).all()
    vae = gens.build(gcfg.generator_spec({"models": {}, "effort": "smoke"}, "vae"), digits.image_shape, 10)
    assert discriminator_scores(vae, x, 10) is None


def test_the_discriminator_margin_averages_own_and_other_class_scores():
    scores = torch.tensor([[2.0, 0.0, -torch.inf], [1.0, 4.0, -torch.inf], [3.0, 5.0, -torch.inf]])
    y = torch.tensor([0, 1, 0])
    margin = discriminator_margin(scores, y)
    # own: 2, 4, 3; others (the untrained class 2 left out): 0, 1, 5
    assert margin == {"own_class": pytest.approx(3.0), "other_classes": pytest.approx(2.0)}
