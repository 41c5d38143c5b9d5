"""Baselines of TradeFM §9: Compound Hawkes (likelihood cross-checked with intensify, stationary rates,
parameter recovery, real fit), Zero-Intelligence (real mix and rate), shared training input, seeded
sampling, JSON state, and rollouts through the simulator from a real LOBSTER book."""

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from scipy import stats

from data_prep.features import session_features, sessions, traded_volume
from data_prep.lobster import PRICE_DIVISOR
from data_prep.schema import DataFormatError
from data_prep.sources import read_events
from evaluation.baseline_rollout import apply_stream, rollout
from evaluation.hawkes import CompoundHawkes, fit_sum_exp_hawkes
from evaluation.event_marks import EventMarks
from evaluation.streams import STREAM_SCHEMA, TRAINING_COLUMNS, training_events
from evaluation.zero_intelligence import ZeroIntelligence
from simulator.book import OrderBook
from simulator.rollout import EVENT_COLUMNS

from .conftest import DATA, TEST_DATA

AMZN = DATA / "lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv.zst"
ES = DATA / "databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst"
BOOK_SLICE = TEST_DATA / "lobster/AMZN_2012-06-21_34200000_34260000_orderbook_1.csv"

MU = np.array([0.5, 0.3, 0.5, 0.3])
BRANCHING = np.array([[0.3, 0.1, 0.02, 0.02], [0.2, 0.2, 0.02, 0.02],
                      [0.02, 0.02, 0.3, 0.1], [0.02, 0.02, 0.2, 0.2]])


@pytest.fixture(scope="module")
def amzn():
    """AMZN model-event features; the first 80 % are the training range."""
    session = sessions(read_events(AMZN))[0]
    features = session_features(session, traded_volume(session))[0]
    cut = int(0.8 * features.num_rows)
    return {"train": features.slice(0, cut), "test": features.slice(cut)}


@pytest.fixture(scope="module")
def fitted(amzn):
    return {"hawkes": CompoundHawkes.fit(amzn["train"]), "zero_intelligence": ZeroIntelligence.fit(amzn["train"])}


def _real_book() -> OrderBook:
    """The real AMZN book (level 1) after the first message of the bundled slice."""
    row = pcsv.read_csv(BOOK_SLICE, read_options=pcsv.ReadOptions(column_names=["a", "as", "b", "bs"])).to_pylist()[0]
    return OrderBook.from_levels([row["b"] / PRICE_DIVISOR], [row["bs"]], [row["a"] / PRICE_DIVISOR], [row["as"]],
                                 tick_size=0.01, ts_ns=0)


# ---------------------------------------------------------------------------- marks


@pytest.mark.parametrize("path", [AMZN, ES])
def test_marks_reproduce_real_price_offsets_and_sizes(path):
    session = sessions(read_events(path))[0]
    events = training_events(session_features(session, traded_volume(session))[0])
    marks = EventMarks.fit(events.dimension, events.price_offset, events.size)
    price_offset, size = marks.sample(events.dimension, np.random.default_rng(0))
    for d in range(4):
        real = events.price_offset[events.dimension == d]
        lo, hi = np.percentile(real, [0.5, 99.5])
        real = real[(real >= lo) & (real <= hi)]  # the fitted range
        generated = price_offset[events.dimension == d]
        assert generated.std() == pytest.approx(real.std(), rel=0.05)  # no variance floor (σ ≈ 4e-4 on AMZN)
        assert stats.ks_2samp(real, generated).statistic < (0.05 if path == AMZN else 0.2)  # ES: δp on a tick grid
        assert size[events.dimension == d].mean() == pytest.approx(events.size[events.dimension == d].mean(), rel=0.04)
    assert size.min() >= 1 and EventMarks.from_dict(marks.to_dict()).to_dict() == marks.to_dict()


# ---------------------------------------------------------------------------- Hawkes process


def test_likelihood_matches_intensify_for_one_exponential():
    import intensify

    truth = CompoundHawkes(MU, BRANCHING[:, :, None], [2.0], marks=None)
    times, dims = truth.simulate(3000, np.random.default_rng(0))
    process = intensify.MultivariateHawkes(4, MU, [[intensify.ExponentialKernel(alpha=BRANCHING[m, k], beta=2.0)
                                                    for k in range(4)] for m in range(4)])
    horizon = times[-1] + 1.0
    assert truth.log_likelihood(times, dims, horizon) == pytest.approx(
        process.log_likelihood([times[dims == d] for d in range(4)], horizon), rel=1e-9)


