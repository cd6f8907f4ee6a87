"""Generative metrics of a synthetic set (the `reference`, `inception_reference` and `gen_metrics` stages).

Every set is scored at one fixed, class-balanced count (gen_metrics.per_class images of each class),
because every one of these metrics depends on the count (a Fréchet distance between two samples of
one distribution is about 128 at 25 images and 6 at 1,000; PRDC's coverage rises from 0.1 to 1 with
the count). The real reference is a class-balanced draw of that count from the test split,
the only real images no subset, generator or reference network has seen; a second, disjoint draw scored
the same way is the floor, what a perfect generator would score at that count. Features come from the
reference classifier (the cnn trained once per dataset on the train pool minus validation): domain FD,
KID, PRDC, a domain Inception Score, per-class versions and label agreement. Inception FID through
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
from .config import FID_WEIGHTS_NAME, config_default
from .config import find_inception_weights as inception_weights
from .data import load_dataset
from .device import setup as setup_device
from .errors import GenaugError, rebuild_hint
from .io import CorruptFile, load_torch, read_json, save_npz, save_torch, write_json
from .metrics import (features, frechet_distance, frechet_from_stats, inception_score, kid, NearCopies, prdc,
                      reference_classifier)
from .subsets import metric_count, metric_reference_indices, validation_indices
from .yardsticks import score_yardsticks

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


def reference_draws(ds, per_class="auto"):
    """(images per class, reference indices, floor indices) into the test split: gen_metrics.per_class resolved."""
    labels = ds.test_y.numpy()
    n = metric_count(np.bincount(labels, minlength=ds.num_classes), per_class, ds.classes)
    return (n, *metric_reference_indices(labels, n, ds.num_classes))


def reference(*, data, out_model, out_features, out_floor,
              validation_per_class: int = config_default("validation_per_class"),
              epochs: int = config_default("gen_metrics.reference_epochs"),
              per_class=config_default("gen_metrics.per_class"), prdc_k: int = config_default("gen_metrics.prdc_k"),
              kid_subset_size: int = config_default("gen_metrics.kid_subset_size"), device="auto", threads=1,
              log=sys.stderr) -> None:
    """Train the dataset's reference classifier (the cnn, on the train pool minus validation), cache its
    features of the real reference draw, and score the real floor draws against it: their mean is the floor
    every gen_metrics row is read against, their spread what one draw's luck is worth."""
    t0 = time.perf_counter()
    dev = setup_device(device, threads)
    ds = load_dataset(data)
    n, ref, floor = reference_draws(ds, per_class)
    val = validation_indices(ds.train_y.numpy(), validation_per_class, ds.num_classes, ds.classes)
    net, accuracy = reference_classifier(ds, val, device=dev, epochs=epochs, log=log)
    feats = features(net, ds.test_x[torch.from_numpy(ref)])
    save_torch(out_model, {"state_dict": {k: v.cpu() for k, v in net.state_dict().items()}, "arch": "cnn",
                           "image_shape": list(ds.image_shape), "num_classes": ds.num_classes,
                           "test_accuracy": accuracy, "dataset": ds.name, "classes": list(ds.classes)})
    save_npz(out_features, features=feats.astype(np.float32), labels=ds.test_y.numpy()[ref].astype(np.int64),
             indices=ref, per_class=np.array(n), test_accuracy=np.array(accuracy))
    floor = write_floor(out_floor, net, feats, ds, n, ref, floor, prdc_k=prdc_k, kid_subset_size=kid_subset_size)
    spread = (f" (sd {floor['domain_fd_sd']:.2f} over {floor['draws']} draws)" if floor["draws"] > 1
              else " (one draw)")
    print(f"reference classifier: test accuracy {accuracy:.4f}; reference and floor: {n} test images per class; "
          f"floor domain FD {floor['domain_fd']:.2f}{spread} ({time.perf_counter() - t0:.0f}s)", file=log)


def write_floor(out, net, feats: np.ndarray, ds, n: int, ref: np.ndarray, floors: list[np.ndarray], *, prdc_k: int,
                kid_subset_size: int) -> dict:
    """Score each real floor draw against the reference features; write their mean (and the domain FD of each,
    its spread, and the yardsticks: the same draws altered in known ways) to `out`, and return what was written."""
    real, real_y = feats.astype(np.float64), ds.test_y.numpy()[ref]
    pairs = [(ds.test_x[torch.from_numpy(f)], ds.test_y[torch.from_numpy(f)]) for f in floors]
    draws = [score_set(net, real, real_y, images, labels, prdc_k=prdc_k, kid_subset_size=kid_subset_size)
             for images, labels in pairs]
    fds = [d["domain_fd"] for d in draws]
    floor = {"per_class_count": n, "n": len(floors[0]), "draws": len(draws),
             "what": f"the mean of {len(draws)} disjoint real test-split draws of the same count, each scored "
                     "against the reference: what a perfect generator scores on average",
             **{k: float(np.mean([d[k] for d in draws])) for k in FLOOR_KEYS},
             "domain_fd_sd": float(np.std(fds, ddof=1)) if len(fds) > 1 else None, "domain_fd_draws": fds,
             "per_class_fd": {c: float(np.mean([d["per_class"][c]["fd"] for d in draws]))
                              for c in draws[0]["per_class"]}}
    floor["yardsticks"] = score_yardsticks(net, real, pairs, floor["domain_fd"])
    write_json(out, floor)
    return floor


