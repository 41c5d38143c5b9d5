"""TradeFMTokenizer on real order flow: calibration, exact save/load, round trips, clamping, bad files."""

import json

import numpy as np
import pyarrow as pa
import pytest
from transformers import AutoTokenizer

from data_prep.features import session_features, sessions, traded_volume
from data_prep.sources import read_events
from tokenization import TradeFMTokenizer
from tokenization.binning import log_width_bins, quantile_bins

from .conftest import DATA


@pytest.fixture(scope="module")
def features():
    """Real model events: AMZN (LOBSTER level 1) and ES futures (Databento DBN), one session each."""
    tables = []
    for path in (DATA / "lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv.zst",
                 DATA / "databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst"):
        for events in sessions(read_events(path)):
            tables.append(session_features(events, traded_volume(events))[0])
    return pa.concat_tables(tables)


@pytest.fixture(scope="module")
def tokenizer(features):
    return TradeFMTokenizer.calibrate(features)


def test_paper_example_id(tokenizer):
    # Paper §6: Δt bin 11, δp bin 7, v bin 7, add, sell → 6011.
    assert int(tokenizer.compose(0, 1, 7, 7, 11)) == 6011
    assert tokenizer.convert_ids_to_tokens(6011) == "ADD|SELL|p07|v07|t11"
    assert len(tokenizer) == 16388 and tokenizer.pad_token_id == 16384


def test_calibration_is_deterministic_and_frozen(features, tokenizer):
    again = TradeFMTokenizer.calibrate(features)
    assert again.calibration == tokenizer.calibration
    enc = tokenizer.encode_events(features)
    # equal-frequency δp bins: every bin holds a similar share of the calibration sample
    share = np.bincount(tokenizer.decompose(enc["input_ids"])["price_bin"], minlength=16) / features.num_rows
    assert share.max() < 3 / 16
    assert enc["context_ids"].shape == (features.num_rows, 3)
    assert set(np.unique(enc["context_ids"][:, 1])) == {0}


def test_encode_decode_encode_round_trip(features, tokenizer):
    enc = tokenizer.encode_events(features)
    dec = tokenizer.decode_events(enc["input_ids"])
    again = tokenizer.encode_events({**{k: features.column(k).to_numpy() for k in
                                        ("action_id", "side_id", "mid_return_open", "average_daily_volume")},
                                     "price_offset": dec["price_offset"], "size": dec["size"],
                                     "inter_arrival": dec["inter_arrival"]})
    np.testing.assert_array_equal(again["input_ids"], enc["input_ids"])
    po = features.column("price_offset").to_numpy()
    inside = (po >= dec["price_offset_low"]) & (po <= dec["price_offset_high"])
    assert inside.mean() > 0.97  # the rest are clamped outliers beyond the 1st/99th percentiles


def test_out_of_range_values_clamp_and_are_counted(tokenizer, features):
    probe = features.slice(0, 4)
    po = np.array([-1.0, 1.0, 0.0, 0.0])
    enc = tokenizer.encode_events(probe.set_column(probe.schema.get_field_index("price_offset"),
                                                   "price_offset", pa.array(po)))
    bins = tokenizer.decompose(enc["input_ids"])["price_bin"]
    assert bins[0] == 0 and bins[1] == 15
    assert enc["clamped"]["price_offset"] >= 2


def test_save_load_round_trip_exact(tmp_path, tokenizer, features):
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, TradeFMTokenizer)
    assert loaded.calibration == tokenizer.calibration
    a, b = tokenizer.encode_events(features), loaded.encode_events(features)
    np.testing.assert_array_equal(a["input_ids"], b["input_ids"])
    np.testing.assert_array_equal(a["context_ids"], b["context_ids"])
    assert "auto_map" in json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.bin"))


def test_corrupt_calibration_file_is_refused(tmp_path, tokenizer):
    tokenizer.save_pretrained(tmp_path)
    path = tmp_path / "tradefm_tokenizer.json"
    state = json.loads(path.read_text())
    state["bins"]["size"]["edges"] = state["bins"]["size"]["edges"][::-1]
    path.write_text(json.dumps(state))
    with pytest.raises(ValueError, match="bins.size.edges"):
        TradeFMTokenizer.from_pretrained(tmp_path)


