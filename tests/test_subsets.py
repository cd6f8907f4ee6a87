"""Data regimes: counts, nesting, determinism and disjointness, on the real Fashion-MNIST labels."""

import numpy as np
import pytest

from genaug.errors import GenaugError
from genaug.subsets import RegimeParams, apportion, draw_subset, parse_size, scoring_indices

COUNT_REGIMES = ["balanced", "semi_balanced", "imbalanced"]
SIZES = {"balanced": ["n1000", "n2000", "n5000"], "semi_balanced": ["n1000", "n2000", "n5000"],
         "imbalanced": ["n1000", "n2000", "n5000"], "fraction": ["f10", "f25", "f50", "f100"],
         "shots": ["k1", "k5", "k20", "k100"]}


def draw(labels, classes, regime, size, seed=0, **kw):
    return draw_subset(labels, classes, regime, size, seed, validation_per_class=100, **kw)


@pytest.mark.parametrize("regime", list(SIZES))
def test_every_regime_is_nested_across_sizes(fmnist_labels, regime):
    labels, classes = fmnist_labels
    subsets = [draw(labels, classes, regime, s) for s in SIZES[regime]]
    for small, large in zip(subsets, subsets[1:]):
        assert set(small.indices) <= set(large.indices)
        assert (small.counts <= large.counts).all()


@pytest.mark.parametrize("regime", list(SIZES))
def test_every_regime_is_deterministic_and_seed_dependent(fmnist_labels, regime):
    labels, classes = fmnist_labels
    size = SIZES[regime][1]
    a, b = draw(labels, classes, regime, size, seed=3), draw(labels, classes, regime, size, seed=3)
    c = draw(labels, classes, regime, size, seed=4)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert set(a.indices) != set(c.indices)


@pytest.mark.parametrize("regime", list(SIZES))
def test_subsets_never_touch_validation_and_labels_match(fmnist_labels, regime):
    labels, classes = fmnist_labels
    sub = draw(labels, classes, regime, SIZES[regime][-1])
    assert not set(sub.indices) & set(sub.val_indices)
    assert len(set(sub.indices)) == len(sub.indices)
    np.testing.assert_array_equal(sub.labels, labels[sub.indices])
    np.testing.assert_array_equal(np.bincount(sub.labels, minlength=10), sub.counts)
    np.testing.assert_array_equal(np.bincount(labels[sub.val_indices], minlength=10), np.full(10, 100))


def test_validation_split_is_the_same_for_every_seed_and_regime(fmnist_labels):
    labels, classes = fmnist_labels
    a = draw(labels, classes, "balanced", "n1000", seed=0)
    b = draw(labels, classes, "imbalanced", "n2000", seed=7)
    np.testing.assert_array_equal(a.val_indices, b.val_indices)


@pytest.mark.parametrize("size", ["n1000", "n2000", "n5000"])
def test_balanced_has_equal_counts(fmnist_labels, size):
    labels, classes = fmnist_labels
    sub = draw(labels, classes, "balanced", size)
    assert sub.counts.sum() == parse_size("balanced", size)
    assert (sub.counts == sub.counts[0]).all()


def test_semi_balanced_matches_000_at_5000_and_keeps_its_ratio_at_every_size(fmnist_labels):
    labels, classes = fmnist_labels
    sub = draw(labels, classes, "semi_balanced", "n5000")
    minority = [classes.index("Pullover"), classes.index("Shirt")]
    assert sub.counts[minority].tolist() == [100, 100]
    assert np.delete(sub.counts, minority).tolist() == [600] * 8
    for size in ["n1000", "n2000", "n3000", "n4000"]:
        counts = draw(labels, classes, "semi_balanced", size).counts
        assert counts.sum() == parse_size("semi_balanced", size)
        assert np.delete(counts, minority).min() / counts[minority].max() == pytest.approx(6, rel=0.1)


def test_semi_balanced_minority_classes_are_configurable_by_name_or_index(fmnist_labels):
    labels, classes = fmnist_labels
    by_name = draw(labels, classes, "semi_balanced", "n1000", params=RegimeParams(["bag", "Coat"], 4, 50))
    by_index = draw(labels, classes, "semi_balanced", "n1000", params=RegimeParams([8, 4], 4, 50))
    np.testing.assert_array_equal(by_name.counts, by_index.counts)
    assert set(np.flatnonzero(by_name.counts == by_name.counts.min())) == {4, 8}


