"""`genaug <stage> ...`: the one entry point the Snakemake rules call.

Each stage takes explicit input and output paths and the cell's parameters, so it runs and is
tested without Snakemake. Errors meant for the user print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from . import __version__
from .errors import GenaugError


def _json_arg(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from err


def _class_list(text: str) -> list:
    return [int(t) if t.strip().isdigit() else t.strip() for t in text.split(",") if t.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genaug", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"genaug {__version__}", help="print genaug's version")
    sub = p.add_subparsers(dest="stage", required=True, metavar="<stage>")

    def stage(name, help_):
        s = sub.add_parser(name, help=help_, description=help_)
        s.add_argument("--log", default=None, help="write progress here instead of stderr (errors go to both)")
        return s

    def cell_stage(name, help_):
        """A stage that works on one cell: the dataset cache, the cell's subset, its seed, a device."""
        s = stage(name, help_)
        s.add_argument("--data", required=True, help="dataset cache from `genaug prepare`")
        s.add_argument("--subset", required=True, help="the cell's subset from `genaug subset`")
        s.add_argument("--seed", type=int, required=True, help="the cell's seed (the subset's, and this job's random streams)")
        s.add_argument("--device", default=os.environ.get("GENAUG_DEVICE", "auto"),
                       help="auto (CUDA if present), cpu, cuda or cuda:N (default: $GENAUG_DEVICE, else auto)")
        s.add_argument("--threads", type=int, default=1, help="CPU threads for torch (the rule's threads)")
        s.add_argument("--mem-mb", type=float, default=0,
                       help="the rule's mem_mb: past it the job stops with the setting to lower (0: no limit)")
        return s

    s = stage("prepare", "load a dataset from its source and cache it as uint8 tensors (.npz)")
    s.add_argument("--dataset", required=True, help="fashion_mnist, mnist, digits or folder")
    s.add_argument("--data-dir", default=None, help="where to look first: a torchvision root, the IDX files' folder, or a folder dataset's root")
    s.add_argument("--cache-dir", default="data/raw", help="where IDX files are extracted / downloaded")
    s.add_argument("--image-size", type=int, default=28, help="side length of digits and folder images")
    s.add_argument("--channels", default="auto", help="folder images: 1, 3 or auto (RGB if any image has colour)")
    s.add_argument("--test-fraction", type=float, default=0.2, help="folder without train/ and test/: the stratified test share")
    s.add_argument("--manifest", default=None, help="also write the source files' manifest here (the workflow's copy)")
    s.add_argument("--out", required=True, help="the dataset cache (.npz)")

    s = stage("subset", "draw one (regime, size, seed) subset of the train pool")
    s.add_argument("--data", required=True, help="dataset cache from `genaug prepare`")
    s.add_argument("--regime", required=True, help="balanced, semi_balanced, imbalanced, fraction or shots")
    s.add_argument("--size", required=True, help="n<images>, f<percent> or k<per class>")
    s.add_argument("--seed", type=int, required=True, help="the subset's seed: which images, in which class order")
    s.add_argument("--validation-per-class", type=int, default=100, help="real images per class held out of every subset for early stopping")
    s.add_argument("--minority-classes", type=_class_list, default=["Pullover", "Shirt"], help="semi_balanced: the classes with the small share (names or indices, comma-separated)")
    s.add_argument("--semi-ratio", type=float, default=6.0, help="semi_balanced: majority : minority count")
    s.add_argument("--imbalance-ratio", type=float, default=50.0, help="imbalanced: largest : smallest class")
    s.add_argument("--out", required=True, help="the subset (.npz)")

    def test_options(s):
        s.add_argument("--test-per-class", type=int, default=None,
                       help="score on a fixed, balanced subset of this many test images per class (default: all)")
        s.add_argument("--test-seed", type=int, default=0, help="seed of that test subset")

    def snapshot_options(s):
        s.add_argument("--snapshot", default=None,
                       help="resume state (.pt), not an output: saved during training, resumed from, removed at the end")
        s.add_argument("--snapshot-every", type=int, default=int(os.environ.get("GENAUG_SNAPSHOT_EVERY", 0)),
                       help="save the resume state every N steps (0: never; default: $GENAUG_SNAPSHOT_EVERY, else 0)")

    s = cell_stage("train_gen", "train one generator on a cell's real subset")
    snapshot_options(s)
    s.add_argument("--spec", type=_json_arg, required=True, help="model spec (JSON), as config.generator_spec makes")
    s.add_argument("--out", required=True, help="checkpoint (.pt)")
    s.add_argument("--loss-log", required=True, help="loss history (.csv)")

    s = cell_stage("sample", "make a cell's synthetic set from a trained generator")
    s.add_argument("--generator", required=True, help="checkpoint from train_gen")
    s.add_argument("--policy", default="match", help="match | balance | per_class | ratio")
    s.add_argument("--per-class", type=int, default=500, help="policy per_class: images of each class")
    s.add_argument("--ratio", type=float, default=1.0, help="policy ratio: synthetic images per real image of the class")
    s.add_argument("--labeler", type=_json_arg, default=None,
                   help="classifier spec (JSON) for label strategy pseudo_label: trained on the real subset")
    s.add_argument("--min-diversity", type=float, default=0.2,
                   help="refuse samples of a class whose mean pairwise distance is below this share of the real "
                        "images' (a collapsed generator; 0: off)")
    s.add_argument("--min-confidence", type=float, default=0.9,
                   help="pseudo_label keeps images the labeler is at least this sure of")
    s.add_argument("--sampling", type=_json_arg, default=None,
                   help="diffusion sampling (JSON): sampler ddpm|ddim|dpm, steps, eta, guidance")
    s.add_argument("--metric-per-class", default=None,
                   help="draw a metric set instead: this many images of every class (auto: gen_metrics' count), "
                        "times --pool, from the generator's own random stream; the count policy is not used")
    s.add_argument("--pool", type=int, default=1, help="a metric set's draw is this many times the count (a "
                                                       "filtered row's pool)")
    s.add_argument("--reuse", default=None, help="a metric set takes what it can from this synthetic set (the "
                                                 "same cell's, same generator and sampler) and draws the rest")
    s.add_argument("--out", required=True, help="synthetic set (.npz)")
    s.add_argument("--grid", default=None, help="PNG grid of samples per class")

    s = stage("combine", "mix several synthetic sets into one, evenly, at one set's size (the `combined` row)")
    s.add_argument("--data", required=True, help="dataset cache from `genaug prepare`")
    s.add_argument("--seed", type=int, required=True, help="the cell's seed: which member images are drawn")
    s.add_argument("--metric-per-class", default=None,
                   help="draw a metric set instead: this many images of every class (auto: gen_metrics' count), "
                        "times --pool, from the generator's own random stream; the count policy is not used")
    s.add_argument("--pool", type=int, default=1, help="a metric set's draw is this many times the count (a "
                                                       "filtered row's pool)")
    s.add_argument("--out", required=True, help="synthetic set (.npz)")
    s.add_argument("--grid", default=None, help="PNG grid of samples per class")
    s.add_argument("members", nargs="+", help="synthetic sets from `genaug sample`")

    s = cell_stage("train_clf", "train a classifier on real (+ synthetic) images; score it on the real test split")
    snapshot_options(s)
    s.add_argument("--classifier", type=_json_arg, required=True, help="classifier spec (JSON)")
    s.add_argument("--model", required=True, help="the cell's model axis value (baseline, classic or a generator)")
    s.add_argument("--synthetic", default=None, help="synthetic set from `genaug sample` or `genaug combine`")
    s.add_argument("--train-set", default="mixed", choices=["mixed", "synthetic"],
                   help="with --synthetic: train on real + synthetic (mixed) or synthetic images only (CAS)")
    s.add_argument("--classic", type=_json_arg, default=None, help="classic augmentation settings (JSON)")
    s.add_argument("--filter", default="none", help="the cell's filter axis value (the synthetic set is already filtered)")
    test_options(s)
    s.add_argument("--out", required=True, help="metrics.json")
    s.add_argument("--embeddings", required=True, help="test-set embeddings (.npz)")

    s = cell_stage("filter", "keep a synthetic set's images inside their class's latent sphere (003's filter)")
    s.add_argument("--synthetic", required=True, help="synthetic set from `genaug sample` or `genaug combine`")
    s.add_argument("--spec", type=_json_arg, required=True, help="filter spec (JSON): keep, distance, space")
    s.add_argument("--name", default="sphere", help="the filter's name in the grid")
    s.add_argument("--model", default=None, help="the grid's row name of the synthetic set")
    s.add_argument("--autoencoder", default=None, help="the cell's autoencoder checkpoint (space autoencoder)")
    s.add_argument("--reference", default=None, help="the reference classifier (space reference)")
    s.add_argument("--out", required=True, help="the kept synthetic set (.npz)")
    s.add_argument("--stats", required=True, help="generated vs qualified counts per class (.json)")
    s.add_argument("--png", default=None, help="figure of the latent space with each class's sphere")

    s = cell_stage("gencls", "score the thesis's M1-M4 generative classifiers and the discriminator baseline")
    s.add_argument("--generator", required=True, help="checkpoint from train_gen")
    s.add_argument("--autoencoder", default=None, help="the cell's autoencoder (M2, M4); without it only M1, M3")
    s.add_argument("--model", default=None, help="the grid's row name of the generator")
    s.add_argument("--m", type=int, default=100, help="samples per class per round")
    s.add_argument("--L", type=int, default=5, help="M1/M2: nearest samples averaged")
    s.add_argument("--N", type=int, default=10, help="rounds, each with fresh samples")
    s.add_argument("--mu", type=float, default=0.05, help="M3/M4: share of all samples inside epsilon")
    s.add_argument("--sampling", type=_json_arg, default=None, help="diffusion sampling (JSON), as for `sample`")
    test_options(s)
    s.add_argument("--out", required=True, help="gencls.json")

    def device_options(s):
        s.add_argument("--device", default=os.environ.get("GENAUG_DEVICE", "auto"),
                       help="auto (CUDA if present), cpu, cuda or cuda:N (default: $GENAUG_DEVICE, else auto)")
        s.add_argument("--threads", type=int, default=1, help="CPU threads for torch (the rule's threads)")
        s.add_argument("--mem-mb", type=float, default=0,
                       help="the rule's mem_mb: past it the job stops with the setting to lower (0: no limit)")

    def metric_options(s):
        s.add_argument("--per-class", default="auto",
                       help="images per class of the reference, the floor and every scored set (auto: as many as "
                            "the test split allows, at most 500)")

    s = stage("reference", "train the dataset's reference classifier; cache its features of the real reference "
                           "draw and score the floor draw")
    s.add_argument("--data", required=True, help="dataset cache from `genaug prepare`")
    s.add_argument("--validation-per-class", type=int, default=100, help="real images per class held out for its early stopping")
    s.add_argument("--epochs", type=int, default=5, help="passes over the train pool")
    metric_options(s)
    s.add_argument("--prdc-k", type=int, default=5, help="nearest neighbours of PRDC")
    s.add_argument("--kid-subset-size", type=int, default=1000, help="KID's subset size")
    s.add_argument("--out-model", required=True, help="the reference classifier (.pt)")
    s.add_argument("--out-features", required=True, help="its features of the real reference draw (.npz)")
    s.add_argument("--out-floor", required=True, help="the floor's metrics (.json)")
    device_options(s)

    s = stage("inception_reference", "pytorch-fid Inception statistics of the real reference draw, and the floor's FID")
    s.add_argument("--data", required=True, help="dataset cache from `genaug prepare`")
    s.add_argument("--weights", default=None, help="pytorch-fid's Inception weights (default: torch hub cache)")
    metric_options(s)
    s.add_argument("--out", required=True, help="Inception statistics and the floor's FID (.npz)")
    device_options(s)

    s = stage("gen_metrics", "domain FD, KID, PRDC, domain IS, per-class metrics (and Inception FID) of a metric "
                             "set at the reference's count per class")
    s.add_argument("--synthetic", required=True, help="the metric set (genaug sample --metric-per-class)")
    s.add_argument("--reference-model", required=True, help="the reference classifier from `genaug reference`")
    s.add_argument("--reference-features", required=True, help="its features of the real reference draw")
    s.add_argument("--floor", required=True, help="the floor's metrics from `genaug reference`")
    s.add_argument("--model", default=None, help="the grid's row name of this set (cddpm@dpm20-eta1-g2, combined)")
    s.add_argument("--filter", default="none", help="the row's filter (none: unfiltered)")
    s.add_argument("--inception-stats", default=None, help="from `genaug inception_reference` (none: no Inception FID)")
    s.add_argument("--inception-weights", default=None, help="pytorch-fid's Inception weights (default: torch hub cache)")
    s.add_argument("--prdc-k", type=int, default=5, help="nearest neighbours of PRDC")
    s.add_argument("--kid-subset-size", type=int, default=1000, help="KID's subset size")
    s.add_argument("--out", required=True, help="the set's metrics (.json)")
    device_options(s)

    s = stage("probe", "CART / linear / k-NN probes, silhouette, intrinsic dimension and archetype of a cell")
    s.add_argument("--embeddings", required=True, help="embeddings.npz from train_clf")
    s.add_argument("--metrics", required=True, help="the cell's metrics.json")
    s.add_argument("--max-points", type=int, default=3000, help="test and synthetic embeddings drawn (stratified)")
    s.add_argument("--folds", type=int, default=5, help="cross-validation folds of the probes")
    s.add_argument("--overlap-classes", type=_class_list, default=["Pullover", "Coat", "Shirt"],
                   help="the class group whose mutual confusion is measured (names or indices, comma-separated)")
    s.add_argument("--seed", type=int, default=0, help="seed of the draw and the probes")
    s.add_argument("--out", required=True, help="probe.json")

    s = stage("tsne", "t-SNE of a cell's test and synthetic embeddings, and its figure")
    s.add_argument("--embeddings", required=True, help="embeddings.npz from train_clf")
    s.add_argument("--metrics", required=True, help="the cell's metrics.json")
    s.add_argument("--points", type=int, default=1500, help="points embedded (2/3 test, 1/3 synthetic)")
    s.add_argument("--seed", type=int, default=0, help="seed of the draw and of t-SNE")
    s.add_argument("--out", required=True, help="coordinates (.npz)")
    s.add_argument("--png", required=True, help="the figure")

    s = stage("table", "flatten JSON files (gen_metrics, probes) into one CSV")
    s.add_argument("--out", required=True, help="the table (.csv)")
    s.add_argument("files", nargs="*", help="JSON files, one row each")

    s = stage("aggregate", "collect metrics.json files into summary.csv")
    s.add_argument("--out", required=True, help="summary.csv")
    s.add_argument("metrics", nargs="+", help="metrics.json files from train_clf")

    s = stage("gains", "every arm's paired gain over its cell's baseline, from summary.csv, as gains.csv")
    s.add_argument("--summary", required=True, help="summary.csv from `genaug aggregate`")
    s.add_argument("--out", required=True, help="gains.csv")

    s = stage("show", "print the grid's answer and its paired gains in the terminal (from results/*/gains.csv)")
    s.add_argument("--results", default="results", help="the results folder (default: results)")
    s.add_argument("--dataset", default=None, help="only this dataset's results")
    s.add_argument("--cell", default=None, help="regime or regime/size, e.g. balanced/n1000")
    s.add_argument("--model", default=None, help="only this model's rows (e.g. cddpm@dpm20-g2)")
    s.add_argument("--classifier", default=None, help="only this classifier's rows (e.g. cnn)")

    sub.add_parser("bench", help="measure training/sampling speed and dry-run time (genaug bench --help)",
                   add_help=False)
    sub.add_parser("check-generator", add_help=False,
                   help="run the behavioural checks of a generator family or module:Class (check-generator --help)")

    s = stage("report", "write the self-contained HTML report")
    s.add_argument("--summary", required=True, help="summary.csv from `genaug aggregate`")
    s.add_argument("--samples", nargs="*", default=[], help="sample grids (.png) of the synthetic sets")
    s.add_argument("--gen-metrics", nargs="*", default=[], help="gen_metrics.csv (from `genaug table`)")
    s.add_argument("--probes", nargs="*", default=[], help="probes.csv (from `genaug table`)")
    s.add_argument("--tsne", nargs="*", default=[], help="tsne.npz files of cells")
    s.add_argument("--filters", nargs="*", default=[], help="filters.csv (from `genaug table`)")
    s.add_argument("--spheres", nargs="*", default=[], help="latent-sphere figures (.png) of filtered cells")
    s.add_argument("--gencls", nargs="*", default=[], help="gencls.csv (from `genaug table`)")
    s.add_argument("--meta", type=_json_arg, default={}, help="run metadata (JSON): effort, config")
    s.add_argument("--dataset", default=None, help="the dataset cache, whose notes on how it was read are shown")
    s.add_argument("--loss-logs", nargs="*", default=[], help="generators' loss.csv files: their learning curves")
    s.add_argument("--curve-metrics", nargs="*", default=[],
                   help="classifier metrics.json files whose validation curves are shown")
    s.add_argument("--subsets", nargs="*", default=[], help="subsets whose real images are shown beside the samples")
    s.add_argument("--out", required=True, help="report.html")
    return p


