# Collect every cell into summary.csv and write the HTML report.


rule aggregate:
    input:
        all_metrics(),
    output:
        f"{RES}/summary.csv",
    log:
        f"{LOGS}/aggregate.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "genaug aggregate --out {output} --log {log} {input}"


rule report:
    input:
        summary=f"{RES}/summary.csv",
        samples=all_sample_grids(),
    output:
        "results/report.html",
    log:
        f"{LOGS}/report.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        meta=q({"effort": config["effort"], "config": config}),
    shell:
        "genaug report --summary {input.summary} --samples {input.samples} --meta {params.meta} --out {output} "
        "--log {log}"
