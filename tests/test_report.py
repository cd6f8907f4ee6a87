"""The evaluation grid end to end through Snakemake: mixed and synthetic-only training
sets, a combined row, generative metrics, probes, t-SNE, and the report built from them."""

import re

import numpy as np
import pandas as pd
import pytest

from genaug.stats import paired_gain

from .helpers import snakemake


@pytest.fixture
def grid(evaluation_grid):
    return evaluation_grid


@pytest.mark.e2e
def test_every_cell_has_its_training_set_probe_and_the_synthetic_sets_their_metrics(grid):
    res = grid / "results" / "digits"
    df = pd.read_csv(res / "summary.csv")
    # per seed: baseline and classic (real) + vae and combined x (mixed, synthetic)
    assert len(df) == 2 * (2 + 2 * 2)
    assert set(df["train_set"]) == {"real", "mixed", "synthetic"}
    assert set(df.loc[df["train_set"] == "real", "model"]) == {"baseline", "classic"}
    assert (df.loc[df["train_set"] == "synthetic", "n_real"] == 0).all()
    assert (df.loc[df["model"] == "combined", "n_synthetic"] == 100).all()  # one set's size, not two
    gen = pd.read_csv(res / "gen_metrics.csv")
    assert sorted(gen["model"]) == ["combined", "combined", "vae", "vae"] and (gen["status"] == "ok").all()
    assert gen["domain_fd"].gt(0).all() and gen["precision"].between(0, 1).all()
    # every set scored at the same count per class, the floor recorded beside it
    assert (gen["per_class_count"] == 20).all() and (gen["n_synthetic"] == 200).all()
    assert (gen["filter"] == "none").all()
    assert gen["floor_domain_fd"].nunique() == 1 and (gen["floor_domain_fd"] < gen["domain_fd"]).all()
    assert gen["inception_fid"].isna().all() and gen["inception_fid_unavailable"].notna().all()
    assert gen["near_copies"].between(0, 1).all() and gen["floor_near_copies"].between(0, 0.5).all()
    probes = pd.read_csv(res / "probes.csv")
    assert len(probes) == len(df) and probes["probe_cart"].between(0, 1).all()
    assert set(probes["archetype"]) <= {"twin", "overlap", "separated"}
    assert len(list(res.glob("classifiers/**/s0/tsne.png"))) == len(df) // 2  # first seed only


@pytest.mark.e2e
def test_every_arm_of_a_cell_trains_by_the_same_step_rule(grid):
    """baseline, classic, mixed and synthetic-only arms, of one generator and of combined: one step cap, one
    validation interval, one patience in steps, whatever the size of their training sets."""
    import json

    runs = [json.loads(p.read_text()) for p in (grid / "results" / "digits").glob("classifiers/**/metrics.json")]
    assert len(runs) == 12 and len({r["n_real"] + r["n_synthetic"] for r in runs}) > 1  # sets of several sizes
    rules = {json.dumps({k: r["train"][k] for k in ("max_steps", "eval_every", "patience_steps", "batch_size")})
             for r in runs}
    assert len(rules) == 1
    rule = json.loads(rules.pop())
    for r in runs:
        assert r["steps_run"] <= rule["max_steps"] and r["best_step"] <= r["steps_run"]
        assert r["stopped_by"] == "cap" or r["steps_run"] - r["best_step"] >= rule["patience_steps"]
        assert [h["step"] for h in r["history"]][-1] == r["steps_run"]
        assert len(r["convergence_checks"]) == 1 and 0 <= r["convergence_checks"][0]["accuracy"] <= 1
    summary = pd.read_csv(grid / "results" / "digits" / "summary.csv")  # what bench --convergence reads
    check = runs[0]["convergence_checks"][0]
    stop = f"stopped_at_check_p{check['patience_steps']}_c{check['max_steps']}"
    assert set(summary["patience_steps"]) == {rule["patience_steps"]}
    assert set(summary["max_steps"]) == {rule["max_steps"]}
    assert (summary[stop] <= summary["steps_run"]).all()


