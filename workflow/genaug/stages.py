"""One function per workflow stage, with explicit input and output paths.

The CLI (`genaug <stage>`) parses arguments into these; the Snakemake rules call the CLI; tests call
either. Every output is written atomically, so a killed job leaves no file a rerun would trust.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import asdict, replace

import numpy as np
import torch

from . import __version__, board, families, sources, streams
from . import generators as gens
from .augment import ClassicAugment
from .checkpoint import Snapshots, fingerprint
from .classifiers import TrainConfig, build_classifier, fit_classifier, predict
from .config import TRAIN_SETS, config_default, flip_for
from .data import load_dataset, load_source, save_dataset, to_float, to_uint8
from .device import name as device_name
from .device import resolve_precision
from .device import setup as setup_device
from .errors import Diverged, GenaugError, rebuild_hint
from .io import NPZ_ERRORS, save_npz, write_csv, write_json
from .labels import synthesize, synthetic_counts
from .report.figures import sample_grid
from .subsets import RegimeParams, Subset, draw_subset, parse_size, scoring_indices


def prepare(*, dataset: str, out, data_dir=None, cache_dir=sources.CACHE_DIR,
            image_size=config_default("image_size"), channels=config_default("folder.channels"),
            fit=config_default("folder.fit"), test_fraction=config_default("folder.test_fraction"), manifest_out=None,
            log=sys.stderr) -> None:
    """Load a dataset from its source and write the uint8 cache every later stage reads.

    The cache records the manifest of the files it was read from (sources.manifest); with `manifest_out` the
    manifest is also written there, before the cache, so the workflow's copy describes what was read.
    """
    t0 = time.perf_counter()
    before = sources.manifest(dataset, data_dir, cache_dir)
    ds = load_source(dataset, data_dir=data_dir, cache_dir=cache_dir, image_size=image_size, channels=channels,
                     fit=fit, test_fraction=test_fraction, log=log)
    after = sources.manifest(dataset, data_dir, cache_dir)
    if before.get("files") is not None and after != before:
        raise GenaugError(f"the files of dataset {dataset!r} ({after.get('root')}) changed while prepare read them; "
                          f"rerun when they are complete")
    if manifest_out is not None:
        sources.write_manifest(manifest_out, sources.with_hashes(after, sources.read_manifest(manifest_out)))
    save_dataset(ds, out, manifest=after)
    print(
        f"{ds.name}: {len(ds.train_y)} train / {len(ds.test_y)} test images of shape {ds.image_shape}, "
        f"{ds.num_classes} classes ({time.perf_counter() - t0:.1f}s)",
        file=log,
    )
    for note in ds.notes:
        print(f"note: {note}", file=log)


def subset(*, data, regime: str, size: str, seed: int, out,
           validation_per_class: int = config_default("validation_per_class"),
           minority_classes: list = config_default("regimes.semi_balanced.minority_classes"),
           semi_ratio: float = config_default("regimes.semi_balanced.ratio"),
           imbalance_ratio: float = config_default("regimes.imbalanced.ratio"), log=sys.stderr) -> Subset:
    """Draw one (regime, size, seed) subset and record its indices, labels and per-class counts."""
    params = RegimeParams(minority_classes, semi_ratio, imbalance_ratio)
    ds = load_dataset(data)
    sub = draw_subset(ds.train_y.numpy(), ds.classes, regime, size, seed,
                      validation_per_class=validation_per_class, params=params)
    sub.save(out)
    print(f"{regime}/{size}/s{seed}: {len(sub.indices)} images, per class {sub.counts.tolist()}", file=log)
    return sub


def real_subset(data, subset_path, device):
    """The dataset, a cell's subset, and its uint8 images and labels on `device` (what every cell stage trains on)."""
    ds = load_dataset(data)
    sub = Subset.load(subset_path)
    idx = torch.from_numpy(sub.indices)
    return ds, sub, ds.train_x[idx].to(device), ds.train_y[idx].to(device)


def cell_meta(ds, sub, seed: int, n_train: int) -> dict:
    """What a generator checkpoint records of the cell it trained on (the sample stage rebuilds and checks by it)."""
    return {"image_shape": list(ds.image_shape), "num_classes": ds.num_classes, "classes": ds.classes,
            "dataset": ds.name, "regime": sub.regime, "size": sub.size, "seed": seed, "n_train": n_train}


def run_meta(seconds: float, steps: int, history: list[dict]) -> dict:
    """What a generator checkpoint records of its training run."""
    epochs = max((row.get("epoch", 0) for row in history), default=0)
    return {"train_seconds": seconds, "steps": steps, "epochs": epochs, "genaug": __version__,
            "torch": str(torch.__version__)}


