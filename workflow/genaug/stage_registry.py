"""Every `genaug <stage>`: the function it runs and its flags, in one table.

A flag's destination is the function's keyword parameter of the same name, so `genaug <stage> --x-y V` is
`function(x_y=V, log=...)`; nothing maps one to the other by hand (a test holds each function's parameters
and its stage's flags equal). A flag holds no default of its own: one left out is not passed, so the
function's default applies, and a function's default that is a config setting reads it from the one place it
is set (`config.config_default`: the schema, or the synthesis table). The rules pass every setting
explicitly, so a changed config reruns the jobs it changes. The exceptions are defaults taken from the
environment (`--device`, `--snapshot-every`) and the `cli_only` flags (the log, the memory limit), which serve
the command line itself and never reach the function.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from dataclasses import dataclass, field


def json_arg(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from err


def class_list(text: str) -> list[str]:
    """Class names or indices, comma-separated or, where a name holds a comma, a JSON list; kept as text:
    class_index reads "3" as the class named 3 where the dataset has one, else as index 3 (the config check refuses
    an index that is also another class's name)."""
    if text.lstrip().startswith("["):
        try:
            return [str(t) for t in json.loads(text)]
        except (ValueError, TypeError) as err:
            raise ValueError(f"not a JSON list of class names: {text}") from err
    return [t.strip() for t in text.split(",") if t.strip()]


def class_list_arg(classes) -> str:
    """class_list's inverse: comma-separated, or a JSON list where a name holds a comma or starts with '['."""
    names = [str(c) for c in classes]
    needs_json = any("," in n or n.startswith("[") for n in names)
    return json.dumps(names, ensure_ascii=False) if needs_json else ",".join(names)


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    kwargs: dict
    cli_only: bool = False


def opt(*flags: str, cli_only: bool = False, **kwargs) -> Option:
    return Option(flags, kwargs, cli_only)


@dataclass(frozen=True)
class Stage:
    name: str
    target: str  # "module:function" within the genaug package
    help: str
    options: tuple[Option, ...]
    done: str | None = field(default=None)  # a line printed after it runs: format fields n (len of result), out

    def function(self):
        module, name = self.target.split(":")
        return getattr(importlib.import_module(f"genaug.{module}"), name)


LOG = opt("--log", default=None, cli_only=True, help="write progress here instead of stderr (errors go to both)")
DATA = opt("--data", required=True, help="dataset cache from `genaug prepare`")
DEVICE = (
    opt("--device", default=os.environ.get("GENAUG_DEVICE", "auto"),
        help="auto (CUDA if present), cpu, cuda or cuda:N (default: $GENAUG_DEVICE, else auto)"),
    opt("--threads", type=int, help="CPU threads for torch (the rule's threads)"),
    opt("--mem-mb", type=float, default=0, cli_only=True,
        help="the rule's mem_mb: past it the job stops with the setting to lower (0: no limit)"),
)
CELL = (  # a stage that works on one cell: the dataset cache, the cell's subset, its seed, a device
    DATA,
    opt("--subset", required=True, help="the cell's subset from `genaug subset`"),
    opt("--seed", type=int, required=True, help="the cell's seed (the subset's, and this job's random streams)"),
    *DEVICE,
)
SNAPSHOT = (
    opt("--snapshot",
        help="resume state (.pt), not an output: saved during training, resumed from, removed at the end"),
    opt("--snapshot-every", type=int, default=int(os.environ.get("GENAUG_SNAPSHOT_EVERY", 0)),
        help="save the resume state every N steps (0: never; default: $GENAUG_SNAPSHOT_EVERY, else 0)"),
)
TEST = (
    opt("--test-per-class", type=int,
        help="score on a fixed, balanced subset of this many test images per class (default: all)"),
    opt("--test-seed", type=int, help="seed of that test subset"),
)
METRIC_COUNT = opt("--per-class",
                   help="images per class of the reference, the floor and every scored set (auto: as many as the "
                        "test split allows, at most 500)")
PRDC_KID = (
    opt("--prdc-k", type=int, help="nearest neighbours of PRDC"),
    opt("--kid-subset-size", type=int, help="KID's subset size"),
)
SAMPLING = opt("--sampling", type=json_arg,
               help="diffusion sampling (JSON): sampler ddpm|ddim|dpm, steps, eta, guidance")

STAGES = {s.name: s for s in (
    Stage("prepare", "stages:prepare", "load a dataset from its source and cache it as uint8 tensors (.npz)", (
        opt("--dataset", required=True, help="fashion_mnist, mnist, digits or folder"),
        opt("--data-dir",
            help="where to look first: a torchvision root, the IDX files' folder, or a folder dataset's root"),
        opt("--cache-dir", help="where IDX files are extracted / downloaded"),
        opt("--image-size", type=int, help="side length of digits and folder images"),
        opt("--channels", help="folder images: 1, 3 or auto (RGB if any image has colour)"),
        opt("--fit", choices=("stretch", "crop", "pad"),
            help="folder images that are not square: stretch, crop (centre square) or pad (black borders)"),
        opt("--test-fraction", type=float,
            help="folder without train/ and test/: the stratified test share"),
        opt("--manifest", dest="manifest_out",
            help="also write the source files' manifest here (the workflow's copy)"),
        opt("--out", required=True, help="the dataset cache (.npz)"),
    )),
    Stage("subset", "stages:subset", "draw one (regime, size, seed) subset of the train pool", (
        DATA,
        opt("--regime", required=True, help="balanced, semi_balanced, imbalanced, fraction or shots"),
        opt("--size", required=True, help="n<images>, f<percent> or k<per class>"),
        opt("--seed", type=int, required=True, help="the subset's seed: which images, in which class order"),
        opt("--validation-per-class", type=int,
            help="real images per class held out of every subset for early stopping"),
        opt("--minority-classes", type=class_list,
            help="semi_balanced: the classes with the small share (names or indices, comma-separated)"),
        opt("--semi-ratio", type=float, help="semi_balanced: majority : minority count"),
        opt("--imbalance-ratio", type=float, help="imbalanced: largest : smallest class"),
        opt("--out", required=True, help="the subset (.npz)"),
    )),
    Stage("train_gen", "stages:train_gen", "train one generator on a cell's real subset", (
        *CELL, *SNAPSHOT,
        opt("--spec", type=json_arg, required=True, help="model spec (JSON), as config.generator_spec makes"),
        opt("--out", required=True, help="checkpoint (.pt)"),
        opt("--loss-log", required=True, help="loss history (.csv)"),
    )),
    Stage("sample", "stages:sample", "make a cell's synthetic set from a trained generator", (
        *CELL,
        opt("--generator", required=True, help="checkpoint from train_gen"),
        opt("--policy", help="match | balance | per_class | ratio"),
        opt("--per-class", type=int, help="policy per_class: images of each class"),
        opt("--ratio", type=float, help="policy ratio: synthetic images per real image of the class"),
        opt("--labeler", type=json_arg,
            help="classifier spec (JSON) for label strategy pseudo_label: trained on the real subset"),
        opt("--min-diversity", type=float,
            help="refuse samples of a class whose mean pairwise distance is below this share of the real "
                 "images' (a collapsed generator; 0: off)"),
        opt("--min-confidence", type=float,
            help="with --labeler: pseudo_label keeps images the labeler is at least this sure of"),
        SAMPLING,
        opt("--metric-per-class",
            help="draw a metric set instead: this many images of every class (auto: gen_metrics' count), "
                 "times --pool, from the generator's own random stream; the count policy is not used"),
        opt("--pool", type=int, help="a metric set's draw is this many times the count (a filtered "
                                                "row's pool)"),
        opt("--reuse", help="a metric set takes what it can from this synthetic set (the same "
                                          "cell's, same generator and sampler) and draws the rest"),
        opt("--out", required=True, help="synthetic set (.npz)"),
        opt("--grid", dest="grid_png", help="PNG grid of samples per class"),
    )),
    Stage("combine", "stages:combine",
          "mix several synthetic sets into one, evenly, at one set's size (the `combined` row)", (
              DATA,
              opt("--seed", type=int, required=True, help="the cell's seed: which member images are drawn"),
              opt("--out", required=True, help="synthetic set (.npz)"),
              opt("--grid", dest="grid_png", required=True, help="PNG grid of samples per class"),
              opt("members", nargs="+", help="synthetic sets from `genaug sample`"),
          )),
    Stage("train_clf", "stages:train_clf",
          "train a classifier on real (+ synthetic) images; score it on the real test split", (
              *CELL, *SNAPSHOT,
              opt("--classifier", type=json_arg, required=True, help="classifier spec (JSON)"),
              opt("--model", required=True,
                  help="the cell's model axis value (baseline, classic, oversampled or a generator)"),
              opt("--synthetic", help="synthetic set from `genaug sample` or `genaug combine`"),
              opt("--train-set", choices=["mixed", "synthetic"],
                  help="with --synthetic: train on real + synthetic (mixed) or synthetic images only (CAS)"),
              opt("--classic", type=json_arg, help="classic augmentation settings (JSON)"),
              opt("--oversample", action="store_true",
                  help="draw the real images in class-balanced passes (the oversampled arm)"),
              opt("--filter", dest="filter_name",
                  help="the cell's filter axis value (the synthetic set is already filtered)"),
              *TEST,
              opt("--out", required=True, help="metrics.json"),
              opt("--embeddings", required=True, help="test-set embeddings (.npz)"),
          )),
    Stage("filter", "filters:filter_set",
          "keep a synthetic set's images inside their class's latent sphere (003's filter)", (
              DATA, CELL[1],
              opt("--seed", type=int, required=True, cli_only=True,
                  help="the cell's seed (named by the rule; the filter draws nothing at random)"),
              *DEVICE,
              opt("--synthetic", required=True, help="synthetic set from `genaug sample` or `genaug combine`"),
              opt("--spec", type=json_arg, required=True, help="filter spec (JSON): keep, distance, space"),
              opt("--name", help="the filter's name in the grid"),
              opt("--model", help="the grid's row name of the synthetic set"),
              opt("--autoencoder", help="the cell's autoencoder checkpoint (space autoencoder)"),
              opt("--reference", help="the reference classifier (space reference)"),
              opt("--out", required=True, help="the kept synthetic set (.npz)"),
              opt("--stats", dest="stats_out", required=True,
                  help="generated vs qualified counts per class (.json)"),
              opt("--png", help="figure of the latent space with each class's sphere"),
          )),
    Stage("gencls", "gencls:gencls",
          "score the thesis's M1-M4 generative classifiers and the discriminator baseline", (
              *CELL,
              opt("--generator", required=True, help="checkpoint from train_gen"),
              opt("--autoencoder", help="the cell's autoencoder (M2, M4); without it only M1, M3"),
              opt("--model", help="the grid's row name of the generator"),
              opt("--m", type=int, help="samples per class per round"),
              opt("--L", type=int, help="M1/M2: nearest samples averaged"),
              opt("--N", type=int, help="rounds, each with fresh samples"),
              opt("--mu", type=float, help="M3/M4: share of all samples inside epsilon"),
              SAMPLING, *TEST,
              opt("--out", required=True, help="gencls.json"),
          )),
    Stage("reference", "gen_metrics:reference",
          "train the dataset's reference classifier; cache its features of the real reference draw and score the "
          "floor draw", (
              DATA,
              opt("--validation-per-class", type=int,
                  help="real images per class held out for its early stopping"),
              opt("--epochs", type=int, help="passes over the train pool"),
              METRIC_COUNT, *PRDC_KID,
              opt("--out-model", required=True, help="the reference classifier (.pt)"),
              opt("--out-features", required=True, help="its features of the real reference draw (.npz)"),
              opt("--out-floor", required=True, help="the floor's metrics (.json)"),
              *DEVICE,
          )),
    Stage("inception_reference", "gen_metrics:inception_reference",
          "pytorch-fid Inception statistics of the real reference draw, and the floor's FID", (
              DATA,
              opt("--weights", help="pytorch-fid's Inception weights (default: torch hub cache)"),
              METRIC_COUNT,
              opt("--out", required=True, help="Inception statistics and the floor's FID (.npz)"),
              *DEVICE,
          )),
    Stage("gen_metrics", "gen_metrics:gen_metrics",
          "domain FD, KID, PRDC, domain IS, per-class metrics (and Inception FID) of a metric set at the "
          "reference's count per class", (
              opt("--synthetic", required=True, help="the metric set (genaug sample --metric-per-class)"),
              opt("--reference-model", required=True, help="the reference classifier from `genaug reference`"),
              opt("--reference-features", required=True, help="its features of the real reference draw"),
              opt("--floor", required=True, help="the floor's metrics from `genaug reference`"),
              opt("--model", help="the grid's row name of this set (cddpm@dpm20-eta1-g2, combined)"),
              opt("--filter", dest="filter_name", help="the row's filter (none: unfiltered)"),
              opt("--data", help="the dataset cache; with --subset, also score near-copies of the cell's images"),
              opt("--subset", help="the cell's subset (what its generator trained on)"),
              opt("--inception-stats",
                  help="from `genaug inception_reference` (none: no Inception FID)"),
              opt("--inception-weights", dest="inception_weights_path",
                  help="pytorch-fid's Inception weights (default: torch hub cache)"),
              *PRDC_KID,
              opt("--out", required=True, help="the set's metrics (.json)"),
              *DEVICE,
          )),
    Stage("probe", "probes:probe",
          "CART / linear / k-NN probes, silhouette, intrinsic dimension and archetype of a cell", (
              opt("--embeddings", required=True, help="embeddings.npz from train_clf"),
              opt("--metrics", required=True, help="the cell's metrics.json"),
              opt("--max-points", type=int, help="test and synthetic embeddings drawn (stratified)"),
              opt("--folds", type=int, help="cross-validation folds of the probes"),
              opt("--overlap-classes", type=class_list,
                  help="the class group whose mutual confusion is measured (names or indices, comma-separated)"),
              opt("--seed", type=int, help="seed of the draw and the probes"),
              opt("--out", required=True, help="probe.json"),
          )),
    Stage("tsne", "probes:tsne", "t-SNE of a cell's test and synthetic embeddings, and its figure", (
        opt("--embeddings", required=True, help="embeddings.npz from train_clf"),
        opt("--metrics", required=True, help="the cell's metrics.json"),
        opt("--points", type=int, help="points embedded (2/3 test, 1/3 synthetic)"),
        opt("--seed", type=int, help="seed of the draw and of t-SNE"),
        opt("--out", dest="out_npz", required=True, help="coordinates (.npz)"),
        opt("--png", dest="out_png", required=True, help="the figure"),
    )),
    Stage("table", "aggregate:json_table", "flatten JSON files (gen_metrics, probes) into one CSV", (
        opt("--out", required=True, help="the table (.csv)"),
        opt("paths", metavar="files", nargs="*", help="JSON files, one row each"),
    ), done="{n} rows -> {out}"),
    Stage("aggregate", "aggregate:aggregate", "collect metrics.json files into summary.csv", (
        opt("--out", required=True, help="summary.csv"),
        opt("metric_paths", metavar="metrics", nargs="+", help="metrics.json files from train_clf"),
    ), done="{n} cells -> {out}"),
    Stage("gains", "answer:write_gains",
          "every arm's paired gain over its cell's baseline (gains.csv), and every generator arm's over the "
          "cell's other real-image arms (gains_over_real_arms.csv), from summary.csv", (
              opt("--summary", dest="summary_csv", required=True, help="summary.csv from `genaug aggregate`"),
              opt("--out", required=True, help="gains.csv"),
              opt("--out-real", required=True, help="gains_over_real_arms.csv"),
          ), done="{n} paired comparisons over the baseline -> {out}"),
    Stage("show", "answer:show",
          "print the grid's answer and its paired gains in the terminal (from results/*/gains.csv)", (
              opt("--results", help="the results folder (default: results)"),
              opt("--dataset", help="only this dataset's results: its folder under results/ (a folder "
                                    "dataset's folder.name)"),
              opt("--cell", help="regime or regime/size, e.g. balanced/n1000"),
              opt("--model", help="only this model's rows (e.g. cddpm@dpm20-g2)"),
              opt("--classifier", help="only this classifier's rows (e.g. cnn)"),
          )),
    Stage("report", "report.html:build_report", "write the self-contained HTML report", (
        opt("--summary", dest="summary_csv", required=True, help="summary.csv from `genaug aggregate`"),
        opt("--samples", dest="sample_pngs", nargs="*", default=[], help="sample grids (.png) of the synthetic sets"),
        opt("--gen-metrics", nargs="?", help="gen_metrics.csv (from `genaug table`)"),
        opt("--probes", nargs="?", help="probes.csv (from `genaug table`)"),
        opt("--tsne", nargs="*", help="tsne.npz files of cells"),
        opt("--filters", nargs="?", help="filters.csv (from `genaug table`)"),
        opt("--spheres", nargs="*", help="latent-sphere figures (.png) of filtered cells"),
        opt("--gencls", nargs="?", help="gencls.csv (from `genaug table`)"),
        opt("--meta", type=json_arg, help="run metadata (JSON): effort, config"),
        opt("--dataset", help="the dataset cache, whose notes on how it was read are shown"),
        opt("--loss-logs", nargs="*", help="generators' loss.csv files: their learning curves"),
        opt("--curve-metrics", nargs="*",
            help="classifier metrics.json files whose validation curves are shown"),
        opt("--subsets", nargs="*", help="subsets whose real images are shown beside the samples"),
        opt("--out", required=True, help="report.html"),
    ), done="report -> {out}"),
)}

# Subcommands with parsers of their own (`genaug bench --help`), dispatched before the table.
OWN_PARSERS = {
    "bench": ("bench:main", "measure training/sampling speed and dry-run time (genaug bench --help)"),
    "check-generator": ("generator_check:cli_main",
                        "run the behavioural checks of a generator family or module:Class (check-generator --help)"),
}


def dest(option: Option) -> str:
    """The parameter a flag fills (argparse's rule: an explicit dest, else the first long flag, dashes as _)."""
    if "dest" in option.kwargs:
        return option.kwargs["dest"]
    long = next((f for f in option.flags if f.startswith("--")), option.flags[0])
    return long.lstrip("-").replace("-", "_")