def run(args: argparse.Namespace, log) -> None:
    from . import stages

    if args.stage == "prepare":
        stages.prepare(dataset=args.dataset, out=args.out, data_dir=args.data_dir, cache_dir=args.cache_dir,
                       image_size=args.image_size, channels=args.channels, test_fraction=args.test_fraction,
                       manifest_out=args.manifest, log=log)
    elif args.stage == "subset":
        from .subsets import RegimeParams

        params = RegimeParams(args.minority_classes, args.semi_ratio, args.imbalance_ratio)
        stages.subset(data=args.data, regime=args.regime, size=args.size, seed=args.seed, out=args.out,
                      validation_per_class=args.validation_per_class, params=params, log=log)
    elif args.stage == "train_gen":
        stages.train_gen(data=args.data, subset=args.subset, spec=args.spec, seed=args.seed, out=args.out,
                         loss_log=args.loss_log, device=args.device, threads=args.threads, snapshot=args.snapshot,
                         snapshot_every=args.snapshot_every, log=log)
    elif args.stage == "sample":
        stages.sample(data=args.data, subset=args.subset, generator=args.generator, seed=args.seed, out=args.out,
                      grid_png=args.grid, policy=args.policy, per_class=args.per_class, ratio=args.ratio,
                      labeler=args.labeler, min_confidence=args.min_confidence, min_diversity=args.min_diversity,
                      sampling=args.sampling, metric=None if args.metric_per_class is None else
                      {"per_class": args.metric_per_class, "pool": args.pool}, reuse=args.reuse,
                      device=args.device, threads=args.threads, log=log)
    elif args.stage == "combine":
        stages.combine(data=args.data, members=args.members, seed=args.seed, out=args.out, grid_png=args.grid,
                       log=log)
    elif args.stage == "train_clf":
        stages.train_clf(data=args.data, subset=args.subset, classifier=args.classifier, model=args.model,
                         seed=args.seed, out=args.out, embeddings=args.embeddings, synthetic=args.synthetic,
                         train_set=args.train_set,
                         classic=args.classic, filter_name=args.filter, test_per_class=args.test_per_class,
                         test_seed=args.test_seed, device=args.device, threads=args.threads,
                         snapshot=args.snapshot, snapshot_every=args.snapshot_every, log=log)
    elif args.stage == "filter":
        from .filters import filter_set

        filter_set(data=args.data, subset=args.subset, synthetic=args.synthetic, spec=args.spec, out=args.out,
                   stats_out=args.stats, png=args.png, autoencoder=args.autoencoder, reference=args.reference,
                   name=args.name, model=args.model, device=args.device, threads=args.threads, log=log)
    elif args.stage == "gencls":
        from .gencls import gencls

        gencls(data=args.data, subset=args.subset, generator=args.generator, out=args.out,
               autoencoder=args.autoencoder, m=args.m, L=args.L, N=args.N, mu=args.mu, seed=args.seed,
               test_per_class=args.test_per_class, test_seed=args.test_seed, model=args.model, sampling=args.sampling, device=args.device,
               threads=args.threads, log=log)
    elif args.stage in ("reference", "inception_reference", "gen_metrics"):
        from . import gen_metrics as gm

        common = dict(device=args.device, threads=args.threads, log=log)
        if args.stage == "reference":
            gm.reference(data=args.data, out_model=args.out_model, out_features=args.out_features,
                         out_floor=args.out_floor, validation_per_class=args.validation_per_class,
                         epochs=args.epochs, per_class=args.per_class, prdc_k=args.prdc_k,
                         kid_subset_size=args.kid_subset_size, **common)
        elif args.stage == "inception_reference":
            gm.inception_reference(data=args.data, out=args.out, weights=args.weights, per_class=args.per_class,
                                   **common)
        else:
            gm.gen_metrics(synthetic=args.synthetic, reference_model=args.reference_model,
                           reference_features=args.reference_features, floor=args.floor, out=args.out,
                           model=args.model, filter_name=args.filter, inception_stats=args.inception_stats,
                           inception_weights_path=args.inception_weights, prdc_k=args.prdc_k,
                           kid_subset_size=args.kid_subset_size, **common)
    elif args.stage == "probe":
        from .probes import probe

        probe(embeddings=args.embeddings, metrics=args.metrics, out=args.out, max_points=args.max_points,
              folds=args.folds, overlap_classes=args.overlap_classes, seed=args.seed, log=log)
    elif args.stage == "tsne":
        from .probes import tsne

        tsne(embeddings=args.embeddings, metrics=args.metrics, out_npz=args.out, out_png=args.png,
             points=args.points, seed=args.seed, log=log)
    elif args.stage == "table":
        from .aggregate import json_table

        df = json_table(args.files, args.out)
        print(f"{len(df)} rows -> {args.out}", file=log)
    elif args.stage == "aggregate":
        from .aggregate import aggregate

        df = aggregate(args.metrics, args.out)
        print(f"{len(df)} cells -> {args.out}", file=log)
    elif args.stage == "gains":
        from .answer import write_gains

        table = write_gains(args.summary, args.out)
        print(f"{len(table)} paired comparisons -> {args.out}", file=log)
    elif args.stage == "show":
        from .answer import show

        show(args.results, args.dataset, cell=args.cell, model=args.model, classifier=args.classifier)
    elif args.stage == "report":
        from .report.html import build_report

        build_report(args.summary, args.samples, args.out, meta=args.meta,
                     gen_metrics=args.gen_metrics[0] if args.gen_metrics else None,
                     probes=args.probes[0] if args.probes else None, tsne=args.tsne,
                     filters=args.filters[0] if args.filters else None, spheres=args.spheres,
                     gencls=args.gencls[0] if args.gencls else None, dataset=args.dataset,
                     loss_logs=args.loss_logs, curve_metrics=args.curve_metrics, subsets=args.subsets)
        print(f"report -> {args.out}", file=log)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # its own options: see genaug/bench.py
        from .bench import main as bench_main

        return bench_main(argv[1:])
    if argv[:1] == ["check-generator"]:  # its own options: see genaug/generator_check.py
        from .generator_check import cli_main

        return cli_main(argv[1:])
    args = build_parser().parse_args(argv)
    from .process import die_with_snakemake, exclusive

    die_with_snakemake()
    if getattr(args, "mem_mb", 0):
        from .memory import guard

        guard(args.mem_mb, _memory_setting(args), args.stage)
    with contextlib.ExitStack() as held:
        try:  # before the log is opened: a refused second process must not truncate the running one's log
            if getattr(args, "snapshot", None):
                held.enter_context(exclusive(args.snapshot, f"{args.stage} for {args.out}"))
        except GenaugError as err:
            print(f"genaug {args.stage}: error: {err}", file=sys.stderr)
            return 2
        return _run_logged(args)