def train_gen(*, data, subset, spec: dict, seed: int, out, loss_log, device="auto", threads=1, snapshot=None,
              snapshot_every=0, log=sys.stderr) -> None:
    """Train one generator on a cell's real subset; write a self-describing checkpoint and its loss log.

    With `snapshot`, training state is saved there every `snapshot_every` steps and a killed job resumes.
    """
    dev = setup_device(device, threads)
    ds, sub, x, y = real_subset(data, subset, dev)
    strategy = gens.label_strategy(spec)  # fail on a bad combination before any training
    torch.manual_seed(streams.seed("generator.init", seed))
    model = gens.build(spec, ds.image_shape, ds.num_classes).to(dev)
    t0 = time.perf_counter()
    trains = families.get(spec["family"]).trains  # images made elsewhere: the cell's pool is read, nothing trains
    precision = resolve_precision(spec["train"].get("precision", "fp32"), dev, log)  # what fit runs: recorded
    if trains:
        print(f"training {spec['name']} ({spec['family']}, {strategy}) on {len(x)} images, "
              f"{spec['train']['steps']} steps, {precision}", file=log, flush=True)
    snapshots = Snapshots(snapshot, snapshot_every, fingerprint("train_gen", spec, seed, x, y), log=log)
    diverged, history, pool = None, [], None
    try:
        if trains:
            with board.beside(out):
                history = gens.train(model, to_float(x), y, spec["train"], seed=seed, snapshots=snapshots, log=log)
        else:
            pool = model.read(ds.classes, sub.regime, sub.size, seed, log=log)
    except Diverged as err:  # recorded, not raised: the grid runs on and the report names the cell
        history, diverged = err.history, str(err)
        print(f"DIVERGED: {spec['name']} {sub.regime}/{sub.size}/s{seed}: {diverged}. Its synthetic set will be "
              "empty and its classifier cells are marked diverged and left out of the report's rankings.", file=log)
    meta = {**cell_meta(ds, sub, seed, len(x)), **run_meta(time.perf_counter() - t0, spec["train"]["steps"], history),
            **({"pool": pool} if pool else {}),
            **({"precision": precision} if trains else {})}
    import pandas as pd

    write_csv(loss_log, pd.DataFrame(history))
    gens.save(out, model, spec, meta, history, diverged=diverged)
    snapshots.clear()  # a diverged run would diverge again from its snapshot: start afresh next time


def _diversity(x: torch.Tensor, max_n: int = 200) -> float:
    """Mean pairwise L2 distance between up to max_n images: near 0 means the samples collapsed."""
    if len(x) < 2:
        return float("nan")
    flat = x[:max_n].flatten(1).float()
    d = torch.cdist(flat, flat)
    n = len(flat)
    return float(d.sum() / (n * (n - 1)))


def class_diversity(images: torch.Tensor, labels: torch.Tensor, real_x: torch.Tensor, real_y: torch.Tensor,
                    classes: list[str]) -> dict[str, float]:
    """Per class, the samples' mean pairwise distance over the real images': a collapse shows as a ratio near 0.

    Classes with fewer than two samples or two real images are left out."""
    ratios = {}
    for c, name in enumerate(classes):
        fake, real = images[labels == c].cpu(), real_x[real_y == c].cpu()
        if len(fake) >= 2 and len(real) >= 2:
            ratios[name] = _diversity(fake) / max(_diversity(real), 1e-8)
    return ratios


def pseudo_labeler(ds, sub, x, y, classifier: dict | None, *, seed: int, device, log=sys.stderr, generator=None):
    """A classifier trained on the cell's real subset (early-stopped on its validation split), as a
    function from float images to class probabilities; and its validation accuracy."""
    from .classifiers import predict

    if classifier is None:
        raise GenaugError(f"{generator}: label strategy pseudo_label needs --labeler (a classifier spec)")
    print("pseudo_label: training the labelling classifier on the real subset", file=log, flush=True)
    net, _, result = _fit_cell_classifier(ds, sub, x, y, classifier, seed=seed, device=device, log=log)

    def labeler(images):
        # Label exactly what will be saved: the uint8 version of each image.
        return torch.softmax(predict(net, to_uint8(images).contiguous(memory_format=torch.channels_last)), dim=1)

    return labeler, result.best_val_accuracy


