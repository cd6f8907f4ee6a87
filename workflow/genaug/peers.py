"""`genaug bench --peers WORKDIR`: our generators beside reference implementations (issue 21).

Same real images (WORKDIR's balanced subset, seed 0), same CPU, one thread per side, both sides training at
once on two cores, the same wall-clock budgets.

- diffusion: our `cddpm` (diffusers' UNet2DModel in our loop, sampled by SDE-DPM-Solver++ in 20 steps at
  the preset's guidance) against denoising-diffusion-pytorch's classifier-free-guidance Unet and GaussianDiffusion
  (its defaults: cosine schedule, DDIM with eta 1, label dropout 0.5, guidance with its parallel-component
  removal and rescaling) at about our weight count (dim 12, mults 1-2-2: 0.28 M against our 0.26 M), sampled
  by its DDIM (eta 1) in as many steps at the same guidance. Both get our Adam lr, batch and EMA decay, so
  the networks and diffusion code are what differ. The averaged weights are kept at each budget (5, 10, 20 min) of one
  run and scored afterwards, outside the clock: domain Fréchet distance at the grid's fixed count per class
  (gen_metrics) and CAS (a classifier trained on those images alone with the grid's rule, train_clf).
- vae: our MLP VAE (000's, 361k weights, our loop) against pythae's VAE and trainer built from the same
  encoder and decoder with the same initial weights, the same epochs, batch and lr; the negative ELBO of
  held-out real images (the subset's validation split) against wall time, snapshots taken every epoch.
  A second race, `vae_shipped`, gives the peer its trainer's own defaults (pythae's BaseTrainerConfig
  learning rate and epochs) against our preset's settings: the comparison a user makes who runs each as
  shipped. The first isolates the code; the second adds each side's choice of settings.

The peers are a benchmark-only extra (pip install -e ".[bench]"), never imported by the workflow.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from .progress import SILENT

RACES = {"diffusion": ("diffusion",), "vae": ("vae", "vae_shipped")}  # each race and the sections it writes
BUDGETS_S = (300, 600, 1200)  # issue 21: 5, 10 and 20 minutes
VAE_EPOCHS = 50  # about the quick preset's 750 steps of 64 on 1,000 images
PEER_UNET = {"dim": 12, "dim_mults": (1, 2, 2)}  # 0.28 M weights, ours 0.26 M; 28 -> 14 -> 7 as ours
GOALS = {"diffusion": "ours reaches the peer's FD at the largest budget within half of it",
         "vae": "ours reaches the peer's final validation loss in at most half the peer's time"}


def _require_peers():
    import importlib

    from .errors import GenaugError

    try:
        for name in ("denoising_diffusion_pytorch", "pythae", "ema_pytorch"):
            importlib.import_module(name)
    except ImportError as err:
        raise GenaugError(f"genaug bench --peers needs the reference implementations ({err.name} is missing): "
                          "pip install -e \".[bench]\"") from err


def _cell(workdir: Path, size: str):
    """WORKDIR's results folder and the balanced `size` subset of seed 0 that a grid wrote there."""
    from .errors import GenaugError

    found = [f for f in sorted(workdir.glob(f"results/*/subsets/balanced/{size}/s0.npz"))
             if (f.parents[3] / "reference" / "floor.json").exists()]  # the subset's own dataset's reference
    if not found:
        raise GenaugError(f"{workdir}: no results/<dataset>/subsets/balanced/{size}/s0.npz with a reference "
                          "(gen_metrics on); run a grid with that cell there first (workflow/configs/evidence.yaml)")
    return found[0].parents[3], found[0]


def _one_thread():
    """One torch thread in this worker process: each side has one core of the two."""
    import torch

    torch.set_num_threads(1)


# ---- diffusion ------------------------------------------------------------------------------------------

