# Generative metrics per synthetic set (on a reference classifier's features), and embedding probes
# per classifier cell.


rule reference:
    input:
        f"{RES}/dataset.npz",
    output:
        model=f"{RES}/reference/classifier.pt",
        features=f"{RES}/reference/features.npz",
    log:
        f"{LOGS}/reference.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=int(config["device"] != "cpu"),
    params:
        val=config["validation_per_class"],
        epochs=GEN_METRICS["reference_epochs"],
        images=GEN_METRICS["reference_images"],
        device=config["device"],
    shell:
        "genaug reference --data {input} --validation-per-class {params.val} --epochs {params.epochs} "
        "--images {params.images} --device {params.device} --threads {threads} --out-model {output.model} "
        "--out-features {output.features} --log {log}"


rule inception_reference:
    input:
        f"{RES}/dataset.npz",
    output:
        f"{RES}/reference/inception.npz",
    log:
        f"{LOGS}/inception_reference.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=int(config["device"] != "cpu"),
    params:
        weights=shlex.quote(str(INCEPTION_WEIGHTS)),
        val=config["validation_per_class"],
        images=GEN_METRICS["reference_images"],
        device=config["device"],
    shell:
        "genaug inception_reference --data {input} --weights {params.weights} --validation-per-class {params.val} "
        "--images {params.images} --device {params.device} --threads {threads} --out {output} --log {log}"


def inception_args(wildcards, input):
    """Inception FID when pytorch-fid's weights are present; else gen_metrics records why it is unavailable."""
    if INCEPTION_WEIGHTS is None:
        return ""
    return f"--inception-stats {input.inception} --inception-weights {shlex.quote(str(INCEPTION_WEIGHTS))}"


rule gen_metrics:
    input:
        synthetic=f"{RES}/synthetic/{{synth}}/{{regime}}/{{size}}/s{{seed}}.npz",
        model=f"{RES}/reference/classifier.pt",
        features=f"{RES}/reference/features.npz",
        inception=(
            [f"{RES}/reference/inception.npz"] if INCEPTION_WEIGHTS is not None else []
        ),
    output:
        f"{RES}/gen_metrics/{{synth}}/{{regime}}/{{size}}/s{{seed}}.json",
    log:
        f"{LOGS}/gen_metrics/{{synth}}/{{regime}}/{{size}}/s{{seed}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=6000,
        runtime=30,
    params:
        inception=inception_args,
        k=GEN_METRICS["prdc_k"],
        kid=GEN_METRICS["kid_subset_size"],
        device=config["device"],
    shell:
        "genaug gen_metrics --synthetic {input.synthetic} --model {wildcards.synth} --reference-model {input.model} "
        "--reference-features {input.features} {params.inception} --prdc-k {params.k} --kid-subset-size {params.kid} "
        "--device {params.device} --threads {threads} --out {output} --log {log}"


rule gen_metrics_table:
    input:
        all_gen_metrics(),
    output:
        f"{RES}/gen_metrics.csv",
    log:
        f"{LOGS}/gen_metrics_table.log",
    conda:
        ENV
    shell:
        "genaug table --out {output} --log {log} {input}"


rule probe:
    input:
        embeddings=f"{RES}/classifiers/{CELL_PATH}/embeddings.npz",
        metrics=f"{RES}/classifiers/{CELL_PATH}/metrics.json",
    output:
        f"{RES}/classifiers/{CELL_PATH}/probe.json",
    log:
        f"{LOGS}/probe/{CELL_PATH}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        points=PROBES["max_points"],
        folds=PROBES["cv_folds"],
        overlap=shlex.quote(",".join(str(c) for c in PROBES["overlap_classes"])),
    shell:
        "genaug probe --embeddings {input.embeddings} --metrics {input.metrics} --max-points {params.points} "
        "--folds {params.folds} --overlap-classes {params.overlap} --seed {wildcards.seed} --out {output} --log {log}"


rule tsne:
    input:
        embeddings=f"{RES}/classifiers/{CELL_PATH}/embeddings.npz",
        metrics=f"{RES}/classifiers/{CELL_PATH}/metrics.json",
    output:
        npz=f"{RES}/classifiers/{CELL_PATH}/tsne.npz",
        png=report(
            f"{RES}/classifiers/{CELL_PATH}/tsne.png",
            caption="../report/tsne.rst",
            category="Embeddings",
        ),
    log:
        f"{LOGS}/tsne/{CELL_PATH}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        points=PROBES["tsne_points"],
    shell:
        "genaug tsne --embeddings {input.embeddings} --metrics {input.metrics} --points {params.points} "
        "--seed {wildcards.seed} --out {output.npz} --png {output.png} --log {log}"


rule probes_table:
    input:
        all_probes(),
    output:
        f"{RES}/probes.csv",
    log:
        f"{LOGS}/probes_table.log",
    conda:
        ENV
    shell:
        "genaug table --out {output} --log {log} {input}"
