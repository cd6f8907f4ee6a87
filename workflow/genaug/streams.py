"""Every random stream genaug draws from, named by its purpose and derived from (purpose, seed, ...).

Streams used to be seed offsets (`seed + 10_000` for a synthetic set, `seed * 1_000 + 20_000 + r` for a
generative classifier's round r, `seed + 20_000` for the combined set), and offsets collide: round 0 of seed 0
drew from the combined set's seed, and a generator's batch order and its initialisation shared the cell's
seed. A stream is now numpy's SeedSequence over (the purpose's number, the keys): two purposes, or two keys of
one purpose, never share a stream (tests/test_streams.py checks every pair of purposes on the first 1,000 seeds).
A purpose's number is fixed forever: changing it changes every draw of that purpose. The subset streams keep
the numbers they had before the others were named, so the same seed draws the same subsets as before.
"""

from __future__ import annotations

import numpy as np

PURPOSES = {
    # which real images: the subsets (their numbers predate this table and are kept)
    "subset.pool": 1_001,  # keys (seed, class): which images of the class a subset takes
    "subset.order": 2_002,  # keys (seed,): which classes get which share in the unbalanced regimes
    "subset.ties": 2_003,  # keys (seed,): how rounding ties between class counts are broken
    "test_subset": 3_003,  # keys (seed,): the fixed, balanced test subset (test.per_class)
    "metric_reference": 4_004,  # no keys: the generative metrics' real reference and first floor draw
    "metric_floor_draws": 4_005,  # no keys: the further floor draws, from what the first two left
    "validation": 7_771,  # no keys: the validation split every subset holds out
    # training
    "generator.init": 11,  # keys (seed,): a generator's initial weights (the global torch stream)
    "generator.noise": 12,  # keys (seed,): the global torch stream during training (latents, noise, dropout)
    "generator.batches": 13,  # keys (seed,): which images each training step draws
    "classifier.init": 21,  # keys (seed,): a classifier's initial weights, the same for every arm of a seed
    "classifier.batches": 22,  # keys (seed,): batch order and augmentation draws
    "reference": 24,  # keys (seed,): the generative metrics' reference classifier
    # synthetic images
    "synthetic_set": 31,  # keys (seed,): the images a classifier arm trains on
    "metric_set": 32,  # keys (seed,): the images the generative metrics score (never the arm's)
    "combined_set": 33,  # keys (seed,): which members' images the combined set takes
    "gencls_round": 34,  # keys (seed, round): a generative classifier's fresh samples per round
    "metric_set_draw": 35,  # keys (seed, draw): a metric set's further draws (bench --sampler-draws), draw >= 1
    # analysis
    "embeddings_kept": 41,  # keys (seed,): which synthetic embeddings a cell keeps for the probes
    "probes": 42,  # keys (seed,): the probes' draws, folds and trees
    "tsne": 43,  # keys (seed,): the t-SNE draw and its layout
    "kid_subsets": 44,  # keys (seed,): KID's subset draws
    "permutations": 45,  # keys (seed,): the permutation test of the metric-vs-gain correlation
    "dataset_split": 46,  # no keys: the stratified train/test split of a dataset that has none (digits, folders)
    "yardsticks": 47,  # no keys: the FD yardsticks' alterations of the real floor draws (noise, rotations, shifts)
}


def _sequence(purpose: str, keys: tuple[int, ...]) -> np.random.SeedSequence:
    try:
        number = PURPOSES[purpose]
    except KeyError:
        raise KeyError(f"no random stream named {purpose!r}; name it in genaug/streams.py PURPOSES") from None
    return np.random.SeedSequence([number, *(int(k) for k in keys)])


def rng(purpose: str, *keys: int) -> np.random.Generator:
    """numpy's generator of this purpose's stream for these keys."""
    return np.random.default_rng(_sequence(purpose, keys))


def seed(purpose: str, *keys: int) -> int:
    """A 63-bit integer seed of this purpose's stream (for torch.manual_seed, torch.Generator, scikit-learn)."""
    return int(_sequence(purpose, keys).generate_state(1, np.uint64)[0] >> np.uint64(1))


def sklearn_seed(purpose: str, *keys: int) -> int:
    """A seed scikit-learn accepts (it wants one below 2**32)."""
    return seed(purpose, *keys) % 2**32
