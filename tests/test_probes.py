"""Embedding probes on constructed embeddings: separable vs shuffled labels, twins, overlap, TwoNN."""

import json

import numpy as np
import pytest

from genaug.probes import group_confusion, probe, probe_accuracies, tsne, twin_clusters, two_nn_dimension


def blobs(n_per=60, k=4, d=16, spread=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(k, d))
    y = np.repeat(np.arange(k), n_per)
    return centres[y] + spread * rng.normal(size=(len(y), d)), y, centres


def test_probes_are_high_on_separable_embeddings_and_at_chance_on_shuffled_labels():
    x, y, _ = blobs()
    good = probe_accuracies(x, y)
    assert min(good.values()) > 0.95
    shuffled = probe_accuracies(x, np.random.default_rng(1).permutation(y))
    assert max(shuffled.values()) < 0.25 + 0.15  # 4 classes: chance is 0.25


def test_two_nn_recovers_the_dimension_of_a_plane_in_high_dimensions():
    rng = np.random.default_rng(2)
    plane = rng.uniform(size=(2000, 2)) @ rng.normal(size=(2, 20))
    assert two_nn_dimension(plane) == pytest.approx(2.0, abs=0.3)
    cube = rng.uniform(size=(2000, 6))
    assert two_nn_dimension(cube) == pytest.approx(6.0, abs=1.0)


def test_twin_clusters_are_found_only_where_synthetic_points_sit_apart_but_near_their_class():
    x, y, centres = blobs(n_per=80)
    rng = np.random.default_rng(3)
    fake_y = np.repeat(np.arange(4), 40)
    fake = centres[fake_y] + 0.3 * rng.normal(size=(160, 16))  # mixed in with the real points
    fake[fake_y == 0] += 1.5  # class 0's synthetic points: a cluster of their own, still nearest class 0
    out = twin_clusters(x, y, fake, fake_y, 4)
    assert out[0]["twin"] and out[0]["separability"] > 0.95 and out[0]["consistency"] == 1.0
    assert not any(out[c]["twin"] for c in (1, 2, 3))
    assert all(0.2 < out[c]["separability"] < 0.8 for c in (1, 2, 3))


def test_group_confusion_counts_only_confusions_inside_the_group():
    y_true = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    y_pred = np.array([1, 0, 0, 3, 2, 2, 3, 0])  # 0->1 and 1->0 inside {0, 1}; 1->3 leaves the group
    assert group_confusion(y_true, y_pred, [0, 1]) == pytest.approx(2 / 4)


def test_probe_stage_and_tsne_on_a_cell(tmp_path):
    x, y, centres = blobs(n_per=50, k=3)
    rng = np.random.default_rng(4)
    fake_y = np.repeat(np.arange(3), 30)
    fake = centres[fake_y] + 0.3 * rng.normal(size=(90, 16)) + 2.0  # every class a twin
    np.savez(tmp_path / "emb.npz", embeddings=x.astype(np.float16), labels=y, predictions=y,
             synthetic_embeddings=fake.astype(np.float16), synthetic_labels=fake_y)
    metrics = {"dataset": "toy", "classifier": "cnn", "train_set": "mixed", "model": "gan", "filter": "none",
               "regime": "balanced", "size": "n150", "size_value": 150, "seed": 0, "status": "ok", "accuracy": 0.9,
               "per_class": {"Shirt": {}, "Coat": {}, "Bag": {}}}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    out = probe(embeddings=tmp_path / "emb.npz", metrics=tmp_path / "metrics.json", out=tmp_path / "probe.json",
                overlap_classes=["Shirt", "Coat", "Pullover"])
    assert out["archetype"] == "twin" and sorted(out["twin_classes"]) == ["Bag", "Coat", "Shirt"]
    assert out["overlap_classes"] == ["Shirt", "Coat"] and out["overlap_confusion"] == 0.0
    assert out["probe_cart"] > 0.9 and out["silhouette"] > 0.5
    assert json.loads((tmp_path / "probe.json").read_text())["model"] == "gan"
    tsne(embeddings=tmp_path / "emb.npz", metrics=tmp_path / "metrics.json", out_npz=tmp_path / "t.npz",
         out_png=tmp_path / "t.png", points=120)
    with np.load(tmp_path / "t.npz") as z:
        assert z["coords"].shape == (120, 2) and z["synthetic"].sum() == 40
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
