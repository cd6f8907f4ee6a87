# What all the rules need first: the config checked, the jobs' environment, the paths and the grid's axes.
# No rules here; targets.smk lists the grid's files, inputs.smk what the rules pass their jobs, and the
# model logic lives in the genaug package (workflow/genaug).
import re
import sys
from pathlib import Path

from snakemake.common.configfile import load_configfile
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

WORKFLOW_DIR = Path(workflow.basedir) / "workflow"
ENV = "../../envs/genaug.yaml"  # the conda env of every rule, for --sdm conda
# Every job must find `genaug`, and under --sdm conda run it with the env's python (genaug/jobenv.py).
sys.path.insert(0, str(WORKFLOW_DIR))
from genaug import jobenv  # noqa: E402  (torch-free)
from genaug import config as gcfg  # noqa: E402  (torch-free)
from genaug import families  # noqa: E402  (torch-free, until a user's generator class is imported)
from genaug import sources  # noqa: E402  (torch-free)
from genaug.stage_registry import class_list_arg  # noqa: E402  (torch-free)
from genaug.errors import GenaugError  # noqa: E402

CONDA = "conda" in {str(m).lower() for m in workflow.deployment_settings.deployment_method}
# An error names the file that set the field (--config, a --configfile, config.yaml), from the highest precedence.
_CLI_FILES = [Path(p) for p in workflow.config_settings.configfiles]  # absolute, in the order given


def _shown(path):
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


_CONFIG_LAYERS = [
    ("--config", workflow.config_settings.config),
    *((_shown(p), load_configfile(p)) for p in reversed(_CLI_FILES)),
    *((str(p), load_configfile(p)) for p in workflow.configfiles if Path(p).absolute() not in _CLI_FILES),
]


def _config_error(message):
    return WorkflowError(f"{gcfg.config_source(message, _CONFIG_LAYERS)}: {message}")


gcfg.coerce_command_line(config, WORKFLOW_DIR / "schemas" / "config.schema.yaml")  # --config seeds='[0,1,2]'
gcfg.expand_paths(config)  # data_dir: ~/datasets/cats
try:
    gcfg.check_renamed(config)
except GenaugError as err:
    raise _config_error(str(err)) from None
try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError:
    reason = gcfg.explain_schema_error(config, WORKFLOW_DIR / "schemas" / "config.schema.yaml")
    raise _config_error(f"{reason}. Every key: docs/config.md.") from None
# Folders holding a user's generator modules are importable here (the config check imports the class) and in
# every job (PYTHONPATH), locally and on cluster nodes, whose job-side snakemake parses this file too; the
# run-only settings (device, snapshot interval) reach the jobs through the environment, so changing one
# reruns nothing.
try:
    sys.path[1:1] = jobenv.setup(WORKFLOW_DIR, Path(sys.executable).parent, conda=CONDA, config=config)
    gcfg.coerce_model_entries(config)
    gcfg.check(config)
except GenaugError as err:
    raise _config_error(str(err)) from None

DS = config["dataset"]
RES = f"results/{gcfg.results_name(config)}"  # a folder dataset's: results/<folder.name>
LOGS = f"{RES}/logs"
SNAPSHOTS = f"{RES}/snapshots"  # resume state of running training jobs; not outputs, so Snakemake keeps them
SOURCE_MANIFEST = f"{RES}/source_manifest.json"  # names, sizes, mtimes, SHA-256s of the dataset's files
try:  # another folder dataset's results are not replaced
    _SOURCE = sources.manifest(DS, config.get("data_dir"), sources.CACHE_DIR)
    sources.check_source_present(_SOURCE, f"{RES}/dataset.npz")
    sources.check_same_folder_dataset(SOURCE_MANIFEST, _SOURCE, f"{RES}/dataset.npz", RES)
except GenaugError as err:
    raise _config_error(str(err)) from None
# prepare depends on it, and its date moves only when a source file's content changed: a changed folder is re-read.
_SOURCE_TRACKED = sources.track_source(SOURCE_MANIFEST, _SOURCE, f"{RES}/dataset.npz", write=workflow.is_main_process)


def source_manifest():
    return [SOURCE_MANIFEST] if _SOURCE_TRACKED else []


SEEDS = config["seeds"]
REGIMES = config["grid"]["regimes"]
MODELS = gcfg.grid_models(config)  # diffusion names carry their sampler: cddpm@dpm20-eta1-g2
CLASSIFIERS = config["grid"]["classifiers"]
GEN_MODELS = gcfg.generator_models(config)


SAMPLING_TOKEN = r"(?:@[a-z]+\d+(?:-eta[\d.]+)?(?:-g[\d.]+)?)?"  # config.parse_sampling_token


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    regime=_alternatives(["balanced", "semi_balanced", "imbalanced", "fraction", "shots"]),
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


# The evaluation stages' settings, with their defaults filled in.
GEN_METRICS = gcfg.gen_metrics_spec(config)
PROBES = gcfg.probes_spec(config)
INCEPTION_WEIGHTS = gcfg.find_inception_weights(GEN_METRICS["inception_weights"])[0]
TEST = gcfg.test_spec(config)
GENCLS = gcfg.gencls_spec(config)
