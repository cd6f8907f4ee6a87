# Train and score a classifier per cell on real (+ synthetic) images.


rule train_clf:
    input:
        data=f"{RES}/dataset.npz",
        subset=f"{RES}/subsets/{{regime}}/{{size}}/s{{seed}}.npz",
        synthetic=synthetic_input,
    output:
        metrics=f"{RES}/classifiers/{CELL_PATH}/metrics.json",
        embeddings=f"{RES}/classifiers/{CELL_PATH}/embeddings.npz",
    log:
        f"{LOGS}/train_clf/{CELL_PATH}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=lambda w: classifier_gpus(w.clf),
    params:
        classifier=lambda w: q(gcfg.classifier_spec(config, w.clf)),
        extra=train_clf_extra,
        test=TEST_ARGS,
        snapshot=snapshot_args("train_clf", CELL_PATH),
    shell:
        "genaug train_clf --data {input.data} --subset {input.subset} --classifier {params.classifier} "
        "--model {wildcards.model} --filter {wildcards.filter} {params.extra} {params.test} --seed {wildcards.seed} "
        "--threads {threads} --mem-mb {resources.mem_mb} {params.snapshot} --out {output.metrics} --embeddings {output.embeddings} "
        "--log {log}"
