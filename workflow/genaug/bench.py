"""`genaug bench`: measure what makes a grid practical and write results/bench.json.

- per generator family: training and sampling images/s at the `quick` preset, and the share of the
  training loop spent outside the model's forward and backward pass;
- the classifier's training images/s and the same overhead share;
- how long `snakemake -n` takes to plan a grid of about 10,000 jobs;
- with --default-run, the wall time of `snakemake --cores all` on the shipped config.yaml.

Forward and backward are timed by wrapping the family's `loss` (or the classifier's `forward`) and
`torch.Tensor.backward` during an ordinary training run, so the loop measured is the real one.
Each section records when it was measured; sections not rerun are kept from the previous file.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

from .progress import SILENT

REPO = Path(__file__).resolve().parents[2]
TARGETS = {"default_run_max_s": 1800, "dry_run_10k_max_s": 20, "loop_overhead_max": 0.10}


class LoopTimer:
    """Adds up the seconds a training run spends in the model's forward, in backward and in Adam's step."""

    def __init__(self, model_class: type, forward: str, device, **extra):
        import torch

        self.targets = {"forward": (model_class, forward), "backward": (torch.Tensor, "backward"),
                        "optimizer": (torch.optim.Adam, "step"), **extra}
        self.seconds = dict.fromkeys(self.targets, 0.0)
        self.device = device

    def _wrap(self, fn, bucket):
        def timed(*args, **kwargs):
            _sync(self.device)
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            _sync(self.device)
            self.seconds[bucket] += time.perf_counter() - t0
            return out

        return timed

    @contextlib.contextmanager
    def active(self):
        saved = {bucket: getattr(owner, attr) for bucket, (owner, attr) in self.targets.items()}
        for bucket, (owner, attr) in self.targets.items():
            setattr(owner, attr, self._wrap(saved[bucket], bucket))
        try:
            yield self
        finally:
            for bucket, (owner, attr) in self.targets.items():
                setattr(owner, attr, saved[bucket])

    def shares(self, total: float) -> dict:
        """Seconds per part, and the shares of the loop outside forward+backward (literally) and outside
        forward+backward+optimizer step (what batching, indexing and bookkeeping cost)."""
        fb = self.seconds["forward"] + self.seconds["backward"]
        return {**{f"{k}_s": round(v, 2) for k, v in self.seconds.items()},
                "outside_forward_backward": round(1 - fb / total, 4),
                "loop_overhead": round(1 - (fb + self.seconds["optimizer"]) / total, 4)}


def _sync(device) -> None:
    """Wait for queued GPU work, so a wall-clock reading covers it."""
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _machine(device) -> dict:
    import torch

    from .device import cpu_name

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "device": str(device), "torch": str(torch.__version__),
            "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version()}


def _cell(dataset: str, size: str, workdir: Path, log, config: dict | None = None):
    """A real (regime, size, seed) subset of `dataset`, read as the config says where it is the config's dataset
    (a user's folder: its data_dir, image_size and folder settings), falling back to digits when not available."""
    from . import config as gcfg
    from . import stages
    from .errors import GenaugError

    config = config or {}
    mine = config.get("dataset") == dataset
    source = gcfg.prepare_settings(config) if mine else {}
    cache = workdir / f"{dataset}.npz"
    try:
        stages.prepare(dataset=dataset, out=cache, cache_dir=REPO / "data" / "raw", log=log, **source)
    except GenaugError as err:
        print(f"bench: {dataset} unavailable ({err}); using digits", file=log)
        dataset, size, cache = "digits", "n500", workdir / "digits.npz"
        stages.prepare(dataset="digits", out=cache, log=log)
    sub = workdir / "subset.npz"
    held_out = ({"validation_per_class": 20} if dataset == "digits" else  # digits has ~125 train images a class
                {"validation_per_class": config["validation_per_class"]} if mine and "validation_per_class" in config
                else {})
    try:
        stages.subset(data=cache, regime="balanced", size=size, seed=0, out=sub, log=log, **held_out)
    except GenaugError as err:
        raise GenaugError(f"{err}; for genaug bench, give a smaller --size") from None
    return {"dataset": dataset, "subset": f"balanced/{size}/s0"}, cache, sub


def bench_generators(config: dict, cache, sub, device, log, models=None, max_steps: int = 0) -> dict:
    """Train each registered model (presets and config.yaml's own) at the quick preset; then sample 10,000.

    Sampling of a pseudo_label model is timed without its labelling classifier (the generator alone).
    `max_steps` > 0 times only that many training steps of each (throughput, not a finished model:
    on a CPU a quick-preset GAN takes most of an hour); the row records the steps timed.
    """
    import torch

    from . import config as gcfg
    from . import generators as gens
    from .data import to_float
    from .labels import synthesize
    from .stages import real_subset

    ds, _, x, y = real_subset(cache, sub, device)
    x = to_float(x)
    quick = {**config, "effort": "quick"}
    out = {}
    for name in models or gcfg.model_entries(config):
        spec = gcfg.generator_spec(quick, name)
        preset_steps = spec["train"]["steps"]
        if max_steps:
            spec["train"]["steps"] = min(preset_steps, max_steps)
        cls = gens.family_class(spec["family"])
        strategy = gens.label_strategy(spec)
        torch.manual_seed(0)
        model = gens.build(spec, ds.image_shape, ds.num_classes).to(device)
        models_trained = int(torch.bincount(y, minlength=ds.num_classes).gt(0).sum()) if strategy == "per_class" else 1
        timer = LoopTimer(cls, "phase_loss", device)
        t0 = time.perf_counter()
        with timer.active():
            history = gens.train(model, x, y, spec["train"], seed=0, log=SILENT)
        train_s = time.perf_counter() - t0
        images = spec["train"]["steps"] * spec["train"]["batch_size"] * models_trained
        counts = torch.full((ds.num_classes,), 1000, dtype=torch.long).numpy()
        t0 = time.perf_counter()
        samples, _ = synthesize(model, "conditional" if strategy == "pseudo_label" else strategy, counts, x, y, seed=1)
        _sync(device)
        sample_s = time.perf_counter() - t0
        out[name] = {
            "family": spec["family"], "label_strategy": strategy, "steps": spec["train"]["steps"],
            "quick_preset_steps": preset_steps,
            "batch_size": spec["train"]["batch_size"], "models_trained_at_once": models_trained,
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_seconds": round(train_s, 2), "train_images_per_s": round(images / train_s, 1),
            "sample_images": len(samples), "sample_seconds": round(sample_s, 3),
            "sample_images_per_s": round(len(samples) / sample_s, 1),
            **{f"{key}_first_interval": _mean_loss_at(history, history[0]["step"], key) for key in _losses(history)},
            **{f"{key}_last_interval": _mean_loss_at(history, history[-1]["step"], key) for key in _losses(history)},
            **timer.shares(train_s),
        }
        print(f"bench: {name}: train {out[name]['train_images_per_s']:.0f} img/s ({train_s:.0f}s), "
              f"sample {out[name]['sample_images_per_s']:.0f} img/s, outside forward+backward "
              f"{out[name]['outside_forward_backward']:.1%} (optimizer step excluded: "
              f"{out[name]['loop_overhead']:.1%})", file=log, flush=True)
    return out


def bench_gans(config: dict, cache, sub, device, log, steps: int = 100) -> dict:
    """GAN-specific figures: how much training k per-class GANs stacked (vmap) saves over training them
    one after another, and a conditional GAN (cdcgan) with and without DiffAugment at the quick preset.

    DiffAugment's effect is scored on 1,000 samples per class by the cell's CNN trained on the real
    subset (early-stopped on validation): the share recognized as their class, and the samples'
    diversity relative to the real images (mean pairwise distance ratio).
    """
    from .stages import real_subset

    ds, subset, x, y = real_subset(cache, sub, device)
    quick = {**config, "effort": "quick"}
    return {"per_class_batching": _bench_stacking(quick, ds, x, y, device, log, steps),
            "diffaugment": _bench_diffaugment(quick, ds, subset, x, y, device, log)}


def _bench_stacking(quick: dict, ds, x, y, device, log, steps: int) -> dict:
    """Ten per-class dcgans trained stacked (one vmapped step) against one after another."""
    import torch

    from . import config as gcfg
    from . import generators as gens
    from .data import to_float
    from .generators.base import fit

    xf = to_float(x)
    spec = gcfg.generator_spec(quick, "dcgan")
    batch, lr = spec["train"]["batch_size"], spec["train"]["lr"]
    family = gens.family_class(spec["family"])
    torch.manual_seed(0)
    stacked = gens.build(spec, ds.image_shape, ds.num_classes).to(device)
    _sync(device)
    t0 = time.perf_counter()
    stacked.fit(xf, y, steps=steps, batch_size=batch, lr=lr, seed=0, log=SILENT)
    _sync(device)
    stacked_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for c in range(ds.num_classes):
        single = family(ds.image_shape, ds.num_classes, **spec["hparams"]).to(device)
        fit(single, xf[y == c], y[y == c], steps=steps, batch_size=batch, lr=lr, seed=c, log=SILENT)
    _sync(device)
    sequential_s = time.perf_counter() - t0
    images = steps * batch * ds.num_classes
    out = {"model": "dcgan", "classes": ds.num_classes, "steps": steps, "batch_size": batch,
           "stacked_seconds": round(stacked_s, 2), "sequential_seconds": round(sequential_s, 2),
           "stacked_images_per_s": round(images / stacked_s, 1),
           "sequential_images_per_s": round(images / sequential_s, 1), "speedup": round(sequential_s / stacked_s, 2)}
    print(f"bench: {ds.num_classes} per-class dcgans: stacked {stacked_s:.1f}s, one after another "
          f"{sequential_s:.1f}s ({out['speedup']}x)", file=log, flush=True)
    return out


def _bench_diffaugment(quick: dict, ds, subset, x, y, device, log) -> dict:
    """cdcgan at the quick preset with and without DiffAugment, its samples judged by the cell's classifier."""
    import numpy as np
    import torch

    from . import config as gcfg
    from . import generators as gens
    from .data import to_float
    from .generators.diffaugment import POLICIES
    from .stages import _fit_cell_classifier, class_diversity

    xf = to_float(x)
    clf_spec = gcfg.classifier_spec(quick, quick["grid"]["classifiers"][0])
    judge, _, _ = _fit_cell_classifier(ds, subset, x, y, clf_spec, seed=0, device=device, log=SILENT)
    judge.eval()
    comparison = {}
    for label, policy in (("with_diffaugment", None), ("without_diffaugment", [])):
        spec = gcfg.generator_spec(quick, "cdcgan")
        if policy is not None:
            spec["hparams"]["diffaugment"] = policy
        torch.manual_seed(0)
        model = gens.build(spec, ds.image_shape, ds.num_classes).to(device)
        _sync(device)
        t0 = time.perf_counter()
        gens.train(model, xf, y, spec["train"], seed=0, log=SILENT)
        _sync(device)
        train_s = time.perf_counter() - t0
        labels = torch.arange(ds.num_classes, device=device).repeat_interleave(1000)
        with torch.no_grad():
            samples = model.sample(labels, torch.Generator().manual_seed(1))
            pred = torch.cat([judge(samples[i:i + 2000]).argmax(1) for i in range(0, len(samples), 2000)])
        diversity = list(class_diversity(samples, labels, xf, y, ds.classes).values())
        comparison[label] = {
            "diffaugment": spec["hparams"].get("diffaugment", list(POLICIES)),
            "steps": spec["train"]["steps"], "train_seconds": round(train_s, 1),
            "train_images_per_s": round(spec["train"]["steps"] * spec["train"]["batch_size"] / train_s, 1),
            "recognized_as_their_class": round(float((pred == labels).float().mean()), 4),
            "diversity_ratio_mean": round(float(np.mean(diversity)), 3),
        }
        print(f"bench: cdcgan {label}: {comparison[label]}", file=log, flush=True)
    return {"model": "cdcgan", "judge": clf_spec["name"], **comparison}


# Speed levers of a generator's training loop (bench_levers), each applied alone to the family's own loop.
LEVERS = ("fp32", "bf16", "channels_last", "compile", "threads2")
LEVER_MODELS = ("cvae", "cdcgan_r1", "cddpm")  # issue 21's generators (cdcgan_ms: cdcgan_r1's networks and step)


@contextlib.contextmanager
def _lever(lever: str, model):
    """Apply one lever to a built model for the duration: channels_last converts weights and the training
    images' layout; compile wraps each child network in torch.compile; threads2 gives the job two torch
    threads. (bf16 is the generators' own `precision` option, set in the training spec.)"""
    import torch

    saved_threads = torch.get_num_threads()
    children = dict(model.named_children())
    try:
        if lever == "channels_last":
            model.to(memory_format=torch.channels_last)
        elif lever == "compile":
            for name, child in children.items():
                if any(True for _ in child.parameters()):
                    setattr(model, name, torch.compile(child))
        elif lever == "threads2":
            torch.set_num_threads(2)
        yield
    finally:
        torch.set_num_threads(saved_threads)
        for name, child in children.items():
            setattr(model, name, child)


def bench_levers(config: dict, cache, sub, device, log, models=LEVER_MODELS, steps: int = 60,
                 warmup: int = 10, levers=LEVERS) -> dict:
    """Seconds per training step of each model (quick preset, batch as configured) under each lever alone,
    beside plain fp32 on one thread: `warmup` steps (compilation included) are timed apart from `steps`.
    Speed only; a lever's effect on quality is measured by training with it (docs/cpu-generators.md)."""
    import torch

    from . import config as gcfg
    from . import generators as gens
    from .data import to_float
    from .stages import real_subset

    ds, _, x, y = real_subset(cache, sub, device)
    x = to_float(x)
    quick = {**config, "effort": "quick"}
    out = {}
    for name in models:
        spec = gcfg.generator_spec(quick, name)
        rows, parameters = {}, None
        for lever in ("fp32", *(v for v in levers if v != "fp32")):
            torch.manual_seed(0)
            model = gens.build(spec, ds.image_shape, ds.num_classes).to(device)
            parameters = parameters or sum(p.numel() for p in model.parameters())
            try:
                train = {**spec["train"], "precision": "bf16" if lever == "bf16" else "fp32"}
                with _lever(lever, model):
                    xs = x.contiguous(memory_format=torch.channels_last) if lever == "channels_last" else x
                    t0 = time.perf_counter()
                    gens.train(model, xs, y, {**train, "steps": warmup}, seed=0, log=SILENT)
                    warm_s = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    history = gens.train(model, xs, y, {**train, "steps": steps}, seed=1, log=SILENT)
                    step_s = (time.perf_counter() - t0) / steps
            except Exception as err:  # a lever this torch build cannot apply is a finding, not a crash
                rows[lever] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
                print(f"bench: levers: {name} {lever}: failed ({rows[lever]['error']})", file=log, flush=True)
                continue
            rows[lever] = {"step_seconds": round(step_s, 4), "warmup_seconds": round(warm_s, 2),
                           "last_loss": {k: _mean_loss_at(history, history[-1]["step"], k) for k in _losses(history)}}
        base = rows["fp32"].get("step_seconds")
        for lever, row in rows.items():
            if "step_seconds" in row and base:
                row["speedup"] = round(base / row["step_seconds"], 3)
        out[name] = {"family": spec["family"], "batch_size": spec["train"]["batch_size"], "steps_timed": steps,
                     "parameters": parameters, **rows}
        print(f"bench: levers: {name}: " + ", ".join(
            f"{k} {v['step_seconds'] * 1000:.0f} ms ({v.get('speedup', 0):.2f}x)" for k, v in rows.items()
            if "step_seconds" in v), file=log, flush=True)
    return out


def _losses(history: list[dict]) -> list[str]:
    """The loss columns of a loss log: `loss`, or a GAN's `d_loss` and `g_loss`."""
    return [k for k in history[0] if k == "loss" or k.endswith("_loss")]


def _mean_loss_at(history: list[dict], step: int, key: str = "loss") -> float:
    """A loss logged at `step`, averaged over the stacked per-class models that logged it."""
    losses = [r[key] for r in history if r["step"] == step]
    return round(sum(losses) / len(losses), 2)


def bench_classifier(config: dict, cache, sub, device, log, epochs: int = 3) -> dict:
    """The classifier's training loop on a real subset for a fixed number of epochs (no early stop), in
    float32 and in every other training precision."""
    import torch

    from . import classifiers
    from . import config as gcfg
    from .classifiers import CLASSIFIERS, TrainConfig, build_classifier, fit_classifier
    from .device import PRECISIONS
    from .stages import real_subset

    ds, subset, x, y = real_subset(cache, sub, device)
    name = config["grid"]["classifiers"][0]
    spec = gcfg.classifier_spec({**config, "effort": "quick"}, name)
    cl = dict(memory_format=torch.channels_last)  # as train_clf runs it
    vidx = torch.from_numpy(subset.val_indices)
    x, vx, vy = x.contiguous(**cl), ds.train_x[vidx].to(device).contiguous(**cl), ds.train_y[vidx].to(device)
    settings = {k: v for k, v in spec["train"].items() if k in ("batch_size", "lr")}

    def timed(precision: str) -> dict:
        torch.manual_seed(0)
        net = build_classifier(spec["arch"], ds.image_shape, ds.num_classes, **spec["hparams"]).to(device).to(**cl)
        cfg = TrainConfig.passes(len(x), epochs, **settings, precision=precision)
        # The epochs include a validation pass each (classifiers.predict): timed apart, not training.
        timer = LoopTimer(CLASSIFIERS[spec["arch"]], "forward", device, validation=(classifiers, "predict"))
        t0 = time.perf_counter()
        with timer.active():
            fit_classifier(net, x, y, vx, vy, cfg, seed=0, log=SILENT)
        val_s = timer.seconds.pop("validation")
        timer.targets.pop("validation")
        train_s = time.perf_counter() - t0 - val_s
        return {"batch_size": cfg.batch_size, "train_seconds": round(train_s, 2),
                "train_images_per_s": round(epochs * len(x) / train_s, 1), "validation_seconds": round(val_s, 2),
                **timer.shares(train_s)}

    out = {"classifier": name, "arch": spec["arch"], "train_images": len(x), "epochs": epochs, **timed("fp32")}
    # The training loop under each other precision (TrainConfig.precision), same seed and steps: its speed-up.
    out["precisions"] = {}
    for precision in PRECISIONS[1:]:
        row = timed(precision)
        speedup = round(row["train_images_per_s"] / out["train_images_per_s"], 3)
        out["precisions"][precision] = {**row, "speedup": speedup}
    print(f"bench: classifier: {out['train_images_per_s']:.0f} img/s, outside forward+backward "
          f"{out['outside_forward_backward']:.1%} (optimizer step excluded: {out['loop_overhead']:.1%}); "
          + ", ".join(f"{k} {v['train_images_per_s']:.0f} img/s ({v['speedup']:.2f}x)"
                      for k, v in out["precisions"].items()), file=log, flush=True)
    return out


def big_grid_config(config: dict, seeds: int = 17) -> dict:
    """config.yaml widened to every regime, ten sizes, `seeds` seeds and a second generator: about 10,000 jobs.

    The models are the grid's own plus `vae_recon`, so the job count does not hang on whether config.yaml
    lists its generators under `models:` (registered presets need no entry). 17 seeds since each cell also
    has probe, t-SNE and gen_metrics jobs (30 seeds were 10,264 jobs before those stages, 17,620 after)."""
    cfg = copy.deepcopy(config)
    cfg["seeds"] = list(range(seeds))
    models = dict.fromkeys(["baseline", "classic", *cfg["grid"]["models"], *(cfg.get("models") or {}), "vae_recon"])
    cfg["grid"].update(regimes=["balanced", "semi_balanced", "imbalanced", "fraction", "shots"],
                       sizes=list(range(500, 5001, 500)), fractions=[10, 25, 50, 100], shots=[1, 5, 10, 20],
                       models=list(models))
    return cfg


def _snakemake(workdir: Path, *args) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "snakemake"]
    # Without the auto-loaded profiles/default: its greedy scheduler would replace the default one being timed.
    return subprocess.run([*cmd, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
                           "--workflow-profile", "none", *args], capture_output=True, text=True)


