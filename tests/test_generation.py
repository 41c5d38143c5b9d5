"""Closed-loop generate(): feasibility, masking, KV cache, seeds, batch isolation, context feedback."""

import copy

import numpy as np
import pytest
import torch
from transformers import LogitsProcessorList, StaticCache

from data_prep.features import session_features, sessions, traded_volume
from data_prep.lobster import PRICE_DIVISOR
from data_prep.sources import read_events
from modeling_tradefm import TradeFMConfig, TradeFMForCausalLM
from simulator import OrderBook, apply_model_event
from simulator.logits_processor import MarketSimulatorLogitsProcessor
from simulator.orders import reference_mid
from simulator.rollout import Session, generate_rollouts, load_prompt
from tokenization import TradeFMTokenizer

from .conftest import DATA

AAPL = DATA / "lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv.zst"


@pytest.fixture(scope="module")
def tokenizer():
    events = sessions(read_events(AAPL))[0]
    return TradeFMTokenizer.calibrate(session_features(events, traded_volume(events))[0])


def tiny_model(**config) -> TradeFMForCausalLM:
    """A seeded, randomly initialised two-layer model (128 positions); ``config`` overrides TradeFMConfig."""
    torch.manual_seed(0)
    return TradeFMForCausalLM(TradeFMConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                            num_attention_heads=4, num_key_value_heads=2, embedding_dim=32,
                                            max_position_embeddings=128, **config)).eval()


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def prompt(tokenizer):
    return load_prompt(AAPL, tokenizer, prompt_events=64, start=500)


def test_prompt_starts_from_the_real_book(prompt):
    # LOBSTER: the orderbook row after the prompt's last message
    assert prompt.book.best_bid() is not None and prompt.book.best_ask() is not None
    assert prompt.book.spread() > 0 and prompt.book.tick_size == 0.01
    assert prompt.input_ids.shape == (64,) and prompt.context_ids.shape == (64, 3)


def test_lobster_book_levels_are_queues_of_typical_orders():
    session = Session.load(AAPL)
    adds = session.events.to_pandas().query("action == 'A'")["size"]
    assert session.typical_order_size == adds.median() == 100  # AAPL's round lot
    row = session.orderbook.slice(70000, 1).to_pylist()[0]
    book = session.book_after(70000)
    for side, name in ((0, "bid"), (1, "ask")):
        level = book.levels[side][book.to_ticks(row[f"{name}_price_1"] / PRICE_DIVISOR)]
        sizes = [order.size for order in level.values()]
        assert sum(sizes) == row[f"{name}_size_1"]  # the file's level, split into a queue
        assert sizes[:-1] == [100] * (len(sizes) - 1) and 0 < sizes[-1] <= 100
    assert len(book.orders) == 7  # 500 bid, 106 offered: 5 + 2 orders (one synthetic order per level: 2)


def test_rollouts_are_feasible_and_reproducible(model, tokenizer, prompt):
    a = generate_rollouts(model, tokenizer, prompt, n_events=80, n_rollouts=2, seed=3, progress=False)
    b = generate_rollouts(model, tokenizer, prompt, n_events=80, n_rollouts=2, seed=3, progress=False)
    for ra, rb in zip(a, b):
        assert ra.tokens.equals(rb.tokens) and ra.events.equals(rb.events)
        tokens = ra.tokens.to_pandas()
        assert len(tokens) == 80 and (tokens.token < tokenizer.n_event_tokens).all()
        # every cancel found an order to cancel (infeasible ones were masked, never sampled)
        assert tokens[tokens.action_id == 1].cancelled.gt(0).all()
        series = ra.book_series.to_pandas().dropna(subset=["spread"])
        assert (series.spread > 0).all()  # the book never crosses
    assert not a[0].tokens.equals(a[1].tokens)  # rows are independent samples
    c = generate_rollouts(model, tokenizer, prompt, n_events=80, n_rollouts=2, seed=4, progress=False)
    assert not c[0].tokens.equals(a[0].tokens)


def test_sampled_values_come_from_the_bins_empirical_values(model, tokenizer, prompt):
    rollout = generate_rollouts(model, tokenizer, prompt, n_events=120, n_rollouts=1, seed=5, progress=False)[0]
    tokens = rollout.tokens.to_pandas()
    decoded = tokenizer.decode_events(tokens.token.to_numpy())
    for name, bin_key in (("size", "size_bin"), ("inter_arrival", "time_bin")):
        pools = tokenizer.bins[name].within_bin
        assert all(value in pools[k] for value, k in zip(tokens[name], decoded[bin_key])), name
    assert (tokens["inter_arrival"] == 0).any()  # simultaneous events (Δt = 0) are common in real L3 flow