def test_within_bin_values_are_observed_values_of_their_bin(tmp_path, tokenizer, features):
    for name, bins in tokenizer.bins.items():
        raw = features.column(name).to_numpy().astype(np.float64)
        counts = np.bincount(bins.digitize(raw)[0], minlength=bins.n_bins)
        assert len(bins.within_bin) == bins.n_bins
        for k, values in enumerate(bins.within_bin):
            assert len(values) == min(counts[k], 32)  # an empty bin stores nothing, a full one 32 quantiles
            assert np.isin(values, raw).all() and (bins.digitize(np.asarray(values))[0] == k).all()
    # real sizes are round lots: the 100-share spike keeps its mass inside its bin
    size = tokenizer.bins["size"]
    k = size.digitize(np.array([100.0]))[0][0]
    real = features.column("size").to_numpy()
    in_bin = real[size.digitize(real)[0] == k]
    assert np.mean(np.asarray(size.within_bin[k]) == 100) == pytest.approx(np.mean(in_bin == 100), abs=1 / 32)
    tokenizer.save_pretrained(tmp_path)
    state = json.loads((tmp_path / "tradefm_tokenizer.json").read_text())
    state["bins"]["size"]["within_bin"] = state["bins"]["size"]["within_bin"][:-1]
    (tmp_path / "tradefm_tokenizer.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="bins.size.within_bin"):
        TradeFMTokenizer.from_pretrained(tmp_path)


def test_uncalibrated_tokenizer_refuses_events(features):
    with pytest.raises(ValueError, match="not calibrated"):
        TradeFMTokenizer().encode_events(features)


def test_non_event_ids_are_refused(tokenizer):
    with pytest.raises(ValueError, match="position 1"):
        tokenizer.decode_events([5, tokenizer.pad_token_id])


@pytest.mark.parametrize("mode", ["clamp", "edge_bins"])
def test_representatives_digitize_back(mode):
    rng = np.random.default_rng(0)
    for bins in (quantile_bins("x", rng.standard_t(3, 5000), 16, outlier_mode=mode),
                 log_width_bins("t", np.r_[np.zeros(500), rng.exponential(1, 5000)], 16, "log_floor",
                                outlier_mode=mode, floor=1e-6)):
        rep = bins.representatives()
        got, _, _ = bins.digitize(rep)
        occupied = np.unique(bins.digitize(rng.standard_t(3, 5000) if bins.name == "x" else rng.exponential(1, 5000))[0])
        np.testing.assert_array_equal(got[occupied], occupied)


def test_spread_context_is_a_fourth_context_feature(tmp_path):
    """``book_context="spread"``: equal-frequency spread bins, recorded and reloaded; a one-sided book (NaN)
    is the top bin and is not counted as clamped; the paper's tokenizer refuses a spread, this one needs it."""
    path = DATA / "lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv.zst"
    features = session_features(sessions(read_events(path))[0], 1e6, book_context="spread", path=path)[0]
    tok = TradeFMTokenizer.calibrate(features, book_context="spread", n_spread_bins=8)
    assert tok.book_context == "spread" and tok.context_vocab_sizes == (3, 2, 32, 8)
    enc = tok.encode_events(features)
    spread_bin = enc["context_ids"][:, 3]
    assert enc["context_ids"].shape == (features.num_rows, 4) and spread_bin.min() == 0 and spread_bin.max() == 7
    counts = np.bincount(spread_bin, minlength=8) / len(spread_bin)
    assert counts.min() > 0.02  # equal-frequency on a discrete (tick) quantity: no empty bin
    spread = features.column("spread").to_numpy()
    wider = np.argsort(spread[np.isfinite(spread)], kind="stable")
    assert (np.diff(spread_bin[np.isfinite(spread)][wider]) >= 0).all()  # bins are monotone in the spread
    context, clamped = tok.context_ids(np.zeros(2), 1e6, 0, np.array([np.nan, 0.0]))
    assert context[:, 3].tolist() == [7, 0] and clamped["spread"] == 1  # 0 is below the tightest calibrated
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again.book_context == "spread" and again.context_vocab_sizes == tok.context_vocab_sizes
    np.testing.assert_array_equal(again.encode_events(features)["context_ids"], enc["context_ids"])
    saved = json.loads((tmp_path / "tradefm_tokenizer.json").read_text())
    del saved["bins"]["spread"]
    (tmp_path / "tradefm_tokenizer.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="'bins.spread' must be present exactly when 'book_context' is 'spread'"):
        AutoTokenizer.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="spread must be given"):
        tok.context_ids(np.zeros(1), 1e6)
    paper = TradeFMTokenizer.calibrate(features)
    assert paper.book_context == "none" and paper.context_vocab_sizes == (3, 2, 32)
    assert paper.encode_events(features)["context_ids"].shape == (features.num_rows, 3)
    with pytest.raises(ValueError, match="spread must be None"):
        paper.context_ids(np.zeros(1), 1e6, 0, np.zeros(1))
    with pytest.raises(ValueError, match="needs the features' 'spread' column"):
        TradeFMTokenizer.calibrate(features.drop_columns(["spread"]), book_context="spread")