def _job_total(output: str) -> int:
    m = re.search(r"^total\s+(\d+)$", output, re.M)
    return int(m[1]) if m else 0


def bench_dry_run(config: dict, log) -> dict:
    """Wall time of `snakemake -n` (DAG, wildcards, params of every job) on a ~10,000-job grid."""
    cfg = big_grid_config(config)
    out = {"seeds": len(cfg["seeds"]), "regimes": cfg["grid"]["regimes"], "models": cfg["grid"]["models"]}
    with tempfile.TemporaryDirectory(prefix="genaug-dry-") as d:
        (Path(d) / "config.yaml").write_text(yaml.safe_dump(cfg))
        for key, extra in (("seconds", []), ("seconds_greedy_scheduler", ["--scheduler", "greedy"])):
            t0 = time.perf_counter()
            r = _snakemake(Path(d), "-n", "--quiet", "rules", *extra)
            out[key] = round(time.perf_counter() - t0, 2)
            if r.returncode != 0:
                raise RuntimeError(f"dry run failed: {r.stderr[-2000:]}")
            out["jobs"] = _job_total(r.stdout + r.stderr)
            print(f"bench: snakemake -n {' '.join(extra)} on {out['jobs']} jobs: {out[key]:.1f}s", file=log,
                  flush=True)
    return out


