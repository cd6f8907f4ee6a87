"""Named random streams: no two purposes (or keys) share one; the subsets draw as before they were named."""

import numpy as np
import pytest

from genaug import streams

TWO_KEYS = {"subset.pool", "gencls_round", "metric_set_draw"}
NO_KEYS = {"validation", "metric_reference", "metric_floor_draws", "dataset_split"}


def _keys(purpose):
    if purpose in NO_KEYS:
        return [()]
    if purpose in TWO_KEYS:
        return [(s, k) for s in range(1000) for k in range(10)]
    return [(s,) for s in range(1000)]


def test_no_two_purposes_or_keys_share_a_stream():
    seen = {}
    for purpose in streams.PURPOSES:
        for keys in _keys(purpose):
            value = streams.seed(purpose, *keys)
            assert value not in seen, (purpose, keys, seen.get(value))
            seen[value] = (purpose, keys)
    assert len(set(streams.PURPOSES.values())) == len(streams.PURPOSES)  # numbers, too, are unique


def test_a_stream_is_the_same_every_time_and_an_unknown_purpose_is_refused():
    assert streams.rng("synthetic_set", 3).random() == streams.rng("synthetic_set", 3).random()
    assert 0 <= streams.seed("tsne", 0) < 2**63 and 0 <= streams.sklearn_seed("tsne", 0) < 2**32
    with pytest.raises(KeyError, match="name it in genaug/streams.py"):
        streams.rng("synthetic", 0)


def test_the_subset_streams_draw_what_they_drew_before_they_were_named():
    assert streams.rng("validation").random() == np.random.default_rng(7_771).random()
    assert streams.rng("subset.pool", 4, 2).random() == np.random.default_rng([1_001, 4, 2]).random()
    assert streams.rng("subset.order", 4).random() == np.random.default_rng([2_002, 4]).random()