def test_a_number_written_as_text_is_a_class_name_where_one_exists_and_an_index_otherwise():
    """`--config` hands `minority_classes: [3]` over as '3'; a folder dataset's classes can be named 1, 2, 5."""
    from genaug.config import class_index

    assert class_index("3", ["a", "b", "c", "d"], "f") == 3 and class_index(3, ["a", "b", "c", "d"], "f") == 3
    assert class_index("5", ["1", "2", "5"], "f") == 2 and class_index(2, ["1", "2", "5"], "f") == 2
    with pytest.raises(GenaugError, match="index 7 is out of range 0..2"):
        class_index("7", ["1", "2", "5"], "f")


def test_a_class_name_matches_in_any_case_and_either_unicode_form():
    """macOS names a folder 'zéro' decomposed (e + U+0301); a config typed elsewhere has the composed é."""
    import unicodedata

    from genaug.config import class_index

    classes = ["chat", unicodedata.normalize("NFD", "zéro cat"), "Straße"]
    assert class_index(unicodedata.normalize("NFC", "Zéro Cat"), classes, "f") == 1
    assert class_index("STRASSE", classes, "f") == 2
    with pytest.raises(GenaugError, match="'zero cat' is not a class"):
        class_index("zero cat", classes, "f")
    letters = ["A", "B", "a", "b"]  # EMNIST's by_class folders: a name that matches two classes must be exact
    assert [class_index(c, letters, "f") for c in letters] == [0, 1, 2, 3]
    assert class_index("A", ["a", "á", "B"], "f") == 0  # one match in any case: no ambiguity
    with pytest.raises(GenaugError, match=r"f: 'Ab' matches classes 'AB', 'ab', which differ only in case; give one "
                                          r"exactly as its folder is named, or its index"):
        class_index("Ab", ["AB", "ab", "c"], "f")


def test_the_subset_job_reads_a_class_named_like_a_number_as_that_class():
    """The rule hands the classes over as `--minority-classes 3,zéro cat`: "3" must stay the class named 3
    (index 0 here), not become index 3 (the folder dataset run of 2026-12-07 drew 'zéro cat' as the only
    minority class)."""
    from genaug.stage_registry import class_list
    from genaug.subsets import regime_weights

    classes = ["3", "one-dog", "seven", "zéro cat"]
    wanted = class_list("3,zéro cat")
    assert wanted == ["3", "zéro cat"]
    w = regime_weights("semi_balanced", classes, 0, RegimeParams(wanted, 4, 50))
    assert w.tolist() == [1.0, 4.0, 4.0, 1.0]


@pytest.mark.parametrize("names", [["3", "zéro cat"], ["cats, big", "owl"], ["[draft]", "owl"], ["Pullover"]])
def test_the_minority_classes_reach_the_subset_job_as_given(names):
    """The rule joins them with commas; a class named "cats, big" went over as two classes. The job's parser
    gets back exactly the rule's list, and the usual names keep their comma-separated form (the job's command
    is unchanged, so nothing reruns)."""
    from genaug.cli import build_parser
    from genaug.stage_registry import class_list_arg

    arg = class_list_arg(names)
    assert (arg == ",".join(names)) == all("," not in n and not n.startswith("[") for n in names)
    parsed = build_parser("subset").parse_args(["subset", "--data", "d.npz", "--regime", "semi_balanced", "--size",
                                                 "n10", "--seed", "0", "--minority-classes", arg, "--out", "s.npz"])
    assert parsed.minority_classes == names


def test_a_class_too_small_for_the_validation_split_is_named():
    labels = np.array([0] * 50 + [1] * 8 + [2] * 50)
    with pytest.raises(GenaugError, match="class 'owl' has 8 training images, too few to hold out "
                                          "validation_per_class=10; lower validation_per_class"):
        draw_subset(labels, ["cat", "owl", "dog"], "balanced", "n30", 0, validation_per_class=10)


def test_unknown_minority_class_is_named_in_the_error(fmnist_labels):
    labels, classes = fmnist_labels
    with pytest.raises(GenaugError, match="'Jacket' is not a class"):
        draw(labels, classes, "semi_balanced", "n1000", params=RegimeParams(["Jacket"], 6, 50))


def test_imbalanced_is_long_tailed_with_the_configured_ratio_and_a_seeded_order(fmnist_labels):
    labels, classes = fmnist_labels
    a = draw(labels, classes, "imbalanced", "n5000", seed=0)
    b = draw(labels, classes, "imbalanced", "n5000", seed=1)
    assert a.counts.sum() == 5000
    assert a.counts.max() / a.counts.min() == pytest.approx(50, rel=0.1)
    assert sorted(a.counts) == sorted(b.counts)  # the same profile ...
    assert a.counts.argmax() != b.counts.argmax() or a.counts.argmin() != b.counts.argmin()  # ... another order


