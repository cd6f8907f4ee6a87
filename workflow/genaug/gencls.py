"""The thesis's generative classifiers M1-M4 (003, section 6.1) and its GAN-discriminator baseline.

A test image is compared with m samples drawn from each class's generator:
  M1  the mean of its L smallest pixel-space distances to each class's samples; the nearest class
      gets the vote. Repeated N times with fresh samples; class probabilities are vote fractions.
  M2  M1 in the latent space of the cell's VAE (posterior means).
  M3  the epsilon-neighbourhood Bayes estimate: epsilon is the distance that takes in a fraction mu
      of all m * k samples; P(class) is proportional to that class's count inside. Averaged over the
      N draws.
  M4  M3 in the VAE's latent space.
The baseline asks each class's discriminator how real the image looks and picks the most
convinced (a per-class GAN's, or a conditional GAN's discriminator for each label).
Distances are batched: one torch.cdist per chunk of test images against all k * m samples.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch

from . import __version__
from . import streams
from .config import check_gencls, config_default
from .data import to_float
from .device import setup as setup_device
from .errors import GenaugError
from .io import write_json
from .subsets import parse_size, scoring_indices

METHODS = ("M1", "M2", "M3", "M4")
STRATEGIES = ("per_class", "conditional", "reconstruct")  # label strategies that can be asked for a class


def distances(test: torch.Tensor, samples: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """(T, k, m) Euclidean distances of T test vectors to k classes' m sample vectors each."""
    k, m, d = samples.shape
    flat = samples.reshape(k * m, d)
    out = [torch.cdist(test[i:i + chunk], flat) for i in range(0, len(test), chunk)]
    return torch.cat(out).view(len(test), k, m)


def nearest_class(dist: torch.Tensor, L: int) -> torch.Tensor:
    """M1/M2's decision: the class whose L nearest samples are nearest on average, per test vector."""
    L = min(L, dist.shape[2])
    return dist.topk(L, dim=2, largest=False).values.mean(2).argmin(1)


def neighbourhood_probs(dist: torch.Tensor, mu: float) -> torch.Tensor:
    """M3/M4's (T, k) probabilities: each class's share of the samples within epsilon, where epsilon
    is the distance of the ceil(mu * m * k)-th nearest sample of any class."""
    t, k, m = dist.shape
    n = min(k * m, max(1, math.ceil(mu * k * m - 1e-9)))
    flat = dist.reshape(t, k * m)
    eps = flat.kthvalue(n, dim=1).values
    counts = (dist <= eps[:, None, None]).sum(2).float()
    return counts / counts.sum(1, keepdim=True)


def vote_fractions(winners: torch.Tensor, k: int) -> torch.Tensor:
    """(N, T) winning classes -> (T, k) fractions of the N rounds each class won."""
    n, t = winners.shape
    votes = torch.zeros(t, k, device=winners.device)
    votes.scatter_add_(1, winners.T, torch.ones(t, n, device=winners.device))
    return votes / n


def classify(test_views: dict, draw, k: int, *, m: int, L: int, N: int, mu: float) -> dict:
    """Class probabilities (T, k) of M1..M4 (those whose space `test_views` has).

    `test_views` maps a space ('pixel', 'latent') to the test images' vectors there; `draw(round)`
    returns that round's samples as {space: (k, m, D)}."""
    winners = {space: [] for space in test_views}
    probs = {space: 0 for space in test_views}
    for r in range(N):
        samples = draw(r)
        for space, test in test_views.items():
            dist = distances(test, samples[space])
            winners[space].append(nearest_class(dist, L))
            probs[space] = probs[space] + neighbourhood_probs(dist, mu)
    out = {}
    for space, (nearest, bayes) in {"pixel": ("M1", "M3"), "latent": ("M2", "M4")}.items():
        if space in test_views:
            out[nearest] = vote_fractions(torch.stack(winners[space]), k)
            out[bayes] = probs[space] / N
    return out


@torch.no_grad()
def discriminator_scores(model, x: torch.Tensor, num_classes: int, batch: int = 2000) -> torch.Tensor | None:
    """(T, k) realness of float images under each class's discriminator; None for a model without one."""
    from .generators import PerClass

    if isinstance(model, PerClass):
        if not all(hasattr(m, "realness") for m in model.models):
            return None
        judges = [(m, 0) if bool(model.trained[c]) else None for c, m in enumerate(model.models)]
    elif hasattr(model, "realness") and getattr(model, "conditional", False):
        judges = [(model, c) for c in range(num_classes)]
    else:
        return None
    out = torch.full((len(x), num_classes), -torch.inf, device=x.device)
    for c, judge in enumerate(judges):
        if judge is None:
            continue
        net, label = judge
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            out[i:i + batch, c] = net.realness(xb, torch.full((len(xb),), label, device=x.device, dtype=torch.long))
    return out


def discriminator_margin(scores: torch.Tensor, y: torch.Tensor) -> dict:
    """Why the discriminator baseline scores what it does: the mean score a test image gets from its own
    class's discriminator vs from the others'. A discriminator near equilibrium rates its class's real
    images about like its generator's (logit near 0) and never saw the other classes, so the own-class
    score need not be the highest."""
    own = scores.gather(1, y[:, None]).squeeze(1)
    others = torch.isfinite(scores)  # a class without a trained model scores -inf: left out
    others[torch.arange(len(y)), y] = False
    return {"own_class": float(own[torch.isfinite(own)].mean()), "other_classes": float(scores[others].mean())}