def _train_ours_diffusion(res: str, subset: str, spec: dict, budgets, seed: int, out_dir: str) -> list[dict]:
    """Train our model for the largest budget; save its averaged weights at each budget as a checkpoint."""
    import torch

    from . import generators as gens
    from .generators.base import fit
    from .data import to_float
    from .stages import cell_meta, real_subset

    _one_thread()
    ds, sub, x, y = real_subset(Path(res) / "dataset.npz", subset, torch.device("cpu"))
    torch.manual_seed(seed)
    model = gens.build(spec, ds.image_shape, ds.num_classes)
    marks, pending = [], list(budgets)
    meta = cell_meta(ds, sub, seed, len(x))

    def on_step(step, seconds, averaged):
        if seconds >= pending[0]:
            path = Path(out_dir) / f"ours_{pending[0]}s.pt"
            with averaged():
                gens.save(path, model, spec, {**meta, "train_seconds": seconds, "steps": step}, [])
            marks.append({"budget_s": pending.pop(0), "seconds": round(seconds, 1), "steps": step,
                          "checkpoint": str(path)})
        return not pending

    t = spec["train"]
    fit(model, to_float(x), y, steps=10**9, batch_size=t["batch_size"], lr=t["lr"], seed=seed, name="ours",
        precision=t.get("precision", "fp32"), log=SILENT, on_step=on_step)
    return marks


def _peer_diffusion(num_classes: int, image_size: int, channels: int, sampling_steps: int):
    """The peer's model; its DDIM takes as many steps as our sampler."""
    from denoising_diffusion_pytorch.classifier_free_guidance import GaussianDiffusion, Unet

    unet = Unet(num_classes=num_classes, channels=channels, **PEER_UNET)
    return GaussianDiffusion(unet, image_size=image_size, timesteps=1000, sampling_timesteps=sampling_steps)


def _train_peer_diffusion(res: str, subset: str, spec: dict, budgets, seed: int, out_dir: str) -> list[dict]:
    """The peer's model, our data in memory and our optimizer settings (bf16 autocast of the loss too, when our
    model trains so); its EMA (ema_pytorch) every step."""
    import torch
    from ema_pytorch import EMA

    from .data import to_float
    from .device import resolve_precision
    from .stages import real_subset

    _one_thread()
    ds, sub, x, y = real_subset(Path(res) / "dataset.npz", subset, torch.device("cpu"))
    x = to_float(x)
    torch.manual_seed(seed)
    diffusion = _peer_diffusion(ds.num_classes, ds.image_shape[1], ds.image_shape[0], 1000)
    ema = EMA(diffusion, beta=spec["hparams"]["ema"], update_every=1, update_after_step=0)
    opt = torch.optim.Adam(diffusion.parameters(), lr=spec["train"]["lr"])
    gen = torch.Generator().manual_seed(seed)
    bf16 = resolve_precision(spec["train"].get("precision", "fp32"), torch.device("cpu")) == "bf16"
    marks, pending, step, t0 = [], list(budgets), 0, time.perf_counter()
    while pending:
        idx = torch.randint(0, len(x), (spec["train"]["batch_size"],), generator=gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = diffusion(x[idx], classes=y[idx]).float()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.update()
        step += 1
        seconds = time.perf_counter() - t0
        if seconds >= pending[0]:
            path = Path(out_dir) / f"peer_{pending[0]}s.pt"
            torch.save(ema.ema_model.state_dict(), path)
            marks.append({"budget_s": pending.pop(0), "seconds": round(seconds, 1), "steps": step,
                          "checkpoint": str(path)})
    return marks


def _peer_sampling(ours: dict) -> dict:
    return {"sampler": "ddim", "steps": ours["steps"], "eta": 1.0, "guidance": ours["guidance"]}


def _write_set(out: Path, images, labels, meta: dict) -> None:
    import numpy as np

    from .io import save_npz

    save_npz(out, images=images.numpy().astype(np.uint8), labels=labels.numpy().astype(np.int64),
             meta=np.array(json.dumps(meta)))


def _peer_sample(checkpoint: str, res: str, per_class: int, sampling: dict, seed: int, out: Path) -> float:
    import torch

    from .data import load_dataset

    ds = load_dataset(Path(res) / "dataset.npz")
    diffusion = _peer_diffusion(ds.num_classes, ds.image_shape[1], ds.image_shape[0], sampling["steps"])
    diffusion.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    diffusion.eval()
    torch.manual_seed(seed)
    labels = torch.arange(ds.num_classes).repeat_interleave(per_class)
    t0, chunks = time.perf_counter(), []
    with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):  # its tqdm bar per batch
        for batch in labels.split(250):
            chunks.append(diffusion.sample(batch, cond_scale=sampling["guidance"]))
    seconds = time.perf_counter() - t0
    images = (torch.cat(chunks).clamp(0, 1) * 255).round()
    _write_set(out, images, labels, {"model": "peer", "status": "ok", "sample_seconds": seconds,
                                     "sampling": _peer_sampling(sampling)})
    return seconds


