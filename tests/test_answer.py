"""The answer without the browser: gains.csv written by the workflow, and `genaug show` in the terminal."""

import io

import numpy as np
import pandas as pd
import pytest

from genaug import answer
from genaug.cli import main
from genaug.errors import GenaugError
from genaug.stats import paired_gain


def summary(tmp_path, gain=0.05, seeds=4):
    """A summary.csv with one cell: baseline, a generator that helps by `gain`, one that hurts, one diverged run."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(seeds):
        base = 0.8 + 0.01 * rng.standard_normal()
        for model, acc, status in [("baseline", base, "ok"), ("good", base + gain + 0.002 * rng.standard_normal(), "ok"),
                                   ("bad", base - gain + 0.002 * rng.standard_normal(), "ok")]:
            rows.append({"dataset": "digits", "classifier": "cnn", "train_set": "real" if model == "baseline" else
                         "mixed", "model": model, "filter": "none", "regime": "balanced", "size": "n100",
                         "size_value": 100, "seed": seed, "status": status, "accuracy": acc})
    rows.append({**rows[-1], "model": "broken", "status": "diverged", "accuracy": np.nan})
    path = tmp_path / "summary.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_gains_csv_holds_every_paired_comparison_but_diverged_ones(tmp_path):
    path = summary(tmp_path)
    table = answer.write_gains(path, tmp_path / "digits" / "gains.csv")
    back = pd.read_csv(tmp_path / "digits" / "gains.csv")
    assert list(back.columns) == answer.GAIN_COLUMNS and sorted(back["model"]) == ["bad", "good"]
    expect = paired_gain(pd.read_csv(path).query("status == 'ok'")).set_index("model")
    for r in back.itertuples():
        assert r.gain == pytest.approx(expect.loc[r.model, "gain"]) and r.p_holm == pytest.approx(
            expect.loc[r.model, "p_holm"])
    assert back.set_index("model").loc["good", "real"] and back.set_index("model").loc["good", "wins"] == 4
    assert len(table) == 2


def test_show_prints_the_answer_and_filters_by_cell_and_model(tmp_path):
    answer.write_gains(summary(tmp_path), tmp_path / "results" / "digits" / "gains.csv")
    out = io.StringIO()
    answer.show(tmp_path / "results", out=out)
    text = out.getvalue()
    assert "cnn balanced n100 (baseline 0.8" in text and "use good: +0.049" in text and "avoid bad" in text
    assert "4/4" in text and "simultaneous 95% CI" in text
    out = io.StringIO()
    answer.show(tmp_path / "results", model="bad", out=out)
    assert "use good" not in out.getvalue() and "bad" in out.getvalue()
    out = io.StringIO()
    answer.show(tmp_path / "results", cell="imbalanced", out=out)
    assert "nothing matches the filters" in out.getvalue()


def test_show_without_a_finished_grid_says_what_to_run(tmp_path, capsys):
    with pytest.raises(GenaugError, match="no gains.csv under .*: run `snakemake`"):
        answer.show(tmp_path / "results")
    assert main(["show", "--results", str(tmp_path / "results")]) == 2
    assert "no gains.csv" in capsys.readouterr().err


@pytest.mark.e2e
def test_the_workflow_writes_gains_csv_that_matches_the_report(evaluation_grid, capsys):
    res = evaluation_grid / "results" / "digits"
    back = pd.read_csv(res / "gains.csv")
    df, _, _ = answer.load_runs(res / "summary.csv")
    expect = answer.gains(df)
    assert len(back) == len(expect) > 0
    assert np.allclose(back["gain"], expect["gain"]) and list(back["model"]) == list(expect["model"])
    page = (evaluation_grid / "results" / "report.html").read_text()
    for v in answer.verdicts(expect):  # the page's answer is the terminal's
        assert f"{v['chosen'].gain:+.4f}" in page.split("<h2 id=answer>")[1].split("<h2 ")[0]
    assert main(["show", "--results", str(evaluation_grid / "results")]) == 0
    assert "Every comparison:" in capsys.readouterr().out


def test_a_summary_or_metrics_file_without_a_training_set_is_refused_with_the_fix(tmp_path):
    """Outputs of genaug versions before the training-set axis are not guessed at (the shim is gone): the file
    and the command that rewrites it are named."""
    import json

    from genaug.aggregate import aggregate

    path = summary(tmp_path)
    pd.read_csv(path).drop(columns="train_set").to_csv(path, index=False)
    with pytest.raises(GenaugError, match="no train_set column.*--forcerun aggregate"):
        answer.load_runs(path)
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"status": "diverged", "seed": 0, "reason": "x", "dataset": "digits",
                                   "classifier": "cnn", "model": "vae", "filter": "none", "regime": "balanced",
                                   "size": "n100", "size_value": 100}))
    with pytest.raises(GenaugError, match="missing field 'train_set'"):
        aggregate([metrics], tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()
