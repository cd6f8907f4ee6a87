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

from .errors import GenaugError


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) between two feature sets (rows are samples).

    The matrix square root is scipy's sqrtm without its removed `disp` argument; when the product is
    near singular, eps is added to both diagonals (as pytorch-fid does). Imaginary round-off is dropped."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise GenaugError(f"Fréchet distance needs at least 2 samples per set, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # a singular product is handled just below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s_a @ s_b)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(s_a)) * eps
        covmean = linalg.sqrtm((s_a + offset) @ (s_b + offset))
    covmean = np.real(covmean)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


def reference_classifier(ds, val_indices, *, device, seed: int = 0, epochs: int = 3, log=sys.stderr):
    """The cnn trained on the whole train pool minus the validation images (early-stopped on them),
    as the feature extractor of the domain Fréchet distance; and its accuracy on the real test split."""
    from .classifiers import TrainConfig, build_classifier, fit_classifier, predict

    val = torch.as_tensor(np.asarray(val_indices))
    keep = torch.ones(len(ds.train_y), dtype=torch.bool)
    keep[val] = False
    cl = dict(memory_format=torch.channels_last)
    x, y = ds.train_x[keep].to(device).contiguous(**cl), ds.train_y[keep].to(device)
    vx, vy = ds.train_x[val].to(device).contiguous(**cl), ds.train_y[val].to(device)
    torch.manual_seed(seed)
    net = build_classifier("cnn", ds.image_shape, ds.num_classes).to(device).to(**cl)
    print(f"reference classifier: cnn on {len(x)} train images, up to {epochs} epochs", file=log, flush=True)
    fit_classifier(net, x, y, vx, vy, TrainConfig(max_epochs=epochs, patience=epochs), seed=seed, log=log)
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