def _score(kind: str, mark: dict, res: str, subset: str, classifier: dict, per_class: int, sampling: dict,
           seed: int, out_dir: str) -> dict:
    """Sample one snapshot (100 images a class in the grid), then its domain FD and CAS; both sides alike."""
    import numpy as np

    from .gen_metrics import gen_metrics
    from .stages import sample, train_clf

    _one_thread()
    res, out_dir = Path(res), Path(out_dir)
    label = f"{kind}_{mark['budget_s']}s"
    npz = out_dir / f"{label}.npz"
    if kind == "ours":
        sample(data=res / "dataset.npz", subset=subset, generator=mark["checkpoint"], seed=seed, out=npz,
               sampling=sampling, policy="metric", metric_per_class=per_class, min_diversity=0.0, device="cpu",
               log=SILENT)
        with np.load(npz) as z:
            seconds = json.loads(str(z["meta"]))["sample_seconds"]
    else:
        seconds = _peer_sample(mark["checkpoint"], str(res), per_class, sampling, seed, npz)
    fd = gen_metrics(synthetic=npz, reference_model=res / "reference/classifier.pt",
                     reference_features=res / "reference/features.npz", floor=res / "reference/floor.json",
                     out=out_dir / f"{label}_metrics.json", model=label, device="cpu", log=SILENT)
    cas = train_clf(data=res / "dataset.npz", subset=subset, classifier=classifier, model=label, seed=seed,
                    out=out_dir / f"{label}_cas.json", embeddings=out_dir / f"{label}_emb.npz", synthetic=npz,
                    train_set="synthetic", device="cpu", log=SILENT)
    return {**{k: v for k, v in mark.items() if k != "checkpoint"}, "sample_seconds": round(seconds, 1),
            "domain_fd": round(fd["domain_fd"], 3), "floor_domain_fd": round(fd["floor_domain_fd"], 3),
            "cas": cas["accuracy"]}