@pytest.mark.e2e
def test_the_report_has_every_section_with_the_runs_numbers(grid):
    page = (grid / "results" / "report.html").read_text()
    for section in ["answer", "accuracy", "gains", "table2", "rsm", "genmetrics", "probes", "tsne", "classes",
                    "curves", "samples", "convergence", "run"]:
        assert f"id={section}>" in page, section
    assert "No generative metrics" not in page and "No probes" not in page and "No t-SNE" not in page
    assert "Inception FID unavailable" in page and "Spearman rho" not in page  # rho is inside the figures
    assert "real (floor)" in page and "20 images of every class" in page and "KID is unbiased" in page
    assert "Fewer than 3 seeds" in page  # the grid has 2
    assert "random shifts of up to 2 px, no flips" in page  # digits are not mirror-safe
    df = pd.read_csv(grid / "results" / "digits" / "summary.csv")
    gains = paired_gain(df)
    for r in gains.itertuples():  # each gain row of the table, with the value computed from summary.csv
        row = re.search(rf"<td class=l>{r.classifier}</td><td class=l>balanced</td><td class=l>n100</td>"
                        rf"<td class=l>{r.model}</td><td class=l>{r.train_set}</td>(.*?)</tr>", page)
        assert row and f"{r.gain:+.4f}" in row.group(1), (r.classifier, r.model, r.train_set)
    # accuracy, gain heatmap, metrics scatter x2 (8 metrics), the per-class FD heatmap, probe scatter, t-SNE x2
    # (real+mixed, synthetic only), per-class precision and recall heatmaps, the generator and the classifier
    # learning curves, the cell's real images and the vae's sample grid beside them
    assert page.count("data:image/png;base64,") == 14
    assert 'alt="per-class domain FD"' in page and "No per-class floor" not in page
    assert "How far is a domain FD of k times the floor?" in page and "No FD yardsticks" not in page
    assert 'alt="generator learning curves"' in page and 'alt="classifier learning curves"' in page
    assert 'alt="real images: balanced / n100 / s0"' in page


@pytest.mark.e2e
def test_snakemakes_own_report_packs_the_flagged_outputs_with_their_captions(grid, tmp_path):
    import zipfile

    r = snakemake(grid, "--report", str(tmp_path / "report.zip"))
    assert r.returncode == 0, r.stderr[-2000:]
    with zipfile.ZipFile(tmp_path / "report.zip") as z:
        names = z.namelist()
        page = z.read(min((n for n in names if n.endswith("/report.html")), key=len)).decode()  # Snakemake's page
    assert any(n.endswith("/report.html") and "/data/" in n for n in names)  # ours, packed inside it
    assert sum(n.endswith("tsne.png") for n in names) == 6 and any(n.endswith("summary.csv") for n in names)
    assert "twin clusters" in page and "One row per classifier cell" in page  # captions from workflow/report/
    assert "which generative model" in page  # the workflow description, workflow/report/workflow.rst


def test_an_accuracy_interval_is_unsigned_and_stays_inside_0_and_1():
    from genaug.report.markup import acc_interval

    assert acc_interval(0.224, 1.076) == "[0.224, 1.000]" and acc_interval(-0.1, 0.5) == "[0.000, 0.500]"
    assert acc_interval(float("nan"), float("nan")) == "n/a (1 seed, or no spread)"


def test_a_gain_interval_stays_inside_what_two_accuracies_can_differ_by_in_the_report_and_in_show():
    """Three seeds of 1.0 against 0.5, 1.0 and 1.0 gave a simultaneous interval of [-1.608, +0.942]."""
    from genaug import answer
    from genaug.report.markup import diff_interval

    assert diff_interval(-1.6081, 0.9415) == "[-1.000, +0.942]" and diff_interval(-0.02, 0.03) == "[-0.020, +0.030]"
    g = pd.DataFrame({"classifier": ["cnn"] * 2, "regime": ["semi_balanced"] * 2, "size": ["n40"] * 2,
                      "model": ["cvae", "classic"], "train_set": ["mixed", "real"], "baseline_mean": [1.0, 1.0],
                      "model_mean": [0.83, 0.9], "gain": [-0.17, -0.1], "ci_corr_low": [-1.44, float("nan")],
                      "ci_corr_high": [1.11, float("nan")], "p_holm": [0.8, float("nan")], "real": [False, False],
                      "wins": [0, 0], "n_pairs": [3, 1], "seeds_needed": [35.0, float("nan")]})
    assert answer._comparison_table(g)["simultaneous 95% CI"].tolist() == ["[-1.0000, +1.0000]", "[–, –]"]


