"""003's protocol end to end through Snakemake on digits: shots, a fixed balanced test subset, a
per-class GAN with and without the latent-sphere filter, M1-M4 with the discriminator baseline, and
the report's Table 1, Table 2 and claims."""

import json

import numpy as np
import pandas as pd
import pytest

from .helpers import TINY, run_grid

FEWSHOT = {
    **TINY,
    "seeds": [0, 1],
    "grid": {"regimes": ["shots"], "shots": [4], "models": ["baseline", "gan"], "classifiers": ["cnn"],
             "filters": ["none", "sphere"]},
    "models": {},
    "test": {"per_class": 20},
    "gencls": {"m": 20, "L": 3, "N": 3, "mu": 0.1},
    "autoencoder": {"steps": 3000},  # smoke: 30 steps
}


@pytest.fixture(scope="module")
def fewshot_grid(tmp_path_factory):
    return run_grid(tmp_path_factory.mktemp("fewshot"), FEWSHOT)


@pytest.mark.e2e
def test_fewshot_cells_score_on_the_fixed_test_subset(fewshot_grid):
    res = fewshot_grid / "results" / "digits"
    summary = pd.read_csv(res / "summary.csv")
    assert len(summary) == 2 * 3  # seeds x (baseline, gan, gan | sphere)
    assert set(summary["filter"]) == {"none", "sphere"}
    assert set(summary[summary["model"] == "baseline"]["filter"]) == {"none"}
    metrics = json.loads((res / "classifiers/cnn/mixed/gan/sphere/shots/k4/s0/metrics.json").read_text())
    assert metrics["n_test"] == 200 and metrics["test_subset"] == {"per_class": 20, "seed": 0}
    stats = json.loads((res / "filtered/sphere/gan/shots/k4/s0.json").read_text())
    assert stats["generated"] == 40 and metrics["n_synthetic"] == stats["qualified"] <= stats["generated"]
    assert stats["real_inside_fraction"] == 1.0  # ceil(0.9 * 4) = 4 of 4 real codes per class
    # the filtered arm, the unfiltered one and the baseline of a cell: one step rule
    rules = {json.dumps(json.loads(p.read_text())["train"], sort_keys=True)
             for p in res.glob("classifiers/cnn/*/*/*/shots/k4/s0/metrics.json")}
    assert len(rules) == 1


@pytest.mark.e2e
def test_gencls_scores_m1_to_m4_and_the_discriminator(fewshot_grid):
    table = pd.read_csv(fewshot_grid / "results" / "digits" / "gencls.csv")
    assert len(table) == 2 and (table["status"] == "ok").all() and (table["n_test"] == 200).all()
    for method in ("M1", "M2", "M3", "M4", "discriminator"):
        assert table[f"accuracy:{method}"].between(0, 1).all()
    assert np.isfinite(table[["discriminator_logit:own_class", "discriminator_logit:other_classes"]]).all().all()
    assert (table["accuracy:M1"] > 0.2).all()  # pixel nearest neighbours of digits beat chance even at smoke


@pytest.mark.e2e
def test_the_report_has_the_thesis_tables_and_claims(fewshot_grid):
    html = (fewshot_grid / "results" / "report.html").read_text()
    for text in ("Table 1: gan, regime shots", "Table 2: the latent-sphere filter", "003's claims against this run",
                 "M1-M4 beat the GAN discriminator", "filtering with sphere", "Figure 21",
                 "20 test images per class", "discriminator score: own class / other classes"):
        assert text in html, text
    assert html.count("<img") >= 2  # the sphere figure and the sample grid


def test_table1_says_how_many_seeds_a_short_cell_has():
    from genaug.report.fewshot import table1

    rows = [{"model": "gan", "size": "k5", "size_value": 5, "seed": s, "method": m, "accuracy": 0.5 + 0.01 * s}
            for m in ("M1", "cnn + gan") for s in range(3) if not (m == "cnn + gan" and s == 2)]
    html = table1(pd.DataFrame(rows), "gan")
    m1_row, gan_row = html.split("<tr>")[2], html.split("<tr>")[3]
    assert "seeds)" not in m1_row and "(2 of 3 seeds)" in gan_row


def test_a_regime_other_than_shots_is_labelled_in_its_own_units_and_not_checked_against_003s_claims():
    """A fraction regime's f100 is the whole train pool, not 100 images a class: its tables said "100 per class",
    printed 003's 100-per-class numbers beside it and checked 003's 100-per-class claims on it."""
    from genaug.report.fewshot import section

    summary, gencls = [], []
    for regime, size, value in (("fraction", "f100", 100), ("shots", "k5", 5)):
        for seed in range(3):
            base = {"regime": regime, "size": size, "size_value": value, "seed": seed, "status": "ok"}
            gencls.append({**base, "model": "gan", "accuracy:M1": 0.4 + 0.01 * seed,
                           "accuracy:discriminator": 0.3 + 0.02 * seed})
            summary += [{**base, "classifier": "cnn", "train_set": "real", "model": "baseline", "filter": "none",
                         "accuracy": 0.5 + 0.01 * seed},
                        {**base, "classifier": "cnn", "train_set": "mixed", "model": "gan", "filter": "none",
                         "accuracy": 0.52 + 0.01 * seed}]
    page = "".join(section(pd.DataFrame(summary), pd.DataFrame(gencls), None, [], None))
    fraction, shots = page.split("regime shots</h3>", 1)
    assert "100 % of the train pool" in fraction and "per class</th>" not in fraction
    assert "003: 66.4%" not in fraction and "003: 89.3%" not in fraction  # 003's 100-per-class numbers
    assert "003's claims against this run (regime fraction)" not in page
    assert "they are not checked on regime fraction" in fraction
    assert "5 real images per class" in shots and "003: 57.4%" in shots  # 003's M1 at 5 a class
    assert "003's claims against this run (regime shots)" in shots and "gan k5: M1 - discriminator" in shots