def sample(*, data, subset, generator, seed: int, out, grid_png=None, policy: str = config_default("synthesis.policy"),
           per_class: int = config_default("synthesis.per_class"), ratio: float = config_default("synthesis.ratio"),
           labeler: dict | None = None, min_confidence: float = config_default("synthesis.min_confidence"),
           min_diversity: float = config_default("synthesis.min_diversity"),
           sampling: dict | None = None, metric_per_class=None, pool: int = 1, reuse=None, draw: int = 0,
           device="auto", threads=1, log=sys.stderr) -> None:
    """Make a cell's synthetic set (uint8 images + labels) under a count policy, and a PNG grid of it.

    `labeler` (a classifier spec) is needed by label strategy pseudo_label only. A diverged generator yields an
    empty set marked `status: diverged` with the reason, so the grid runs on, no classifier trains on garbage and
    the report names the cell. Diverged means its training went non-finite, or a class's samples collapsed: their
    mean pairwise distance is under `min_diversity` times the class's real images'. The PNG then shows the collapsed
    samples. `sampling` picks a diffusion model's sampler, steps, eta and guidance (recorded in the meta).
    `metric_per_class` ("auto" or n) draws a metric set instead: `pool` times gen_metrics' count of every class,
    whatever the cell's real counts, from a random stream of its own. With `reuse` (the cell's synthetic set, made
    by the same generator and sampler), a metric set takes each class's images from it first and draws only what it
    lacks: the same distribution at the same count, without sampling twice. `draw` k >= 1 makes a metric set's k-th
    further draw (_set_seed).
    """
    set_seed = _set_seed(seed, draw, metric_per_class, reuse)  # a bad draw is refused before any work
    dev = setup_device(device, threads)
    ds, sub, x, y = real_subset(data, subset, dev)
    (model, ckpt), metric = _generator_for(generator, ds, data, dev), metric_per_class is not None
    spec, strategy = ckpt["spec"], gens.label_strategy(ckpt["spec"])
    if not metric:
        counts = synthetic_counts(sub.counts, policy, per_class=per_class, ratio=ratio)
    else:
        counts, policy = _metric_counts(ds, metric_per_class, pool), "metric"
    meta = {"status": "ok", "model": spec["name"], "family": spec["family"], "label_strategy": strategy,
            "policy": policy, "counts": counts.tolist(), "real_counts": sub.counts.tolist(), "regime": sub.regime,
            "size": sub.size, "seed": seed, "sampling": sampling, **({"draw": int(draw)} if draw else {})}
    if model is None or counts.sum() == 0:  # config.check refuses the settings known to ask for nothing
        why = ckpt["diverged"] if model is None else (
            f"empty: synthesis policy {policy} asks for no synthetic images in this cell (real counts "
            f"{sub.counts.tolist()}); the arm would be the baseline again")
        return _write_diverged(out, grid_png, ds, meta, why, log=log)
    model.set_sampling(sampling, classes=ds.classes, log=log)
    kept_x, kept_y = torch.zeros((0, *ds.image_shape), dtype=torch.uint8), torch.zeros(0, dtype=torch.long)
    # A pool of images made elsewhere is not reused: drawn in two parts, one image could appear twice.
    if metric and reuse is not None and families.get(spec["family"]).trains:
        kept_x, kept_y, meta["reused"] = reusable_images(reuse, counts, ds, meta)
        counts = counts - np.asarray(meta["reused"]["counts"])
    t0, label_fn, pseudo = time.perf_counter(), None, {}
    if strategy == "pseudo_label" and counts.sum() > 0:
        label_fn, pseudo["labeler_val_accuracy"] = pseudo_labeler(ds, sub, x, y, labeler, seed=seed, device=dev,
                                                                  log=log, generator=generator)
    images, labels = _draw(model, strategy, counts, x, y, kept_x, kept_y, seed=set_seed,
                           labeler=label_fn, threshold=min_confidence, stats=pseudo)
    _check_drawn(generator, images, ds, pseudo, counts, min_confidence, log)
    diversity = class_diversity(images, labels, x, y, ds.classes)
    meta.update({"made_counts": np.bincount(labels.numpy(), minlength=ds.num_classes).tolist(),
                 "diversity_ratio": diversity, "sample_seconds": time.perf_counter() - t0,
                 "pseudo_label": pseudo or None,
                 "network_evals_per_image": network_evals(model) if counts.sum() > 0 else
                 meta.get("reused", {}).get("network_evals_per_image")})
    collapsed = {name: round(r, 3) for name, r in diversity.items() if r < min_diversity}
    if collapsed:
        return _write_diverged(out, grid_png, ds, meta, _collapse_reason(collapsed, min_diversity), images=images,
                               labels=labels, log=log)
    _save_synthetic(out, grid_png, images, labels, meta, ds, generator, reuse, log)