def test_the_run_summary_warns_when_runs_come_from_several_machines():
    from genaug.report.html import _machines

    one = pd.DataFrame({"status": ["ok", "ok", "diverged"], "machine": ["AMD EPYC", "AMD EPYC", None]})
    assert _machines(one) == ["machines: AMD EPYC (2 runs)"]  # a diverged cell ran nothing
    two = pd.DataFrame({"status": ["ok"] * 3, "machine": ["AMD EPYC", "Intel Xeon", None]})
    (line,) = _machines(two)
    assert "AMD EPYC (1 run)" in line and "not recorded (1 run)" in line and "more than one machine" in line


def test_the_report_says_what_the_classic_and_oversampled_arms_did_only_when_the_grid_has_them():
    from genaug.report.html import _classic_note

    both = pd.DataFrame({"model": ["baseline", "classic", "oversampled"], "augmentation": ["", "shift 2 px", ""]})
    notes = " ".join(_classic_note(both))
    assert "shift 2 px" in notes and "<b>oversampled</b>" in notes and "class-balanced" in notes
    assert _classic_note(pd.DataFrame({"model": ["baseline", "vae"], "augmentation": ["", ""]})) == []
    assert "oversampled" not in " ".join(_classic_note(both[both["model"] != "oversampled"]))


def test_the_run_summary_lists_how_the_dataset_was_read(tmp_path):
    """A user must see that their 16-bit images were scaled or nested folders read, not only the log."""
    import torch

    from genaug.data import Dataset, save_dataset
    from genaug.report.html import _dataset_notes, _run_summary

    x, y = torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 0, 1])
    save_dataset(Dataset("folder", ["a", "b"], x, y, x, y, ["3 images: 16-bit image scaled to 8 bits"]),
                 tmp_path / "d.npz")
    notes = _dataset_notes(tmp_path / "d.npz")
    assert notes == ["3 images: 16-bit image scaled to 8 bits"]
    html = "".join(_run_summary(pd.DataFrame({"seed": [0]}), {}, None, notes))
    assert "<li>dataset read: 3 images: 16-bit image scaled to 8 bits</li>" in html


def test_an_imbalanced_test_split_is_said_with_its_remedy(tmp_path):
    """A long-tailed folder's own test split: accuracy weighs the large classes, which the answer must say."""
    import torch

    from genaug.data import Dataset, save_dataset
    from genaug.report.html import _test_balance

    x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    for name, test_y in (("long", [0] * 30 + [1] * 6 + [2] * 12), ("even", [0] * 10 + [1] * 9 + [2] * 10)):
        y = torch.tensor(test_y)
        save_dataset(Dataset("folder", ["tshirt", "bag", "coat"], x, torch.tensor([0, 1, 2, 0]),
                             torch.zeros(len(y), 1, 8, 8, dtype=torch.uint8), y), tmp_path / f"{name}.npz")
    note = "".join(_test_balance(tmp_path / "long.npz", None))
    assert "<b>The test split is imbalanced</b> (30 images of tshirt, 6 of bag)" in note
    assert "<code>test.per_class: 6</code>" in note and "macro-F1" in note
    assert _test_balance(tmp_path / "long.npz", 6) == []  # scored on a balanced part already
    assert _test_balance(tmp_path / "even.npz", None) == [] and _test_balance(None, None) == []


