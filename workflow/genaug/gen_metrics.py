"""Generative metrics of a synthetic set (the `reference`, `inception_reference` and `gen_metrics` stages).

The real reference is a class-balanced draw from the train pool (never the test split). Features
come from the reference classifier, trained once per dataset on the train pool minus validation:
domain FD, KID, PRDC, a domain Inception Score, and per-class versions. Inception FID through
pytorch-fid is added when its weights file is present, and recorded as unavailable (with the reason)
when not.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .classifiers import build_classifier, predict
from .config import FID_WEIGHTS_NAME
from .config import find_inception_weights as inception_weights
from .data import load_dataset
from .device import setup as setup_device
from .errors import GenaugError
from .io import atomic_path, save_npz, write_json
from .metrics import (features, frechet_distance, frechet_from_stats, inception_score, kid, prdc,
                      reference_classifier)
from .subsets import validation_indices


def _inception(weights: Path, device):
    """pytorch-fid's InceptionV3 (2048-d pool features), loaded from `weights` with no download:
    torch hub is pointed at a temporary cache that holds the file under its expected name."""
    from pytorch_fid.inception import InceptionV3

    old = torch.hub.get_dir()
    with tempfile.TemporaryDirectory() as hub:
        os.makedirs(Path(hub) / "checkpoints")
        os.symlink(Path(weights).resolve(), Path(hub) / "checkpoints" / FID_WEIGHTS_NAME)
        torch.hub.set_dir(hub)
        try:
            net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
        except (RuntimeError, KeyError, OSError) as err:
            raise GenaugError(f"{weights}: not pytorch-fid's Inception weights ({err})") from err
        finally:
            torch.hub.set_dir(old)
    return net.to(device).eval()


@torch.no_grad()
def inception_features(net, images_uint8: torch.Tensor, batch: int = 100) -> np.ndarray:
    """2048-d Inception pool features; grayscale is repeated to 3 channels, pytorch-fid resizes to 299."""
    device = next(net.parameters()).device
    out = []
    for i in range(0, len(images_uint8), batch):
        x = images_uint8[i:i + batch].to(device).float() / 255
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        out.append(net(x)[0].flatten(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 2048))


def _balanced_draw(labels: np.ndarray, keep: np.ndarray, total: int, num_classes: int, seed: int) -> np.ndarray:
    """Up to total / num_classes indices per class among `keep`, seeded, sorted."""
    rng, per = np.random.default_rng(seed), max(1, total // num_classes)
    picks = []
    for c in range(num_classes):
        idx = np.flatnonzero(keep & (labels == c))
        picks.append(rng.choice(idx, size=min(per, len(idx)), replace=False))
    return np.sort(np.concatenate(picks))


def _reference_images(ds, validation_per_class: int, images: int, seed: int = 0):
    labels = ds.train_y.numpy()
    val = validation_indices(labels, validation_per_class, ds.num_classes)
    keep = np.ones(len(labels), dtype=bool)
    keep[val] = False
    return val, _balanced_draw(labels, keep, images, ds.num_classes, seed)


def reference(*, data, out_model, out_features, validation_per_class: int = 100, epochs: int = 5,
              images: int = 10000, device="auto", threads=1, log=sys.stderr) -> None:
    """Train the dataset's reference classifier (the cnn, on the train pool minus validation) and cache
    its features of a class-balanced draw of `images` train-pool images: every gen_metrics job reads them."""
    t0 = time.perf_counter()
    dev = setup_device(device, threads)
    ds = load_dataset(data)
    val, pick = _reference_images(ds, validation_per_class, images)
    net, accuracy = reference_classifier(ds, val, device=dev, epochs=epochs, log=log)
    feats = features(net, ds.train_x[torch.from_numpy(pick)])
    with atomic_path(out_model) as tmp:
        torch.save({"state_dict": {k: v.cpu() for k, v in net.state_dict().items()}, "arch": "cnn",
                    "image_shape": list(ds.image_shape), "num_classes": ds.num_classes,
                    "test_accuracy": accuracy, "dataset": ds.name}, tmp)
    save_npz(out_features, features=feats.astype(np.float32), labels=ds.train_y.numpy()[pick].astype(np.int64),
             indices=pick, test_accuracy=np.array(accuracy))
    print(f"reference classifier: test accuracy {accuracy:.4f}; features of {len(pick)} train-pool images "
          f"({time.perf_counter() - t0:.0f}s)", file=log)


def inception_reference(*, data, out, weights=None, validation_per_class: int = 100, images: int = 10000,
                        device="auto", threads=1, log=sys.stderr) -> None:
    """Inception feature mean and covariance of the same train-pool draw (pytorch-fid's reference statistics)."""
    path, why = inception_weights(weights)
    if path is None:
        raise GenaugError(why)
    dev = setup_device(device, threads)
    ds = load_dataset(data)
    _, pick = _reference_images(ds, validation_per_class, images)
    feats = inception_features(_inception(path, dev), ds.train_x[torch.from_numpy(pick)])
    save_npz(out, mu=feats.mean(0), sigma=np.cov(feats, rowvar=False), n=np.array(len(feats)))
    print(f"Inception reference statistics of {len(feats)} train-pool images ({why})", file=log)


def load_reference(path, device):
    """The reference classifier (eval mode, on device) and its checkpoint dict."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    net = build_classifier(ckpt["arch"], ckpt["image_shape"], ckpt["num_classes"])
    net.load_state_dict(ckpt["state_dict"])
    return net.to(device).to(memory_format=torch.channels_last).eval(), ckpt


def _set_metrics(real: np.ndarray, fake: np.ndarray, k: int) -> dict:
    out = {"n": len(fake)}
    if len(fake) < 2:
        return out
    out["fd"] = frechet_distance(real, fake)
    if len(fake) > k:
        out.update(prdc(real, fake, k=k))
    return out


def gen_metrics(*, synthetic, reference_model, reference_features, out, model=None, inception_stats=None,
                inception_weights_path=None, prdc_k: int = 5, kid_subset_size: int = 1000, device="auto",
                threads=1, log=sys.stderr) -> dict:
    """Score one synthetic set against the real reference: overall and per class. `model` is the grid's
    row name (cddpm@dpm20-g2, combined), which the report joins on."""
    from .stages import load_synthetic

    t0 = time.perf_counter()
    dev = setup_device(device, threads)
    net, ckpt = load_reference(reference_model, dev)
    with np.load(reference_features) as z:
        real, real_y = z["features"].astype(np.float64), z["labels"]
    images, labels, meta = load_synthetic(synthetic, ckpt["image_shape"], ckpt["num_classes"])
    result = {"synthetic": str(synthetic), "model": model or meta.get("model"), "generator": meta.get("model"),
              "regime": meta.get("regime"),
              "size": meta.get("size"), "seed": meta.get("seed"), "sampling": meta.get("sampling"),
              "n_synthetic": len(labels), "n_reference": len(real),
              "reference_test_accuracy": ckpt["test_accuracy"], "genaug": __version__}
    if meta.get("status") == "diverged" or len(labels) < 2:
        result.update(status="diverged" if meta.get("status") == "diverged" else "empty",
                      reason=meta.get("reason", "fewer than 2 synthetic images"))
        write_json(out, result)
        print(f"{synthetic}: no metrics ({result['reason']})", file=log)
        return result
    logits, emb = predict(net, images.to(dev).contiguous(memory_format=torch.channels_last), with_embeddings=True)
    fake, probs = emb.cpu().numpy().astype(np.float64), torch.softmax(logits, 1).cpu().numpy()
    y = labels.numpy()
    overall = _set_metrics(real, fake, prdc_k)
    kid_mean, kid_se = kid(real, fake, subset_size=kid_subset_size)
    result.update(status="ok", domain_fd=overall["fd"], kid=kid_mean, kid_se=kid_se,
                  **{m: overall.get(m) for m in ("precision", "recall", "density", "coverage")},
                  domain_is=inception_score(probs), label_agreement=float((probs.argmax(1) == y).mean()))
    per_class = {}
    for c in range(ckpt["num_classes"]):
        m = _set_metrics(real[real_y == c], fake[y == c], prdc_k)
        m["label_agreement"] = float((probs[y == c].argmax(1) == c).mean()) if (y == c).any() else None
        per_class[str(c)] = m
    result["per_class"] = per_class
    fds = [m["fd"] for m in per_class.values() if "fd" in m]
    result["intra_class_fd"] = float(np.mean(fds)) if fds else None
    result.update(_inception_fid(images, inception_stats, inception_weights_path, dev))
    result["seconds"] = time.perf_counter() - t0
    write_json(out, result)
    print(f"{synthetic}: domain FD {result['domain_fd']:.2f}, intra-class FD {result['intra_class_fd']:.2f}, "
          f"KID {kid_mean:.4f}, precision {result['precision']:.3f}, recall {result['recall']:.3f}, "
          f"domain IS {result['domain_is']:.2f}, label agreement {result['label_agreement']:.3f}; Inception FID "
          f"{result['inception_fid'] if result['inception_fid'] is not None else 'unavailable'}", file=log)
    return result


def _inception_fid(images, stats_path, weights, device) -> dict:
    path, why = inception_weights(weights)
    if path is None or stats_path is None:
        return {"inception_fid": None, "inception_fid_unavailable": why if path is None else
                "no Inception reference statistics were given"}
    with np.load(stats_path) as z:
        mu, sigma = z["mu"], z["sigma"]
    feats = inception_features(_inception(path, device), images)
    return {"inception_fid": frechet_from_stats(feats.mean(0), np.cov(feats, rowvar=False), mu, sigma),
            "inception_weights": why}


__all__ = ["reference", "inception_reference", "gen_metrics", "inception_weights"]