def test_simulation_runs_at_the_stationary_rates():
    truth = CompoundHawkes(MU, np.stack([0.6 * BRANCHING, 0.4 * BRANCHING], axis=2), [20.0, 1.0], marks=None)
    times, dims = truth.simulate(20_000, np.random.default_rng(1))
    assert (np.diff(times) >= 0).all()
    rates = np.bincount(dims, minlength=4) / times[-1]
    expected = np.linalg.solve(np.eye(4) - BRANCHING, MU)  # (I − A)⁻¹ μ
    np.testing.assert_allclose(truth.stationary_rates(), expected)
    assert rates.sum() == pytest.approx(expected.sum(), rel=0.05)
    np.testing.assert_allclose(rates, expected, rtol=0.08)


def test_parameter_recovery():
    decays = [20.0, 1.0]
    alpha = np.stack([0.6 * BRANCHING, 0.4 * BRANCHING], axis=2)
    truth = CompoundHawkes(MU, alpha, decays, marks=None)
    times, dims = truth.simulate(20_000, np.random.default_rng(2))
    mu, fit_alpha, info = fit_sum_exp_hawkes(times, dims, times[-1], decays)
    assert info["converged"]
    assert info["log_likelihood"] >= truth.log_likelihood(times, dims, times[-1])  # the optimum is global
    np.testing.assert_allclose(mu, MU, rtol=0.15)
    fitted = CompoundHawkes(mu, fit_alpha, decays, marks=None)
    assert fitted.spectral_radius() == pytest.approx(truth.spectral_radius(), rel=0.10)
    strong = BRANCHING >= 0.2
    np.testing.assert_allclose(fitted.branching_matrix()[strong], BRANCHING[strong], rtol=0.15)
    np.testing.assert_allclose(fitted.branching_matrix().sum(axis=0), BRANCHING.sum(axis=0), rtol=0.15)


def test_hawkes_on_real_flow(amzn, fitted):
    model = fitted["hawkes"]
    train = training_events(amzn["train"])
    assert model.fit_info["converged"] and model.fit_info["n_events"] == amzn["train"].num_rows
    assert 0 < model.spectral_radius() < 1
    # at the maximum the compensator equals the event count: long-run rates ≈ the training rates
    np.testing.assert_allclose(model.stationary_rates(), np.bincount(train.dimension) / train.duration_s, rtol=0.02)
    # held out, the self-exciting model explains the flow better than Poisson processes at the same rates
    test = training_events(amzn["test"])
    counts = np.bincount(test.dimension, minlength=4)
    rates = counts / test.duration_s
    poisson = float((counts * np.log(rates)).sum() - counts.sum())
    assert model.log_likelihood(test.times_s, test.dimension, test.duration_s) > poisson + counts.sum()


# ---------------------------------------------------------------------------- both baselines


def test_zero_intelligence_fits_the_real_mix_and_rate(amzn, fitted):
    model = fitted["zero_intelligence"]
    train = amzn["train"]
    dims = 2 * train.column("side_id").to_numpy().astype(int) + train.column("action_id").to_numpy()
    np.testing.assert_allclose(model.probabilities, np.bincount(dims, minlength=4) / len(dims))
    ts = train.column("ts_recv").to_numpy()
    assert model.rate == pytest.approx((len(ts) - 1) / ((ts[-1] - ts[0]) / 1e9))
    stream = model.sample(20_000, seed=3)
    mix = np.bincount(2 * stream.column("side_id").to_numpy() + stream.column("action_id").to_numpy()) / 20_000
    np.testing.assert_allclose(mix, model.probabilities, atol=0.015)
    assert stream.column("inter_arrival").to_numpy().mean() == pytest.approx(1 / model.rate, rel=0.03)


@pytest.mark.parametrize("name", ["hawkes", "zero_intelligence"])
def test_sampling_is_seeded_and_json_round_trips(fitted, name):
    model = fitted[name]
    a, b = model.sample(2000, seed=5, start_ts_ns=10**18), model.sample(2000, seed=5, start_ts_ns=10**18)
    assert a.schema == STREAM_SCHEMA and a.equals(b)
    assert not a.equals(model.sample(2000, seed=6, start_ts_ns=10**18))
    ts = a.column("ts_ns").to_numpy()
    assert ts[0] >= 10**18 and (np.diff(ts) >= 0).all() and (a.column("size").to_numpy() >= 1).all()
    np.testing.assert_allclose(np.diff(ts, prepend=10**18) / 1e9, a.column("inter_arrival").to_numpy(), atol=1e-9)
    again = type(model).from_json(model.to_json())
    assert again.sample(500, seed=1).equals(model.sample(500, seed=1))
    other = ZeroIntelligence if name == "hawkes" else CompoundHawkes
    with pytest.raises(ValueError, match="not a"):
        other.from_json(model.to_json())


