"""Generative metrics on features: the Fréchet distance, and the reference classifier whose
penultimate (128-d) features make it a *domain* Fréchet distance (Inception weights cannot be had
offline, and Inception never saw Fashion-MNIST).
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import torch
from scipy import linalg

from . import streams
from .errors import GenaugError


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) between two feature sets (rows are samples).

    The matrix square root is scipy's sqrtm without its removed `disp` argument; when the product is
    near singular, eps is added to both diagonals (as pytorch-fid does). Imaginary round-off is dropped."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise GenaugError(f"Fréchet distance needs at least 2 samples per set, got {len(a)} and {len(b)}")
    return frechet_from_stats(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False), eps)


def frechet_from_stats(mu_a, s_a, mu_b, s_b, eps: float = 1e-6) -> float:
    """The Fréchet distance between two Gaussians given by their means and covariances."""
    mu_a, mu_b = np.asarray(mu_a, dtype=np.float64), np.asarray(mu_b, dtype=np.float64)
    s_a, s_b = np.atleast_2d(np.asarray(s_a, dtype=np.float64)), np.atleast_2d(np.asarray(s_b, dtype=np.float64))
    with warnings.catch_warnings():  # a singular product is handled just below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s_a @ s_b)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(s_a)) * eps
        covmean = linalg.sqrtm((s_a + offset) @ (s_b + offset))
    covmean = np.real(covmean)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


# The reference's passes over the train pool are at least this many optimizer steps. A small pool's passes are
# few steps: 5 passes over a folder of 296 images were 25 steps, and the network scored 0.48 on 4 shape classes
# (0.94 after 100 steps), so its features, and every domain FD on them, barely knew the classes.
REFERENCE_MIN_STEPS = 100


def reference_passes(n_images: int, epochs: int) -> int:
    """The reference's passes over n images: `epochs`, more where they are under REFERENCE_MIN_STEPS steps."""
    from .classifiers import TrainConfig

    return max(epochs, -(-REFERENCE_MIN_STEPS // TrainConfig.steps_per_pass(n_images)))


def reference_classifier(ds, val_indices, *, device, seed: int = 0, epochs: int = 3, augment=None, log=sys.stderr):
    """The cnn trained on the whole train pool minus the validation images (early-stopped on them),
    as the feature extractor of the domain Fréchet distance; and its accuracy on the real test split.
    `epochs` passes, more where they are under REFERENCE_MIN_STEPS steps. `augment` (a batch augmentation, as
    the classifiers take) is for measuring other feature spaces."""
    from .classifiers import TrainConfig, build_classifier, fit_classifier, predict

    val = torch.as_tensor(np.asarray(val_indices))
    keep = torch.ones(len(ds.train_y), dtype=torch.bool)
    keep[val] = False
    cl = dict(memory_format=torch.channels_last)
    x, y = ds.train_x[keep].to(device).contiguous(**cl), ds.train_y[keep].to(device)
    vx, vy = ds.train_x[val].to(device).contiguous(**cl), ds.train_y[val].to(device)
    torch.manual_seed(streams.seed("reference", seed))
    net = build_classifier("cnn", ds.image_shape, ds.num_classes).to(device).to(**cl)
    passes = reference_passes(len(x), epochs)
    more = f" (not {epochs}: at least {REFERENCE_MIN_STEPS} steps)" if passes > epochs else ""
    print(f"reference classifier: cnn on {len(x)} train images, {passes} passes{more}", file=log, flush=True)
    fit_classifier(net, x, y, vx, vy, TrainConfig.passes(len(x), passes), seed=seed, augment=augment, log=log)
    with torch.no_grad():
        logits = predict(net, ds.test_x.to(device).contiguous(**cl))
    accuracy = float((logits.argmax(1).cpu() == ds.test_y).float().mean())
    return net, accuracy


@torch.no_grad()
def features(net, images_uint8: torch.Tensor) -> np.ndarray:
    """The reference classifier's 128-d penultimate features of uint8 images."""
    from .classifiers import predict

    device = next(net.parameters()).device
    _, emb = predict(net, images_uint8.to(device).contiguous(memory_format=torch.channels_last),
                     with_embeddings=True)
    return emb.cpu().numpy()


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3."""
    d, m, n = x.shape[1], len(x), len(y)
    kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000, blocks: int = 10,
        seed: int = 0) -> tuple:
    """Kernel Inception Distance analogue (Binkowski et al. 2018): the unbiased MMD^2 with the cubic
    polynomial kernel, averaged over random subsets of up to `subset_size` per set. Unbiased, so it is
    about 0 for one distribution at any sample count.

    Returns (estimate, standard error). The standard error comes from `blocks` disjoint random blocks
    of both sets (the spread of their independent block estimates over sqrt(blocks)): the overlapping
    subsets' spread would understate it. A block estimate is noisier than the full one, so this errs
    wide: measured about 3-4x the scatter of repeated draws when the two distributions match (where
    MMD^2's variance falls as 1/n^2), less when they differ (1/n)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise GenaugError(f"KID needs at least 2 samples per set, got {len(a)} and {len(b)}")
    rng = streams.rng("kid_subsets", seed)
    estimate = float(np.mean([_mmd2_unbiased(a[rng.choice(len(a), m, replace=False)],
                                             b[rng.choice(len(b), m, replace=False)]) for _ in range(subsets)]))
    blocks = min(blocks, len(a) // 2, len(b) // 2)
    if blocks < 2:
        return estimate, float("nan")
    per = min(len(a), len(b), blocks * subset_size) // blocks
    ia, ib = rng.permutation(len(a))[: blocks * per], rng.permutation(len(b))[: blocks * per]
    values = [_mmd2_unbiased(a[ia[i::blocks]], b[ib[i::blocks]]) for i in range(blocks)]
    return estimate, float(np.std(values, ddof=1) / np.sqrt(blocks))


def _distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact Euclidean distances (float64, differences rather than the |a|^2 + |b|^2 - 2ab expansion,
    which in float32 gives a point a distance of up to 0.01 to itself)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


class NearCopies:
    """How much sets copy the images their generator trained on (pixel space, exact distances), calibrated once
    on real images so that every set of a cell is scored against the same threshold.

    Each image's distance to its nearest training image; `threshold` is the `quantile` of that distance over
    held-out real images, which no generator saw, so about `quantile` of them fall below it. A set's `share` is
    the fraction of its images below it: far above `quantile` means near-copies of training images, which score
    a low FD against real images without being new ones. Smooth images sit nearer to every image in pixels,
    so with `unseen` (real images the generator never saw, as many of each class as `train`, none of them
    in `held_out`) also each image's nearest-training over nearest-unseen distance: about 1 for new images
    (`held_out_ratio`), below 1 for images nearer to the training set than to other real images. Images are
    arrays or tensors: uint8 ones are scaled to [0, 1], float ones taken as they are."""

    def __init__(self, train: np.ndarray, held_out: np.ndarray, quantile: float = 0.05,
                 unseen: np.ndarray | None = None, chunk: int = 1024):
        if not len(held_out) or not len(train):
            raise GenaugError("near-copies need at least one training and one held-out image")
        self.train, self.chunk, self.quantile = self._rows(train), chunk, quantile
        self.unseen = self._rows(unseen) if unseen is not None and len(unseen) else None
        held = self._rows(held_out)
        self.held_distance = self._nearest(held, self.train)
        self.threshold = float(torch.quantile(self.held_distance, quantile))
        self.held_ratio = (None if self.unseen is None else
                           float((self.held_distance / self._nearest(held, self.unseen)).median()))

    @staticmethod
    def _rows(x) -> torch.Tensor:
        x = torch.as_tensor(x)
        return (x.double() / 255.0 if x.dtype == torch.uint8 else x.double()).flatten(1)

    def _nearest(self, x: torch.Tensor, to: torch.Tensor) -> torch.Tensor:
        return torch.cat([_distances(x[i:i + self.chunk], to).min(1).values for i in range(0, len(x), self.chunk)])

    def __call__(self, fake: np.ndarray) -> dict:
        """One set's share of near-copies, its median nearest-training distance and (with `unseen`) ratio."""
        if not len(fake):
            raise GenaugError("near-copies need at least one image to score")
        x = self._rows(fake)
        gen = self._nearest(x, self.train)
        out = {"share": float((gen < self.threshold).double().mean()), "quantile": self.quantile,
               "threshold": self.threshold, "median": float(gen.median()),
               "held_out_median": float(self.held_distance.median())}
        if self.unseen is not None:
            out.update(ratio=float((gen / self._nearest(x, self.unseen)).median()), held_out_ratio=self.held_ratio)
        return out


def _kth_neighbour_distance(x: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest row, itself counted as the 0th (Naeem et al.'s
    radius: the (k+1)-th smallest distance, self included)."""
    return torch.cat([_distances(x[i:i + chunk], x).topk(k + 1, dim=1, largest=False).values[:, k]
                      for i in range(0, len(x), chunk)])


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5, chunk: int = 1024) -> dict:
    """Precision, recall, density and coverage (Naeem et al. 2020) with k-nearest-neighbour balls, as
    their reference code (the `prdc` package) computes them: a point is inside a ball when its distance
    to the centre is strictly below the radius, and distances are exact.

    precision: share of fake samples inside some real ball; recall: share of real samples inside
    some fake ball; density: mean number of real balls holding a fake sample, over k; coverage: share
    of real balls holding at least one fake sample. Identical sets give about 1 for each."""
    r = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    f = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    if len(r) <= k or len(f) <= k:
        raise GenaugError(f"PRDC with k={k} needs more than {k} samples per set, got {len(r)} and {len(f)}")
    r_rad, f_rad = _kth_neighbour_distance(r, k, chunk), _kth_neighbour_distance(f, k, chunk)
    in_real_ball = torch.zeros(len(f), dtype=torch.float64)  # per fake sample: how many real balls hold it
    covered = torch.zeros(len(r), dtype=torch.bool)
    for i in range(0, len(f), chunk):
        d = _distances(f[i:i + chunk], r)  # fake x real
        in_real_ball[i:i + chunk] = (d < r_rad[None, :]).sum(1).double()
        covered |= d.min(0).values < r_rad
    recalled = torch.zeros(len(r), dtype=torch.bool)
    for i in range(0, len(r), chunk):
        recalled[i:i + chunk] = (_distances(r[i:i + chunk], f) < f_rad[None, :]).any(1)
    return {"precision": float((in_real_ball > 0).double().mean()), "recall": float(recalled.double().mean()),
            "density": float(in_real_ball.mean() / k), "coverage": float(covered.double().mean())}


def inception_score(probs: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))): 1 when every image gets the same prediction, up to the number of
    classes when each is confidently one class and the classes are equally used."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)
    return float(np.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))
