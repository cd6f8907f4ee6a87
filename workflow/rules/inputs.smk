# What the rules pass their jobs: input functions, CLI options and resources derived from the config.
# No rules here (snakemake --lint: functions live apart from rules).
import json
import shlex


def q(obj):
    """A JSON argument, shell-quoted, for a `genaug` option."""
    return shlex.quote(json.dumps(obj, sort_keys=True))


def synthetic_input(wildcards):
    """The synthetic set a classifier cell trains on; none for the real-image arms (gcfg.ARMS)."""
    if (wildcards.model in gcfg.ARMS) != (wildcards.train == "real"):
        raise WorkflowError(
            f"classifiers/{wildcards.clf}/{wildcards.train}/{wildcards.model}: {', '.join(gcfg.ARMS)} train on "
            f"`real` images, generators on {' or '.join(gcfg.TRAIN_SETS)}; fix the training-set part of the path"
        )
    if wildcards.model in gcfg.ARMS:
        if wildcards.filter != gcfg.NO_FILTER:
            raise WorkflowError(
                f"classifiers/.../{wildcards.model}/{wildcards.filter}: {wildcards.model} has no synthetic set to "
                f"filter; its filter part is `{gcfg.NO_FILTER}`"
            )
        return []
    if wildcards.filter != gcfg.NO_FILTER:
        return f"{RES}/filtered/{wildcards.filter}/{wildcards.model}/{wildcards.regime}/{wildcards.size}/s{wildcards.seed}.npz"
    return f"{RES}/synthetic/{wildcards.model}/{wildcards.regime}/{wildcards.size}/s{wildcards.seed}.npz"


TEST_ARGS = f"--test-per-class {TEST['per_class']} --test-seed {TEST['seed']}" if TEST["per_class"] else ""


def combined_inputs(wildcards):
    """The synthetic sets the `combined` row mixes, for one regime, size and seed."""
    return [
        f"{RES}/synthetic/{m}/{wildcards.regime}/{wildcards.size}/s{wildcards.seed}.npz"
        for m in gcfg.combined_members(config)
    ]


def train_clf_extra(wildcards, input):
    """The stage options that depend on the model axis value and the training set."""
    if wildcards.model == "classic":
        return f"--classic {q(gcfg.classic_spec(config))}"
    if wildcards.model == "oversampled":
        return "--oversample"
    if wildcards.model in gcfg.ARMS:
        return ""
    return f"--synthetic {input.synthetic} --train-set {wildcards.train}"


def snapshot_args(rule, cell):
    """Where a training job keeps its resume snapshot (a `{wildcard}` pattern); how often it saves one comes
    from GENAUG_SNAPSHOT_EVERY (genaug/jobenv.py)."""
    return f"--snapshot {SNAPSHOTS}/{rule}/{cell}.pt"


def trained_model(wildcards):
    """The generator file a sample job draws from: one per base model, however it is sampled."""
    base = gcfg.split_model(wildcards.sgen)[0]
    return f"{RES}/generators/{base}/{wildcards.regime}/{wildcards.size}/s{wildcards.seed}/model.pt"


def sample_args(model):
    """The sample job's count policy and diffusion sampling; pseudo_label models also get the labelling
    classifier's spec."""
    spec = gcfg.synthesis_spec(config, model)
    args = "--policy {policy} --per-class {per_class} --ratio {ratio} --min-diversity {min_diversity}".format(**spec)
    if gcfg.generator_spec(config, model)["label_strategy"] == "pseudo_label":
        labeler = gcfg.classifier_spec(config, config["grid"]["classifiers"][0])
        args += f" --labeler {q(labeler)} --min-confidence {spec['min_confidence']}"
    sampling = gcfg.sampling_spec(config, model)
    if sampling is not None:
        args += f" --sampling {q(sampling)}"
    return args


def pool_inputs(w):
    """An `images` model's pool files (its train_gen reruns when they change); nothing for a trained model."""
    entry = gcfg.model_entries(config)[gcfg.split_model(w.gen)[0]]
    if families.get(entry["family"]).trains:
        return []
    return [str(p) for p in sources.pool_files(entry["path"], entry.get("layout", "shared"), w.regime, w.size, w.seed)]


def gpu_count(model, sampling=False):
    """GPUs a training job asks for: one for the families that need one, when a GPU may be used.
    Sampling asks for one only for diffusion (tens to a thousand network passes per image).
    """
    family = families.get(gcfg.model_entries(config)[gcfg.split_model(model)[0]]["family"])
    wanted = family.samplers if sampling else family.gpu
    return int(config["device"] != "cpu" and wanted)


def classifier_gpus(clf):
    """ResNet-18 asks for a GPU when one may be used; the CNN and softmax regression train well on a CPU core."""
    arch = gcfg.classifier_entries(config)[clf]["arch"]
    return int(config["device"] != "cpu" and arch == "resnet18")


def regime_args():
    semi = config["regimes"]["semi_balanced"]
    classes = class_list_arg(semi["minority_classes"])  # a JSON list where a class name holds a comma
    return (
        f"--minority-classes {shlex.quote(classes)} --semi-ratio {semi['ratio']} "
        f"--imbalance-ratio {config['regimes']['imbalanced']['ratio']}"
    )


def filter_space_input(wildcards):
    """The filter's code space: the cell's autoencoder, or the reference classifier (an oracle)."""
    if gcfg.filter_spec(config, wildcards.filter)["space"] == "reference":
        return {"reference": f"{RES}/reference/classifier.pt"}
    return {"autoencoder": f"{RES}/autoencoders/{wildcards.regime}/{wildcards.size}/s{wildcards.seed}/model.pt"}


def metric_set_input(wildcards):
    """The draw a gen_metrics job scores: the row's metric set, or its filtered pool."""
    cell = f"{wildcards.synth}/{wildcards.regime}/{wildcards.size}/s{wildcards.seed}.npz"
    if wildcards.filter == gcfg.NO_FILTER:
        return f"{RES}/metric_sets/{cell}"
    return f"{RES}/metric_filtered/{wildcards.filter}/{cell}"


def inception_args(wildcards, input):
    """Inception FID when pytorch-fid's weights are present; else gen_metrics records why it is unavailable."""
    if INCEPTION_WEIGHTS is None:
        return ""
    return f"--inception-stats {input.inception} --inception-weights {shlex.quote(str(INCEPTION_WEIGHTS))}"