def test_hawkes_sample_follows_the_fitted_mix(fitted):
    model = fitted["hawkes"]
    stream = model.sample(20_000, seed=4)
    mix = np.bincount(2 * stream.column("side_id").to_numpy() + stream.column("action_id").to_numpy()) / 20_000
    rates = model.stationary_rates()
    np.testing.assert_allclose(mix, rates / rates.sum(), atol=0.03)


def test_training_events_join_segments_and_sessions(amzn):
    whole = amzn["train"].slice(0, 3000)
    first, second = whole.slice(0, 1000), whole.slice(2000, 1000)
    joined = training_events([first, second])
    ts = whole.column("ts_recv").to_numpy()
    span = (ts[999] - ts[0] + ts[2999] - ts[2000]) / 1e9  # the held-out gap does not count
    assert joined.n_segments == 2 and joined.duration_s == pytest.approx(span)
    assert joined.times_s[1000] == pytest.approx((ts[999] - ts[0]) / 1e9)
    next_day = second.set_column(1, "date", pa.array(np.full(1000, np.datetime64("2012-06-22")), pa.date32()))
    assert training_events(pa.concat_tables([first, next_day])).duration_s == pytest.approx(span)


@pytest.mark.parametrize("field, value, row, message", [
    ("size", 0, 7, "must be > 0"), ("side_id", 2, 3, "must be 0 \\(buy\\) or 1"),
    ("price_offset", np.nan, 5, "must be finite"), ("ts_recv", 0, 9, "time goes backwards")])
def test_training_events_name_bad_rows(amzn, field, value, row, message):
    good = {k: amzn["train"].column(k).to_numpy()[:20] for k in TRAINING_COLUMNS}
    bad = {k: v.astype(np.float64 if k == "price_offset" else np.int64) for k, v in good.items()}
    bad[field][row] = value
    with pytest.raises(DataFormatError, match=f"training segment 1: row {row}, field '{field}': {message}"):
        training_events([good, bad])
    with pytest.raises(DataFormatError, match="training segment 0, field 'size': missing feature column"):
        training_events({k: v for k, v in good.items() if k != "size"})

# ---------------------------------------------------------------------------- rollouts through the book


@pytest.mark.parametrize("name", ["hawkes", "zero_intelligence"])
def test_rollout_through_the_simulator(fitted, name):
    book = _real_book()
    before = (book.best_bid(), book.best_ask(), book.volume(0), book.volume(1))
    first = rollout(fitted[name], book, 400, seed=7, start_ts_ns=34_200_000_000_000)
    again = rollout(fitted[name], book, 400, seed=7, start_ts_ns=34_200_000_000_000)
    assert (book.best_bid(), book.best_ask(), book.volume(0), book.volume(1)) == before  # the book was copied
    for table in ("tokens", "events", "book_series"):  # NaN-aware: the EW-VWAP mid is NaN before a fill
        for name in getattr(first, table).column_names:
            np.testing.assert_array_equal(getattr(first, table).column(name).to_numpy(),
                                          getattr(again, table).column(name).to_numpy())
    assert first.tokens.column_names == list(EVENT_COLUMNS) and 0 < first.tokens.num_rows <= 400
    series = first.book_series
    assert series.num_rows == first.events.num_rows >= first.tokens.num_rows
    assert np.isfinite(series.column("mid").to_numpy()).all()
    ts = first.tokens.column("ts_ns").to_numpy()
    np.testing.assert_allclose(np.diff(ts, prepend=34_200_000_000_000) / 1e9,
                               first.tokens.column("inter_arrival").to_numpy())


def test_rollout_skips_cancels_on_an_empty_side():
    book = _real_book()
    bid_volume = book.volume(0)
    only_buy_cancels = ZeroIntelligence([0, 1, 0, 0], 1.0, EventMarks(
        [{"weights": [1.0], "means": [0.0], "stds": [1e-4]}] * 4, [30.0] * 4))
    result = rollout(only_buy_cancels, book, 200, seed=0)
    tokens = result.tokens
    assert (tokens.column("action_id").to_numpy() == 1).all() and (tokens.column("side_id").to_numpy() == 0).all()
    assert tokens.column("cancelled").to_numpy().sum() == bid_volume  # then the bid side is empty
    assert tokens.num_rows < 200
    with pytest.raises(ValueError, match="never had both sides quoted"):
        apply_stream(only_buy_cancels.sample(3), OrderBook(0.01), 0)