def _set_seed(seed: int, draw: int, metric_per_class, reuse) -> int:
    """The seed a set's images are drawn with: a classifier's set from the `synthetic_set` stream, a metric set
    from `metric_set`, and its k-th further draw (bench --sampler-draws: how much one set's scores vary between
    draws of the same model) from `metric_set_draw`, taking nothing from `reuse`."""
    if draw < 0 or draw and (metric_per_class is None or reuse is not None):
        raise GenaugError(f"sample: draw {draw} is a further draw of a metric set: give a draw >= 1, "
                          "metric_per_class and no reuse")
    if draw:
        return streams.seed("metric_set_draw", seed, draw)
    return streams.seed("synthetic_set" if metric_per_class is None else "metric_set", seed)


def _collapse_reason(collapsed: dict, min_diversity: float) -> str:
    return (f"diverged: the samples of {len(collapsed)} class(es) collapsed to near-identical images (mean pairwise "
            f"distance over the real images': {collapsed}, below synthesis.min_diversity {min_diversity}); lower the "
            "model's lr, change its loss, or drop it from grid.models")


def _metric_counts(ds, metric_per_class, pool: int) -> np.ndarray:
    """Per class, `pool` times gen_metrics' count: every class the same, whatever the cell's real counts."""
    from .subsets import metric_count

    n = metric_count(np.bincount(ds.test_y.numpy(), minlength=ds.num_classes), metric_per_class, ds.classes)
    n *= int(pool)
    return np.full(ds.num_classes, n, dtype=np.int64)


def _draw(model, strategy, counts, x, y, kept_x, kept_y, *, seed: int, **synthesis):
    """counts[c] new images of each class (uint8, on the CPU) after the kept (reused) ones, class by class."""
    if counts.sum() > 0 or len(kept_y) == 0:
        images, labels = synthesize(model, strategy, counts, to_float(x), y, seed=seed, **synthesis)
        images, labels = to_uint8(images).cpu(), labels.cpu()
    else:  # every image reused
        images, labels = kept_x[:0], kept_y[:0]
    if len(kept_y):  # class by class, the reused images first
        labels, order = torch.sort(torch.cat([kept_y, labels]), stable=True)
        images = torch.cat([kept_x, images])[order]
    return images, labels


def _generator_for(generator, ds, data, dev):
    """The trained generator (None when its training diverged) and its checkpoint; refused unless it was trained
    on images of this dataset's shape and classes."""
    model, ckpt = gens.load(generator, dev)
    gmeta = ckpt["meta"]
    if tuple(gmeta["image_shape"]) != tuple(ds.image_shape) or gmeta["num_classes"] != ds.num_classes:
        raise GenaugError(
            f"{generator}: trained on {gmeta.get('dataset')} images of shape {tuple(gmeta['image_shape'])} with "
            f"{gmeta['num_classes']} classes, but {data} holds {ds.name} {tuple(ds.image_shape)} with "
            f"{ds.num_classes}; rerun train_gen for this dataset"
        )
    return model, ckpt


def _check_drawn(generator, images: torch.Tensor, ds, pseudo: dict, counts, min_confidence: float, log) -> None:
    """Refuse images of the wrong shape and a pseudo-labelled draw that kept nothing; warn of short classes."""
    if pseudo and pseudo["kept"] == 0 and counts.sum() > 0:
        raise GenaugError(
            f"{generator}: pseudo_label kept none of {pseudo['drawn']} samples: the labelling classifier "
            f"(validation accuracy {pseudo['labeler_val_accuracy']:.2f}) was never {min_confidence} sure; "
            "lower synthesis.min_confidence or train the generator longer"
        )
    if pseudo.get("short") and any(pseudo["short"]):
        short = {ds.classes[c]: n for c, n in enumerate(pseudo["short"]) if n}
        print(f"warning: pseudo_label: after {pseudo['drawn']} draws some classes are short of their count: {short}; "
              "lower synthesis.min_confidence or train the generator longer", file=log)
    if images.shape[1:] != tuple(ds.image_shape):
        raise GenaugError(f"{generator}: made images of shape {tuple(images.shape[1:])}, expected {ds.image_shape}")