def test_long_rollouts_slide_the_context_window(model, tokenizer, prompt):
    rollout = generate_rollouts(model, tokenizer, prompt, n_events=150, n_rollouts=1, progress=False)[0]
    assert rollout.tokens.num_rows == 150  # 64 prompt + 150 > 128 positions: generated in windows


def test_infeasible_tokens_are_masked(tokenizer):
    book = OrderBook.from_levels([100.0], [10], [], [], tick_size=0.01, ts_ns=0)
    book.last_mid = 100.005
    proc = MarketSimulatorLogitsProcessor(tokenizer, [book], np.zeros((1, 1, 3)), 0, 100.0, 1e6)
    scores = proc(torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, len(tokenizer)))
    ids = np.arange(len(tokenizer))
    d = tokenizer.decompose(ids[:tokenizer.n_event_tokens])
    masked = torch.isinf(scores[0]).numpy()
    assert masked[tokenizer.n_event_tokens:].all()  # specials
    cancel_sell = (d["action_id"] == 1) & (d["side_id"] == 1)
    assert masked[:tokenizer.n_event_tokens][cancel_sell].all()  # no ask volume to cancel
    assert not masked[:tokenizer.n_event_tokens][~cancel_sell].any()


def run_greedy(model, tokenizer, books, prompt_ids, prompt_ctx, use_cache, **generate_kwargs):
    proc = MarketSimulatorLogitsProcessor(tokenizer, [copy.deepcopy(b) for b in books], prompt_ctx, 0, 585.0,
                                          1e6, value_mode="center")
    out = model.generate(torch.as_tensor(prompt_ids), context_provider=proc.context_provider,
                         logits_processor=LogitsProcessorList([proc]), max_new_tokens=20, do_sample=False,
                         use_cache=use_cache, pad_token_id=tokenizer.pad_token_id, **generate_kwargs)
    proc.sync(out)
    return out, proc


def test_greedy_with_and_without_cache_identical(model, tokenizer, prompt):
    ids, ctx = prompt.input_ids[None], prompt.context_ids[None]
    a, pa_ = run_greedy(model, tokenizer, [prompt.book], ids, ctx, True)
    b, pb = run_greedy(model, tokenizer, [prompt.book], ids, ctx, False)
    assert torch.equal(a, b) and pa_.records == pb.records


def test_a_user_static_cache_gives_the_same_events(model, tokenizer, prompt):
    # generate(cache=StaticCache(...)): the fixed-shape cache that torch.compile'd decoding needs
    ids, ctx = prompt.input_ids[None], prompt.context_ids[None]
    a, pa_ = run_greedy(model, tokenizer, [prompt.book], ids, ctx, True)
    static = StaticCache(config=model.config, max_cache_len=model.config.max_position_embeddings)
    b, pb = run_greedy(model, tokenizer, [prompt.book], ids, ctx, True, cache=static)
    assert torch.equal(a, b) and pa_.records == pb.records
    assert static.get_seq_length() == ids.shape[1] + 20 - 1  # the last sampled token is never fed back


def test_batch_rows_do_not_leak(model, tokenizer, prompt):
    other = OrderBook.from_levels([580.0], [5], [590.0], [5], tick_size=0.01, ts_ns=0)
    ids = np.stack([prompt.input_ids, prompt.input_ids[::-1]])
    ctx = np.stack([prompt.context_ids, prompt.context_ids])
    both, proc = run_greedy(model, tokenizer, [prompt.book, other], ids, ctx, True)
    alone, solo = run_greedy(model, tokenizer, [prompt.book], ids[:1], ctx[:1], True)
    assert torch.equal(both[0], alone[0]) and proc.records[0] == solo.records[0]


def test_context_fed_back_matches_a_replay_of_the_generated_stream(model, tokenizer, prompt):
    rollout = generate_rollouts(model, tokenizer, prompt, n_events=40, n_rollouts=1, seed=1, progress=False)[0]
    book = copy.deepcopy(prompt.book)
    expected = []
    for r in rollout.tokens.to_pylist():
        dp = (reference_mid(book, "book") - prompt.p_open) / prompt.p_open
        expected.append(tokenizer.context_ids(np.array([dp]), prompt.average_daily_volume)[0][0])
        apply_model_event(book, r["action_id"], r["side_id"], r["price_offset"], r["size"], r["ts_ns"])
    fed = rollout.tokens.select(["liquidity", "flag", "mid_return_bin"]).to_pandas().to_numpy()
    np.testing.assert_array_equal(fed, np.stack(expected))