def bench_diffusion(res: Path, subset: Path, config: dict, classifier: dict, budgets, log, seed: int = 0) -> dict:
    from .config import generator_spec, sampling_spec
    from .io import read_json

    spec, sampling = generator_spec(config, "cddpm"), sampling_spec(config, "cddpm")
    per_class = read_json(res / "reference" / "floor.json")["per_class_count"]
    ctx = get_context("spawn")  # a fresh process per side: one thread each, no shared torch state
    with tempfile.TemporaryDirectory(prefix="genaug-peers-") as d, ProcessPoolExecutor(2, mp_context=ctx) as pool:
        print(f"bench: peers: training our cddpm and the peer side by side for {max(budgets)} s", file=log,
              flush=True)
        jobs = {"ours": pool.submit(_train_ours_diffusion, str(res), str(subset), spec, budgets, seed, d),
                "peer": pool.submit(_train_peer_diffusion, str(res), str(subset), spec, budgets, seed, d)}
        marks = {k: j.result() for k, j in jobs.items()}
        print("bench: peers: scoring the snapshots (sampling, domain FD, CAS)", file=log, flush=True)
        scored = {k: [pool.submit(_score, k, m, str(res), str(subset), classifier, per_class, sampling, seed, d)
                      for m in ms] for k, ms in marks.items()}
        rows = {k: [f.result() for f in fs] for k, fs in scored.items()}
    for k, rs in rows.items():
        for r in rs:
            print(f"bench: peers: diffusion {k} at {r['budget_s']} s ({r['steps']} steps): domain FD "
                  f"{r['domain_fd']:.2f} (floor {r['floor_domain_fd']:.2f}), CAS {r['cas']:.4f}", file=log)
    peer_final = rows["peer"][-1]["domain_fd"]
    reached = [r["budget_s"] for r in rows["ours"] if r["domain_fd"] <= peer_final]
    first = min(reached) if reached else None
    return {"ours": {"model": "cddpm", "spec": spec, "sampling": sampling},
            "peer": {"package": "denoising-diffusion-pytorch",
                     "unet": {**PEER_UNET, "dim_mults": list(PEER_UNET["dim_mults"])},
                     "schedule": "cosine", "sampling": _peer_sampling(sampling)},
            "budgets_s": list(budgets), "per_class_count": per_class, "curves": rows,
            "peer_fd_at_largest_budget": peer_final, "ours_first_budget_reaching_it_s": first,
            "ratio": None if first is None else round(first / max(budgets), 3),
            "goal": GOALS["diffusion"], "goal_met": first is not None and first <= max(budgets) / 2}


# ---- VAE ------------------------------------------------------------------------------------------------

def _vae(ds):
    from .generators.vae import VAE

    return VAE(ds.image_shape, ds.num_classes)  # 000's: hidden (200, 100), latent 20


def _val_loss(model, val_x, val_y, seed: int) -> float:
    """The negative ELBO per held-out image (our loss at beta 1), one fixed draw of the latent noise."""
    import torch

    model.eval()
    torch.manual_seed(seed)
    with torch.no_grad():
        loss, _ = model.loss(val_x, val_y)
    return float(loss)


def _train_ours_vae(res: str, subset: str, epochs: int, batch: int, lr: float, seed: int) -> list[dict]:
    import torch

    from .generators.base import fit
    from .data import to_float
    from .stages import real_subset

    _one_thread()
    ds, sub, x, y = real_subset(Path(res) / "dataset.npz", subset, torch.device("cpu"))
    torch.manual_seed(seed)
    model = _vae(ds)
    per_epoch = math.ceil(len(x) / batch)
    snaps, paused = [], 0.0

    def on_step(step, seconds, averaged):
        nonlocal paused
        if step % per_epoch == 0:
            t = time.perf_counter()
            snaps.append({"epoch": step // per_epoch, "seconds": seconds - paused,
                          "state": copy.deepcopy(model.state_dict())})
            paused += time.perf_counter() - t
        return False  # the run's own step count ends it

    fit(model, to_float(x), y, steps=epochs * per_epoch, batch_size=batch, lr=lr, seed=seed, name="ours",
        log=SILENT, on_step=on_step)
    return snaps


def _pythae_vae(ours, image_shape):
    """pythae's VAE around our network: its encoder and decoder call ours (same weights, same initialisation)."""
    import torch
    from pythae.models import VAE as PythaeVAE
    from pythae.models import VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = ours

        def forward(self, x):
            mu, logvar = self.net.encode(x, None)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = ours

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net.decode_logits(z, None)))

    model_config = VAEConfig(input_dim=tuple(image_shape), latent_dim=ours.latent_dim, reconstruction_loss="bce")
    return PythaeVAE(model_config, encoder=Encoder(), decoder=Decoder())