def _save_synthetic(out, grid_png, images, labels, meta: dict, ds, generator, reuse, log) -> None:
    """Write the set, its PNG grid (also beside the generator's training curves on the board) and a log line."""
    save_npz(out, images=images.numpy(), labels=labels.numpy().astype(np.int64), meta=np.array(json.dumps(meta)))
    name, sampling = meta["model"], meta["sampling"]
    if grid_png is not None:
        sample_grid(images.numpy(), labels.numpy(), ds.classes, grid_png,
                    title=f"{name} {meta['regime']} {meta['size']} s{meta['seed']}")
        with board.beside(generator) as b:
            b.image(f"samples/{name}" + (f" {json.dumps(sampling, sort_keys=True)}" if sampling else ""), grid_png)
    reused = f", {sum(meta['reused']['counts'])} of them from {reuse}" if "reused" in meta else ""
    print(f"{name}: {len(labels)} {'metric-set' if meta['policy'] == 'metric' else 'synthetic'} images, per class "
          f"{meta['made_counts']}{reused} ({meta['sample_seconds']:.1f}s)", file=log)


def reusable_images(path, counts, ds, meta: dict):
    """Up to counts[c] images of each class c from a cell's synthetic set (the first ones: a class's images are
    independent draws), with what was taken: per-class counts and the share of the set's sampling seconds.
    A set that is not the same generator's, sampler's and cell's is refused; a diverged one lends nothing."""
    x, y, smeta = load_synthetic(path, ds.image_shape, ds.num_classes)
    same = ("model", "label_strategy", "regime", "size", "seed", "sampling")
    differ = [k for k in same if smeta.get(k) != meta.get(k)]
    if differ:
        raise GenaugError(f"{path}: not this metric set's synthetic set ({', '.join(differ)} differ: "
                          f"{ {k: smeta.get(k) for k in differ} } vs { {k: meta.get(k) for k in differ} }); "
                          "pass the same cell's synthetic set of the same model")
    take = [torch.nonzero(y == c).flatten()[:int(n)] for c, n in enumerate(counts)]
    if smeta.get("status") != "ok":
        take = [t[:0] for t in take]
    idx = torch.cat(take)
    share = len(idx) / max(len(y), 1)
    return x[idx], y[idx], {"from": str(path), "counts": [len(t) for t in take],
                            "seconds": share * float(smeta.get("sample_seconds", 0.0)),
                            "network_evals_per_image": smeta.get("network_evals_per_image")}


def network_evals(model) -> int | None:
    """Network evaluations per image of a diffusion model's last sampling (None for one-pass generators)."""
    members = getattr(model, "models", [model])
    evals = [m.last_nfe for m in members if getattr(m, "last_nfe", 0)]
    return max(evals) if evals else None


def _write_diverged(out, grid_png, ds, meta: dict, reason: str, images=None, labels=None, log=sys.stderr):
    """An empty synthetic set that says why (status diverged), and a PNG of what was sampled, if anything."""
    meta = {**meta, "status": "diverged", "reason": reason}
    empty = np.zeros((0, *ds.image_shape), dtype=np.uint8)
    save_npz(out, images=empty, labels=np.zeros(0, dtype=np.int64), meta=np.array(json.dumps(meta)))
    shown = (images.numpy(), labels.numpy()) if images is not None else (empty, np.zeros(0, dtype=np.int64))
    if grid_png is not None:
        sample_grid(*shown, ds.classes, grid_png,
                    title=f"DIVERGED {meta['model']} {meta['regime']} {meta['size']} s{meta['seed']} (not used)")
    print(f"DIVERGED: {meta['model']} {meta['regime']}/{meta['size']}/s{meta['seed']}: {reason}. The synthetic set "
          "is empty; its classifier cells are marked diverged and left out of the report's rankings.", file=log)


