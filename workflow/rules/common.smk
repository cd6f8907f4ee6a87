# Helpers shared by every rule: config validation, the grid's targets, paths and parameters.
# No rules here; the model logic lives in the genaug package (workflow/genaug).
import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

WORKFLOW_DIR = Path(workflow.basedir) / "workflow"
ENV = "../../envs/genaug.yaml"  # the conda env of every rule, for --sdm conda
# Every job must find `genaug`: first the one installed beside this snakemake (even when its
# virtualenv is not activated), else a launcher that runs the package from workflow/ with the
# job's python (a --sdm conda env built from envs/genaug.yaml has the dependencies, not genaug).
sys.path.insert(0, str(WORKFLOW_DIR))
_own_bin = Path(sys.executable).parent
_path = [str(_own_bin)] if (_own_bin / "genaug").exists() else []
_path += [os.environ.get("PATH", ""), str(WORKFLOW_DIR / "bin")]
os.environ["PATH"] = os.pathsep.join(filter(None, _path))
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(WORKFLOW_DIR), os.environ.get("PYTHONPATH")])
)

from genaug import config as gcfg  # noqa: E402  (torch-free)
from genaug import families  # noqa: E402  (torch-free, until a user's generator class is imported)
from genaug import sources  # noqa: E402  (torch-free)
from genaug.errors import GenaugError  # noqa: E402

try:
    gcfg.check_renamed(config)
except GenaugError as err:
    raise WorkflowError(f"config.yaml: {err}") from None
try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError:
    reason = gcfg.explain_schema_error(
        config, WORKFLOW_DIR / "schemas" / "config.schema.yaml"
    )
    raise WorkflowError(
        f"config.yaml: {reason}. See the README's config reference."
    ) from None
# Folders holding a user's generator modules: importable here (the config check imports the class) and in
# every job (PYTHONPATH), locally and on cluster nodes, whose job-side snakemake parses this file too.
_user_paths = [str(Path(p).resolve()) for p in config["python_path"]]
for _p in _user_paths:
    if not Path(_p).is_dir():
        raise WorkflowError(f"config.yaml: python_path: {_p} is not a folder; give the folder that holds your "
                            "generator module")
sys.path[1:1] = _user_paths
os.environ["PYTHONPATH"] = os.pathsep.join([*_user_paths, os.environ["PYTHONPATH"]])
try:
    gcfg.check(config)
except GenaugError as err:
    raise WorkflowError(f"config.yaml: {err}") from None

# Settings that change how a job runs but not what it computes reach the jobs through the environment, not
# through params: Snakemake reruns a job whose params changed, and a new device or snapshot interval must not
# rerun a grid. Job-side snakemake processes (SLURM) parse this file too, so they set the same values.
# (gcfg.RUN_ONLY_KEYS lists them; the report's params leave them out for the same reason.)
os.environ["GENAUG_DEVICE"] = str(config["device"])
os.environ["GENAUG_SNAPSHOT_EVERY"] = str(config["snapshot_every"])

DS = config["dataset"]
RES = f"results/{DS}"
LOGS = f"{RES}/logs"
SNAPSHOTS = f"{RES}/snapshots"  # resume state of running training jobs; not outputs, so Snakemake keeps them
SOURCE_MANIFEST = f"{RES}/source_manifest.json"  # names, sizes, mtimes of the dataset's files
# prepare depends on it, and it is rewritten only when a source file changed: a changed folder is re-read.
_SOURCE_TRACKED = sources.track_source(
    SOURCE_MANIFEST,
    sources.manifest(DS, config.get("data_dir"), "data/raw"),
    f"{RES}/dataset.npz",
    write=workflow.is_main_process,
)


def source_manifest():
    return [SOURCE_MANIFEST] if _SOURCE_TRACKED else []


SEEDS = config["seeds"]
REGIMES = config["grid"]["regimes"]
MODELS = gcfg.grid_models(config)  # diffusion names carry their sampler: cddpm@dpm20-eta1-g2
CLASSIFIERS = config["grid"]["classifiers"]
GEN_MODELS = gcfg.generator_models(config)


SAMPLING_TOKEN = (
    r"(?:@[a-z]+\d+(?:-eta[\d.]+)?(?:-g[\d.]+)?)?"  # config.parse_sampling_token
)


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    regime=_alternatives(
        ["balanced", "semi_balanced", "imbalanced", "fraction", "shots"]
    ),
    size=r"[nfk]\d+",
    seed=r"\d+",
    model=f"(?:{_alternatives([*gcfg.RESERVED, *gcfg.model_entries(config)])}){SAMPLING_TOKEN}",
    train=_alternatives(["real", *gcfg.TRAIN_SETS]),
    gen=_alternatives(list(gcfg.model_entries(config))),
    sgen=f"(?:{_alternatives(list(gcfg.model_entries(config)))}){SAMPLING_TOKEN}",
    synth=f"(?:{_alternatives([gcfg.COMBINED, *gcfg.model_entries(config)])}){SAMPLING_TOKEN}",
    mkind="metric_sets|metric_pools",
    clf=_alternatives(list(gcfg.classifier_entries(config))),
    filter=_alternatives([gcfg.NO_FILTER, *gcfg.filter_entries(config)]),


