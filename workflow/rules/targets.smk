# The grid's targets: every cell and every file `rule all` asks for. No rules here.


def grid_cells():
    """Every (classifier, training set, model, filter, regime, size, seed) cell of the grid."""
    for clf in CLASSIFIERS:
        for model in MODELS:
            for train in gcfg.train_sets(config, model):
                for flt in gcfg.filters_for(config, model):
                    for regime in REGIMES:
                        for size in gcfg.size_tokens(config, regime):
                            for seed in SEEDS:
                                yield dict(
                                    clf=clf,
                                    train=train,
                                    model=model,
                                    filter=flt,
                                    regime=regime,
                                    size=size,
                                    seed=seed,
                                )


CELL_PATH = "{clf}/{train}/{model}/{filter}/{regime}/{size}/s{seed}"  # a classifier cell's directory


def metrics_path(**cell):
    return f"{RES}/classifiers/{CELL_PATH.format(**cell)}/metrics.json"


def all_metrics():
    return [metrics_path(**cell) for cell in grid_cells()]


def synthetic_rows():
    """The model-axis rows that have a synthetic set: the generators, and combined."""
    return [m for m in MODELS if m not in gcfg.ARMS]


def all_gen_metrics():
    if not GEN_METRICS["enabled"]:
        return []
    return [
        f"{RES}/gen_metrics/{flt}/{m}/{regime}/{size}/s{seed}.json"
        for m in synthetic_rows()
        for flt in gcfg.filters_for(config, m)
        for regime in REGIMES
        for size in gcfg.size_tokens(config, regime)
        for seed in SEEDS
    ]


def all_probes():
    if not PROBES["enabled"]:
        return []
    return [f"{RES}/classifiers/{CELL_PATH.format(**cell)}/probe.json" for cell in grid_cells()]


def all_tsne():
    """t-SNE coordinates of the first seed's cells (the report's figures)."""
    if not (PROBES["enabled"] and PROBES["tsne"]):
        return []
    return [
        f"{RES}/classifiers/{CELL_PATH.format(**cell)}/tsne.npz" for cell in grid_cells() if cell["seed"] == SEEDS[0]
    ]


def shown_cells():
    """(regime, size, seed) of the cells the report shows pictures and learning curves of: each regime's
    largest size, first seed."""
    return [(regime, gcfg.size_tokens(config, regime)[-1], SEEDS[0]) for regime in REGIMES]


def all_loss_logs():
    """The report's generator learning curves: the loss logs of the shown cells' trained generators."""
    trained = [
        m
        for m in dict.fromkeys(gcfg.split_model(g)[0] for g in GEN_MODELS)
        if families.get(gcfg.model_entries(config)[m]["family"]).trains
    ]
    return [f"{RES}/generators/{m}/{r}/{s}/s{seed}/loss.csv" for m in trained for r, s, seed in shown_cells()]


def all_curve_metrics():
    """The report's classifier learning curves: the shown cells' metrics.json files."""
    shown = set(shown_cells())
    return [metrics_path(**c) for c in grid_cells() if (c["regime"], c["size"], c["seed"]) in shown]


def all_shown_subsets():
    """The shown cells' real subsets (the report draws their real images beside the synthetic ones)."""
    return [f"{RES}/subsets/{r}/{s}/s{seed}.npz" for r, s, seed in shown_cells()] if GEN_MODELS else []


def all_sample_grids():
    """One sample grid per generator and regime, at the regime's largest size, first seed."""
    return [
        f"{RES}/synthetic/{gen}/{regime}/{gcfg.size_tokens(config, regime)[-1]}/s{SEEDS[0]}.png"
        for gen in GEN_MODELS
        for regime in REGIMES
    ]


def filtered_rows():
    """(model, filter) pairs of the grid whose synthetic set is filtered."""
    return [(m, f) for m in synthetic_rows() for f in gcfg.filters_for(config, m) if f != gcfg.NO_FILTER]


def all_filter_stats():
    return [
        f"{RES}/filtered/{flt}/{m}/{regime}/{size}/s{seed}.json"
        for m, flt in filtered_rows()
        for regime in REGIMES
        for size in gcfg.size_tokens(config, regime)
        for seed in SEEDS
    ]


def all_sphere_figures():
    """One latent-space figure per filtered row and regime, at the regime's largest size, first seed."""
    return [
        f"{RES}/filtered/{flt}/{m}/{regime}/{gcfg.size_tokens(config, regime)[-1]}/s{SEEDS[0]}.png"
        for m, flt in filtered_rows()
        for regime in REGIMES
    ]


def all_gencls():
    if not GENCLS["enabled"]:
        return []
    return [
        f"{RES}/gencls/{m}/{regime}/{size}/s{seed}.json"
        for m in gcfg.gencls_models(config)
        for regime in REGIMES
        if regime in GENCLS["regimes"]
        for size in gcfg.size_tokens(config, regime)
        for seed in SEEDS
    ]