def combine(*, data, members: list, seed: int, out, grid_png, log=sys.stderr) -> None:
    """001's "all models combined": one synthetic set drawn evenly from several generators' sets.

    Per class it holds as many images as the members' mean for that class, so `combined` is compared
    with single generators at the same synthetic count (a gain cannot come from more images). The
    members are interleaved round-robin after a seeded shuffle of each; a member short of images
    leaves its share to the others. Diverged members are left out (named in the meta); if every
    member diverged, the set is empty and marked diverged like theirs."""
    ds = load_dataset(data)
    sets = [(str(p), *load_synthetic(p, ds.image_shape, ds.num_classes)) for p in members]
    usable = [(p, x, y) for p, x, y, m in sets if m.get("status") != "diverged"]
    left_out = [p for p, _, _, m in sets if m.get("status") == "diverged"]
    meta = {"status": "ok", "model": "combined", "members": [p for p, *_ in usable], "left_out_diverged": left_out,
            "regime": sets[0][3].get("regime"), "size": sets[0][3].get("size"), "seed": seed}
    if not usable:
        _write_diverged(out, grid_png, ds, meta, f"every member of combined diverged ({', '.join(left_out)})",
                        log=log)
        return
    rng = streams.rng("combined_set", seed)
    keep_x, keep_y = [], []
    for c in range(ds.num_classes):
        pools = [x[(y == c).numpy()] for _, x, y in usable]
        target = int(round(np.mean([len(pool) for pool in pools])))
        # rank within member (after a shuffle), then member: a round-robin order over all members
        rank = np.concatenate([rng.permutation(len(pool)) for pool in pools])
        member = np.concatenate([np.full(len(pool), i) for i, pool in enumerate(pools)])
        order = np.lexsort((member, rank))[:target]
        keep_x.append(torch.cat(pools)[torch.from_numpy(order)])
        keep_y.append(torch.full((len(order),), c, dtype=torch.long))
    images, labels = torch.cat(keep_x), torch.cat(keep_y)
    meta["counts"] = np.bincount(labels.numpy(), minlength=ds.num_classes).tolist()
    save_npz(out, images=images.numpy(), labels=labels.numpy().astype(np.int64), meta=np.array(json.dumps(meta)))
    sample_grid(images.numpy(), labels.numpy(), ds.classes, grid_png, title=f"combined s{seed}")
    print(f"combined: {len(labels)} images from {len(usable)} synthetic sets"
          + (f" ({len(left_out)} diverged, left out)" if left_out else ""), file=log)


def load_synthetic(path, image_shape, num_classes: int):
    """Images, labels and meta of a synthetic set, checked against the dataset."""
    try:
        with np.load(path) as z:
            images, labels, meta = z["images"], z["labels"], json.loads(str(z["meta"]))
    except NPZ_ERRORS as err:
        raise GenaugError(f"{path}: not a readable synthetic set ({err}); {rebuild_hint(path)}") from err
    if images.dtype != np.uint8 or images.shape[1:] != tuple(image_shape) or len(images) != len(labels):
        raise GenaugError(f"{path}: expected uint8 images of shape {tuple(image_shape)} with one label each")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise GenaugError(f"{path}: labels outside 0..{num_classes - 1}")
    return torch.from_numpy(images), torch.from_numpy(labels).long(), meta


def _fit_cell_classifier(ds, sub, x, y, classifier: dict, *, seed: int, device, n_real=None, augment=None,
                         snapshots=None, oversample=False, log=sys.stderr):
    """Train a classifier on uint8 images x, y (the first n_real real, default all) with early stopping on the
    cell's validation split."""
    val_idx = torch.from_numpy(sub.val_indices)
    val_x, val_y = ds.train_x[val_idx].to(device), ds.train_y[val_idx].to(device)
    channels_last = dict(memory_format=torch.channels_last)  # faster convolutions on CPU and GPU
    x, val_x = x.contiguous(**channels_last), val_x.contiguous(**channels_last)
    torch.manual_seed(streams.seed("classifier.init", seed))  # the same for every arm of a seed: paired comparisons
    net = build_classifier(classifier["arch"], ds.image_shape, ds.num_classes, **classifier.get("hparams", {}))
    net = net.to(device).to(**channels_last)
    cfg = TrainConfig(**classifier.get("train", {}))
    cfg = replace(cfg, precision=resolve_precision(cfg.precision, device, log))  # the record says what ran
    print(f"{classifier['name']}: at most {cfg.max_steps} steps of {cfg.batch_size} images, validated every "
          f"{cfg.eval_every}, patience {cfg.patience_steps} steps, {cfg.precision}", file=log, flush=True)
    result = fit_classifier(net, x, y, val_x, val_y, cfg, seed=seed, n_real=n_real, augment=augment,
                            snapshots=snapshots, oversample=oversample, log=log)
    return net, cfg, result


MAX_SYNTHETIC_EMBEDDINGS = 5000  # embeddings.npz keeps at most this many synthetic images' (a seeded draw)


def _test_split(ds, test_per_class, test_seed: int, dev):
    """The test images a classifier is scored on (all, or a fixed balanced draw) on `dev`, and their labels."""
    idx = torch.from_numpy(scoring_indices(ds.test_y.numpy(), test_per_class, test_seed, ds.num_classes, ds.classes))
    return ds.test_x[idx].to(dev).contiguous(memory_format=torch.channels_last), ds.test_y[idx].numpy()


