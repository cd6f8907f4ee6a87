"""The latent-sphere filter (003, section 6.2, Pseudocode 3): keep the synthetic images whose code lies
inside their class's sphere, fitted on the codes of the cell's real images.

A class's centre is the mean of its real codes; its radius is the distance below which a `keep`
fraction of them fall (003: "filter out a set percentage"). The distance is Euclidean, or Mahalanobis
under the class's covariance (Ledoit-Wolf shrunk, so that a handful of shots still gives an
invertible matrix). Mahalanobis distance is Euclidean distance after whitening, so both are one code
path: `whiten` is the identity for Euclidean. Codes are the posterior means of the cell's autoencoder
(a VAE trained on its real subset), or the reference classifier's embedding; the latter is an oracle
(that classifier saw the whole labelled train pool) and gives an upper bound, not a usable filter.

A class with fewer than two real images has no spread to measure: its radius is undefined and its
synthetic images are all kept, and the stats name the class.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from . import __version__
from .config import FILTER_DEFAULTS, check_filter
from .errors import GenaugError


@dataclass
class Sphere:
    """One sphere per class: centres (k, d), radii (k,) (nan: undefined), whiten (k, d, d)."""

    centres: np.ndarray
    radii: np.ndarray
    whiten: np.ndarray
    n_real: np.ndarray

    def distances(self, codes: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Each code's distance to its own class's centre (in that class's whitened space)."""
        diff = codes - self.centres[labels]
        return np.linalg.norm(np.einsum("nij,nj->ni", self.whiten[labels], diff), axis=1)

    def inside(self, codes: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Which codes lie in their class's sphere (boundary included); classes without a radius keep all."""
        radii = self.radii[labels]
        return np.isnan(radii) | (self.distances(codes, labels) <= radii * (1 + 1e-9))


def _whitening(codes: np.ndarray, distance: str) -> np.ndarray:
    """W with |W v| the chosen distance of v: the identity, or the inverse square root of the class's
    shrunk covariance (Mahalanobis)."""
    d = codes.shape[1]
    if distance == "euclidean" or len(codes) < 2:
        return np.eye(d)
    from sklearn.covariance import LedoitWolf

    cov = LedoitWolf().fit(codes).covariance_
    vals, vecs = np.linalg.eigh(cov)
    vals = np.maximum(vals, 1e-12 * max(vals.max(), 1e-12))
    return (vecs / np.sqrt(vals)).T


def fit_sphere(codes: np.ndarray, labels: np.ndarray, num_classes: int, keep: float,
               distance: str = "euclidean") -> Sphere:
    """Per class: the centre of the real codes and the radius inside which ceil(keep * n) of them lie."""
    check_filter({**FILTER_DEFAULTS, "keep": keep, "distance": distance}, "sphere")
    codes = np.asarray(codes, dtype=np.float64)
    d = codes.shape[1]
    centres, radii = np.zeros((num_classes, d)), np.full(num_classes, np.nan)
    whiten, n_real = np.tile(np.eye(d), (num_classes, 1, 1)), np.zeros(num_classes, dtype=np.int64)
    for c in range(num_classes):
        own = codes[labels == c]
        n_real[c] = len(own)
        if len(own):
            centres[c], whiten[c] = own.mean(0), _whitening(own, distance)
    sphere = Sphere(centres, radii, whiten, n_real)
    dist = sphere.distances(codes, labels)  # the very computation inside() repeats
    for c in range(num_classes):
        own = np.sort(dist[labels == c])
        if len(own) >= 2:
            radii[c] = own[min(len(own), max(1, math.ceil(keep * len(own) - 1e-9))) - 1]
    return sphere


@torch.no_grad()
def encode(model, images: torch.Tensor, labels: torch.Tensor, batch: int = 2000) -> np.ndarray:
    """Posterior means of float images under a Gaussian VAE (the filter's and M2/M4's latent codes)."""
    if not hasattr(model, "encode"):
        raise GenaugError(f"{type(model).__name__} has no encoder; the autoencoder must be family vae or conv_vae")
    out = [model.encode(images[i:i + batch], labels[i:i + batch])[0] for i in range(0, len(images), batch)]
    return torch.cat(out).cpu().numpy() if out else np.zeros((0, model.latent_dim), dtype=np.float32)


def load_autoencoder(path, device):
    """The cell's VAE (eval mode on device), or a GenaugError when its training diverged."""
    from . import generators as gens

    model, ckpt = gens.load(path, device)
    if model is None:
        raise GenaugError(f"{path}: the autoencoder's training diverged ({ckpt['diverged']}); lower autoencoder.lr "
                          "and rerun it")
    return model


def projection(sphere: Sphere, c: int, real: np.ndarray, synth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-D coordinates of a class's real and synthetic codes, centred on its sphere and whitened.

    The plane is spanned by the top two principal axes of both sets. An orthogonal projection of a
    ball is a disc of the same radius, so the sphere is drawn exactly as a circle of its radius
    (points outside it may still project inside the circle)."""
    u_real = (real - sphere.centres[c]) @ sphere.whiten[c].T
    u_synth = (synth - sphere.centres[c]) @ sphere.whiten[c].T
    both = np.concatenate([u_real, u_synth])
    if len(both) < 2:
        return np.zeros((len(real), 2)), np.zeros((len(synth), 2))
    basis = np.linalg.svd(both - both.mean(0), full_matrices=False)[2][:2]
    if len(basis) < 2:
        basis = np.vstack([basis, np.zeros_like(basis[:1])])
    return u_real @ basis.T, u_synth @ basis.T


def cell_codes(spec: dict, x: torch.Tensor, y: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, *,
               autoencoder=None, reference=None, device) -> tuple[np.ndarray, np.ndarray]:
    """The real and synthetic images' codes in the filter's space (uint8 images in, arrays out)."""
    from .data import to_float

    if spec["space"] == "autoencoder":
        if autoencoder is None:
            raise GenaugError("filter space autoencoder: give --autoencoder (the cell's autoencoder checkpoint)")
        model = load_autoencoder(autoencoder, device)
        return (encode(model, to_float(x.to(device)), y.to(device)),
                encode(model, to_float(sx.to(device)), sy.to(device)))
    if reference is None:
        raise GenaugError("filter space reference: give --reference (the reference classifier)")
    from .gen_metrics import load_reference
    from .metrics import features

    net, _ = load_reference(reference, device)
    return features(net, x), features(net, sx)


def filter_set(*, data, subset, synthetic, spec: dict, out, stats_out, png=None, autoencoder=None, reference=None,
               name: str = "sphere", model: str | None = None, device="auto", threads=1, log=sys.stderr) -> dict:
    """Keep a synthetic set's images inside their class's sphere; write the kept set, per-class counts
    (generated vs qualified, 003's Table 2) and a figure of the latent space."""
    from .device import setup as setup_device
    from .io import save_npz, write_json
    from .report.figures import sphere_panels
    from .stages import load_synthetic, real_subset

    t0 = time.perf_counter()
    spec = check_filter({**FILTER_DEFAULTS, **spec}, name)
    dev = setup_device(device, threads)
    ds, sub, x, y = real_subset(data, subset, dev)
    sx, sy, meta = load_synthetic(synthetic, ds.image_shape, ds.num_classes)
    ids = {"dataset": ds.name, "filter": name, "model": model or meta.get("model"), "regime": sub.regime,
           "size": sub.size, "seed": sub.seed, **{k: spec[k] for k in ("keep", "distance", "space")}}
    if meta.get("status") == "diverged":  # passed on as it is: the classifier cell records the divergence
        save_npz(out, images=sx.numpy(), labels=sy.numpy(), meta=np.array(json.dumps(meta)))
        stats = {**ids, "status": "diverged", "reason": meta.get("reason")}
        if png is not None:
            sphere_panels([], png, title=f"{name} on {ids['model']} {sub.regime}/{sub.size}/s{sub.seed}",
                          empty="the synthetic set diverged: nothing to filter")
        write_json(stats_out, stats)
        print(f"{name}: the synthetic set diverged upstream ({meta.get('reason')}); passed on empty", file=log)
        return stats
    real_codes, synth_codes = cell_codes(spec, x, y, sx, sy, autoencoder=autoencoder, reference=reference, device=dev)
    yr, ys = y.cpu().numpy(), sy.numpy()
    sphere = fit_sphere(real_codes, yr, ds.num_classes, spec["keep"], spec["distance"])
    kept = sphere.inside(synth_codes, ys)
    real_inside = sphere.inside(real_codes, yr)
    per_class = {}
    for c, cls in enumerate(ds.classes):
        per_class[cls] = {"real": int(sphere.n_real[c]), "generated": int((ys == c).sum()),
                          "qualified": int(kept[ys == c].sum()), "real_inside": int(real_inside[yr == c].sum()),
                          "radius": None if np.isnan(sphere.radii[c]) else float(sphere.radii[c])}
    undefined = [cls for c, cls in enumerate(ds.classes) if np.isnan(sphere.radii[c]) and (ys == c).any()]
    keep_idx = torch.from_numpy(np.flatnonzero(kept))
    out_meta = {**meta, "filter": {"name": name, **{k: spec[k] for k in ("keep", "distance", "space")},
                                   "generated": len(ys), "qualified": int(kept.sum())}}
    save_npz(out, images=sx[keep_idx].numpy(), labels=sy[keep_idx].numpy(), meta=np.array(json.dumps(out_meta)))
    stats = {**ids, "status": "ok", "generated": len(ys), "qualified": int(kept.sum()),
             "qualified_fraction": float(kept.mean()) if len(kept) else None,
             "real_inside_fraction": float(real_inside.mean()) if len(real_inside) else None,
             "undefined_classes": undefined, "n_undefined_classes": len(undefined), "per_class": per_class,
             "code_dim": int(real_codes.shape[1]), "wall_time_s": time.perf_counter() - t0, "genaug": __version__}
    if png is not None:
        panels = []
        for c, cls in enumerate(ds.classes):
            if np.isnan(sphere.radii[c]) or not (ys == c).any():
                continue
            r2, s2 = projection(sphere, c, real_codes[yr == c], synth_codes[ys == c])
            panels.append({"title": cls, "radius": float(sphere.radii[c]), "real": r2, "synthetic": s2,
                           "kept": kept[ys == c]})
        sphere_panels(panels, png, title=f"{name} on {ids['model']} {sub.regime}/{sub.size}/s{sub.seed} "
                                         f"({spec['space']}, {spec['distance']}, keep {spec['keep']:g})")
    write_json(stats_out, stats)
    note = f"; sphere undefined (under 2 real images) for {', '.join(undefined)}: kept whole" if undefined else ""
    print(f"{name}: kept {int(kept.sum())} of {len(ys)} synthetic images; {real_inside.sum()} of {len(yr)} real "
          f"codes inside{note} ({stats['wall_time_s']:.0f}s)", file=log)
    return stats
