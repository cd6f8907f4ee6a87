# 003's latent-sphere filter: a VAE per cell on its real subset, then each synthetic set kept to the
# images inside their class's sphere in that VAE's latent space (or the reference classifier's).


rule autoencoder:
    input:
        data=f"{RES}/dataset.npz",
        subset=f"{RES}/subsets/{{regime}}/{{size}}/s{{seed}}.npz",
    output:
        model=f"{RES}/autoencoders/{{regime}}/{{size}}/s{{seed}}/model.pt",
        loss=f"{RES}/autoencoders/{{regime}}/{{size}}/s{{seed}}/loss.csv",
    log:
        f"{LOGS}/autoencoder/{{regime}}/{{size}}/s{{seed}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        spec=q(gcfg.autoencoder_spec(config)),
        snapshot=snapshot_args("autoencoder", "{regime}/{size}/s{seed}"),
    shell:
        "genaug train_gen --data {input.data} --subset {input.subset} --spec {params.spec} --seed {wildcards.seed} "
        "--threads {threads} --mem-mb {resources.mem_mb} {params.snapshot} --out {output.model} "
        "--loss-log {output.loss} --log {log}"


rule filter:
    input:
        unpack(filter_space_input),
        data=f"{RES}/dataset.npz",
        subset=f"{RES}/subsets/{{regime}}/{{size}}/s{{seed}}.npz",
        synthetic=f"{RES}/synthetic/{{synth}}/{{regime}}/{{size}}/s{{seed}}.npz",
    output:
        synthetic=f"{RES}/filtered/{{filter}}/{{synth}}/{{regime}}/{{size}}/s{{seed}}.npz",
        stats=f"{RES}/filtered/{{filter}}/{{synth}}/{{regime}}/{{size}}/s{{seed}}.json",
        png=report(
            f"{RES}/filtered/{{filter}}/{{synth}}/{{regime}}/{{size}}/s{{seed}}.png",
            caption="../report/sphere.rst",
            category="Latent-sphere filter",
            labels={"filter": "{filter}", "model": "{synth}", "cell": "{regime}/{size}", "seed": "{seed}"},
        ),
    log:
        f"{LOGS}/filter/{{filter}}/{{synth}}/{{regime}}/{{size}}/s{{seed}}.log",
    wildcard_constraints:
        filter=_alternatives(list(gcfg.filter_entries(config))),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        spec=lambda w: q(gcfg.filter_spec(config, w.filter)),
        space=lambda w, input: (
            f"--reference {input.reference}" if "reference" in input.keys() else f"--autoencoder {input.autoencoder}"
        ),
    shell:
        "genaug filter --data {input.data} --subset {input.subset} --synthetic {input.synthetic} --seed {wildcards.seed} "
        "--spec {params.spec} --name {wildcards.filter} --model {wildcards.synth} {params.space} "
        "--threads {threads} --mem-mb {resources.mem_mb} --out {output.synthetic} --stats {output.stats} "
        "--png {output.png} --log {log}"


rule filter_table:
    input:
        all_filter_stats(),
    output:
        f"{RES}/filters.csv",
    log:
        f"{LOGS}/filter_table.log",
    conda:
        ENV
    shell:
        "genaug table --out {output} --log {log} {input}"
