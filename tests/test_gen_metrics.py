"""The gen_metrics stages on real digits: the reference classifier, metrics of a synthetic set against it,
and Inception FID through pytorch-fid (with a stand-in weights file: the real one cannot be downloaded here)."""

import json

import numpy as np
import pytest
import torch

from genaug import config as gcfg
from genaug import gen_metrics as gm


@pytest.fixture(scope="module")
def reference(digits_cache, tmp_path_factory):
    d = tmp_path_factory.mktemp("reference")
    with open(d / "log", "w") as log:
        gm.reference(data=digits_cache, out_model=d / "classifier.pt", out_features=d / "features.npz",
                     validation_per_class=10, epochs=2, images=400, device="cpu", log=log)
    return d


def _set(path, images, labels, **meta):
    np.savez(path, images=images, labels=labels,
             meta=np.array(json.dumps({"status": "ok", "regime": "balanced", "size": "n100", "seed": 0, **meta})))


def test_reference_features_are_a_balanced_draw_of_the_train_pool_outside_validation(reference, digits):
    with np.load(reference / "features.npz") as z:
        feats, labels, idx = z["features"], z["labels"], z["indices"]
        assert float(z["test_accuracy"]) > 0.5
    assert feats.shape == (400, 128) and (np.bincount(labels) == 40).all()
    assert (digits.train_y.numpy()[idx] == labels).all()
    from genaug.subsets import validation_indices

    assert not set(idx) & set(validation_indices(digits.train_y.numpy(), 10, 10))


def test_real_images_score_closer_than_noise_and_every_metric_is_recorded(reference, digits, tmp_path):
    x, y = digits.train_x.numpy(), digits.train_y.numpy()
    with np.load(reference / "features.npz") as z:
        pool = np.setdiff1d(np.arange(len(y)), z["indices"])[:300]  # real images the statistics did not use
    _set(tmp_path / "real.npz", x[pool], y[pool])
    noise = np.random.default_rng(0).integers(0, 256, size=(300, *x.shape[1:]), dtype=np.uint8)
    _set(tmp_path / "noise.npz", noise, y[pool])
    common = dict(reference_model=reference / "classifier.pt", reference_features=reference / "features.npz",
                  device="cpu", log=open(tmp_path / "log", "w"))
    real = gm.gen_metrics(synthetic=tmp_path / "real.npz", out=tmp_path / "real.json", model="real", **common)
    fake = gm.gen_metrics(synthetic=tmp_path / "noise.npz", out=tmp_path / "noise.json", **common)
    assert real["domain_fd"] < fake["domain_fd"] / 5 and real["kid"] < fake["kid"]
    assert real["precision"] > 0.6 and real["coverage"] > 0.6 and fake["precision"] < 0.2
    assert real["label_agreement"] > 0.7 and real["domain_is"] > fake["domain_is"]
    assert real["intra_class_fd"] < fake["intra_class_fd"]
    assert set(real["per_class"]) == {str(c) for c in range(10)} and real["per_class"]["3"]["n"] == (y[pool] == 3).sum()
    assert real["model"] == "real" and real["inception_fid"] is None  # no weights here: unavailable, with the reason
    assert "no Inception weights" in real["inception_fid_unavailable"] or "missing" in real["inception_fid_unavailable"]
    assert json.loads((tmp_path / "real.json").read_text())["domain_fd"] == pytest.approx(real["domain_fd"])


def test_a_diverged_set_gets_no_metrics_but_a_reason(reference, tmp_path):
    _set(tmp_path / "d.npz", np.zeros((0, 1, 28, 28), np.uint8), np.zeros(0, np.int64), status="diverged",
         reason="nan loss")
    out = gm.gen_metrics(synthetic=tmp_path / "d.npz", out=tmp_path / "d.json", device="cpu",
                         reference_model=reference / "classifier.pt", reference_features=reference / "features.npz",
                         log=open(tmp_path / "log", "w"))
    assert out["status"] == "diverged" and out["reason"] == "nan loss" and "domain_fd" not in out


@pytest.fixture
def stand_in_inception_weights(tmp_path, monkeypatch):
    """A state dict of pytorch-fid's FID Inception with random weights, saved under the real file's name."""
    import pytorch_fid.inception as pi
    from torchvision.models.inception import Inception3

    with monkeypatch.context() as m:  # build the architecture without its download
        m.setattr(pi, "load_state_dict_from_url", lambda *a, **k: None)
        m.setattr(Inception3, "load_state_dict", lambda self, state, *a, **k: None)
        net = pi.fid_inception_v3()
    path = tmp_path / gcfg.FID_WEIGHTS_NAME
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.slow  # about 35 s: a 2048-d matrix square root and Inception on a CPU
def test_inception_fid_runs_through_pytorch_fid_when_the_weights_file_is_present(digits_cache, digits, reference,
                                                                                  stand_in_inception_weights, tmp_path):
    log = open(tmp_path / "log", "w")
    assert gcfg.find_inception_weights(stand_in_inception_weights)[0] == stand_in_inception_weights
    gm.inception_reference(data=digits_cache, out=tmp_path / "inc.npz", weights=stand_in_inception_weights,
                           validation_per_class=10, images=40, device="cpu", log=log)
    with np.load(tmp_path / "inc.npz") as z:
        assert z["mu"].shape == (2048,) and z["sigma"].shape == (2048, 2048) and int(z["n"]) == 40
    x, y = digits.train_x.numpy()[:30], digits.train_y.numpy()[:30]
    _set(tmp_path / "s.npz", x, y)
    out = gm.gen_metrics(synthetic=tmp_path / "s.npz", out=tmp_path / "s.json", device="cpu",
                         reference_model=reference / "classifier.pt", reference_features=reference / "features.npz",
                         inception_stats=tmp_path / "inc.npz", inception_weights_path=stand_in_inception_weights,
                         log=log)
    assert np.isfinite(out["inception_fid"]) and out["inception_fid"] >= 0
    assert "configured file" in out["inception_weights"]


def test_missing_inception_weights_fail_at_config_time(tmp_path):
    cfg = {"dataset": "digits", "seeds": [0], "grid": {"regimes": ["balanced"], "sizes": [100],
                                                       "models": ["baseline"], "classifiers": ["cnn"]},
           "gen_metrics": {"inception_weights": str(tmp_path / "nope.pth")}}
    with pytest.raises(gcfg.ConfigError, match="gen_metrics.inception_weights: .* is not a file"):
        gcfg.check(cfg)
