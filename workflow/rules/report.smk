# Collect every cell into summary.csv and write the HTML report.


rule aggregate:
    input:
        all_metrics(),
    output:
        report(
            f"{RES}/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
            labels={"table": "every classifier run"},
        ),
    log:
        f"{LOGS}/aggregate.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "genaug aggregate --out {output} --log {log} {input}"


rule gains:
    input:
        f"{RES}/summary.csv",
    output:
        gains=report(
            f"{RES}/gains.csv",
            caption="../report/gains.rst",
            category="Tables",
            labels={"table": "paired gains over the baseline"},
        ),
        over_real=report(
            f"{RES}/gains_over_real_arms.csv",
            caption="../report/gains_over_real_arms.rst",
            category="Tables",
            labels={"table": "generators' paired gains over the other real-image arms"},
        ),
    log:
        f"{LOGS}/gains.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "genaug gains --summary {input} --out {output.gains} --out-real {output.over_real} --log {log}"


rule report:
    input:
        summary=f"{RES}/summary.csv",
        dataset=f"{RES}/dataset.npz",
        samples=all_sample_grids(),
        gen_metrics=[f"{RES}/gen_metrics.csv"] if all_gen_metrics() else [],
        probes=[f"{RES}/probes.csv"] if all_probes() else [],
        tsne=all_tsne(),
        filters=[f"{RES}/filters.csv"] if all_filter_stats() else [],
        spheres=all_sphere_figures(),
        gencls=[f"{RES}/gencls.csv"] if all_gencls() else [],
        loss_logs=all_loss_logs(),
        curve_metrics=all_curve_metrics(),
        subsets=all_shown_subsets(),
    output:
        report(
            "results/report.html",
            caption="../report/report.rst",
            category="Report",
            labels={"report": "genaug's answer and evidence"},
        ),
    log:
        f"{LOGS}/report.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        meta=q({"effort": config["effort"], "config": {k: v for k, v in config.items() if k not in gcfg.RUN_ONLY_KEYS}}),
    shell:
        "genaug report --summary {input.summary} --samples {input.samples} --gen-metrics {input.gen_metrics} "
        "--probes {input.probes} --tsne {input.tsne} --filters {input.filters} --spheres {input.spheres} "
        "--gencls {input.gencls} --dataset {input.dataset} --loss-logs {input.loss_logs} "
        "--curve-metrics {input.curve_metrics} --subsets {input.subsets} --meta {params.meta} --out {output} --log {log}"
