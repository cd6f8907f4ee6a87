# Train a generator per cell, then sample its synthetic set (a diffusion model: once per sampler setting);
# `combined` mixes several synthetic sets into one. Generator training, a grid's longest jobs, starts before any
# classifier (priority 1 over their 0; subsets, seconds each, 2), and so do the reference networks of the
# generative metrics (evaluation.smk). Without it Snakemake took ready jobs in DAG order and finished one seed's
# cells before it began the next seed's generators (docs/measured/2026-12-05-evidence.md); the reference
# classifier, whose only dependants are the metrics, started after the last classifier and ran alone for its 10
# minutes at the end (docs/measured/2026-12-06-evidence.md).


rule train_gen:
    input:
        data=f"{RES}/dataset.npz",
        subset=f"{RES}/subsets/{{regime}}/{{size}}/s{{seed}}.npz",
        pool=pool_inputs,
    output:
        model=f"{RES}/generators/{{gen}}/{{regime}}/{{size}}/s{{seed}}/model.pt",
        loss=f"{RES}/generators/{{gen}}/{{regime}}/{{size}}/s{{seed}}/loss.csv",
    log:
        f"{LOGS}/train_gen/{{gen}}/{{regime}}/{{size}}/s{{seed}}.log",
    priority: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=lambda w: gpu_count(w.gen),
    params:
        spec=lambda w: q(gcfg.generator_spec(config, w.gen)),
        snapshot=snapshot_args("train_gen", "{gen}/{regime}/{size}/s{seed}"),
    shell:
        "genaug train_gen --data {input.data} --subset {input.subset} --spec {params.spec} --seed {wildcards.seed} "
        "--threads {threads} --mem-mb {resources.mem_mb} {params.snapshot} --out {output.model} "
        "--loss-log {output.loss} --log {log}"


rule sample:
    input:
        data=f"{RES}/dataset.npz",
        subset=f"{RES}/subsets/{{regime}}/{{size}}/s{{seed}}.npz",
        model=trained_model,
    output:
        synthetic=f"{RES}/synthetic/{{sgen}}/{{regime}}/{{size}}/s{{seed}}.npz",
        grid=report(
            f"{RES}/synthetic/{{sgen}}/{{regime}}/{{size}}/s{{seed}}.png",
            caption="../report/samples.rst",
            category="Synthetic samples",
            subcategory="{regime}",
            labels={"model": "{sgen}", "regime": "{regime}", "size": "{size}", "seed": "{seed}"},
        ),
    log:
        f"{LOGS}/sample/{{sgen}}/{{regime}}/{{size}}/s{{seed}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=lambda w: gpu_count(w.sgen, sampling=True),
    params:
        policy=lambda w: sample_args(w.sgen),
    shell:
        "genaug sample --data {input.data} --subset {input.subset} --generator {input.model} --seed {wildcards.seed} "
        "{params.policy} --threads {threads} --mem-mb {resources.mem_mb} --out {output.synthetic} --grid {output.grid} "
        "--log {log}"


rule combine:
    input:
        data=f"{RES}/dataset.npz",
        members=combined_inputs,
    output:
        synthetic=f"{RES}/synthetic/combined/{{regime}}/{{size}}/s{{seed}}.npz",
        grid=f"{RES}/synthetic/combined/{{regime}}/{{size}}/s{{seed}}.png",
    log:
        f"{LOGS}/combine/{{regime}}/{{size}}/s{{seed}}.log",
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        "genaug combine --data {input.data} --seed {wildcards.seed} --out {output.synthetic} --grid {output.grid} "
        "--log {log} {input.members}"
