# genaug: which generative model's synthetic images improve a classifier trained on scarce data.
# Every classifier x model x filter x regime x size x seed cell is its own file target.
from pathlib import Path

from snakemake.utils import min_version

min_version("8.20")


# A study run from its own folder (snakemake -s <checkout>/Snakefile) reads its config.yaml, or the checkout's.
configfile: "config.yaml" if Path("config.yaml").exists() else str(Path(workflow.basedir) / "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/targets.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/generators.smk"
include: "workflow/rules/classifiers.smk"
include: "workflow/rules/filters.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/gencls.smk"
include: "workflow/rules/report.smk"


# Seconds of work each: on a cluster they run where snakemake runs instead of waiting in the queue.
localrules:
    all,
    aggregate,
    gen_metrics_table,
    filter_table,
    gencls_table,
    probes_table,
    report,


rule all:
    input:
        "results/report.html",
        f"{RES}/gains.csv",
        f"{RES}/gains_over_real_arms.csv",