def test_the_run_summary_names_a_generator_whose_images_are_largely_near_copies():
    from genaug.report.html import _near_copy_warnings

    gen = pd.DataFrame({"model": ["cvae", "cvae", "cddpm", "cddpm"], "near_copies": [0.30, 0.34, 0.02, 0.03],
                        "floor_near_copies": [0.048] * 4})
    (line,) = _near_copy_warnings(gen)
    assert "cvae 0.32" in line and "cddpm" not in line and "new real images: 0.05" in line
    assert _near_copy_warnings(gen[gen["model"] == "cddpm"]) == []
    assert _near_copy_warnings(gen.drop(columns="near_copies")) == []  # a table from before the metric


def test_the_run_summary_names_a_filtered_set_without_metrics_with_its_filter_and_why():
    """A sphere filter that kept too few of a class: the summary said "vae shots k5 s0 ... (diverged or empty)",
    naming the unfiltered set, which had its metrics, and the wrong cause."""
    from genaug.report.html import _run_summary

    gen = pd.DataFrame({"model": ["vae", "vae", "gan"], "filter": ["none", "sphere", "none"],
                        "regime": ["shots"] * 3, "size": ["k5"] * 3, "seed": [0, 0, 1],
                        "status": ["ok", "short", "diverged"], "reference_test_accuracy": [0.9] * 3})
    page = "".join(_run_summary(pd.DataFrame({"seed": [0, 1]}), {}, gen))
    assert "2 synthetic set(s) without generative metrics" in page
    assert "vae | sphere shots k5 s0 (short), gan shots k5 s1 (diverged)" in page


def test_the_floor_row_says_how_many_real_draws_it_averages_and_how_much_one_draw_varies():
    from genaug.report.html import _floor_words

    one = pd.DataFrame({"floor_domain_fd": [1.7, 1.7]})  # a table from before the floor had draws
    assert _floor_words(one) == "a second real draw of that count"
    eight = pd.DataFrame({"floor_domain_fd": [1.381], "floor_draws": [8], "floor_domain_fd_sd": [0.463]})
    assert _floor_words(eight).startswith("the mean of 8 real draws of that count (one draw's domain FD varies "
                                          "with sd 0.46")


def test_the_per_class_fd_heatmap_divides_each_class_by_its_own_floor_and_names_the_classes(monkeypatch):
    from genaug.report import figures, html

    drawn = {}
    monkeypatch.setattr(figures, "class_heatmap", lambda table, title, **kw: drawn.update(table=table, kw=kw))
    monkeypatch.setattr(html, "fig_img", lambda fig, alt: f"<img alt={alt}>")
    gen = pd.DataFrame({"model": ["gan", "gan", "vae"], "filter": ["none"] * 3, "status": ["ok", "ok", "ok"],
                        "regime": ["balanced"] * 3, "size": ["n1000"] * 3,
                        "per_class:0:fd": [10.0, 20.0, 4.0], "per_class:1:fd": [3.0, 5.0, 2.0],
                        "floor_per_class_fd:0": [2.0] * 3, "floor_per_class_fd:1": [1.0] * 3})
    parts = html._class_fd_section(gen, ["shirt", "sandal"])
    table = drawn["table"]
    assert list(table.columns) == ["shirt", "sandal"] and list(table.index) == ["gan balanced n1000",
                                                                                "vae balanced n1000"]
    assert table.loc["gan balanced n1000"].tolist() == [7.5, 4.0]  # the seeds' mean FD over the class's floor
    assert table.loc["vae balanced n1000"].tolist() == [2.0, 2.0] and drawn["kw"]["ratio"]
    assert "1 is as good as a real draw" in parts[0]
    assert html._class_fd_section(gen, None) and list(drawn["table"].columns) == ["class 0", "class 1"]
    old = html._class_fd_section(gen.drop(columns=["floor_per_class_fd:0", "floor_per_class_fd:1"]), None)
    assert len(old) == 1 and "No per-class floor" in old[0] and "--forcerun reference" in old[0]
    assert html._class_fd_section(gen.assign(status="short"), None) == []  # no set was scored: nothing to draw


