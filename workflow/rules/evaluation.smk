# Generative metrics per synthetic row, each on a fresh class-balanced draw at one fixed count, and
# embedding probes per classifier cell.


rule reference:
    input:
        f"{RES}/dataset.npz",
    output:
        model=f"{RES}/reference/classifier.pt",
        features=f"{RES}/reference/features.npz",
        floor=f"{RES}/reference/floor.json",
    log:
        f"{LOGS}/reference.log",
    priority: 1
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
        per_class=GEN_METRICS["per_class"],
        k=GEN_METRICS["prdc_k"],
        kid=GEN_METRICS["kid_subset_size"],
    shell:
        "genaug reference --data {input} --validation-per-class {params.val} --epochs {params.epochs} "
        "--per-class {params.per_class} --prdc-k {params.k} --kid-subset-size {params.kid} "
        "--threads {threads} --mem-mb {resources.mem_mb} --out-model {output.model} "
        "--out-features {output.features} --out-floor {output.floor} --log {log}"


rule inception_reference:
    input:
        f"{RES}/dataset.npz",
    output:
        f"{RES}/reference/inception.npz",
    log:
        f"{LOGS}/inception_reference.log",
    priority: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=int(config["device"] != "cpu"),
    params:
        weights=shlex.quote(str(INCEPTION_WEIGHTS)),
        per_class=GEN_METRICS["per_class"],
    shell:
        "genaug inception_reference --data {input} --weights {params.weights} --per-class {params.per_class} "
        "--threads {threads} --mem-mb {resources.mem_mb} --out {output} --log {log}"


# A metric set is a generator's own draw of gen_metrics.per_class images of every class (metric_sets), or
# FILTER_POOL times as many for a filtered row (metric_pools), which the row's filter then thins
# (metric_filtered); gen_metrics scores the first per_class of each class. It takes what it can from the
# cell's synthetic set (same generator and sampler) and draws only the rest: at balanced sizes of
# per_class images a class, a diffusion cell samples once instead of twice.
rule metric_set:
    input:
        data=f"{RES}/dataset.npz",
        subset=f"{RES}/subsets/{{regime}}/{{size}}/s{{seed}}.npz",
        model=trained_model,
        reuse=f"{RES}/synthetic/{{sgen}}/{{regime}}/{{size}}/s{{seed}}.npz",
    output:
        f"{RES}/{{mkind}}/{{sgen}}/{{regime}}/{{size}}/s{{seed}}.npz",
    log:
        f"{LOGS}/{{mkind}}/{{sgen}}/{{regime}}/{{size}}/s{{seed}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=lambda w: gpu_count(w.sgen, sampling=True),
    params:
        policy=lambda w: sample_args(w.sgen),
        per_class=GEN_METRICS["per_class"],
        pool=lambda w: gcfg.FILTER_POOL if w.mkind == "metric_pools" else 1,
    shell:
        "genaug sample --data {input.data} --subset {input.subset} --generator {input.model} --seed {wildcards.seed} "
        "{params.policy} --metric-per-class {params.per_class} --pool {params.pool} --reuse {input.reuse} "
        "--threads {threads} --mem-mb {resources.mem_mb} --out {output} --log {log}"


use rule combine as combine_metric_set with:
    input:
        data=f"{RES}/dataset.npz",
        members=lambda w: [
            f"{RES}/{w.mkind}/{m}/{w.regime}/{w.size}/s{w.seed}.npz" for m in gcfg.combined_members(config)
        ],
    output:
        synthetic=f"{RES}/{{mkind}}/combined/{{regime}}/{{size}}/s{{seed}}.npz",
        grid=f"{RES}/{{mkind}}/combined/{{regime}}/{{size}}/s{{seed}}.png",
    log:
        f"{LOGS}/{{mkind}}/combined/{{regime}}/{{size}}/s{{seed}}.log",


use rule filter as filter_metric_pool with:
    input:
        unpack(filter_space_input),
        data=f"{RES}/dataset.npz",
        subset=f"{RES}/subsets/{{regime}}/{{size}}/s{{seed}}.npz",
        synthetic=f"{RES}/metric_pools/{{synth}}/{{regime}}/{{size}}/s{{seed}}.npz",
    output:
        synthetic=f"{RES}/metric_filtered/{{filter}}/{{synth}}/{{regime}}/{{size}}/s{{seed}}.npz",
        stats=f"{RES}/metric_filtered/{{filter}}/{{synth}}/{{regime}}/{{size}}/s{{seed}}.json",
        png=f"{RES}/metric_filtered/{{filter}}/{{synth}}/{{regime}}/{{size}}/s{{seed}}.png",
    log:
        f"{LOGS}/metric_filtered/{{filter}}/{{synth}}/{{regime}}/{{size}}/s{{seed}}.log",


rule gen_metrics:
    input:
        synthetic=metric_set_input,
        data=f"{RES}/dataset.npz",
        subset=f"{RES}/subsets/{{regime}}/{{size}}/s{{seed}}.npz",
        model=f"{RES}/reference/classifier.pt",
        features=f"{RES}/reference/features.npz",
        floor=f"{RES}/reference/floor.json",
        inception=([f"{RES}/reference/inception.npz"] if INCEPTION_WEIGHTS is not None else []),
    output:
        f"{RES}/gen_metrics/{{filter}}/{{synth}}/{{regime}}/{{size}}/s{{seed}}.json",
    log:
        f"{LOGS}/gen_metrics/{{filter}}/{{synth}}/{{regime}}/{{size}}/s{{seed}}.log",
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
    shell:
        "genaug gen_metrics --synthetic {input.synthetic} --model {wildcards.synth} --filter {wildcards.filter} "
        "--data {input.data} --subset {input.subset} "
        "--reference-model {input.model} --reference-features {input.features} --floor {input.floor} "
        "{params.inception} --prdc-k {params.k} --kid-subset-size {params.kid} "
        "--threads {threads} --mem-mb {resources.mem_mb} --out {output} --log {log}"


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
        overlap=shlex.quote(class_list_arg(PROBES["overlap_classes"])),  # a JSON list where a name holds a comma
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
            subcategory="{regime}/{size}",
            labels={
                "classifier": "{clf}",
                "training set": "{train}",
                "model": "{model}",
                "filter": "{filter}",
                "cell": "{regime}/{size}",
                "seed": "{seed}",
            },
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