def bench_default_run(cores: str, keep_summary: Path, log) -> dict:
    """Wall time of `snakemake --cores all` on the shipped config.yaml, from nothing, in a scratch folder.

    The run's summary.csv is kept at `keep_summary`, so the accuracies quoted with the time are on file.
    """
    with tempfile.TemporaryDirectory(prefix="genaug-default-") as d:
        shutil.copy(REPO / "config.yaml", Path(d) / "config.yaml")
        print(f"bench: default run in {d} (tens of minutes)...", file=log, flush=True)
        t0 = time.perf_counter()
        r = _snakemake(Path(d), "--cores", cores)
        seconds = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"default run failed: {r.stderr[-3000:]}")
        import pandas as pd

        summary_path = next(Path(d).glob("results/*/summary.csv"))
        summary = pd.read_csv(summary_path)
        keep_summary.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(summary_path, keep_summary)
        jobs = _job_total(r.stdout + r.stderr)
    print(f"bench: default run: {seconds / 60:.1f} min, {jobs} jobs", file=log, flush=True)
    return {"seconds": round(seconds, 1), "minutes": round(seconds / 60, 2), "jobs": jobs, "cells": len(summary),
            "cores": os.cpu_count() if cores == "all" else int(cores),
            "train_clf_mean_s": round(float(summary["wall_time_s"].mean()), 1), "summary": keep_summary.name}