def test_the_fd_ladder_ranks_each_generator_among_the_altered_real_draws():
    from genaug.report import html

    gen = pd.DataFrame({"model": ["gan", "gan", "vae"], "filter": ["none"] * 3, "status": ["ok", "ok", "ok"],
                        "regime": ["balanced"] * 3, "size": ["n1000"] * 3, "domain_fd": [30.0, 50.0, 9.0],
                        "floor_domain_fd": [2.0] * 3, "floor_yardsticks:blur0.5": [12.5] * 3,
                        "floor_yardsticks:repeat5": [2.9] * 3, "floor_yardsticks:warp3": [40.0] * 3})
    page = "".join(html._yardstick_section(gen))
    rows = re.findall(r"<tr><td class=l>(.*?)</td><td>(.*?)</td></tr>", page)
    assert [r[1] for r in rows] == ["1.00", "2.90", "4.50", "12.50", "20.00", "40.00"]  # ascending
    assert "real images (the floor)" in rows[0][0] and "a fifth of them each 5 times" in rows[1][0]
    assert rows[2][0] == "<b>vae balanced n1000</b>" and "blurred, sigma 0.5 pixel" in rows[3][0]
    assert rows[4][0] == "<b>gan balanced n1000</b>"  # the seeds' mean of FD over the floor: (15 + 25) / 2
    assert "warp3" in rows[5][0]  # a yardstick this genaug does not know is shown by its key
    old = html._yardstick_section(gen.drop(columns=[c for c in gen if c.startswith("floor_yardsticks")]))
    assert len(old) == 1 and "No FD yardsticks" in old[0] and "--forcerun reference" in old[0]
    assert html._yardstick_section(gen.assign(status="short")) == []  # no set was scored: nothing to rank


def test_a_run_whose_fd_yardsticks_sit_at_the_floor_is_told_its_metrics_cannot_see():
    """A 4-class folder gave 7 images a class: a one-pixel blur of real images scored 0.94x the floor (0.97 with
    the reference network at 0.94), and the FD table ranked the generators by chance."""
    from genaug.report import html

    ok = pd.DataFrame({"status": ["ok"] * 2, "reference_test_accuracy": [0.4762] * 2,
                       "floor_yardsticks:blur1": [0.94] * 2, "floor_yardsticks:shift2": [1.02] * 2,
                       "floor_yardsticks:repeat2": [2.39] * 2})  # repeats change no pixel: not read here
    (warning,) = html._blind_metrics_warning(ok, 7)
    assert "cannot see image quality" in warning
    assert "farthest from the floor, real images shifted by up to 2 pixels, scores 1.02x" in warning
    assert "(7 images a class;" in warning and "test accuracy 0.476;" in warning and "the images themselves" in warning
    assert html._blind_metrics_warning(ok.assign(**{"floor_yardsticks:shift2": 2.0}), 7) == []  # one sees it
    assert html._blind_metrics_warning(ok.drop(columns=[c for c in ok if "yardsticks" in c]), 7) == []  # not known


def test_precision_is_shown_with_the_caution_that_worthless_sets_score_it_high():
    """Measured on a finished Fashion-MNIST run's reference (scripts/prdc_fakes.py): blank images 1.00 precision,
    real images 0.97, so a table of precision alone would rank a blank set above every generator."""
    from genaug.report import html

    (caution,) = html._precision_caution(["domain_fd", "precision", "coverage"])
    assert "blank images scored precision 1.00" in caution and "Read precision only beside them" in caution
    assert html._precision_caution(["domain_fd", "kid"]) == []  # no precision column: nothing to caution


def test_the_overlap_archetype_names_the_runs_group_or_says_the_dataset_has_none():
    """A folder of shapes has no shirt / pullover / coat: its probes' group confusion is empty, and the report
    said the archetype counted that group all the same."""
    from types import SimpleNamespace

    from genaug.report import html

    measured, empty = pd.DataFrame({"overlap_confusion": [0.3, 0.1]}), pd.DataFrame({"overlap_confusion": [np.nan]})
    fmnist = SimpleNamespace(meta={"config": {"dataset": "fashion_mnist"}})
    assert "25% of the Pullover / Coat / Shirt group's test images" in html._overlap_words(fmnist, measured)
    words = html._overlap_words(SimpleNamespace(meta={"config": {"dataset": "folder"}}), empty)
    assert words.startswith("not tested: this dataset has no group") and "names Pullover / Coat / Shirt" in words
    mine = SimpleNamespace(meta={"config": {"probes": {"overlap_classes": ["circle", "ring"]}}})
    assert "the circle / ring group's" in html._overlap_words(mine, measured)