def _memory_setting(args) -> str:
    """The config field that sizes a job's memory, named in the memory guard's error."""
    if args.stage == "train_gen" and isinstance(getattr(args, "spec", None), dict):
        train = args.spec.get("train") or {}
        name = args.spec.get("name", "?")
        return f"models.{name}.batch_size = {train.get('batch_size', '?')} or the network's size (models.{name}.hparams)"
    if args.stage == "train_clf" and isinstance(getattr(args, "classifier", None), dict):
        train = args.classifier.get("train") or {}
        return f"classifiers.{args.classifier.get('name', '?')}.batch_size = {train.get('batch_size', '?')}"
    return f"the {args.stage} job's batch and set sizes"


def _run_logged(args) -> int:
    """Run a stage with its log file; a GenaugError becomes its message and exit status 2."""
    log = sys.stderr
    try:
        if args.log:
            from pathlib import Path

            Path(args.log).parent.mkdir(parents=True, exist_ok=True)
            log = open(args.log, "w", buffering=1)
        run(args, log)
    except GenaugError as err:
        message = f"genaug {args.stage}: error: {err}"
        if log is not sys.stderr:
            print(message, file=log)
        print(message, file=sys.stderr)
        return 2
    except BaseException:
        if log is not sys.stderr:
            import traceback

            traceback.print_exc(file=log)
        raise
    finally:
        if log is not sys.stderr:
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
