"""tradefm-prep end to end on real files: splits, sessions, zero-shot hold-out, scale-out, atomic output."""

import json

import datasets
import numpy as np
import pytest

from data_prep.cli import main as prep_main
from data_prep.pipeline import prepare
from tokenization import TradeFMTokenizer

from .conftest import DATA

AMZN = DATA / "lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv.zst"
ES = DATA / "databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("prep") / "prepared"
    assert prep_main(["--data", str(AMZN), str(ES), "--output", str(out), "--context-length", "128",
                      "--holdout-instruments", "ESH4"]) == 0
    return out


def test_layout_and_summary(prepared):
    ds = datasets.load_from_disk(str(prepared))
    assert set(ds) == {"train", "validation", "test", "heldout"}
    summary = json.loads((prepared / "prep_summary.json").read_text())
    assert summary["split_mode"] == "intra_session"  # one date only
    # every model event became exactly one token (stride = context length)
    for name, split in ds.items():
        mask = np.asarray(split.with_format("numpy")[:]["attention_mask"])
        assert mask.sum() == summary["tokens"][name]
    assert summary["tokens"]["heldout"] == 54341  # ES: adds, cancels, modify-derived; not fill book updates
    tok = TradeFMTokenizer.from_pretrained(prepared / "tokenizer")
    assert tok.calibration["calibration_window"]["instruments"] == ["AMZN"]  # held-out ES never calibrated on


def test_overlapping_training_windows_leave_held_out_splits_unoverlapped(tmp_path, prepared):
    out = tmp_path / "strided"
    prepare([AMZN], out, context_length=128, stride=32, tokenizer=prepared / "tokenizer")
    ds, summary = datasets.load_from_disk(str(out)), json.loads((out / "prep_summary.json").read_text())
    for name, split in ds.items():
        starts = np.asarray(split["start"])
        mask = np.asarray(split.with_format("numpy")[:]["attention_mask"])
        if name == "train":  # every 32 tokens a window: each event is in up to 4 of them
            assert (np.diff(starts) == 32).all() and mask.sum() > 3 * summary["tokens"]["train"]
        else:  # each held-out event scored once
            assert (np.diff(starts) == 128).all() and mask.sum() == summary["tokens"][name]


def test_windows_stay_in_one_session_and_in_time_order(prepared):
    ds = datasets.load_from_disk(str(prepared))
    train = ds["train"].with_format("numpy")[:]
    assert set(train["instrument"]) == {"AMZN"}
    starts = train["start"]
    assert (np.diff(starts) == 128).all()  # consecutive, non-overlapping windows of one segment
    val = ds["validation"].with_format("numpy")[:]
    # padding only at the end of a segment's last window
    assert (val["attention_mask"][:-1] == 1).all()
    assert val["context_ids"].shape[1:] == (128, 3)
    assert ds["train"].cache_files  # memory-mapped Arrow files, not an in-memory table


def test_scale_out_parts_load_together(tmp_path, prepared):
    tok_dir = str(prepared / "tokenizer")
    parts = []
    for i in range(2):
        out = tmp_path / f"part_{i}"
        prepare([AMZN, ES], out, tokenizer=tok_dir, shard_count=2, shard_index=i, context_length=128)
        parts.append(datasets.load_from_disk(str(out)))
    both = datasets.concatenate_datasets([p["train"] for p in parts])
    assert set(both["instrument"]) == {"AMZN", "ESH4"}