def spacing_variants(spec: dict, timesteps: int) -> tuple[str, ...]:
    """What `bench --samplers` adds beside a grid's sampler token: the same steps with the spacing the sampler
    used before it was placed in log-SNR (diffusers' defaults), and for DPM-Solver++ Karras sigmas. None for a
    sampler that steps through all `timesteps` of the model's schedule: every spacing visits each of them."""
    if spec["steps"] >= timesteps:
        return ()
    if spec["sampler"] == "dpm":
        return "karras", "linspace"
    if spec["sampler"] == "ddim" and spec["eta"] in (0, 1):
        return ("leading",) if spec["eta"] == 0 else ("linspace",)
    return ()


def bench_samplers(workdir, device, log, seeds=None, draws: int = 1) -> dict:
    """Samplers of one trained diffusion model side by side, from a grid that ran their metric sets and
    gen_metrics (workflow/configs/samplers.yaml): per sampler token, the metric set's sampling time and
    network evaluations per image, and its domain Fréchet distance at the grid's fixed count per class
    beside the real-vs-real floor at that count; the classifier's accuracy and gain over `baseline` where the
    grid trained them. Each dpm and ddim token is also sampled with its other spacings (spacing_variants:
    Karras sigmas, and diffusers' defaults that the samplers used before) through the same sample and
    gen_metrics stages. The sets are found in WORKDIR's results (whatever --configfile the grid ran with):
    one cell (the first regime and size in sorted order that has sampler-token sets), every seed it ran.
    `draws` > 1 scores each sampler on that many metric sets of the same model (the grid's and further draws
    of their own random stream): one draw of 100 images a class varied by a fifth between draws of one cddpm
    (docs/measured/2026-12-04-metric-noise.md), so a comparison within 15 % needs the mean of several."""
    import numpy as np
    import torch

    from .errors import GenaugError
    from .io import read_json

    if int(draws) < 1:
        raise GenaugError(f"bench --sampler-draws must be at least 1 (the grid's own draw), not {draws}")
    workdir = Path(workdir)
    res, regime, size, sampled, found_seeds = _sampler_cell(workdir)
    seeds = seeds or found_seeds
    bases = sorted(res.glob(f"classifiers/*/real/baseline/none/{regime}/{size}/s*/metrics.json"))
    clf = bases[0].parts[-8] if bases else None
    floor = read_json(res / "reference" / "floor.json")
    rows = {}
    for seed in seeds:
        cell = f"{regime}/{size}/s{seed}"
        base_path = res / f"classifiers/{clf}/real/baseline/none/{cell}/metrics.json"
        base = read_json(base_path)["accuracy"] if base_path.exists() else None
        for model in sampled:
            if not (res / f"gen_metrics/none/{model}/{cell}.json").exists():
                continue
            runs, timesteps = _sampler_runs(workdir, res, model, cell, seed, floor, str(device), log)
            for label, sampling, npz, out in runs:
                row = {**_sampler_row(res, label, sampling, npz, out, clf, cell, base), "timesteps": timesteps}
                if draws > 1:
                    fds = [row["fd"]] + [read_json(_bench_set(workdir, res, model, label, sampling, cell, seed, floor,
                                                              str(device), log, draw=k)[1])["domain_fd"]
                                         for k in range(1, draws)]
                    row.update(fd=float(np.mean(fds)), fd_sd=float(np.std(fds, ddof=1)), fd_draws=fds)
                rows.setdefault(label, []).append(row)
                print(f"{label} s{seed}: fd {row['fd']:.2f} (floor {floor['domain_fd']:.2f})", file=log)
    ckpt = torch.load(res / "reference" / "classifier.pt", map_location="cpu", weights_only=True)
    out = {"workdir": str(workdir), "cell": f"{regime}/{size}", "seeds": seeds, "classifier": clf, "draws": int(draws),
           "reference": {"arch": "cnn", "test_accuracy": ckpt["test_accuracy"], "features": "128-d penultimate"},
           "floor": {"fd": floor["domain_fd"], "per_class_count": floor["per_class_count"],
                     "draws": floor.get("draws", 1), "fd_sd": floor.get("domain_fd_sd"),
                     "what": floor.get("what", "a second real test-split draw of the same count")}}
    return _sampler_table(out, rows)