def inception_reference(*, data, out, weights=None, per_class=config_default("gen_metrics.per_class"), device="auto",
                        threads=1, log=sys.stderr) -> None:
    """Inception feature mean and covariance of the real reference draw (pytorch-fid's reference statistics),
    and the floor: the mean Inception FID of the real floor draws against them."""
    path, why = inception_weights(weights)
    if path is None:
        raise GenaugError(why)
    dev = setup_device(device, threads)
    ds = load_dataset(data)
    n, ref, floor = reference_draws(ds, per_class)
    net = _inception(path, dev)
    feats = inception_features(net, ds.test_x[torch.from_numpy(ref)])
    mu, sigma = feats.mean(0), np.cov(feats, rowvar=False)
    floor_fid = float(np.mean([frechet_distance(inception_features(net, ds.test_x[torch.from_numpy(f)]), feats)
                               for f in floor]))
    save_npz(out, mu=mu, sigma=sigma, n=np.array(len(feats)), per_class=np.array(n), floor_fid=np.array(floor_fid))
    print(f"Inception reference statistics of {len(feats)} test images ({why}); floor FID {floor_fid:.2f}", file=log)


def load_reference(path, device):
    """The reference classifier (eval mode, on device) and its checkpoint dict."""
    try:
        ckpt = load_torch(path)
    except CorruptFile as err:
        raise GenaugError(f"{err}; {rebuild_hint(path)}") from err
    net = build_classifier(ckpt["arch"], ckpt["image_shape"], ckpt["num_classes"])
    net.load_state_dict(ckpt["state_dict"])
    return net.to(device).to(memory_format=torch.channels_last).eval(), ckpt


def _set_metrics(real: np.ndarray, fake: np.ndarray, k: int) -> dict:
    out = {"fd": frechet_distance(real, fake)}
    if len(fake) > k and len(real) > k:
        out.update(prdc(real, fake, k=k))
    return out


def score_set(net, real: np.ndarray, real_y: np.ndarray, images: torch.Tensor, labels: torch.Tensor, *,
              prdc_k: int = 5, kid_subset_size: int = 1000) -> dict:
    """Every metric of uint8 `images` (with their labels) against the real reference features, overall and
    per class: the one scoring shared by the synthetic sets and the real floor."""
    device = next(net.parameters()).device
    logits, emb = predict(net, images.to(device).contiguous(memory_format=torch.channels_last), with_embeddings=True)
    fake, probs = emb.cpu().numpy().astype(np.float64), torch.softmax(logits, 1).cpu().numpy()
    y = labels.cpu().numpy()
    overall = _set_metrics(real, fake, prdc_k)
    kid_mean, kid_se = kid(real, fake, subset_size=kid_subset_size)
    per_class = {}
    for c in np.unique(real_y):
        m = _set_metrics(real[real_y == c], fake[y == c], prdc_k)
        m["label_agreement"] = float((probs[y == c].argmax(1) == c).mean())
        per_class[str(int(c))] = m
    return {"domain_fd": overall["fd"], "kid": kid_mean, "kid_se": kid_se,
            **{m: overall.get(m) for m in ("precision", "recall", "density", "coverage")},
            "domain_is": inception_score(probs), "label_agreement": float((probs.argmax(1) == y).mean()),
            "intra_class_fd": float(np.mean([m["fd"] for m in per_class.values()])), "per_class": per_class}


def first_per_class(labels: torch.Tensor, n: int, num_classes: int) -> tuple[torch.Tensor, dict]:
    """Indices of the first n images of each class (a draw is i.i.d., so any n are a fair sample), and the
    classes that have fewer, with their counts."""
    picks, short = [], {}
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) < n:
            short[c] = len(idx)
        picks.append(idx[:n])
    return torch.cat(picks), short


FLOOR_KEYS = ("domain_fd", "kid", "precision", "recall", "density", "coverage", "domain_is", "label_agreement",
              "intra_class_fd")


