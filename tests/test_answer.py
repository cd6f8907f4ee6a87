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
        for model, acc, status in [("baseline", base, "ok"),
                                   ("good", base + gain + 0.002 * rng.standard_normal(), "ok"),
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
    table = answer.write_gains(path, tmp_path / "digits" / "gains.csv", tmp_path / "digits" / "over.csv")
    back = pd.read_csv(tmp_path / "digits" / "gains.csv")
    assert list(back.columns) == answer.GAIN_COLUMNS and sorted(back["model"]) == ["bad", "good"]
    expect = paired_gain(pd.read_csv(path).query("status == 'ok'")).set_index("model")
    for r in back.itertuples():
        assert r.gain == pytest.approx(expect.loc[r.model, "gain"]) and r.p_holm == pytest.approx(
            expect.loc[r.model, "p_holm"])
    assert back.set_index("model").loc["good", "real"] and back.set_index("model").loc["good", "wins"] == 4
    assert len(table) == 2


def test_show_prints_the_answer_and_filters_by_cell_and_model(tmp_path):
    res = tmp_path / "results" / "digits"
    answer.write_gains(summary(tmp_path), res / "gains.csv", res / "gains_over_real_arms.csv")
    out = io.StringIO()
    answer.show(tmp_path / "results", out=out)
    text = out.getvalue()
    assert "cnn balanced n100 (baseline 0.8" in text and "use good: +0.049" in text and "avoid bad" in text
    assert "4/4" in text and "simultaneous 95% CI" in text
    out = io.StringIO()
    answer.show(tmp_path / "results", model="bad", out=out)
    assert "use good" not in out.getvalue() and "bad" in out.getvalue()
    out = io.StringIO()
    with pytest.raises(GenaugError, match="nothing matches --cell imbalanced; digits has cells balanced/n100, "
                                          "models bad, good, classifiers cnn"):
        answer.show(tmp_path / "results", cell="imbalanced", out=out)
    assert "nothing matches the filters; digits has cells balanced/n100" in out.getvalue()


def test_show_says_why_an_arm_with_equal_differences_has_no_interval(tmp_path):
    """Both seeds lost 5 of 84 test images: no spread, so no interval, no p and no 'avoid' (it printed [–, –])."""
    res = tmp_path / "results" / "digits"
    df = pd.read_csv(summary(tmp_path, seeds=2))
    base = df[df["model"] == "baseline"].assign(accuracy=[0.5, 0.5476190476190477])
    same = base.assign(model="gan", train_set="mixed", accuracy=[0.44047619047619047, 0.4880952380952381])
    pd.concat([base, same]).to_csv(tmp_path / "summary.csv", index=False)
    answer.write_gains(tmp_path / "summary.csv", res / "gains.csv", res / "gains_over_real_arms.csv")
    out = io.StringIO()
    answer.show(tmp_path / "results", out=out)
    row = next(line for line in out.getvalue().splitlines() if line.rstrip().endswith("–") and " gan " in line)
    assert "-0.0595" in row and "no spread across seeds: no claim" in row
    assert "avoid" not in out.getvalue()


def with_real_arms(path, arms):
    """summary.csv plus real-image arms and generator arms, each `arm: offset` from its seed's baseline (a small
    per-seed wobble, the same for every arm, keeps the paired differences from having no spread)."""
    df = pd.read_csv(path)
    base = df[df["model"] == "baseline"]
    rows = [base.assign(model=arm, train_set="real" if arm in ("classic", "oversampled") else "mixed",
                        accuracy=base["accuracy"] + offset + 0.002 * np.sin(base["seed"] * (i + 1)))
            for i, (arm, offset) in enumerate(arms.items())]
    pd.concat([df[df["model"] != "good"], *rows]).to_csv(path, index=False)
    return path


def test_a_generator_that_beats_the_baseline_but_not_classic_is_not_recommended(tmp_path):
    """The issue-21 question: a generator earns the answer only where it beats every arm that needs none."""
    path = with_real_arms(summary(tmp_path, seeds=6), {"classic": 0.03, "better": 0.06})
    df = pd.read_csv(path)
    classic = df[df["model"] == "classic"]  # a hair above classic on average, either side of it by seed
    tie = classic.assign(model="same_as_classic", train_set="mixed",
                         accuracy=classic["accuracy"] + 0.001 + 0.01 * (-1.0) ** classic["seed"])
    pd.concat([df, tie]).to_csv(path, index=False)
    df, _, _ = answer.load_runs(path)
    over = answer.gains_over_real_arms(df)
    assert set(over["reference"]) == {"classic"} and set(over["model"]) == {"same_as_classic", "better", "bad"}
    assert over.set_index("model").loc["better", "real"] and not over.set_index("model").loc["same_as_classic", "real"]
    (v,) = answer.verdicts(answer.gains(df), over)
    assert v["use"] == "better"
    without_better = df[df["model"] != "better"]
    (v,) = answer.verdicts(answer.gains(without_better), answer.gains_over_real_arms(without_better))
    assert v["use"] == "classic" and [m for m, _ in v["short_of"]] == ["same_as_classic"]
    assert v["short_of"][0][1][0].reference == "classic"
    (v,) = answer.verdicts(answer.gains(without_better))  # without the comparisons: the old answer
    assert v["use"] == "same_as_classic"


def test_a_cell_where_no_arm_is_real_says_so_of_every_arm_not_only_generators(tmp_path):
    """The highest mean may be a real-image arm (classic, oversampled): the reason must not call it a generator."""
    path = with_real_arms(summary(tmp_path), {"classic": 0.005})
    df = pd.read_csv(path)
    on_classic = df["model"] == "classic"
    df.loc[on_classic, "accuracy"] += 0.03 * (-1.0) ** df.loc[on_classic, "seed"]  # either side of the baseline
    df.to_csv(path, index=False)
    df, _, _ = answer.load_runs(path)
    (v,) = answer.verdicts(answer.gains(df), answer.gains_over_real_arms(df))
    assert v["use"] is None and v["tested"] and v["best"].model == "classic" and v["hurt"] == ["bad"]
    assert v["why"] == "no arm beats the baseline after Holm correction"


def test_show_names_the_real_image_arm_a_generator_falls_short_of(tmp_path):
    path = with_real_arms(summary(tmp_path), {"oversampled": 0.0, "topped_up": 0.03})
    res = tmp_path / "results" / "digits"
    answer.write_gains(path, res / "gains.csv", res / "gains_over_real_arms.csv")
    back = pd.read_csv(res / "gains_over_real_arms.csv")
    assert list(back.columns) == answer.OVER_REAL_COLUMNS and set(back["reference"]) == {"oversampled"}
    out = io.StringIO()
    answer.show(tmp_path / "results", out=out)
    text = out.getvalue()
    assert "use topped_up" in text and "Generator arms over the other real-image arms" in text
    df = pd.read_csv(path)  # oversampled now as good as topped_up on average, either side of it by seed
    topped = df.loc[df["model"] == "topped_up"].set_index("seed")["accuracy"]
    over = df["model"] == "oversampled"
    df.loc[over, "accuracy"] = [topped[k] - 0.0005 + 0.01 * (-1.0) ** k for k in df.loc[over, "seed"]]
    df.to_csv(path, index=False)
    answer.write_gains(path, res / "gains.csv", res / "gains_over_real_arms.csv")
    out = io.StringIO()
    answer.show(tmp_path / "results", out=out)
    assert "use oversampled" in out.getvalue() and "topped_up beats the baseline, not oversampled" in out.getvalue()


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
    over = pd.read_csv(res / "gains_over_real_arms.csv")  # the grid has classic: every generator arm against it
    expect_over = answer.gains_over_real_arms(df)
    assert len(over) == len(expect_over) > 0 and set(over["reference"]) == {"classic"}
    assert np.allclose(over["gain"], expect_over["gain"])
    page = (evaluation_grid / "results" / "report.html").read_text()
    assert "Generators against the other real-image arms" in page
    for v in answer.verdicts(expect, expect_over):  # the page's answer is the terminal's
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


def test_a_cell_without_an_answer_says_how_many_seeds_its_best_arm_needs(tmp_path):
    """3 seeds of a gain that 3 seeds cannot resolve: the answer projects the seeds for each comparison the best arm
    must win (over the baseline and over classic) and gives the larger."""
    path = with_real_arms(summary(tmp_path, seeds=3), {"classic": 0.001, "gen": 0.03})
    df = pd.read_csv(path)
    df.loc[(df["model"] == "gen") & (df["seed"] == 1), "accuracy"] -= 0.03  # a wide spread over seeds
    df.to_csv(path, index=False)
    runs, _, _ = answer.load_runs(path)
    g, over = answer.gains(runs), answer.gains_over_real_arms(runs)
    (v,) = answer.verdicts(g, over)
    assert v["use"] is None and v["best"].model == "gen"
    needed = [g.set_index("model").loc["gen", "seeds_needed"], over.set_index("model").loc["gen", "seeds_needed"]]
    assert 3 < v["more_seeds"] == max(needed) < np.inf and needed[0] < needed[1], needed
    assert f"about {int(max(needed))} seeds would give each comparison it must win 80% power" in \
        answer.more_seeds_text(v)
    res = tmp_path / "results" / "digits"
    answer.write_gains(path, res / "gains.csv", res / "gains_over_real_arms.csv")
    out = io.StringIO()
    answer.show(tmp_path / "results", out=out)
    assert f"projected from its 3 seeds' gains and spreads, about {int(max(needed))} seeds" in out.getvalue()


def test_two_seeds_are_too_few_for_a_projection(tmp_path):
    """The default grid's two seeds estimate a spread from one degree of freedom: no projection, a number to run."""
    path = with_real_arms(summary(tmp_path, seeds=2), {"gen": 0.004})
    runs, _, _ = answer.load_runs(path)
    (v,) = answer.verdicts(answer.gains(runs), answer.gains_over_real_arms(runs))
    assert v["use"] is None and v["best"].model == "gen" and v["more_seeds"] is None
    assert answer.more_seeds_text(v) == "; 2 seeds are too few to project how many would settle it: run 3 or more"


def test_a_cell_whose_baseline_is_perfect_says_there_is_nothing_to_gain(tmp_path):
    """A small or easy test split can put every arm at 1.0: "no arm beats the baseline" would suggest a loss of
    power, where there is no room at all."""
    path = with_real_arms(summary(tmp_path, seeds=3), {"gen": 0.0})
    df = pd.read_csv(path)
    df.loc[df["model"].isin(["baseline", "gen"]), "accuracy"] = 1.0
    df.to_csv(path, index=False)
    runs, _, _ = answer.load_runs(path)
    (v,) = answer.verdicts(answer.gains(runs), answer.gains_over_real_arms(runs))
    assert v["use"] is None and v["why"].startswith("the baseline is already right on every test image")
    assert answer.more_seeds_text(v) == ""