def _sampler_cell(workdir: Path):
    """The results folder, cell (regime, size), sampler-token models and seeds that `bench --samplers` reads."""
    from .errors import GenaugError

    found = sorted(workdir.glob("results/*/gen_metrics/none/*@*/*/*/s*.json"))
    if not found:
        raise GenaugError(f"{workdir}: no gen_metrics of a diffusion model with an @sampler token under "
                          "results/<dataset>/gen_metrics/none/; run a sampler grid there first "
                          "(workflow/configs/samplers.yaml)")
    res = found[0].parents[5]
    regime, size = found[0].parts[-3], found[0].parts[-2]
    here = [f for f in found if f.parents[5] == res and f.parts[-3:-1] == (regime, size)]
    return res, regime, size, sorted({f.parts[-4] for f in here}), sorted({int(f.stem[1:]) for f in here})


def _sampler_runs(workdir: Path, res: Path, model: str, cell: str, seed: int, floor: dict, device: str, log):
    """(label, sampling, metric set, gen_metrics file) of a grid's sampler token and of each of its spacing
    variants, which are sampled and scored (once; kept under WORKDIR/bench_samplers) by the grid's own stages."""
    import numpy as np

    from .config import split_model

    with np.load(res / f"metric_sets/{model}/{cell}.npz") as z:
        spec = json.loads(str(z["meta"]))["sampling"]
    timesteps = _timesteps(res / f"generators/{split_model(model)[0]}/{cell}/model.pt")
    runs = [(model, spec, res / f"metric_sets/{model}/{cell}.npz", res / f"gen_metrics/none/{model}/{cell}.json")]
    for spacing in spacing_variants(spec, timesteps):
        label, variant = f"{model} ({spacing} spacing)", {**spec, "spacing": spacing}
        runs.append((label, variant, *_bench_set(workdir, res, model, label, variant, cell, seed, floor, device, log)))
    return runs, timesteps


@functools.lru_cache(maxsize=None)
def _timesteps(generator: Path) -> int:
    """The training timesteps of a saved diffusion model: the full schedule a sampler can step through. Read
    once per model file: every sampler token of one trained model asks for the same file."""
    from . import generators as gens

    model, ckpt = gens.load(generator)
    if model is None:
        from .errors import GenaugError

        raise GenaugError(f"{generator}: its training diverged ({ckpt['diverged']}); no sampler to compare")
    return int(model.timesteps)


def _bench_set(workdir: Path, res: Path, model: str, label: str, sampling: dict, cell: str, seed: int, floor: dict,
               device: str, log, draw: int = 0) -> tuple[Path, Path]:
    """A metric set of the grid's `model` sampled with `sampling` (its `draw`-th further draw when draw >= 1) and
    its gen_metrics, made once by the grid's own stages and kept under WORKDIR/bench_samplers."""
    from .config import split_model
    from .gen_metrics import gen_metrics
    from .stages import sample

    where = workdir / "bench_samplers" / label / (f"draw{draw}" if draw else "")
    npz, out = where / f"{cell}.npz", where / f"{cell}.json"
    if not out.exists():
        print(f"bench: sampling {label} {cell}" + (f" draw {draw}" if draw else ""), file=log, flush=True)
        sample(data=res / "dataset.npz", subset=res / f"subsets/{cell}.npz", seed=seed, out=npz,
               generator=res / f"generators/{split_model(model)[0]}/{cell}/model.pt", sampling=sampling,
               policy="metric", metric_per_class=floor["per_class_count"], min_diversity=0.0, draw=draw,
               device=device, log=SILENT)
        gen_metrics(synthetic=npz, reference_model=res / "reference/classifier.pt",
                    reference_features=res / "reference/features.npz", floor=res / "reference/floor.json",
                    out=out, model=label, device=device, log=SILENT)
    return npz, out