def _provenance(dev) -> dict:
    """Where a classifier ran and with what: the report warns when a grid's runs come from several machines."""
    return {"device": str(dev), "machine": device_name(dev), "threads": torch.get_num_threads(),
            "genaug": __version__, "torch": str(torch.__version__), "python": platform.python_version()}


def _synthetic_arm(synthetic, train_set: str, ds, dev):
    """A mixed or synthetic-only arm's synthetic images and labels (on `dev`) and the set's meta."""
    if train_set not in TRAIN_SETS:
        raise GenaugError(f"--train-set {train_set!r}: use mixed (real + synthetic) or synthetic (synthetic only)")
    sx, sy, gen_meta = load_synthetic(synthetic, ds.image_shape, ds.num_classes)
    if train_set == "synthetic" and len(sy) == 0 and gen_meta.get("status") != "diverged":
        raise GenaugError(f"{synthetic}: the synthetic set is empty; a synthetic-only classifier needs images")
    return sx.to(dev), sy.to(dev), gen_meta


def _classic_augment(classic: dict | None, dataset: str):
    """The classic arm's augmentation (None for every other arm) and its record, which says what it did."""
    if classic is None:
        return None, None
    augment = ClassicAugment(shift=int(classic.get("shift", 2)), flip=flip_for(classic.get("flip", "auto"), dataset),
                             erase_p=float(classic.get("erase_p", 0.5)))
    return augment, {**asdict(augment), "described": augment.describe()}


def _synthetic_embeddings(net, sx, sy, seed: int, dim: int):
    """Embeddings (float16) and labels of up to MAX_SYNTHETIC_EMBEDDINGS synthetic images, a seeded draw."""
    if sx is None or not len(sx):
        return np.zeros((0, dim), dtype=np.float16), np.zeros(0, dtype=np.int16)
    gen = torch.Generator().manual_seed(streams.seed("embeddings_kept", seed))
    pick = torch.randperm(len(sx), generator=gen)[:MAX_SYNTHETIC_EMBEDDINGS].sort().values.to(sx.device)
    _, s_emb = predict(net, sx[pick].contiguous(memory_format=torch.channels_last), with_embeddings=True)
    return s_emb.cpu().numpy().astype(np.float16), sy[pick].cpu().numpy().astype(np.int16)


def train_clf(*, data, subset, classifier: dict, model: str, seed: int, out, embeddings, synthetic=None,
              train_set: str = "mixed", classic: dict | None = None, oversample: bool = False, filter_name="none",
              test_per_class=None, test_seed=config_default("test.seed"), device="auto", threads=1, snapshot=None,
              snapshot_every=0, log=sys.stderr) -> dict:
    """Train a classifier on a cell's real (+ synthetic) images and score it on the real test split.

    `train_set` (with a synthetic set): `mixed` trains on real + synthetic, `synthetic` on the synthetic
    images alone (the generator's classification accuracy score, CAS). `oversample` (the oversampled arm)
    draws the real images in class-balanced passes. Early stopping uses the real validation split either
    way, the same rule as every other arm. The test and synthetic images' embeddings go to `embeddings` for
    the probes. `test_per_class` scores on a fixed, balanced subset of the test split (003's 100 per class)
    instead of all of it."""
    t0, dev = time.perf_counter(), setup_device(device, threads)
    ds, sub, x, y = real_subset(data, subset, dev)
    test_x, test_y = _test_split(ds, test_per_class, test_seed, dev)  # before training: a bad test.per_class stops it
    gen_meta, sx, sy, synth_counts = None, None, None, np.zeros(ds.num_classes, dtype=np.int64)
    if synthetic is None:
        train_set = "real"
    else:
        sx, sy, gen_meta = _synthetic_arm(synthetic, train_set, ds, dev)
        if gen_meta.get("status") == "diverged":
            return _diverged_cell(ds, sub, classifier, model, seed, filter_name, gen_meta, out, embeddings, log,
                                  train_set)
        synth_counts = np.bincount(sy.cpu().numpy(), minlength=ds.num_classes)
        x, y = (x[:0], y[:0]) if train_set == "synthetic" else (x, y)
        x, y = torch.cat([x, sx]), torch.cat([y, sy])
    n_real = len(x) - int(synth_counts.sum())
    augment, classic = _classic_augment(classic, ds.name)
    print(f"training {classifier['name']} for {model} on {n_real} real + {int(synth_counts.sum())} synthetic "
          f"images ({train_set}{', class-balanced batches' if oversample else ''})", file=log, flush=True)
    job = fingerprint("train_clf", classifier, model, classic, oversample, seed, x, y,
                      torch.from_numpy(sub.val_indices))
    snapshots = Snapshots(snapshot, snapshot_every, job, log=log)
    with board.beside(out):
        net, cfg, result = _fit_cell_classifier(ds, sub, x, y, classifier, seed=seed, device=dev, n_real=n_real,
                                                augment=augment, snapshots=snapshots, oversample=oversample,
                                                log=log)

    pred, emb, test_y, scores, checks = _score_on_test(net, result, test_x, test_y, ds.classes)
    metrics = {
        **_cell_ids(ds, sub, classifier, model, seed, filter_name, train_set), "status": "ok", **scores,
        "n_real": n_real, "n_synthetic": int(synth_counts.sum()), "n_test": len(pred),
        "test_subset": {"per_class": test_per_class, "seed": test_seed} if test_per_class else None,
        "real_counts": sub.counts.tolist(), "synthetic_counts": synth_counts.tolist(),
        "best_step": result.best_step, "steps_run": result.steps_run, "stopped_by": result.stopped_by,
        "best_val_accuracy": result.best_val_accuracy, "convergence_checks": checks, "history": result.history,
        "train": vars(cfg), "classic": classic, "oversample": oversample, "generator": gen_meta,
        "classifier_params": sum(p.numel() for p in net.parameters()),
        "wall_time_s": time.perf_counter() - t0, **_provenance(dev)}
    s_emb, s_lab = _synthetic_embeddings(net, sx, sy, seed, emb.shape[1])
    save_npz(embeddings, embeddings=emb.cpu().numpy().astype(np.float16), labels=test_y.astype(np.int16),
             predictions=pred.astype(np.int16), synthetic_embeddings=s_emb, synthetic_labels=s_lab)
    write_json(out, metrics)
    snapshots.clear()
    print(f"{model} {sub.regime}/{sub.size}/s{seed}: test accuracy {scores['accuracy']:.4f}, "
          f"macro-F1 {scores['macro_f1']:.4f} ({metrics['wall_time_s']:.0f}s)", file=log)
    return metrics


