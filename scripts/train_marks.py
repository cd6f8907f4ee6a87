#!/usr/bin/env python3
"""Train one generator past its budget and keep its weights at step marks, each as a grid cell's model.

    python scripts/train_marks.py results/fashion_mnist balanced/n1000/s0 cvae --marks 10000,30000,90000 \\
        [--effort quick] [--entry "{family: ...}"] [--device auto] [--deadline SECONDS] [--config-out marks.yaml]
        [--overwrite]

Does a generator reach a bar with more training, and how many steps does it take? One run trains the model
(the preset MODEL, or the model entry --entry) on the cell's real subset, as train_gen does (same seeds,
initialisation and batches), to the last mark, and saves its averaged weights at each mark as
RESULTS/generators/MODEL_m<STEP>/<cell>/model.pt with its loss.csv. The config it prints (and writes to
--config-out) names one model entry per mark, whose spec is that checkpoint's, so that the grid samples, scores and
classifies each mark like any model without training it again:

    snakemake --configfile GRID.yaml marks.yaml --rerun-triggers mtime

(The checkpoints are newer than the dataset and subset and carry no snakemake metadata, so snakemake keeps them;
`--rerun-triggers mtime` says so outright: only file times decide what reruns.)
With --deadline, training stops after that many seconds, and the step reached replaces the marks not reached.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch
import yaml

from genaug import streams
from genaug import config as gcfg
from genaug import generators as gens
from genaug.checkpoint import rng_state, set_rng_state
from genaug.data import to_float
from genaug.device import setup as setup_device
from genaug.errors import GenaugError
from genaug.generators.base import fit
from genaug.io import write_csv
from genaug.stages import cell_meta, real_subset, run_meta


def _mark_entry(args, entry: dict, step: int) -> dict:
    """The model entry whose steps `--effort` turns into `step`."""
    return {**entry, "steps": round(step / gcfg.EFFORT[args.effort]["gen_step_scale"])}


def _entries(args) -> tuple[dict, list[str]]:
    """The base entry and the marks' model names, each checked to train its mark's steps at `--effort`."""
    try:
        entry = yaml.safe_load(args.entry) if args.entry else dict(gcfg.PRESETS.get(args.model) or {})
    except yaml.YAMLError as err:
        raise GenaugError(f"--entry: not a YAML or JSON mapping ({err})") from err
    if not isinstance(entry, dict) or not entry:
        raise GenaugError(f"{args.model}: not a preset; give its model entry as --entry '{{\"family\": ...}}'")
    names = [f"{args.model}_m{m}" for m in args.marks]
    for name, m in zip(names, args.marks):
        got = gcfg.generator_spec({"effort": args.effort, "models": {name: _mark_entry(args, entry, m)}}, name)
        if got["train"]["steps"] != m:
            raise GenaugError(f"--marks: {name} would train {got['train']['steps']} steps, effort {args.effort}'s "
                              f"least; give marks of at least {gcfg.EFFORT[args.effort]['gen_min_steps']}")
    return entry, names


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", type=Path, help="a grid's results/<dataset> folder (dataset.npz, subsets/)")
    p.add_argument("cell", help="REGIME/SIZE/sSEED, e.g. balanced/n1000/s0")
    p.add_argument("model", help="a preset name, or the name for --entry")
    p.add_argument("--marks", required=True, type=lambda s: sorted(int(m) for m in s.split(",")),
                   help="steps at which to keep the weights, comma-separated")
    p.add_argument("--entry", help="the model entry as YAML or JSON (default: the preset MODEL)")
    p.add_argument("--effort", default="quick", choices=sorted(gcfg.EFFORT), help="the grid's effort")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--deadline", type=float, default=float("inf"), help="stop training after this many seconds")
    p.add_argument("--config-out", type=Path, help="write the marks' model entries here too")
    p.add_argument("--overwrite", action="store_true", help="replace marks that this cell already has")
    return p.parse_args(argv)


def _setup(args):
    """The cell's images on the device, its seed, the spec and the freshly built model; GenaugError if unusable."""
    regime, size, seed = args.cell.split("/") if args.cell.count("/") == 2 else (None, None, None)
    if seed is None or not seed.startswith("s") or not seed[1:].isdigit():
        raise GenaugError(f"{args.cell}: give the cell as REGIME/SIZE/sSEED, e.g. balanced/n1000/s0")
    subset = args.results / "subsets" / regime / size / f"{seed}.npz"
    if not subset.exists():
        raise GenaugError(f"{subset}: no such subset; run the grid's subset job for {args.cell} first")
    taken = [n for n in args.mark_names if (args.results / "generators" / n / args.cell / "model.pt").exists()]
    if taken and not args.overwrite:
        raise GenaugError(f"{', '.join(taken)}: already trained for {args.cell}; pass --overwrite to replace them")
    seed = int(seed[1:])
    dev = setup_device(args.device, args.threads)
    ds, sub, x, y = real_subset(args.results / "dataset.npz", subset, dev)
    spec = gcfg.generator_spec({"effort": args.effort, "models": {args.model: args.base}}, args.model)
    torch.manual_seed(streams.seed("generator.init", seed))  # as train_gen: the same model at the first mark
    model = gens.build(spec, ds.image_shape, ds.num_classes).to(dev)
    if isinstance(model, gens.PerClass) or callable(getattr(model, "fit", None)):
        raise GenaugError(f"{args.model} trains itself (per class, or its own fit); only a model trained by "
                          "genaug's shared loop can keep marks")
    return ds, sub, x, y, seed, spec, model