def q(obj):
    """A JSON argument, shell-quoted, for a `genaug` option."""
    return shlex.quote(json.dumps(obj, sort_keys=True))


def grid_cells():
    """Every (classifier, training set, model, filter, regime, size, seed) cell of the grid."""
    for clf in CLASSIFIERS:
        for model in MODELS:
            for train in gcfg.train_sets(config, model):
                for flt in gcfg.filters_for(config, model):
                    for regime in REGIMES:
                        for size in gcfg.size_tokens(config, regime):
                            for seed in SEEDS:
                                yield dict(
                                    clf=clf,
                                    train=train,
                                    model=model,
                                    filter=flt,
                                    regime=regime,
                                    size=size,
                                    seed=seed,
                                )


CELL_PATH = "{clf}/{train}/{model}/{filter}/{regime}/{size}/s{seed}"  # a classifier cell's directory


def metrics_path(**cell):
    return f"{RES}/classifiers/{CELL_PATH.format(**cell)}/metrics.json"


def all_metrics():
    return [metrics_path(**cell) for cell in grid_cells()]


GEN_METRICS = gcfg.gen_metrics_spec(config)
PROBES = gcfg.probes_spec(config)
INCEPTION_WEIGHTS = gcfg.find_inception_weights(GEN_METRICS["inception_weights"])[0]


def synthetic_rows():
    """The model-axis rows that have a synthetic set: the generators, and combined."""
    return [m for m in MODELS if m not in gcfg.ARMS]


def all_gen_metrics():
    if not GEN_METRICS["enabled"]:
        return []
    return [
        f"{RES}/gen_metrics/{flt}/{m}/{regime}/{size}/s{seed}.json"
        for m in synthetic_rows()
        for flt in gcfg.filters_for(config, m)
        for regime in REGIMES
        for size in gcfg.size_tokens(config, regime)
        for seed in SEEDS
    ]


def all_probes():
    if not PROBES["enabled"]:
        return []
    return [
        f"{RES}/classifiers/{CELL_PATH.format(**cell)}/probe.json"
        for cell in grid_cells()
    ]


def all_tsne():
    """t-SNE coordinates of the first seed's cells (the report's figures)."""
    if not (PROBES["enabled"] and PROBES["tsne"]):
        return []
    return [
        f"{RES}/classifiers/{CELL_PATH.format(**cell)}/tsne.npz"
        for cell in grid_cells()
        if cell["seed"] == SEEDS[0]
    ]


def all_sample_grids():
    """One sample grid per generator and regime, at the regime's largest size, first seed."""
    return [
        f"{RES}/synthetic/{gen}/{regime}/{gcfg.size_tokens(config, regime)[-1]}/s{SEEDS[0]}.png"
        for gen in GEN_MODELS
        for regime in REGIMES
    ]


def synthetic_input(wildcards):
    """The synthetic set a classifier cell trains on; none for baseline and classic."""
    if (wildcards.model in gcfg.ARMS) != (wildcards.train == "real"):
        raise WorkflowError(
            f"classifiers/{wildcards.clf}/{wildcards.train}/{wildcards.model}: baseline and classic train on "
            f"`real` images, generators on {' or '.join(gcfg.TRAIN_SETS)}; fix the training-set part of the path"
        )
    if wildcards.model in gcfg.ARMS:
        if wildcards.filter != gcfg.NO_FILTER:
            raise WorkflowError(
                f"classifiers/.../{wildcards.model}/{wildcards.filter}: {wildcards.model} has no synthetic set to "
                f"filter; its filter part is `{gcfg.NO_FILTER}`"
            )
        return []
    if wildcards.filter != gcfg.NO_FILTER:
        return f"{RES}/filtered/{wildcards.filter}/{wildcards.model}/{wildcards.regime}/{wildcards.size}/s{wildcards.seed}.npz"
    return f"{RES}/synthetic/{wildcards.model}/{wildcards.regime}/{wildcards.size}/s{wildcards.seed}.npz"


TEST = gcfg.test_spec(config)
TEST_ARGS = (
    f"--test-per-class {TEST['per_class']} --test-seed {TEST['seed']}"
    if TEST["per_class"]
    else ""
)
GENCLS = gcfg.gencls_spec(config)


def filtered_rows():
    """(model, filter) pairs of the grid whose synthetic set is filtered."""
    return [
        (m, f)
        for m in synthetic_rows()
        for f in gcfg.filters_for(config, m)
        if f != gcfg.NO_FILTER
    ]


