"""Table 2 / Table 3 comparisons (evaluation.tables): known answers on synthetic windows, and real LOBSTER
books and order flow (AMZN and AAPL, 2012-06-21)."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from scipy import stats

from data_prep.features import session_features, sessions, traded_volume
from data_prep.lobster import MESSAGE_TYPES, PRICE_DIVISOR, orderbook_path
from data_prep.sources import read_events
from data_prep.validation import decompress
from evaluation.distances import distance, perfect_ks
from evaluation.stylized_facts import stylized_facts
from evaluation.tables import book_mids, compare, flow_samples, table2_markdown, table3_markdown

from .conftest import DATA

AMZN = DATA / "lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv.zst"
AAPL = DATA / "lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv.zst"


def _events(rng, n):
    return {"action_id": rng.integers(0, 2, n), "side_id": rng.integers(0, 2, n),
            "price_offset": rng.normal(0, 1e-4, n), "size": rng.geometric(0.01, n).astype(float),
            "inter_arrival": rng.exponential(0.5, n)}


def _book(log_mid, spread, bid_size, ask_size, step_s=1.0):
    """A book series sampled every ``step_s`` seconds."""
    n = len(log_mid)
    return {"ts_ns": (np.arange(n) * step_s * 1e9).astype(np.int64), "mid": 100 * np.exp(log_mid),
            "spread": spread, "bid_size": bid_size, "ask_size": ask_size}


@pytest.fixture(scope="module")
def synthetic():
    """Two windows of 20,000 s with Gaussian 1-s log returns (σ = 1e-4) and random flow."""
    rng = np.random.default_rng(0)
    windows = []
    for _ in range(2):
        n = 20_000
        windows.append((_events(rng, 5000), _book(np.cumsum(rng.normal(0, 1e-4, n)), rng.choice([0.01, 0.02], n),
                                                   rng.integers(100, 500, n).astype(float),
                                                   rng.integers(100, 500, n).astype(float))))
    return windows


def test_identical_sources_are_at_distance_zero(synthetic):
    result = compare(synthetic, synthetic)
    assert all(d["ks"] == 0 and d["w1"] == 0 for d in result["returns"].values())
    assert set(result["flow"]) == {"inter_arrival", "size", "price_offset", "spread", "bid_size", "ask_size",
                                   "imbalance"}
    assert all(d["ks"] == 0 and d["w1"] == 0 for d in result["flow"].values())
    assert result["action_side_mix"]["tv"] == 0 and result["summary"]["mean_ks"] == 0
    assert result["returns"]["10s"]["n_real"] == 2 * 1999  # 20,000 s → 2,000 grid points per window


def test_known_shifts_and_scales(synthetic):
    drift = 3e-5  # per second: every 10-s return shifts by exactly 3e-4
    shifted = [(dict(events, size=2 * events["size"]),
                dict(book, mid=book["mid"] * np.exp(drift * np.arange(len(book["mid"])))))
               for events, book in synthetic]
    result = compare(synthetic, shifted)
    assert result["returns"]["10s"]["w1"] == pytest.approx(10 * drift, rel=1e-6)  # raw W1 of returns
    assert result["returns"]["120s"]["w1"] == pytest.approx(120 * drift, rel=1e-6)
    # K-S between N(0, σ²) and N(δ, σ²) is 2Φ(δ / 2σ) − 1; here σ = 1e-4 √10, δ = 3e-4
    expected_ks = 2 * stats.norm.cdf(10 * drift / (2 * 1e-4 * np.sqrt(10))) - 1
    assert result["returns"]["10s"]["ks"] == pytest.approx(expected_ks, abs=0.03)
    size = np.concatenate([e["size"] for e, _ in synthetic])
    # sizes doubled: real-normalised W1 = mean |2x − x| / std(x) = mean(x) / std(x)
    assert result["flow"]["size"]["w1"] == pytest.approx(size.mean() / size.std(), rel=1e-9)
    assert result["flow"]["inter_arrival"]["ks"] == 0 and result["flow"]["spread"]["ks"] == 0
    assert result["summary"]["mean_ks_returns"] == pytest.approx(
        np.mean([result["returns"][f"{i}s"]["ks"] for i in (10, 30, 60, 120)]))


def test_ks_noise_floor_of_two_samples_of_one_distribution():
    # two samples of one distribution: the K-S statistic exceeds the 95% critical value about 5% of the time
    rng = np.random.default_rng(1)
    trials = [distance(rng.normal(size=400), rng.normal(size=100)) for _ in range(400)]
    assert trials[0]["ks_critical_95"] == pytest.approx(1.3581 * np.sqrt(500 / 40_000), rel=1e-4)
    exceed = np.mean([t["ks"] > t["ks_critical_95"] for t in trials])
    assert 0.01 < exceed < 0.10
    assert np.mean([t["ks_pvalue"] < 0.05 for t in trials]) == pytest.approx(exceed, abs=0.03)
    # a shifted sample is resolved: far above the noise floor
    shifted = distance(rng.normal(size=400), rng.normal(1.5, 1, size=100))  # population K-S 2Φ(0.75) − 1 = 0.55
    assert shifted["ks"] > 2 * shifted["ks_critical_95"] and shifted["ks_pvalue"] < 1e-4


def test_perfect_generator_ks_is_the_mean_ks_of_two_samples_of_one_distribution():
    rng = np.random.default_rng(2)
    for n, m in ((400, 100), (2000, 300)):
        trials = np.mean([distance(rng.normal(size=n), rng.normal(size=m))["ks"] for _ in range(300)])
        assert perfect_ks(rng.normal(size=n), m) == pytest.approx(trials, rel=0.1)
        # and the Kolmogorov distribution's mean, the continuous asymptote
        assert trials == pytest.approx(stats.kstwobign.mean() * np.sqrt((n + m) / (n * m)), rel=0.1)
    # very few real values: resampling adds ties, so the bound errs low (a ratio against it errs high)
    few = np.mean([distance(rng.normal(size=24), rng.normal(size=1000))["ks"] for _ in range(300)])
    assert 0.7 * few < perfect_ks(rng.normal(size=24), 1000) < few
    # genuine atoms (60 % zero returns) count: the statistic of two such samples is far below the continuous one
    def atoms(k):
        return np.where(rng.random(k) < 0.6, 0.0, rng.normal(size=k))
    with_atoms = np.mean([distance(atoms(400), atoms(100))["ks"] for _ in range(300)])
    assert perfect_ks(atoms(400), 100) == pytest.approx(with_atoms, rel=0.15)
    assert with_atoms < 0.8 * stats.kstwobign.mean() * np.sqrt(500 / 40_000)
    assert np.isnan(perfect_ks(np.zeros(0), 10)) and np.isnan(perfect_ks(np.ones(5), 0))


def test_comparison_reports_the_perfect_generator_error(synthetic):
    result = compare(synthetic, synthetic, perfect_draws=50)
    n = result["returns"]["10s"]["n_real"]  # 4,000 10-s returns on each side
    assert result["returns"]["10s"]["ks_perfect"] == pytest.approx(stats.kstwobign.mean() * np.sqrt(2 / n), rel=0.15)
    assert result["summary"]["perfect_mean_ks_returns"] == pytest.approx(
        np.mean([result["returns"][f"{i}s"]["ks_perfect"] for i in (10, 30, 60, 120)]))
    assert 0 < result["summary"]["perfect_mean_ks_flow"] < 0.05  # 10,000 events and 40,000 book rows
    assert "K-S perfect" in table2_markdown({"a": result}) and "perfect generator" in table3_markdown({"a": result})


def test_stylized_facts_of_synthetic_windows():
    rng = np.random.default_rng(1)
    n = 240_000
    gaussian = _book(np.cumsum(rng.normal(0, 1e-4, n)), *np.ones((3, n)))
    heavy = _book(np.cumsum(rng.standard_t(3, n) * 1e-4), *np.ones((3, n)))
    facts_gaussian = stylized_facts(book_mids([(None, gaussian)]))
    facts_heavy = stylized_facts(book_mids([(None, heavy)]))
    assert abs(facts_gaussian["kurtosis"]["10s"]) < 0.2
    assert facts_heavy["kurtosis"]["10s"] > 2 and facts_heavy["kurtosis"]["event"] > 10
    assert facts_heavy["kurtosis"]["10s"] > facts_heavy["kurtosis"]["120s"]  # aggregation thins the tails
    phi = 0.5
    r = np.zeros(50_000)
    noise = rng.normal(0, 1e-4, len(r))
    for i in range(1, len(r)):
        r[i] = phi * r[i - 1] + noise[i]
    facts_ar = stylized_facts(book_mids([(None, _book(np.cumsum(r), *np.ones((3, len(r)))))]))
    assert facts_ar["acf_returns"][0] == pytest.approx(phi, abs=0.02)
    assert facts_ar["acf_returns"][1] == pytest.approx(phi ** 2, abs=0.02)


def test_flow_samples_imbalance_and_mix():
    events = {"action_id": np.array([0, 1, 0, 1]), "side_id": np.array([0, 0, 1, 1]),
              "price_offset": np.zeros(4), "size": np.ones(4), "inter_arrival": np.ones(4)}
    book = {"ts_ns": np.arange(3), "mid": np.ones(3), "spread": np.ones(3),
            "bid_size": np.array([300.0, 0.0, 0.0]), "ask_size": np.array([100.0, 100.0, 0.0])}
    samples = flow_samples([(events, book)])
    np.testing.assert_allclose(samples["imbalance"], [0.5, -1.0, np.nan])
    np.testing.assert_array_equal(samples["action_side"], [0, 1, 2, 3])
    no_sizes = flow_samples([(events, {k: book[k] for k in ("ts_ns", "mid", "spread")})])
    assert "imbalance" not in no_sizes and "bid_size" not in no_sizes and "spread" in no_sizes


def _lobster_windows(path, n_windows: int, length: int, first: int = 0):
    """Real windows: ``length`` model events each (features) and the LOBSTER book after every message in
    their span (orderbook file rows, exact touch)."""
    session = sessions(read_events(path))[0]
    features = session_features(session, traded_volume(session))[0]
    message = pcsv.read_csv(io.BytesIO(decompress(path)), read_options=pcsv.ReadOptions(column_names=list(MESSAGE_TYPES)))
    book = pcsv.read_csv(io.BytesIO(decompress(orderbook_path(path))), read_options=pcsv.ReadOptions(
        column_names=["ask", "ask_size", "bid", "bid_size"]))
    ts_ns = np.round(message.column("time").to_numpy() * 1e9).astype(np.int64)
    ask, bid = book.column("ask").to_numpy() / PRICE_DIVISOR, book.column("bid").to_numpy() / PRICE_DIVISOR
    windows = []
    for w in range(n_windows):
        events = features.slice(first + w * length, length)
        rows = events.column("source_row").to_numpy()
        span = slice(int(rows[0]), int(rows[-1]) + 1)
        windows.append((events, pa.table({"ts_ns": ts_ns[span], "mid": (ask[span] + bid[span]) / 2,
                                          "spread": ask[span] - bid[span],
                                          "bid_size": book.column("bid_size").to_numpy()[span],
                                          "ask_size": book.column("ask_size").to_numpy()[span]})))
    return windows


@pytest.fixture(scope="module")
def real_windows():
    return {"amzn_am": _lobster_windows(AMZN, 4, 4000), "amzn_pm": _lobster_windows(AMZN, 4, 4000, first=24_000),
            "aapl": _lobster_windows(AAPL, 4, 4000)}


def test_real_books_have_stylized_facts(real_windows):
    facts = stylized_facts(book_mids(real_windows["amzn_am"] + real_windows["amzn_pm"]))
    assert facts["n_returns"]["10s"] > 500
    assert facts["kurtosis"]["event"] > facts["kurtosis"]["60s"]  # heavy tails fade with aggregation
    assert facts["acf_abs_returns"][0] > facts["acf_band"]  # volatility clustering
    # in event time the touch mid bounces: consecutive non-zero moves are negatively correlated
    assert facts["acf_returns"][0] < -facts["acf_band"]


def test_real_sources_compare_and_tables(real_windows):
    same_stock = compare(real_windows["amzn_am"], real_windows["amzn_pm"])
    other_stock = compare(real_windows["amzn_am"], real_windows["aapl"])
    # AAPL ($577) and AMZN ($220) quote different spreads and sizes: farther than AMZN from itself
    assert other_stock["flow"]["spread"]["ks"] > same_stock["flow"]["spread"]["ks"]
    assert other_stock["summary"]["mean_ks_flow"] > same_stock["summary"]["mean_ks_flow"]
    assert 0 < same_stock["summary"]["mean_ks"] < 1
    comparisons = {"amzn_pm": same_stock, "aapl": other_stock}
    table2, table3 = table2_markdown(comparisons), table3_markdown(comparisons)
    assert table2.splitlines()[0] == ("| interval | K-S amzn_pm | K-S aapl | W1 amzn_pm | W1 aapl | real returns | "
                                      "K-S noise (95%) amzn_pm | K-S noise (95%) aapl | K-S perfect amzn_pm | "
                                      "K-S perfect aapl |")
    assert [line.split(" | ")[0] for line in table2.splitlines()[2:]] == ["| 10s", "| 30s", "| 60s", "| 120s",
                                                                           "| event"]
    assert f"{other_stock['flow']['spread']['ks']:.3g} / {other_stock['flow']['spread']['w1']:.3g}" in table3
    assert "| action × side mix (TV) |" in table3 and "| mean K-S, all |" in table3
