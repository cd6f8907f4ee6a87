# Dataset cache and data-regime subsets.

PREPARE_OPTIONS = gcfg.prepare_options(config)


rule prepare:
    input:
        source_manifest(),
    output:
        f"{RES}/dataset.npz",
    log:
        f"{LOGS}/prepare.log",
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        dataset=DS,
        data_dir=PREPARE_OPTIONS["data_dir"],
        folder=PREPARE_OPTIONS["folder"],
        manifest=lambda wildcards, input: f"--manifest {input[0]}" if input else "",
    shell:
        "genaug prepare --dataset {params.dataset} {params.data_dir} --cache-dir data/raw {params.folder} "
        "{params.manifest} --out {output} --log {log}"


rule subset:
    input:
        f"{RES}/dataset.npz",
    output:
        f"{RES}/subsets/{{regime}}/{{size}}/s{{seed}}.npz",
    log:
        f"{LOGS}/subset/{{regime}}/{{size}}/s{{seed}}.log",
    priority: 2
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        regimes=regime_args(),
        val=config["validation_per_class"],
    shell:
        "genaug subset --data {input} --regime {wildcards.regime} --size {wildcards.size} --seed {wildcards.seed} "
        "--validation-per-class {params.val} {params.regimes} --out {output} --log {log}"
