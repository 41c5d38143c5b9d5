"""Evaluation metrics with known answers, stylized facts of real AMZN, the report end to end on real data
(baselines are tested in test_baselines.py)."""

import json

import numpy as np
import pytest
import torch

from data_prep.features import session_features, sessions, traded_volume
from data_prep.pipeline import prepare, time_split_ranges
from data_prep.sources import read_events
from evaluation.distances import distance, mix_distance
from evaluation.stylized_facts import autocorrelation, clock_returns, excess_kurtosis, stylized_facts
from simulator.rollout import Session

from .conftest import DATA

AMZN = DATA / "lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv.zst"


def test_kurtosis_and_acf_known_answers():
    rng = np.random.default_rng(0)
    assert abs(excess_kurtosis(rng.normal(size=200_000))) < 0.05
    assert excess_kurtosis(rng.standard_t(5, size=200_000)) > 3  # t(5): excess kurtosis 6
    ar = np.zeros(50_000)
    noise = rng.normal(size=50_000)
    for i in range(1, len(ar)):
        ar[i] = 0.6 * ar[i - 1] + noise[i]
    acf, band = autocorrelation(ar, 3)
    np.testing.assert_allclose(acf, [0.6, 0.36, 0.216], atol=0.02)
    assert band == pytest.approx(1.96 / np.sqrt(50_000))


def test_clock_returns_sample_the_last_mid():
    ts = np.array([0, 4, 9, 12, 25]) * 1_000_000_000
    mid = np.array([100.0, 101.0, 102.0, 103.0, 104.0])
    # grid 0, 10, 20 s -> mids 100, 102, 103
    np.testing.assert_allclose(clock_returns(ts, mid, 10), np.log([102 / 100, 103 / 102]))


def test_distances_known_answers():
    rng = np.random.default_rng(1)
    x = rng.normal(size=5000)
    same = distance(x, x)
    assert same["ks"] == 0 and same["w1"] == 0
    assert distance(x, x + 0.5)["w1"] == pytest.approx(0.5)
    assert distance(x * 10, x * 10 + 5, normalise=True)["w1"] == pytest.approx(0.5, rel=0.02)
    assert mix_distance([0, 0, 1, 1], [0, 1, 1, 1])["tv"] == pytest.approx(0.25)


def test_stylized_facts_on_real_mid():
    events = sessions(read_events(AMZN))[0]
    f = session_features(events, traded_volume(events))[0]
    facts = stylized_facts([(f.column("ts_recv").to_numpy(), f.column("mid").to_numpy())])
    assert facts["n_returns"]["10s"] > 1000
    assert facts["kurtosis"]["10s"] > facts["kurtosis"]["120s"]  # heavy tails fade with the interval
    assert facts["acf_abs_returns"][0] > facts["acf_band"]  # volatility clustering in real AMZN


@pytest.mark.slow
def test_report_end_to_end(tmp_path):
    from evaluation.cli import main
    from modeling_tradefm import TradeFMConfig, TradeFMForCausalLM
    from tokenization import TradeFMTokenizer

    prepared = prepare([AMZN], tmp_path / "prep", context_length=64, split_blocks=4)
    zero_shot = prepare([DATA / "databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst"], tmp_path / "zs",
                        tokenizer=str(prepared / "tokenizer"), holdout_instruments=["ESH4"], context_length=64)
    torch.manual_seed(0)
    model = TradeFMForCausalLM(TradeFMConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                             num_attention_heads=2, num_key_value_heads=1, embedding_dim=16,
                                             max_position_embeddings=128))
    model.save_pretrained(tmp_path / "ckpt")
    TradeFMTokenizer.from_pretrained(prepared / "tokenizer").save_pretrained(tmp_path / "ckpt")
    assert main(["--model", str(tmp_path / "ckpt"), "--data", str(AMZN), "--prepared", str(prepared),
                 "--zero-shot", str(zero_shot), "--prompt-events", "48", "--events", "64", "--rollouts", "2",
                 "--windows", "2", "--out", str(tmp_path / "report")]) == 0
    metrics = json.loads((tmp_path / "report/metrics.json").read_text())
    assert set(metrics["distances"]) == {"tradefm", "hawkes", "zero_intelligence"}
    assert metrics["protocol"]["windows"] == 2 and metrics["hawkes_over_tradefm"]["mean_ks_flow"] > 0
    # a perfect generator's error is below TradeFM's (a random model) on flow + book: the bound is the larger ratio
    tradefm = metrics["distances"]["tradefm"]["summary"]
    assert 0 < tradefm["perfect_mean_ks_flow"] < tradefm["mean_ks_flow"]
    assert metrics["hawkes_over_perfect"]["mean_ks_flow"] > metrics["hawkes_over_tradefm"]["mean_ks_flow"]
    summary = json.loads((prepared / "prep_summary.json").read_text())
    test_ranges = time_split_ranges(Session.load(AMZN).features.num_rows, summary.get("val_fraction", 0.1),
                                    summary.get("test_fraction", 0.1), summary.get("split_blocks", 1))["test"]
    # the real reference is every held-out event, not only the 2 windows' continuations
    assert metrics["protocol"]["real_events"] == sum(hi - lo for lo, hi in test_ranges) > 2 * 64
    assert metrics["perplexity"]["zero_shot_ratio"] > 0
    report = (tmp_path / "report/report.md").read_text()
    assert "Table 2" in report and "Hawkes error / TradeFM error" in report and "K-S perfect tradefm" in report
    assert all((tmp_path / "report" / f).stat().st_size > 1000 for f in ("returns.png", "acf.png", "distributions.png"))
