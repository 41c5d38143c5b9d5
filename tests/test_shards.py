"""Windows never cross a segment, cover every token exactly once (stride = L), and pad only at the end."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_prep.shards import segment_windows, to_dataset, window_starts, windows_table


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 300), length=st.integers(1, 64), data=st.data())
def test_windows_cover_every_token(n, length, data):
    stride = data.draw(st.integers(1, length))
    starts = window_starts(n, length, stride)
    covered = np.zeros(n, dtype=int)
    for s in starts:
        covered[s:min(s + length, n)] += 1
    assert (covered >= 1).all()
    if stride == length:
        assert (covered == 1).all()
    assert all(s < n for s in starts)


def test_stride_larger_than_window_is_refused():
    with pytest.raises(ValueError, match="stride"):
        window_starts(10, 4, 5)


def test_padding_and_mask():
    ids = np.arange(10)
    ctx = np.stack([np.full(10, 2), np.zeros(10), np.arange(10) % 32], axis=1)
    w = segment_windows(ids, ctx, context_length=4, stride=4, pad_token_id=99)
    assert w["input_ids"].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 99, 99]]
    assert w["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]]
    assert w["context_ids"][2, 1].tolist() == [2, 0, 9] and w["context_ids"][2, 3].tolist() == [0, 0, 0]


def test_no_window_crosses_a_session():
    segments = [
        {"instrument": "AAA", "date": "2024-01-02", "input_ids": np.arange(7), "context_ids": np.zeros((7, 3))},
        {"instrument": "BBB", "date": "2024-01-02", "input_ids": 100 + np.arange(5), "context_ids": np.ones((5, 3))},
    ]
    table = windows_table(segments, context_length=4, stride=2, pad_token_id=-1)
    ds = to_dataset(table, 4).with_format("numpy")
    for row in ds:
        real = row["input_ids"][row["attention_mask"] == 1]
        assert (real < 100).all() or (real >= 100).all()
        assert row["instrument"] == ("AAA" if real[0] < 100 else "BBB")
    assert ds[:]["context_ids"].shape == (len(ds), 4, 3)