def _score_on_test(net, result, test_x, test_y, classes):
    """A trained classifier's test predictions, embeddings, labels, scores and convergence checks."""
    from .scoring import classification_scores  # scikit-learn: imported only by the stages that score

    logits, emb = predict(net, test_x, with_embeddings=True)
    pred = logits.argmax(1).cpu().numpy()
    scores = classification_scores(test_y, pred, classes)
    return pred, emb, test_y, scores, convergence_checks(net, result, test_x, test_y, scores["accuracy"])


def convergence_checks(net, result, test_x, test_y, accuracy: float) -> list[dict]:
    """Each shorter stopping rule's test accuracy (the same run, stopped earlier) and how much the full rule
    changed it: a diagnostic of convergence, never a selection (the cell's score is the full rule's)."""
    final = {k: v.clone() for k, v in net.state_dict().items()}
    out = []
    for check, state in zip(result.checks, result.check_states):
        net.load_state_dict(state)
        acc = float((predict(net, test_x).argmax(1).cpu().numpy() == test_y).mean())
        out.append({**check, "accuracy": acc, "change": accuracy - acc})
    net.load_state_dict(final)
    return out


def _cell_ids(ds, sub, classifier: dict, model: str, seed: int, filter_name: str, train_set: str) -> dict:
    return {"dataset": ds.name, "classifier": classifier["name"], "train_set": train_set, "model": model,
            "filter": filter_name,
            "regime": sub.regime, "size": sub.size, "size_value": parse_size(sub.regime, sub.size), "seed": seed}


def _diverged_cell(ds, sub, classifier, model, seed, filter_name, gen_meta, out, embeddings, log,
                   train_set) -> dict:
    """The metrics of a cell whose generator diverged: no classifier is trained, no score is made up."""
    metrics = {**_cell_ids(ds, sub, classifier, model, seed, filter_name, train_set), "status": "diverged",
               "reason": gen_meta["reason"], "accuracy": None, "macro_f1": None, "n_real": len(sub.indices),
               "n_synthetic": 0, "generator": gen_meta, "genaug": __version__}
    save_npz(embeddings, embeddings=np.zeros((0, 0), dtype=np.float16), labels=np.zeros(0, dtype=np.int16),
             predictions=np.zeros(0, dtype=np.int16), synthetic_embeddings=np.zeros((0, 0), dtype=np.float16),
             synthetic_labels=np.zeros(0, dtype=np.int16))
    write_json(out, metrics)
    print(f"{model} {sub.regime}/{sub.size}/s{seed}: not trained, its generator diverged ({gen_meta['reason']})",
          file=log)
    return metrics