def _sampler_row(res: Path, label: str, sampling: dict, npz: Path, out: Path, clf, cell: str, base) -> dict:
    """One sampler's row for one seed: sampling cost, FD, and the classifier's accuracy and gain where trained."""
    import numpy as np

    from .io import read_json

    with np.load(npz) as z:
        meta = json.loads(str(z["meta"]))
    metrics = read_json(out)
    # a metric set that took images from the cell's synthetic set (same sampler) counts their share of that set's
    # sampling time
    row = {"sampling": sampling,
           "sample_seconds": meta["sample_seconds"] + meta.get("reused", {}).get("seconds", 0.0),
           "images": int(sum(meta["made_counts"])), "per_class_count": metrics["per_class_count"],
           "network_evals_per_image": meta["network_evals_per_image"], "fd": metrics["domain_fd"]}
    acc_path = res / f"classifiers/{clf}/mixed/{label}/none/{cell}/metrics.json"
    if acc_path.exists() and base is not None:
        acc = read_json(acc_path)["accuracy"]
        row.update(accuracy=acc, gain=None if acc is None else acc - base)
    return row


def _sampler_table(out: dict, rows: dict) -> dict:
    """Per sampler: the seeds' means beside its per-seed rows, and its FD over that of each sampler that steps
    through the model's whole schedule (full ancestral DDPM; DDIM at every timestep, the ODE's own limit)."""
    import numpy as np

    for label, runs in rows.items():
        mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]
                if isinstance(runs[0][k], (int, float)) and all(r.get(k) is not None for r in runs)}
        out[label] = {**mean, "sampling": runs[0]["sampling"], "per_seed": runs}
    full = [k for k in rows if out[k]["sampling"]["steps"] >= out[k]["timesteps"]]
    for ref in full:  # the fast samplers' FD against a full-schedule sampler of the same model, at the same count
        for label in rows:
            out[label]["fd_vs_" + ref] = round(out[label]["fd"] / out[ref]["fd"], 3)
    return out


# Issue 21's competence bar for a generator on a real subset: its synthetic set alone (as many images as the
# subset) trains a classifier to at least CAS_RATIO x the baseline's test accuracy on that subset, and its
# domain FD at the fixed count is at most FD_FLOOR_RATIO x the real-vs-real floor at that count; reached
# within the family's budget of one-core seconds, training and sampling the classifier's set included.
CAS_RATIO, FD_FLOOR_RATIO = 0.85, 3.0
BUDGET_S = {"cvae": 180, "cgan": 480, "biggan": 480, "cddpm": 1200}


def bench_competence(workdir, log) -> dict:
    """Each generator's competence, from a grid that ran workflow/configs/competence.yaml in WORKDIR (train set
    `synthetic`, gen_metrics on): per generator row and seed, the one-core seconds of training and of sampling
    the classifier's synthetic set, the CAS (that classifier's real-test accuracy) over the baseline's, and
    the domain FD over the floor; whether each bar and the family's time budget (BUDGET_S) are met."""
    import numpy as np

    from . import generators as gens
    from .config import split_model
    from .errors import GenaugError
    from .io import read_json

    workdir = Path(workdir)
    found = sorted(workdir.glob("results/*/classifiers/*/synthetic/*/none/*/*/s*/metrics.json"))
    if not found:
        raise GenaugError(f"{workdir}: no classifier trained on a synthetic set alone (train set `synthetic`); "
                          "run workflow/configs/competence.yaml there first")
    floor = count = draws = None
    rows = {}
    for path in found:
        clf_dir = path.parents[6]
        res = clf_dir.parents[1]
        model, regime, size, seed = path.parts[-6], path.parts[-4], path.parts[-3], path.parts[-2]
        cell = f"{regime}/{size}/{seed}"
        base_path = clf_dir / f"real/baseline/none/{cell}/metrics.json"
        fd_path = res / f"gen_metrics/none/{model}/{cell}.json"
        ckpt_path = res / f"generators/{split_model(model)[0]}/{cell}/model.pt"
        if not ckpt_path.exists():  # `combined` mixes other generators' sets: it has no training of its own
            continue
        _, ckpt = gens.load(ckpt_path)
        with np.load(res / f"synthetic/{model}/{cell}.npz") as z:
            sample_meta = json.loads(str(z["meta"]))
        cas = read_json(path).get("accuracy")
        base = read_json(base_path)["accuracy"] if base_path.exists() else None
        fd = read_json(fd_path) if fd_path.exists() else {}
        floor = fd.get("floor_domain_fd", floor)
        count, draws = fd.get("per_class_count", count), fd.get("floor_draws", draws)
        family = ckpt["spec"]["family"]
        seconds = ckpt["meta"]["train_seconds"] + sample_meta["sample_seconds"]
        row = {"family": family, "hparams": ckpt["spec"].get("hparams"), "sampling": sample_meta.get("sampling"),
               "cell": cell, "steps": ckpt["meta"]["steps"],
               "train_seconds": round(ckpt["meta"]["train_seconds"], 1),
               "sample_seconds": round(sample_meta["sample_seconds"], 1), "seconds": round(seconds, 1),
               "budget_seconds": BUDGET_S.get(family), "cas": cas, "baseline_accuracy": base,
               "cas_ratio": None if cas is None or not base else round(cas / base, 4),
               "domain_fd": fd.get("domain_fd"), "floor_domain_fd": fd.get("floor_domain_fd"),
               "fd_floor_ratio": (round(fd["domain_fd"] / fd["floor_domain_fd"], 2)
                                  if fd.get("domain_fd") is not None else None),
               "diverged": ckpt.get("diverged")}
        row["cas_bar_met"] = row["cas_ratio"] is not None and row["cas_ratio"] >= CAS_RATIO
        row["fd_bar_met"] = row["fd_floor_ratio"] is not None and row["fd_floor_ratio"] <= FD_FLOOR_RATIO
        row["within_budget"] = row["budget_seconds"] is not None and seconds <= row["budget_seconds"]
        row["competent"] = row["cas_bar_met"] and row["fd_bar_met"] and row["within_budget"]
        rows.setdefault(model, []).append(row)
        print(f"bench: competence: {model} {cell}: {seconds:.0f}s (budget {row['budget_seconds']}), CAS "
              f"{cas} = {row['cas_ratio']} x baseline, domain FD {row['domain_fd']} = {row['fd_floor_ratio']} x "
              f"floor: {'competent' if row['competent'] else 'not competent'}", file=log, flush=True)
    return {"workdir": str(workdir), "bar": {"cas_ratio_min": CAS_RATIO, "fd_floor_ratio_max": FD_FLOOR_RATIO,
                                             "budget_seconds_one_core": BUDGET_S},
            "floor_domain_fd": floor, "floor_draws": draws, "per_class_count": count, "generators": rows}