def test_a_classifier_whose_embedding_is_the_pixels_is_named_under_the_probe_table():
    """softmax regression's probes are the raw test images': a grid with cnn and softmax showed the same five
    numbers on every softmax row, as if each arm had made them."""
    from types import SimpleNamespace

    from genaug.report import html

    run = SimpleNamespace(meta={"config": {"classifiers": {"linear": {"arch": "softmax"}}}})
    (note,) = html._pixel_embedding_note(run, ["cnn", "softmax", "linear"])
    assert "<b>softmax, linear</b>: the embedding is the pixels themselves" in note and "cnn" not in note
    assert html._pixel_embedding_note(run, ["cnn", "resnet18"]) == []


def test_a_ratio_heatmap_draws_on_a_log_scale_from_one():
    from genaug.report import figures

    table = pd.DataFrame([[1.5, 40.0], [2.0, 3.0]], index=["a", "b"], columns=["x", "y"])
    fig = figures.class_heatmap(table, "t", ratio=True)
    mesh = fig.axes[0].collections[0]
    assert type(mesh.norm).__name__ == "LogNorm" and mesh.norm.vmin == 1 and mesh.norm.vmax == 40
    assert [t.get_text() for t in fig.axes[0].texts] == ["1.5", "40.0", "2.0", "3.0"]
    fig.canvas.draw()
    bar = [t.get_text() for t in fig.axes[1].get_yticklabels() if t.get_text()]
    assert {"1", "10"} <= set(bar) and not any("$" in t for t in bar)  # not TeX: "$\mathdefault{10^{0}}$"
    figures.png_bytes(fig)


def test_thirty_classes_get_thirty_colours_a_legend_outside_the_panels_and_a_heatmap_a_row_each():
    """A folder dataset with many classes: tab10 repeated each colour three times, and the legend covered the
    panels; the per-class heatmap was one strip far wider than a page."""
    import numpy as np

    from genaug.report import figures

    classes = [f"class {i}" for i in range(30)]
    assert len(set(figures.distinct_colours(30))) == 30 and len(set(figures.distinct_colours(10))) == 10
    labels = np.repeat(np.arange(30), 5)
    coords, synthetic = np.random.default_rng(0).normal(size=(150, 2)), np.zeros(150, bool)
    fig = figures.tsne_grid([(coords, labels, synthetic, classes, "a")])
    colours = {tuple(c.get_facecolor()[0][:3]) for c in fig.axes[0].collections}
    assert len(colours) == 30
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    assert legend.y1 < fig.axes[0].get_window_extent().y0  # below the panel, not over it
    assert 0 <= legend.x0 and legend.x1 <= fig.bbox.width  # and within the figure
    table = pd.DataFrame(np.random.default_rng(0).random((3, 30)), index=["baseline", "classic", "cvae"],
                         columns=classes)
    heat = figures.class_heatmap(table, "t")
    assert [t.get_text() for t in heat.axes[0].get_yticklabels()] == classes
    assert heat.get_figwidth() < heat.get_figheight()
    figures.png_bytes(heat)