def test_cli_writes_parquet_and_lobster_that_read_back(tmp_path, model, tokenizer):
    from data_prep.lobster import read_lobster
    from simulator.cli import main

    model.save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    assert main(["--model", str(tmp_path / "ckpt"), "--prompt", str(AAPL), "--prompt-events", "32",
                 "--events", "30", "--rollouts", "2", "--out", str(tmp_path / "out")]) == 0
    folder = tmp_path / "out/rollout_1"
    import pyarrow.parquet as pq

    tokens, events = pq.read_table(folder / "tokens.parquet"), pq.read_table(folder / "events.parquet")
    assert tokens.num_rows == 30 and events.num_rows >= 30
    message = next(folder.glob("*_message_5.csv"))
    lobster = read_lobster(message)  # its orderbook file gives the opening book
    live = lobster.filter(lobster.column("is_snapshot").to_numpy() == False)  # noqa: E712
    assert live.num_rows == events.num_rows
    np.testing.assert_allclose(live.column("price").to_numpy(), events.column("price").to_numpy(), atol=1e-9)


def test_agent_orders_reach_the_book_and_the_context(model, tokenizer, prompt):
    seen = {}

    def agent(row, book, ts_ns):
        if row not in seen:  # once per rollout: a participant bid one tick above the best bid
            book.add(0, book.best_bid() + 1, 500, ts_ns, participant=True)
            seen[row] = book.mid()

    rollout = generate_rollouts(model, tokenizer, prompt, n_events=10, n_rollouts=1, seed=0, agent=agent,
                                progress=False)[0]
    events = rollout.events.to_pandas()
    assert events.participant.sum() >= 1 and events[events.participant].iloc[0]["size"] == 500
    dp = (seen[0] - prompt.p_open) / prompt.p_open
    expected = tokenizer.context_ids(np.array([dp]), prompt.average_daily_volume)[0][0]
    first = rollout.tokens.slice(0, 1).select(["liquidity", "flag", "mid_return_bin"]).to_pandas().to_numpy()[0]
    np.testing.assert_array_equal(first, expected)  # the model's first context already reflects the agent's order


def test_spread_context_fed_back_matches_a_replay_of_the_generated_stream():
    """With a ``book_context="spread"`` tokenizer the processor also feeds the spread bin of its own book, as
    the pipeline computes it for real data (the book before each event), and the model takes four context ids."""
    from data_prep.quotes import relative_spread

    events = sessions(read_events(AAPL))[0]
    features = session_features(events, traded_volume(events), book_context="spread", path=AAPL)[0]
    tok = TradeFMTokenizer.calibrate(features, book_context="spread")
    model = tiny_model(context_vocab_sizes=list(tok.context_vocab_sizes))
    prompt = load_prompt(AAPL, tok, prompt_events=64, start=500)
    assert prompt.context_ids.shape == (64, 4)
    rollout = generate_rollouts(model, tok, prompt, n_events=60, n_rollouts=2, seed=2, progress=False)[1]
    book = copy.deepcopy(prompt.book)
    expected = []
    for r in rollout.tokens.to_pylist():
        dp = (reference_mid(book, "book") - prompt.p_open) / prompt.p_open
        bid, ask = book.quotes()
        expected.append(tok.context_ids(np.array([dp]), prompt.average_daily_volume, 0,
                                        relative_spread([bid], [ask]))[0][0])
        apply_model_event(book, r["action_id"], r["side_id"], r["price_offset"], r["size"], r["ts_ns"])
    fed = rollout.tokens.select(["liquidity", "flag", "mid_return_bin", "spread_bin"]).to_pandas().to_numpy()
    np.testing.assert_array_equal(fed, np.stack(expected))
    assert len(np.unique(fed[:, 3])) > 1  # the spread moves during the rollout, and the context follows it
    with pytest.raises(ValueError, match="3 context features per position, the tokenizer 4"):
        MarketSimulatorLogitsProcessor(tok, [prompt.book], np.zeros((1, 1, 3)), 0, 100.0, 1e6)