def test_failed_run_keeps_previous_output(tmp_path, prepared, monkeypatch):
    out = tmp_path / "out"
    prepare([AMZN], out, context_length=128)
    before = (out / "prep_summary.json").read_text()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        prepare([AMZN], out, context_length=128)
    assert (out / "prep_summary.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary leftovers


def test_rerun_is_idempotent(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    prepare([AMZN], a, context_length=128)
    prepare([AMZN], b, context_length=128)
    prepare([AMZN], b, context_length=128)
    for split in ("train", "validation", "test"):
        x = datasets.load_from_disk(str(a))[split].with_format("numpy")[:]["input_ids"]
        y = datasets.load_from_disk(str(b))[split].with_format("numpy")[:]["input_ids"]
        np.testing.assert_array_equal(x, y)


def test_no_input_is_a_clear_error(tmp_path, capsys):
    assert prep_main(["--data", str(tmp_path / "nothing*.dbn.zst"), "--output", str(tmp_path / "o")]) == 2
    assert "no input files" in capsys.readouterr().err


def test_executions_mode_is_recorded_and_followed(tmp_path, prepared):
    from simulator.rollout import load_prompt

    out = tmp_path / "aggressor"
    prepare([AMZN], out, context_length=128, executions="aggressor_adds")
    summary = json.loads((out / "prep_summary.json").read_text())
    tok = TradeFMTokenizer.from_pretrained(out / "tokenizer")
    assert summary["executions"] == tok.executions == "aggressor_adds"
    assert summary["events"]["aggressor_adds"] > 1000
    assert summary["events"]["model_events"] == sum(summary["tokens"].values())
    # a frozen tokenizer sets the mode for later parts; asking for another one is refused
    prepare([AMZN], tmp_path / "part", context_length=128, tokenizer=out / "tokenizer")
    assert json.loads((tmp_path / "part" / "prep_summary.json").read_text())["executions"] == "aggressor_adds"
    with pytest.raises(ValueError, match="calibrated with 'aggressor_adds'"):
        prepare([AMZN], tmp_path / "bad", context_length=128, tokenizer=out / "tokenizer", executions="mid_only")
    # prompts are built as the tokenizer's training events were: the sweep adds are in them
    assert TradeFMTokenizer.from_pretrained(prepared / "tokenizer").executions == "mid_only"
    plain = load_prompt(AMZN, TradeFMTokenizer.from_pretrained(prepared / "tokenizer"), 64, start=0)
    swept = load_prompt(AMZN, tok, 64, start=0)
    assert plain.features.num_rows == swept.features.num_rows == 64
    assert swept.features.column("ts_recv")[-1].as_py() < plain.features.column("ts_recv")[-1].as_py()


def test_book_context_is_recorded_and_followed(tmp_path, prepared):
    """``--book-context spread``: shards carry four context ids; a frozen tokenizer passes it on (the ES file:
    quotes from a replay of its full-depth book); asking for another one against it is refused."""
    out = tmp_path / "spread"
    assert prep_main(["--data", str(AMZN), "--output", str(out), "--context-length", "128",
                      "--book-context", "spread"]) == 0
    summary = json.loads((out / "prep_summary.json").read_text())
    tok = TradeFMTokenizer.from_pretrained(out / "tokenizer")
    assert summary["book_context"] == tok.book_context == "spread" and tok.executions == "mid_only"
    train = datasets.load_from_disk(str(out))["train"].with_format("numpy")
    ctx = train[:]["context_ids"]
    assert ctx.shape[1:] == (128, 4) and train.features["context_ids"].length == 128
    mask = train[:]["attention_mask"].astype(bool)
    assert (ctx[..., 3][mask] < tok.context_vocab_sizes[3]).all() and len(np.unique(ctx[..., 3][mask])) == 8
    zero_shot = tmp_path / "es"
    prepare([ES], zero_shot, context_length=128, tokenizer=out / "tokenizer", holdout_instruments=["ESH4"])
    held = datasets.load_from_disk(str(zero_shot))["heldout"].with_format("numpy")[:]
    assert held["context_ids"].shape[-1] == 4
    assert json.loads((zero_shot / "prep_summary.json").read_text())["book_context"] == "spread"
    with pytest.raises(ValueError, match="book_context='none' but the frozen tokenizer was calibrated with 'spread'"):
        prepare([AMZN], tmp_path / "bad", context_length=128, tokenizer=out / "tokenizer", book_context="none")
    # the paper's tokenizer, from the shared fixture, keeps three
    assert TradeFMTokenizer.from_pretrained(prepared / "tokenizer").context_vocab_sizes == (3, 2, 32)