def test_a_sample_grid_of_two_hundred_classes_wraps_into_blocks_and_keeps_each_classs_tiles(tmp_path):
    """One row per class made a 200-class grid 11,218 px tall; the rows now wrap into blocks of 40 side by side."""
    import numpy as np
    from PIL import Image

    from genaug.report import figures

    classes = [f"species {i:03d}" for i in range(200)]
    labels = np.repeat(np.arange(200), 3)
    images = np.repeat(labels.astype(np.uint8)[:, None, None, None] + 20, 28, axis=2).repeat(28, axis=3)
    figures.sample_grid(images, labels, classes, tmp_path / "g.png", per_class=4)
    grid = np.asarray(Image.open(tmp_path / "g.png").convert("L"))
    block_w = 110 + 4 * 56 + 50
    assert grid.shape == (40 * 56, 5 * block_w)
    for k in (0, 39, 40, 199):
        left, top = (k // 40) * block_w + 110, (k % 40) * 56
        assert (grid[top:top + 56, left:left + 3 * 56] == k + 20).all()  # its three images
        assert (grid[top:top + 56, left + 3 * 56:left + 4 * 56] == 0).all()  # and black where it has no fourth
    figures.sample_grid(images[:30], labels[:30], classes[:10], tmp_path / "ten.png", per_class=4)
    assert np.asarray(Image.open(tmp_path / "ten.png")).shape[:2] == (10 * 56, block_w)  # ten classes: one block


def test_class_names_with_dollar_signs_are_drawn_as_written_not_as_tex():
    """A folder class named "note $10-$20" was set as maths, and one with "$\\frac$" stopped the report job."""
    import numpy as np

    from genaug.report import figures

    classes = ["$5 bill", "note $10-$20", "a^b_c", "back\\slash $\\frac$"]
    labels, synthetic = np.repeat(np.arange(4), 5), np.zeros(20, bool)
    coords = np.random.default_rng(0).normal(size=(20, 2))
    fig = figures.tsne_figure(coords, labels, synthetic, classes, "t")
    figures.png_bytes(figures.tsne_grid([(coords, labels, synthetic, classes, "a")]))
    figures.png_bytes(figures.class_heatmap(pd.DataFrame(np.ones((1, 4)), index=["a"], columns=classes), "t"))
    fig.canvas.draw()
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == classes
    figures.png_bytes(fig)


def test_the_answer_names_the_real_image_arm_a_generator_does_not_beat_and_the_table_shows_it():
    from genaug import answer
    from genaug.report.html import _over_real_section, _recommendations

    rows = []
    for seed in range(4):
        base = 0.70 + 0.01 * seed
        arms = [("baseline", "real", base), ("oversampled", "real", base + 0.03 + 0.003 * (seed % 2)),
                ("topped_up", "mixed", base + 0.033 + 0.01 * (-1) ** seed)]
        for model, train_set, acc in arms:
            rows.append({"dataset": "digits", "classifier": "cnn", "filter": "none", "regime": "imbalanced",
                         "size": "n100", "size_value": 100, "seed": seed, "model": model, "train_set": train_set,
                         "accuracy": acc + 0.001 * seed ** 2})
    df = pd.DataFrame(rows)
    gains, over = answer.gains(df), answer.gains_over_real_arms(df)
    page = _recommendations(gains, over)
    assert "<b>oversampled</b>" in page and "topped_up beats the baseline, not oversampled" in page
    table = " ".join(_over_real_section(over))
    assert "Generators against the other real-image arms" in table and "topped_up" in table
    assert _over_real_section(answer.gains_over_real_arms(df[df["model"] != "oversampled"])) == []


def test_the_answer_of_a_cell_without_one_projects_the_seeds_its_best_arm_needs():
    from genaug import answer
    from genaug.report.html import _recommendations

    rows = [{"dataset": "digits", "classifier": "cnn", "filter": "none", "regime": "balanced", "size": "n100",
             "size_value": 100, "seed": seed, "model": model, "train_set": train_set,
             "accuracy": 0.7 + 0.01 * seed + (0.02 + 0.015 * (-1) ** seed if model == "gen" else 0.0)}
            for seed in range(3) for model, train_set in [("baseline", "real"), ("gen", "mixed")]]
    df = pd.DataFrame(rows)
    gains = answer.gains(df)
    (v,) = answer.verdicts(gains, answer.gains_over_real_arms(df))
    assert v["use"] is None and v["more_seeds"] == gains["seeds_needed"].iloc[0] > 3
    page = _recommendations(gains, answer.gains_over_real_arms(df))
    assert f"about {int(v['more_seeds'])} seeds would give each comparison it must win 80% power" in page