def bench_convergence(workdir, log) -> dict:
    """The classifier rule's convergence, from a grid that ran workflow/configs/convergence.yaml in WORKDIR:
    per arm (regime, size, model) the mean test accuracy over seeds under each recorded rule (the shorter
    rules of `convergence_checks` and the run's own), and the change of that mean from each rule to the next
    one with twice its patience. The presets are converged when no arm's mean moves by more than
    stats.CONVERGED."""
    import pandas as pd

    from .aggregate import check_column, check_columns
    from .errors import GenaugError
    from .stats import CONVERGED, MIN_SEEDS

    workdir = Path(workdir)
    summaries = sorted(workdir.glob("results/*/summary.csv"))
    if len(summaries) != 1:
        raise GenaugError(f"{workdir}: expected one results/<dataset>/summary.csv, found {len(summaries)}; "
                          "run the convergence grid there first (workflow/configs/convergence.yaml)")
    summary = pd.read_csv(summaries[0])
    summary = summary[summary["status"] == "ok"]
    patience = summary["patience_steps"].dropna().unique() if "patience_steps" in summary else []
    checks = check_columns(summary)
    if len(patience) != 1 or not checks:
        raise GenaugError(f"{summaries[0]}: the runs need one rule (found patience {list(patience)}) and "
                          "convergence_checks (accuracy_check_* columns); run workflow/configs/convergence.yaml")
    rules = {c: check["patience_steps"] for c, check in checks.items()}
    rules["accuracy"] = int(patience[0])
    # the mean step each rule stopped at: a check's stopped_at column, the run's own steps_run
    stops = {c: check_column(check, "stopped_at") for c, check in checks.items()
             if check_column(check, "stopped_at") in summary}
    stops["accuracy"] = "steps_run"
    keys = ["classifier", "regime", "size_value", "size", "model", "train_set"]
    grouped = summary.groupby(keys, sort=True)
    means = grouped[[*rules, *stops.values()]].mean().reset_index()
    means["seeds"] = grouped.size().to_numpy()
    order = sorted(rules, key=rules.get)
    rows, worst = [], {}
    for r in means.to_dict("records"):
        row = {k: r[k] for k in keys if k != "size_value"} | {"seeds": int(r["seeds"])}
        row |= {f"patience_{rules[c]}": round(r[c], 4) for c in order}
        row |= {f"mean_steps_patience_{rules[c]}": round(r[stop]) for c, stop in stops.items()}
        for a, b in zip(order, order[1:]):
            pair = f"{rules[a]}->{rules[b]}"
            row[f"change_{pair}"] = round(r[b] - r[a], 4)
            worst[pair] = max(worst.get(pair, 0.0), abs(r[b] - r[a]))
        rows.append(row)
    out = {"workdir": str(workdir), "seeds": sorted(int(v) for v in summary["seed"].unique()),
           "criterion": CONVERGED, "arms_with_fewer_than_3_seeds": sum(r["seeds"] < MIN_SEEDS for r in rows),
           "largest_change_of_a_mean": {k: round(v, 4) for k, v in worst.items()},
           "converged": {k: v <= CONVERGED for k, v in worst.items()}, "arms": rows}
    for pair, v in worst.items():
        print(f"bench: convergence: patience {pair}: largest change of an arm's mean {v:.4f} "
              f"({'converged' if v <= CONVERGED else 'NOT converged'})", file=log)
    return out


def run(out="results/bench.json", dataset=None, size=None, device="cpu", threads=1,
        default_run=False, cores="all", skip=(), models=None, gen_steps=0, samplers=None, sampler_draws=1,
        convergence=None, competence=None, levers=False, peers=None, peer_budgets=None, peer_vae_epochs=None,
        peer_races=None, configfile=None, log=sys.stderr) -> dict:
    """Run the asked benchmarks and merge their sections into `out` (bench.json); each section carries the
    date and machine of the run that measured it, so sections of one file may come from different runs."""
    from .device import setup as setup_device
    from .io import read_json, write_json

    dev = setup_device(device, threads)
    config = _bench_config(configfile)
    dataset = dataset or config["dataset"]
    size = size or f"n{max(config['grid']['sizes'])}"
    report = read_json(out) if Path(out).exists() else {}
    report.pop("machine", None)  # each section records its own
    report["targets"] = TARGETS

    def stamp() -> dict:
        return {"measured_at": _now(), "machine": _machine(dev)}

    if not {"generators", "gans", "classifier"} <= set(skip) or levers:
        _cell_sections(report, stamp, config, dataset, size, dev, skip, models, gen_steps, levers, log)
    if samplers:
        report["samplers"] = {**stamp(), **bench_samplers(samplers, dev, log, draws=sampler_draws)}
    if competence:
        report["competence"] = {**stamp(), **bench_competence(competence, log)}
    if convergence:
        report["convergence"] = {**stamp(), **bench_convergence(convergence, log)}
    if peers:
        report["peers"] = _peer_section(report.get("peers", {}), stamp, peers, config, size, peer_budgets,
                                        peer_vae_epochs, peer_races, Path(out).with_name("bench_peers.png"), log)
    if "dry_run" not in skip:
        report["dry_run"] = {**stamp(), **bench_dry_run(config, log)}
    if default_run:
        keep = Path(out).with_name("default_run_summary.csv")
        report["default_run"] = {**stamp(), **bench_default_run(cores, keep, log)}
    report["checks"] = _checks(report)
    write_json(out, report)
    print(f"bench -> {out}", file=log)
    return report