def _check_cell(generator, subset, strategy: str, y: torch.Tensor, classes: list[str]) -> str:
    """Refuse a generator that cannot draw a chosen class, and a subset lacking a class; the label strategy."""
    if strategy not in STRATEGIES:
        raise GenaugError(f"{generator}: label strategy {strategy!r} cannot draw samples of a chosen class; "
                          f"gencls needs one of {', '.join(STRATEGIES)}")
    missing = [name for c, name in enumerate(classes) if not bool((y == c).any())]
    if missing:
        raise GenaugError(f"{subset}: no real image of {', '.join(missing)}, so no generator for it; "
                          "M1-M4 need every class (use the shots or balanced regime)")
    return strategy


def _test_views(test_x: torch.Tensor, ae) -> dict:
    """The test images as the methods see them: pixels, and with an autoencoder its latent codes."""
    from .filters import encode

    views = {"pixel": test_x.flatten(1)}
    if ae is not None:
        zeros = torch.zeros(len(test_x), dtype=torch.long, device=test_x.device)
        views["latent"] = torch.from_numpy(encode(ae, test_x, zeros)).to(test_x.device)
    return views


def _sample_views(images: torch.Tensor, ae, k: int, m: int) -> dict:
    """One round's m samples of each of k classes in the same views as _test_views, shaped (k, m, d)."""
    from .filters import encode

    samples = {"pixel": images.flatten(1).view(k, m, -1)}
    if ae is not None:
        labels = torch.arange(k, device=images.device).repeat_interleave(m)
        samples["latent"] = torch.from_numpy(encode(ae, images, labels)).to(images.device).view(k, m, -1)
    return samples


def gencls(*, data, subset, generator, out, autoencoder=None, m: int = config_default("gencls.m"),
           L: int = config_default("gencls.L"), N: int = config_default("gencls.N"),
           mu: float = config_default("gencls.mu"), seed: int, test_per_class: int | None = None,
           test_seed: int = config_default("test.seed"), model: str | None = None,
           sampling: dict | None = None, device="auto", threads=1, log=sys.stderr) -> dict:
    """Score M1-M4 and the discriminator baseline of one cell's generator on the real test split."""
    from . import generators as gens
    from .filters import load_autoencoder
    from .labels import synthesize
    from .scoring import classification_scores  # scikit-learn: imported only by the stages that score
    from .stages import real_subset

    check_gencls(m, L, N, mu)
    t0 = time.perf_counter()
    dev = setup_device(device, threads)
    ds, sub, x, y = real_subset(data, subset, dev)
    gen_model, ckpt = gens.load(generator, dev)
    ids = {"dataset": ds.name, "model": model or ckpt["spec"]["name"], "regime": sub.regime, "size": sub.size,
           "size_value": parse_size(sub.regime, sub.size), "seed": seed}
    if gen_model is None:
        result = {**ids, "status": "diverged", "reason": ckpt["diverged"]}
        write_json(out, result)
        print(f"gencls: the generator diverged ({ckpt['diverged']}); nothing scored", file=log)
        return result
    strategy = _check_cell(generator, subset, gens.label_strategy(ckpt["spec"]), y, ds.classes)
    gen_model.set_sampling(sampling, classes=ds.classes, log=log)
    k = ds.num_classes
    idx = torch.from_numpy(scoring_indices(ds.test_y.numpy(), test_per_class, test_seed, k, ds.classes))
    test_x, test_y = to_float(ds.test_x[idx].to(dev)), ds.test_y[idx].numpy()
    ae = load_autoencoder(autoencoder, dev) if autoencoder is not None else None
    views = _test_views(test_x, ae)
    real_x = to_float(x)

    def draw(r):
        images, _ = synthesize(gen_model, strategy, np.full(k, m), real_x, y,
                               seed=streams.seed("gencls_round", seed, r))
        return _sample_views(images, ae, k, m)

    print(f"gencls: {ids['model']} {sub.regime}/{sub.size}/s{seed}: {len(test_y)} test images, m={m} L={L} N={N} "
          f"mu={mu}", file=log, flush=True)
    probs = classify(views, draw, k, m=m, L=L, N=N, mu=mu)
    scores = discriminator_scores(gen_model, test_x, k)
    judged = None
    if scores is not None:
        probs["discriminator"] = scores
        judged = discriminator_margin(scores, torch.from_numpy(test_y).to(scores.device))
    scored = {name: classification_scores(test_y, p.argmax(1).cpu().numpy(), ds.classes) for name, p in probs.items()}
    accuracy = {name: sc["accuracy"] for name, sc in scored.items()}
    macro_f1 = {name: sc["macro_f1"] for name, sc in scored.items()}
    result = {**ids, "status": "ok", "accuracy": accuracy, "macro_f1": macro_f1,
              "params": {"m": m, "L": L, "N": N, "mu": mu}, "n_test": len(test_y), "n_real": len(y),
              "latent": ae is not None, "family": ckpt["spec"]["family"],
              "discriminator": None if scores is not None else "the generator has no discriminator",
              "discriminator_logit": judged,
              "wall_time_s": time.perf_counter() - t0, "genaug": __version__}
    write_json(out, result)
    shown = " ".join(f"{k_}={v:.3f}" for k_, v in accuracy.items())
    print(f"gencls: accuracy {shown} ({result['wall_time_s']:.0f}s)", file=log)
    return result