def _train(args, model, x, y, spec, seed):
    """Train to the last mark (or the deadline); returns the loss log and (step, seconds, weights) per mark kept."""
    xf, pending, kept, t0 = to_float(x), list(args.marks), [], time.perf_counter()
    least = gcfg.EFFORT[args.effort]["gen_min_steps"]  # a shorter mark would not be a model of this effort

    def keep(step, seconds, averaged):
        """The weights as a run ending here leaves them; the run goes on as if nothing had been kept (after_training
        may draw random numbers, reset buffers and switch modules to eval: a GAN's standing batch-norm statistics)."""
        rng, modes = rng_state(), [(m, m.training) for m in model.modules()]
        buffers = [(b, b.clone()) for b in model.buffers()]
        with averaged():
            with torch.no_grad():
                model.after_training(xf, y)  # e.g. the mixture prior of the encoded images, as at the end of fit
            kept.append((step, seconds, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}))
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        for m, training in modes:
            m.train(training)
        set_rng_state(rng)
        print(f"{args.model} {args.cell}: kept step {step} ({seconds:.0f} s of training)", file=sys.stderr, flush=True)

    def on_step(step, seconds, averaged):
        late = step >= least and time.perf_counter() - t0 > args.deadline
        if step == pending[0] or late:
            keep(step, seconds, averaged)
            del pending[:len(pending) if late else 1]
        return not pending

    t = spec["train"]
    history = fit(model, xf, y, steps=args.marks[-1], batch_size=t["batch_size"], lr=t["lr"], seed=seed,
                  name=args.model, precision=t.get("precision", "fp32"), on_step=on_step)
    return history, kept


def main(argv=None) -> int:
    args = _parse(argv)
    try:
        args.base, args.mark_names = _entries(args)
        ds, sub, x, y, seed, spec, model = _setup(args)
    except GenaugError as err:
        print(f"train_marks: {err}", file=sys.stderr)
        return 2
    history, kept = _train(args, model, x, y, spec, seed)
    import pandas as pd

    model.to("cpu")
    config = {"models": {}}
    for step, seconds, state in kept:
        name = f"{args.model}_m{step}"
        config["models"][name] = _mark_entry(args, args.base, step)
        model.load_state_dict(state)
        rows = [r for r in history if r["step"] <= step]
        meta = {**cell_meta(ds, sub, seed, len(x)), **run_meta(seconds, step, rows), "device": str(x.device)}
        out = args.results / "generators" / name / args.cell / "model.pt"
        out.parent.mkdir(parents=True, exist_ok=True)
        write_csv(out.with_name("loss.csv"), pd.DataFrame(rows))
        gens.save(out, model, {**spec, "name": name, "train": {**spec["train"], "steps": step}}, meta, rows)
    text = yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False)  # no YAML anchors for shared lists
    if args.config_out:
        args.config_out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