def _bench_config(configfile) -> dict:
    """config.yaml with the grid's --configfile merged onto it, as snakemake --configfile merges them."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    if configfile:
        from snakemake.utils import update_config

        update_config(config, yaml.safe_load(Path(configfile).read_text()) or {})
    from .config import expand_paths

    expand_paths(config)
    return config


def _cell_sections(report: dict, stamp, config, dataset, size, dev, skip, models, gen_steps, levers, log) -> None:
    """The sections measured on one real cell (generators, gans, levers, classifier), made in a temp folder."""
    with tempfile.TemporaryDirectory(prefix="genaug-bench-") as d:
        data, cache, sub = _cell(dataset, size, Path(d), log, config)
        if "generators" not in skip:
            # Rows kept from an earlier run (--models reruns some) keep that run's stamp, row by row.
            old = report.get("generators", {})
            kept = {k: {"measured_at": old.get("measured_at"), "machine": old.get("machine"), **v}
                    for k, v in _model_rows(old).items()} if models else {}
            new = {k: {**stamp(), **v}
                   for k, v in bench_generators(config, cache, sub, dev, log, models, gen_steps).items()}
            report["generators"] = {**kept, **stamp(), **data, **new}
        if "gans" not in skip:
            report["gans"] = {**stamp(), **data, **bench_gans(config, cache, sub, dev, log)}
        if levers:
            report["levers"] = {**stamp(), **data, **bench_levers(config, cache, sub, dev, log)}
        if "classifier" not in skip:
            report["classifier"] = {**stamp(), **data, **bench_classifier(config, cache, sub, dev, log)}


def _peer_section(old: dict, stamp, workdir, config, size, budgets, vae_epochs, races, figure, log) -> dict:
    """The races against the reference implementations; races not rerun (--peer-races picks some) keep their
    earlier run and its stamp, race by race."""
    from . import peers as peer_bench

    races = tuple(races or peer_bench.RACES)
    kept = {k: {"measured_at": old.get("measured_at"), "machine": old.get("machine"), **old[k]}
            for race, keys in peer_bench.RACES.items() if race not in races for k in keys if k in old}
    new = peer_bench.bench_peers(workdir, config, log, budgets=budgets or peer_bench.BUDGETS_S,
                                 vae_epochs=vae_epochs or peer_bench.VAE_EPOCHS, size=size, which=races,
                                 kept=kept, figure=figure)
    return {**stamp(), **kept, **new}


def _model_rows(section: dict) -> dict:
    """The per-model entries of the `generators` section (not its stamp or data fields)."""
    return {k: v for k, v in section.items() if isinstance(v, dict) and "train_images_per_s" in v}


def _checks(report: dict) -> dict:
    """Each target and whether the figures in this file meet it (None: not measured)."""
    loops = {f"generator:{k}": v for k, v in _model_rows(report.get("generators", {})).items()}
    if "classifier" in report:
        loops["classifier"] = report["classifier"]
    default = report.get("default_run", {}).get("seconds")
    dry = report.get("dry_run", {}).get("seconds")
    return {
        "default_run_within_30_min": None if default is None else default <= TARGETS["default_run_max_s"],
        "dry_run_10k_within_20_s": None if dry is None else dry <= TARGETS["dry_run_10k_max_s"],
        "outside_forward_backward_within_10_percent": {
            k: v["outside_forward_backward"] <= TARGETS["loop_overhead_max"] for k, v in loops.items()},
        "outside_forward_backward_optimizer_within_10_percent": {
            k: v["loop_overhead"] <= TARGETS["loop_overhead_max"] for k, v in loops.items()},
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genaug bench", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="results/bench.json",
                   help="the record to update (sections not rerun are kept); the project's: docs/measured/bench.json")
    p.add_argument("--dataset", default=None,
                   help="real data to time on: the config's dataset (yours with --configfile), digits if unavailable")
    p.add_argument("--size", default=None,
                   help="balanced subset size the loops train on (default: the config's largest grid.sizes)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=1, help="torch threads (a grid job's default)")
    p.add_argument("--default-run", action="store_true", help="also time the full default run (tens of minutes)")
    p.add_argument("--cores", default="all", help="--cores for the default run")
    p.add_argument("--skip", nargs="*", default=[], choices=["generators", "gans", "classifier", "dry_run"],
                   help="sections not to rerun (their previous figures are kept)")
    p.add_argument("--models", nargs="*", default=None,
                   help="generator names to time (default: every preset and config.yaml model)")
    p.add_argument("--gen-steps", type=int, default=0,
                   help="time only this many training steps per generator (0: the quick preset's all)")
    p.add_argument("--samplers", default=None, metavar="WORKDIR",
                   help="also compare the diffusion samplers of a grid that ran in WORKDIR (its config.yaml)")
    p.add_argument("--sampler-draws", type=int, default=1, metavar="K",
                   help="score each sampler on K metric sets of the same model (the grid's and K-1 further draws; "
                        "one draw of 100 a class varies by about a fifth): mean, sd and each draw's FD")
    p.add_argument("--convergence", default=None, metavar="WORKDIR",
                   help="also tabulate the convergence checks of a grid that ran workflow/configs/convergence.yaml "
                        "in WORKDIR")
    p.add_argument("--competence", default=None, metavar="WORKDIR",
                   help="also score each generator against the competence bar, from a grid that ran "
                        "workflow/configs/competence.yaml in WORKDIR")
    p.add_argument("--levers", action="store_true",
                   help="also time each speed lever (bf16, channels_last, compile, 2 threads) on the CPU evidence "
                        "grid's generators")
    p.add_argument("--peers", default=None, metavar="WORKDIR",
                   help="also race our cddpm and vae against denoising-diffusion-pytorch and pythae on the balanced "
                        "--size subset, seed 0, of a grid that ran in WORKDIR with gen_metrics on (needs "
                        "pip install -e '.[bench]'; about 35 minutes on 2 cores)")
    p.add_argument("--peer-budgets", type=float, nargs="+", default=None, metavar="SECONDS",
                   help="the diffusion race's wall-clock budgets (default 300 600 1200)")
    p.add_argument("--peer-vae-epochs", type=int, default=None, help="the VAE race's epochs (default 50)")
    p.add_argument("--peer-races", nargs="+", default=None, choices=["diffusion", "vae"],
                   help="run only these races (default both); the others keep their earlier results in --out")
    p.add_argument("--configfile", default=None,
                   help="the grid's --configfile, merged onto config.yaml (its dataset, read as the grid reads it; the "
                        "classifier and cddpm that --peers uses)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    run(args.out, args.dataset, args.size, args.device, args.threads, args.default_run, args.cores, args.skip,
        models=args.models, gen_steps=args.gen_steps, samplers=args.samplers, sampler_draws=args.sampler_draws,
        convergence=args.convergence, competence=args.competence, levers=args.levers, peers=args.peers,
        peer_budgets=args.peer_budgets, peer_vae_epochs=args.peer_vae_epochs, peer_races=args.peer_races,
        configfile=args.configfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