def gen_metrics(*, synthetic, reference_model, reference_features, floor, out, model=None, filter_name="none",
                data=None, subset=None,
                inception_stats=None, inception_weights_path=None, prdc_k: int = config_default("gen_metrics.prdc_k"),
                kid_subset_size: int = config_default("gen_metrics.kid_subset_size"), device="auto", threads=1,
                log=sys.stderr) -> dict:
    """Score one metric set (a generator's fresh, class-balanced draw, filtered or not) at the reference's
    count per class; record that count and the real-vs-real floor beside every metric. `model` is the
    grid's row name (cddpm@dpm20-eta1-g2, combined) and `filter_name` its filter, which the report joins on.
    With the dataset (`data`) and the cell's `subset`, also the share of near-copies of the subset's images."""
    from .stages import load_synthetic

    t0 = time.perf_counter()
    dev = setup_device(device, threads)
    net, ckpt = load_reference(reference_model, dev)
    with np.load(reference_features) as z:
        real, real_y, n = z["features"].astype(np.float64), z["labels"], int(z["per_class"])
    floor_scores = read_json(floor)
    images, labels, meta = load_synthetic(synthetic, ckpt["image_shape"], ckpt["num_classes"])
    result = {"synthetic": str(synthetic), "model": model or meta.get("model"), "filter": filter_name,
              "generator": meta.get("model"), "regime": meta.get("regime"), "size": meta.get("size"),
              "seed": meta.get("seed"), "sampling": meta.get("sampling"), "per_class_count": n,
              "n_synthetic": n * ckpt["num_classes"], "n_reference": len(real),
              "reference_test_accuracy": ckpt["test_accuracy"], "genaug": __version__,
              **{f"floor_{k}": floor_scores.get(k) for k in FLOOR_KEYS},
              "floor_draws": floor_scores.get("draws", 1), "floor_domain_fd_sd": floor_scores.get("domain_fd_sd"),
              "floor_per_class_fd": floor_scores.get("per_class_fd"),
              "floor_yardsticks": {k: v["ratio"] for k, v in floor_scores.get("yardsticks", {}).items()} or None}
    pick, short = first_per_class(labels, n, ckpt["num_classes"])
    if meta.get("status") == "diverged" or short:
        names = ckpt.get("classes") or [str(c) for c in range(ckpt["num_classes"])]  # a reference before names
        have = ", ".join(f"{names[c]} {k}" for c, k in short.items())
        reason = meta.get("reason") if meta.get("status") == "diverged" else (
            f"fewer than {n} images of class(es) {have} to score at the fixed count; the filter kept too few of "
            f"the draw: raise its keep, or lower gen_metrics.per_class")
        result.update(status="diverged" if meta.get("status") == "diverged" else "short", reason=reason,
                      n_synthetic=len(labels))
        write_json(out, result)
        print(f"{synthetic}: no metrics ({reason})", file=log)
        return result
    images, labels = images[pick], labels[pick]
    result.update(status="ok", **score_set(net, real, real_y, images, labels, prdc_k=prdc_k,
                                           kid_subset_size=kid_subset_size))
    result.update(_inception_fid(images, inception_stats, inception_weights_path, dev))
    if data is not None and subset is not None:
        result.update(_near_copies(images, data, subset, n))
    result["seconds"] = time.perf_counter() - t0
    write_json(out, result)
    fid = result["inception_fid"]
    print(f"{synthetic}: {n} images per class: domain FD {result['domain_fd']:.2f} (floor "
          f"{result['floor_domain_fd']:.2f}), intra-class FD {result['intra_class_fd']:.2f}, KID "
          f"{result['kid']:.4f}, precision {result['precision']:.3f}, recall {result['recall']:.3f}, domain IS "
          f"{result['domain_is']:.2f}, label agreement {result['label_agreement']:.3f}; Inception FID "
          f"{'unavailable' if fid is None else f'{fid:.2f}'}"
          + (f"; near-copies {result['near_copies']:.3f} (real {result['floor_near_copies']:.3f})"
             if "near_copies" in result else ""), file=log)
    return result


def _near_copies(images: torch.Tensor, data, subset, n: int) -> dict:
    """The set's share of images nearer to one of the cell's training images than 95 % of the real reference draw
    are (metrics.NearCopies), and the same share for the first real floor draw: what new images score."""
    from .subsets import Subset

    ds = load_dataset(data)
    _, ref, floors = reference_draws(ds, n)
    score = NearCopies(ds.train_x[torch.from_numpy(Subset.load(subset).indices)], ds.test_x[torch.from_numpy(ref)])
    return {"near_copies": score(images)["share"],
            "floor_near_copies": score(ds.test_x[torch.from_numpy(floors[0])])["share"],
            "near_copies_threshold": score.threshold}


def _inception_fid(images, stats_path, weights, device) -> dict:
    path, why = inception_weights(weights)
    if path is None or stats_path is None:
        return {"inception_fid": None, "floor_inception_fid": None, "inception_fid_unavailable":
                why if path is None else "no Inception reference statistics were given"}
    with np.load(stats_path) as z:
        mu, sigma, floor_fid = z["mu"], z["sigma"], float(z["floor_fid"])
    feats = inception_features(_inception(path, device), images)
    return {"inception_fid": frechet_from_stats(feats.mean(0), np.cov(feats, rowvar=False), mu, sigma),
            "floor_inception_fid": floor_fid, "inception_weights": why}


__all__ = ["reference", "inception_reference", "gen_metrics", "inception_weights", "score_set"]