def all_filter_stats():
    return [
        f"{RES}/filtered/{flt}/{m}/{regime}/{size}/s{seed}.json"
        for m, flt in filtered_rows()
        for regime in REGIMES
        for size in gcfg.size_tokens(config, regime)
        for seed in SEEDS
    ]


def all_sphere_figures():
    """One latent-space figure per filtered row and regime, at the regime's largest size, first seed."""
    return [
        f"{RES}/filtered/{flt}/{m}/{regime}/{gcfg.size_tokens(config, regime)[-1]}/s{SEEDS[0]}.png"
        for m, flt in filtered_rows()
        for regime in REGIMES
    ]


def gencls_models():
    """The generator rows M1-M4 can use: those that draw images of a chosen class."""
    entries = gcfg.model_entries(config)
    out = []
    for m in GEN_MODELS:
        entry = entries[gcfg.split_model(m)[0]]
        if entry.get("per_class") or families.get(entry["family"]).conditional or entry.get(
            "label_strategy"
        ) in ("conditional", "reconstruct"):
            out.append(m)
    return out


def all_gencls():
    if not GENCLS["enabled"]:
        return []
    return [
        f"{RES}/gencls/{m}/{regime}/{size}/s{seed}.json"
        for m in gencls_models()
        for regime in REGIMES
        if regime in GENCLS["regimes"]
        for size in gcfg.size_tokens(config, regime)
        for seed in SEEDS
    ]


def combined_inputs(wildcards):
    """The synthetic sets the `combined` row mixes, for one regime, size and seed."""
    return [
        f"{RES}/synthetic/{m}/{wildcards.regime}/{wildcards.size}/s{wildcards.seed}.npz"
        for m in gcfg.combined_members(config)
    ]


def train_clf_extra(wildcards, input):
    """The stage options that depend on the model axis value and the training set."""
    if wildcards.model == "classic":
        return f"--classic {q(gcfg.classic_spec(config))}"
    if wildcards.model in gcfg.ARMS:
        return ""
    return f"--synthetic {input.synthetic} --train-set {wildcards.train}"


def snapshot_args(rule, cell):
    """Where a training job keeps its resume snapshot (a `{wildcard}` pattern); how often it saves one comes
    from GENAUG_SNAPSHOT_EVERY (see below)."""
    return f"--snapshot {SNAPSHOTS}/{rule}/{cell}.pt"


def trained_model(wildcards):
    """The generator file a sample job draws from: one per base model, however it is sampled."""
    base = gcfg.split_model(wildcards.sgen)[0]
    return f"{RES}/generators/{base}/{wildcards.regime}/{wildcards.size}/s{wildcards.seed}/model.pt"


def sample_args(model):
    """The sample job's count policy and diffusion sampling; pseudo_label models also get the labelling
    classifier's spec."""
    spec = gcfg.synthesis_spec(config, model)
    args = "--policy {policy} --per-class {per_class} --ratio {ratio} --min-diversity {min_diversity}".format(
        **spec
    )
    if gcfg.generator_spec(config, model)["label_strategy"] == "pseudo_label":
        labeler = gcfg.classifier_spec(config, config["grid"]["classifiers"][0])
        args += f" --labeler {q(labeler)} --min-confidence {spec['min_confidence']}"
    sampling = gcfg.sampling_spec(config, model)
    if sampling is not None:
        args += f" --sampling {q(sampling)}"
    return args


def pool_inputs(w):
    """An `images` model's pool files (its train_gen reruns when they change); nothing for a trained model."""
    entry = gcfg.model_entries(config)[gcfg.split_model(w.gen)[0]]
    if families.get(entry["family"]).trains:
        return []
    return [str(p) for p in sources.pool_files(entry["path"], entry.get("layout", "shared"), w.regime, w.size,
                                                 w.seed)]


def gpu_count(model, sampling=False):
    """GPUs a training job asks for: one for the families that need one, when a GPU may be used.
    Sampling asks for one only for diffusion (tens to a thousand network passes per image).
    """
    family = families.get(gcfg.model_entries(config)[gcfg.split_model(model)[0]]["family"])
    wanted = family.samplers if sampling else family.gpu
    return int(config["device"] != "cpu" and wanted)


def classifier_gpus(clf):
    """ResNet-18 asks for a GPU when one may be used; the CNN and softmax regression train well on a CPU core."""
    arch = gcfg.classifier_entries(config)[clf]["arch"]
    return int(config["device"] != "cpu" and arch == "resnet18")


def regime_args():
    semi = config["regimes"]["semi_balanced"]
    classes = ",".join(str(c) for c in semi["minority_classes"])
    return (
        f"--minority-classes {shlex.quote(classes)} --semi-ratio {semi['ratio']} "
        f"--imbalance-ratio {config['regimes']['imbalanced']['ratio']}"
    )