def _train_peer_vae(res: str, subset: str, epochs: int, batch: int, lr: float, seed: int) -> list[dict]:
    """pythae's VAE and BaseTrainer (its DataLoader, its loss), with our network and initial weights."""
    import logging

    import torch
    from pythae.data.datasets import BaseDataset
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    from .data import to_float
    from .stages import real_subset

    _one_thread()
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("pythae")]:  # each sets its own level
        logging.getLogger(name).setLevel(logging.ERROR)
    ds, sub, x, y = real_subset(Path(res) / "dataset.npz", subset, torch.device("cpu"))
    torch.manual_seed(seed)
    ours = _vae(ds)  # the same seed and class as _train_ours_vae: the same initial weights

    model = _pythae_vae(ours, ds.image_shape)
    snaps = []

    class Clock(TrainingCallback):
        paused, t0, epoch = 0.0, None, 0

        def on_train_begin(self, training_config, **kwargs):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, training_config, **kwargs):
            t = time.perf_counter()
            self.epoch += 1
            snaps.append({"epoch": self.epoch, "seconds": t - self.t0 - self.paused,
                          "state": copy.deepcopy(ours.state_dict())})
            self.paused += time.perf_counter() - t

    with (tempfile.TemporaryDirectory(prefix="genaug-pythae-") as d, open(os.devnull, "w") as quiet,
          contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet)):  # its banners and per-epoch lines
        cfg = BaseTrainerConfig(output_dir=d, num_epochs=epochs, learning_rate=lr, per_device_train_batch_size=batch,
                                no_cuda=True, keep_best_on_train=True, seed=seed)
        BaseTrainer(model, BaseDataset(to_float(x), y), training_config=cfg, callbacks=[Clock()]).train()
    return snaps


def pythae_defaults() -> dict:
    """pythae's own trainer settings (BaseTrainerConfig's defaults), read from the installed package."""
    from pythae.trainers import BaseTrainerConfig

    cfg = BaseTrainerConfig()
    return {"lr": cfg.learning_rate, "epochs": cfg.num_epochs, "batch": cfg.per_device_train_batch_size}


def bench_vae(res: Path, subset: Path, epochs: int, log, seed: int = 0, batch: int = 64, lr: float = 1e-3,
              peer: dict | None = None) -> dict:
    """Our VAE for `epochs` at `lr` and `batch` against pythae's with the same settings, or with `peer`'s
    ({"lr", "epochs", "batch"}: e.g. pythae_defaults())."""
    import torch

    from .data import to_float
    from .stages import real_subset

    peer = {"lr": lr, "epochs": epochs, "batch": batch, **(peer or {})}
    ctx = get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        print(f"bench: peers: training our VAE ({epochs} epochs, lr {lr:g}) and pythae's ({peer['epochs']} epochs, "
              f"lr {peer['lr']:g}) side by side", file=log, flush=True)
        jobs = {"ours": pool.submit(_train_ours_vae, str(res), str(subset), epochs, batch, lr, seed),
                "peer": pool.submit(_train_peer_vae, str(res), str(subset), peer["epochs"], peer["batch"],
                                    peer["lr"], seed)}
        snaps = {k: j.result() for k, j in jobs.items()}
    ds, sub, _, _ = real_subset(res / "dataset.npz", subset, torch.device("cpu"))
    val = torch.from_numpy(sub.val_indices)
    val_x, val_y = to_float(ds.train_x[val]), ds.train_y[val]
    model = _vae(ds)
    curves = {}
    for side, rows in snaps.items():
        curves[side] = []
        for r in rows:
            model.load_state_dict(r["state"])
            curves[side].append({"epoch": r["epoch"], "seconds": round(r["seconds"], 3),
                                 "val_loss": round(_val_loss(model, val_x, val_y, seed), 3)})
    peer_final, peer_seconds = curves["peer"][-1]["val_loss"], curves["peer"][-1]["seconds"]
    reached = [r["seconds"] for r in curves["ours"] if r["val_loss"] <= peer_final]
    first = min(reached) if reached else None
    for side, rows in curves.items():
        print(f"bench: peers: vae {side}: {rows[-1]['epoch']} epochs in {rows[-1]['seconds']:.1f} s, validation "
              f"loss {rows[-1]['val_loss']:.2f}", file=log)
    weights = sum(p.numel() for p in model.parameters())
    return {"ours": {"model": "000's MLP VAE (genaug vae family)", "weights": weights},
            "peer": {"package": "pythae", "model": "VAE with our encoder and decoder", "trainer": "BaseTrainer"},
            "epochs": epochs, "batch_size": batch, "lr": lr,
            "peer_settings": {"epochs": peer["epochs"], "batch_size": peer["batch"], "lr": peer["lr"]},
            "n_train": int(len(sub.indices)), "n_val": int(len(val)),
            "curves": curves, "peer_final_val_loss": peer_final, "peer_seconds": peer_seconds,
            "ours_seconds_to_peer_final": None if first is None else round(first, 3),
            "ratio": None if first is None else round(first / peer_seconds, 3),
            "goal": GOALS["vae"], "goal_met": first is not None and first <= peer_seconds / 2}


