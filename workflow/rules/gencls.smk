# 003's generative classifiers M1-M4 (and the GAN-discriminator baseline), per generator cell.


rule gencls:
    input:
        data=f"{RES}/dataset.npz",
        subset=f"{RES}/subsets/{{regime}}/{{size}}/s{{seed}}.npz",
        model=trained_model,
        autoencoder=f"{RES}/autoencoders/{{regime}}/{{size}}/s{{seed}}/model.pt",
    output:
        f"{RES}/gencls/{{sgen}}/{{regime}}/{{size}}/s{{seed}}.json",
    log:
        f"{LOGS}/gencls/{{sgen}}/{{regime}}/{{size}}/s{{seed}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=lambda w: gpu_count(w.sgen, sampling=True),
    params:
        args=f"--m {GENCLS['m']} --L {GENCLS['L']} --N {GENCLS['N']} --mu {GENCLS['mu']} {TEST_ARGS}",
        sampling=lambda w: (
            f"--sampling {q(gcfg.sampling_spec(config, w.sgen))}" if gcfg.sampling_spec(config, w.sgen) else ""
        ),
    shell:
        "genaug gencls --data {input.data} --subset {input.subset} --generator {input.model} "
        "--autoencoder {input.autoencoder} --model {wildcards.sgen} --seed {wildcards.seed} {params.args} "
        "{params.sampling} "
        "--threads {threads} --mem-mb {resources.mem_mb} --out {output} --log {log}"


rule gencls_table:
    input:
        all_gencls(),
    output:
        f"{RES}/gencls.csv",
    log:
        f"{LOGS}/gencls_table.log",
    conda:
        ENV
    shell:
        "genaug table --out {output} --log {log} {input}"
