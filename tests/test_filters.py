"""The latent-sphere filter: the sphere keeps exactly its fraction of the real codes it was fitted on,
far synthetic points are dropped, a one-shot class keeps everything (and says so), the figure's
projection is faithful, and on real digits the stage keeps copies of real images over noise."""

import json

import numpy as np
import pytest
import torch

from genaug import config as gcfg
from genaug import stages
from genaug.errors import GenaugError
from genaug.filters import fit_sphere, projection
from .helpers import DISCARD


def clusters(per_class=50, k=3, d=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(k, d) * 50 + rng.normal(0, 1, (k, d))
    codes = np.concatenate([centres[c] + rng.normal(0, 1 + c, (per_class, d)) for c in range(k)])
    return codes, np.repeat(np.arange(k), per_class), centres


@pytest.mark.parametrize("distance", ["euclidean", "mahalanobis"])
@pytest.mark.parametrize("keep", [0.5, 0.8, 0.9, 1.0])
def test_the_sphere_keeps_exactly_its_fraction_of_the_real_codes(distance, keep):
    codes, labels, _ = clusters()
    sphere = fit_sphere(codes, labels, 3, keep, distance)
    inside = sphere.inside(codes, labels)
    for c in range(3):
        assert inside[labels == c].sum() == round(keep * 50)


def test_far_synthetic_points_are_dropped_and_central_ones_kept():
    codes, labels, centres = clusters()
    for distance in ("euclidean", "mahalanobis"):
        sphere = fit_sphere(codes, labels, 3, 0.9, distance)
        far = centres + 100.0
        assert not sphere.inside(far, np.arange(3)).any()
        assert sphere.inside(sphere.centres, np.arange(3)).all()
        # a point of class 0's cluster labelled as class 1 is far from class 1's centre
        assert not sphere.inside(centres[:1], np.array([1])).any()


def test_a_class_with_one_real_image_has_no_radius_and_keeps_its_images():
    codes, labels, _ = clusters()
    one = np.concatenate([codes[labels != 2], codes[labels == 2][:1]])
    one_labels = np.concatenate([labels[labels != 2], [2]])
    sphere = fit_sphere(one, one_labels, 3, 0.9)
    assert np.isnan(sphere.radii[2]) and not np.isnan(sphere.radii[:2]).any()
    assert sphere.inside(np.full((1, 8), 1e6), np.array([2])).all()


def test_mahalanobis_follows_the_class_shape():
    """A long thin class: a point along its long axis is inside, one as far across it is not."""
    rng = np.random.default_rng(1)
    codes = rng.normal(0, 1, (400, 2)) * [10.0, 0.5]
    sphere = fit_sphere(codes, np.zeros(400, dtype=int), 1, 0.95, "mahalanobis")
    assert sphere.inside(np.array([[15.0, 0.0]]), np.array([0]))[0]
    assert not sphere.inside(np.array([[0.0, 15.0]]), np.array([0]))[0]
    euclid = fit_sphere(codes, np.zeros(400, dtype=int), 1, 0.95, "euclidean")
    assert euclid.inside(np.array([[0.0, 15.0]]), np.array([0]))[0]


def test_the_projection_keeps_inside_points_inside_the_drawn_circle():
    codes, labels, _ = clusters(d=16)
    for distance in ("euclidean", "mahalanobis"):
        sphere = fit_sphere(codes, labels, 3, 0.8, distance)
        real = codes[labels == 1]
        inside = sphere.inside(real, labels[labels == 1])
        r2, _ = projection(sphere, 1, real, real[:5] + 3)
        assert (np.linalg.norm(r2[inside], axis=1) <= sphere.radii[1] + 1e-9).all()


def test_bad_keep_is_refused():
    codes, labels, _ = clusters()
    with pytest.raises(GenaugError, match="keep"):
        fit_sphere(codes, labels, 3, 0.0)


@pytest.fixture(scope="module")
def digits_cell(digits_cache, tmp_path_factory):
    """A shots cell of 20 digits per class and its autoencoder, trained briefly on it."""
    root = tmp_path_factory.mktemp("sphere")
    sub = root / "subset.npz"
    stages.subset(data=digits_cache, regime="shots", size="k20", seed=0, out=sub, validation_per_class=10,
                  log=DISCARD)
    spec = gcfg.autoencoder_spec({"effort": "paper", "autoencoder": {"steps": 300}})
    ae = root / "ae.pt"
    stages.train_gen(data=digits_cache, subset=sub, spec=spec, seed=0, out=ae, loss_log=root / "ae.csv",
                     device="cpu", log=DISCARD)
    return root, sub, ae


@pytest.mark.heavy
def test_the_filter_stage_keeps_real_copies_and_drops_noise(digits_cache, digits_cell, quiet):
    root, sub, ae = digits_cell
    ds, subset, x, y = stages.real_subset(digits_cache, sub, "cpu")
    noise = torch.from_numpy(np.random.default_rng(0).integers(0, 256, x.shape, dtype=np.uint8))
    images, labels = torch.cat([x, noise]), torch.cat([y, y])
    synthetic = root / "synthetic.npz"
    meta = {"status": "ok", "model": "test"}
    np.savez(synthetic, images=images.numpy(), labels=labels.numpy(), meta=np.array(json.dumps(meta)))
    out, stats_out, png = root / "kept.npz", root / "kept.json", root / "kept.png"
    stats = stages_filter(digits_cache, sub, synthetic, ae, out, stats_out, png, quiet)
    assert stats["generated"] == 2 * len(x)
    real_kept = sum(v["qualified"] for v in stats["per_class"].values())
    assert stats["qualified"] == real_kept
    with np.load(out) as z:
        kept_images = z["images"]
        assert len(kept_images) == stats["qualified"] and json.loads(str(z["meta"]))["filter"]["qualified"] == real_kept
    # the real copies sit where the sphere was fitted: 90 % of them are inside; the noise is not
    n_copies = sum(int((kept_images[i] == x.numpy()).all(axis=(1, 2, 3)).any()) for i in range(len(kept_images)))
    assert n_copies == round(0.9 * 20) * 10
    assert stats["real_inside_fraction"] == pytest.approx(0.9)
    assert json.loads(stats_out.read_text())["qualified"] == stats["qualified"]
    assert png.stat().st_size > 1000


@pytest.mark.heavy
def test_a_diverged_synthetic_set_passes_through_with_every_output(digits_cache, digits_cell, quiet):
    root, sub, ae = digits_cell
    synthetic = root / "diverged.npz"
    meta = {"status": "diverged", "model": "test", "reason": "collapsed"}
    np.savez(synthetic, images=np.zeros((0, 1, 28, 28), np.uint8), labels=np.zeros(0, np.int64),
             meta=np.array(json.dumps(meta)))
    out, stats_out, png = root / "d.npz", root / "d.json", root / "d.png"
    stats = stages_filter(digits_cache, sub, synthetic, ae, out, stats_out, png, quiet)
    assert stats["status"] == "diverged" and json.loads(stats_out.read_text())["reason"] == "collapsed"
    with np.load(out) as z:  # the classifier cell reads the divergence from here
        assert len(z["images"]) == 0 and json.loads(str(z["meta"]))["status"] == "diverged"
    assert png.stat().st_size > 1000  # Snakemake's rule declares it: it must exist


def stages_filter(data, sub, synthetic, ae, out, stats_out, png, log):
    from genaug.filters import filter_set

    return filter_set(data=data, subset=sub, synthetic=synthetic, spec={"keep": 0.9}, out=out, stats_out=stats_out,
                      png=png, autoencoder=ae, device="cpu", log=log)


@pytest.mark.parametrize("family", ["conv_vae", "vae"])
def test_the_cell_autoencoder_builds_for_either_family_with_its_own_defaults(family, digits):
    from genaug import generators as gens

    spec = gcfg.autoencoder_spec({"effort": "quick", "autoencoder": {"family": family, "latent_dim": 8}})
    model = gens.build(spec, digits.image_shape, digits.num_classes)
    mu, _ = model.encode(torch.zeros(2, *digits.image_shape), torch.zeros(2, dtype=torch.long))
    assert mu.shape == (2, 8) and gens.label_strategy(spec) == "reconstruct"