def plot(result: dict, out: Path) -> None:
    """The two comparisons in one figure: FD and CAS against the budget, validation loss against wall time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    from .io import atomic_path

    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    if "curves" in result.get("diffusion", {}):  # a kept earlier race may predate its curves
        d = pd.DataFrame([{**r, "side": k} for k, rs in result["diffusion"]["curves"].items() for r in rs])
        d["minutes"] = d["budget_s"] / 60
        sns.lineplot(d, x="minutes", y="domain_fd", hue="side", marker="o", ax=axes[0])
        axes[0].axhline(d["floor_domain_fd"].iloc[0], ls=":", c="grey", label="real floor")
        axes[0].set(title="diffusion: domain FD (lower is better)", xlabel="training minutes, one core")
        sns.lineplot(d, x="minutes", y="cas", hue="side", marker="o", ax=axes[1])
        axes[1].set(title="diffusion: CAS (real test accuracy)", xlabel="training minutes, one core")
    for ax, key, title in ((axes[2], "vae", "VAE, same settings"), (axes[3], "vae_shipped", "VAE, each as shipped")):
        if "curves" in result.get(key, {}):
            v = pd.DataFrame([{**r, "side": k} for k, rs in result[key]["curves"].items() for r in rs])
            sns.lineplot(v, x="seconds", y="val_loss", hue="side", ax=ax)
            ax.set(title=f"{title}: validation loss", xlabel="training seconds, one core", ylabel="negative ELBO")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def bench_peers(workdir, config: dict, log, budgets=BUDGETS_S, vae_epochs: int = VAE_EPOCHS, size: str = "n1000",
                which=tuple(RACES), figure=None, shipped_peer_epochs: int | None = None,
                kept: dict | None = None) -> dict:
    """Both comparisons on WORKDIR's grid (its dataset, subset, reference and the config's classifier); the
    VAE race twice: same settings, then pythae's own (its default epochs unless `shipped_peer_epochs`). The
    figure also draws `kept` races (an earlier run's, not rerun here)."""
    from .config import classifier_spec

    _require_peers()
    workdir = Path(workdir)
    res, subset = _cell(workdir, size)
    clf = config["grid"]["classifiers"][0]
    out = {"workdir": str(workdir), "subset": f"balanced/{size}/s0", "dataset": res.name}
    if "diffusion" in which:
        out["diffusion"] = bench_diffusion(res, subset, config, classifier_spec(config, clf), budgets, log)
    if "vae" in which:
        out["vae"] = bench_vae(res, subset, vae_epochs, log)
        shipped = {**pythae_defaults(), **({"epochs": shipped_peer_epochs} if shipped_peer_epochs else {})}
        out["vae_shipped"] = bench_vae(res, subset, vae_epochs, log, peer=shipped)
    if figure:
        plot({**(kept or {}), **out}, Path(figure))
        out["figure"] = str(figure)
    return out