def test_fraction_takes_a_stratified_share_of_the_pool(fmnist_labels):
    labels, classes = fmnist_labels
    pool = len(labels) - 1000  # minus 100 validation images per class
    for pct in [10, 25, 50, 100]:
        sub = draw(labels, classes, "fraction", f"f{pct}")
        assert sub.counts.sum() == round(pct / 100 * pool)
        assert np.ptp(sub.counts) <= 1  # Fashion-MNIST classes are equal in size
    assert draw(labels, classes, "fraction", "f100").counts.tolist() == [5900] * 10


@pytest.mark.parametrize("regime,size,axis", [("fraction", "f1", "grid.fractions"),
                                              ("imbalanced", "n20", "grid.sizes")])
def test_a_subset_that_leaves_a_class_with_no_image_is_refused_naming_it(regime, size, axis):
    """A long-tailed dataset's 1 % leaves its small classes empty: no classifier learns them, and a generator asked
    to top them up would draw images of a class it never saw."""
    labels = np.repeat(np.arange(4), [600, 200, 30, 25])
    with pytest.raises(GenaugError, match=rf"at size {size} leaves [12] of the 4 classes with no image "
                                          rf"\(('\w+'(, )?)+\); use a larger size in {axis}"):
        draw_subset(labels, ["cat", "dog", "owl", "emu"], regime, size, 0, validation_per_class=5,
                    params=RegimeParams(imbalance_ratio=50))
    subset = draw_subset(labels, ["cat", "dog", "owl", "emu"], "fraction", "f10", 0, validation_per_class=5)
    assert subset.counts.min() == 2


def test_shots_takes_k_per_class(fmnist_labels):
    labels, classes = fmnist_labels
    assert draw(labels, classes, "shots", "k5").counts.tolist() == [5] * 10


def test_size_larger_than_a_class_allows_names_class_and_fix(fmnist_labels):
    labels, classes = fmnist_labels
    with pytest.raises(GenaugError, match=r"needs 6000 images of class 'T-shirt/top'.*only 5900.*smaller size"):
        draw(labels, classes, "balanced", "n60000")


@pytest.mark.parametrize("regime,size,message", [
    ("tiny", "n10", "unknown regime"),
    ("balanced", "f10", "does not fit regime"),
    ("shots", "n5", "does not fit regime"),
    ("fraction", "f150", "percentage"),
])
def test_bad_regime_or_size_is_rejected(fmnist_labels, regime, size, message):
    labels, classes = fmnist_labels
    with pytest.raises(GenaugError, match=message):
        draw(labels, classes, regime, size)


def test_apportion_is_monotone_in_the_total():
    weights = np.array([1.0, 6.0, 6.0, 0.02, 3.3])
    previous = np.zeros(5, dtype=int)
    for total in range(1, 400):
        counts = apportion(weights, total, np.arange(5))
        assert counts.sum() == total
        assert (counts >= previous).all()
        previous = counts


def test_the_test_subset_is_fixed_balanced_and_the_whole_split_by_default():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 5000)
    assert np.array_equal(scoring_indices(labels, None, 0, 10), np.arange(5000))
    idx = scoring_indices(labels, 100, 0, 10)
    assert np.bincount(labels[idx], minlength=10).tolist() == [100] * 10
    assert np.array_equal(idx, np.sort(idx)) and len(set(idx)) == 1000
    assert np.array_equal(idx, scoring_indices(labels, 100, 0, 10))  # the same for every cell
    assert not np.array_equal(idx, scoring_indices(labels, 100, 1, 10))
    with pytest.raises(GenaugError, match="test.per_class"):
        scoring_indices(labels, 10_000, 0, 10)


def test_regime_params_from_a_config_take_what_it_gives_and_the_defaults_for_the_rest():
    """The config-time size check and the subset job must shape a regime alike; a partial section is allowed."""
    assert RegimeParams.from_config(None) == RegimeParams()
    given = RegimeParams.from_config({"semi_balanced": {"ratio": 6}, "imbalanced": {"ratio": 10}})
    assert (given.semi_ratio, given.imbalance_ratio, given.minority_classes) == (6, 10, RegimeParams().minority_classes)
    assert RegimeParams.from_config({"semi_balanced": {"minority_classes": ["a"]}}).minority_classes == ["a"]
