"""Closed-loop rollouts: a real prompt → ``model.generate`` with the simulator → events and book series.

The prompt is ``prompt_events`` consecutive model events of a real session (its tokens and context ids,
from the same pipeline as training), and the book each rollout starts from is the real book at the
prompt's last event: for LOBSTER the orderbook file's row after that message (the issue's "LOBSTER
orderbook row at the prompt's end"); for Databento MBO, the snapshot plus every event up to it replayed
(:func:`simulator.replay.replay`). Rollouts longer than the model's context are generated in sliding
windows of at most ``max_position_embeddings`` tokens (each window re-reads its prompt).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from tqdm.auto import tqdm
from transformers import LogitsProcessorList

from data_prep.features import session_features, sessions, traded_volume
from data_prep.lobster import NAME as LOBSTER_NAME
from data_prep.lobster import PRICE_DIVISOR, orderbook_path, read_orderbook
from data_prep.sources import read_events

from .book import OrderBook
from .logits_processor import MarketSimulatorLogitsProcessor
from .recording import BookRecorder
from .replay import replay


@dataclass
class Prompt:
    """A real prompt: ``input_ids`` (P,) and ``context_ids`` (P, C) int64 (C: the tokenizer's context features),
    the book after its last event, that event's time (UTC ns), the session's opening price (dollars) and average
    daily volume."""

    instrument: str
    date: str
    input_ids: np.ndarray
    context_ids: np.ndarray
    book: OrderBook
    ts_ns: int
    p_open: float
    average_daily_volume: float
    features: pa.Table


def _lobster_book(orderbook: pa.Table, row: int, tick_size: float, order_size: int | None = None) -> OrderBook:
    """The book of LOBSTER orderbook row ``row`` (:func:`data_prep.lobster.read_orderbook` table), each level
    a queue of ``order_size``-share orders (:meth:`OrderBook.from_levels`)."""
    values = orderbook.slice(row, 1).to_pylist()[0]
    level = orderbook.num_columns // 4
    asks = [(values[f"ask_price_{i}"] / PRICE_DIVISOR, values[f"ask_size_{i}"]) for i in range(1, level + 1)
            if values[f"ask_size_{i}"] > 0]
    bids = [(values[f"bid_price_{i}"] / PRICE_DIVISOR, values[f"bid_size_{i}"]) for i in range(1, level + 1)
            if values[f"bid_size_{i}"] > 0]
    return OrderBook.from_levels([p for p, _ in bids], [s for _, s in bids], [p for p, _ in asks],
                                 [s for _, s in asks], tick_size=tick_size, ts_ns=0, order_size=order_size)


@dataclass
class Session:
    """One real session read once: its events (EVENT_SCHEMA), model-event features, average daily volume
    (shares), tick size (dollars) and source file."""

    path: Path
    events: pa.Table
    features: pa.Table
    average_daily_volume: float
    tick_size: float

    @classmethod
    def load(cls, path, tick_size: float | None = None, executions: str = "mid_only",
             book_context: str = "none") -> "Session":
        """Read the first session of a raw data file (Databento MBO or LOBSTER message file); ``executions``
        and ``book_context`` as the model's tokenizer was calibrated (``TradeFMTokenizer.feature_options``,
        see :func:`data_prep.features.session_features`)."""
        path = Path(path)
        events = sessions(read_events(path))[0]
        adv = traded_volume(events)
        features = session_features(events, adv, executions=executions, book_context=book_context,
                                    path=path)[0]
        return cls(path, events, features, adv, tick_size or OrderBook.tick_size_of(events))

    @cached_property
    def typical_order_size(self) -> int:
        """Median size (shares, ≥ 1) of the session's real limit orders (``A`` events): the queue unit of a
        book built from aggregate levels (:meth:`book_after`)."""
        adds = self.events.filter(pc.equal(self.events.column("action"), "A")).column("size").to_numpy()
        return max(1, int(np.median(adds))) if len(adds) else 1

    @cached_property
    def orderbook(self) -> pa.Table | None:
        """The LOBSTER orderbook file beside a LOBSTER message file, read once
        (:func:`data_prep.lobster.read_orderbook`: row *k* is the book after message *k*); ``None`` for
        other sources or when the file is absent."""
        if LOBSTER_NAME.match(self.path.name) and orderbook_path(self.path).exists():
            return read_orderbook(self.path)
        return None

    def book_after(self, source_row: int) -> OrderBook:
        """The real book after source row ``source_row``: the LOBSTER orderbook row (each level a queue of
        :attr:`typical_order_size` orders: the file gives only the level's total), or a replay of the
        Databento snapshot and events."""
        if self.orderbook is not None:
            return _lobster_book(self.orderbook, source_row, self.tick_size, self.typical_order_size)
        rows = self.events.column("source_row").to_numpy()
        return replay(self.events.filter(pa.array(rows <= source_row)), self.tick_size)[0]


def load_prompt(path, tokenizer, prompt_events: int = 1024, start: int = 0, tick_size: float | None = None,
                session: Session | None = None) -> Prompt:
    """Build a :class:`Prompt` from a raw data file (first session in it).

    Args:
        path: Databento MBO or LOBSTER message file (ignored when ``session`` is given).
        tokenizer: calibrated ``TradeFMTokenizer``.
        prompt_events: number of model events in the prompt. start: index of its first model event.
        tick_size: dollars; inferred from the session's order prices when ``None``.
        session: an already loaded :class:`Session` (saves re-reading the file for many prompts).

    Raises:
        ValueError: the session has fewer than ``start + prompt_events`` model events.
    """
    session = session or Session.load(path, tick_size, **tokenizer.feature_options)
    features = session.features
    if features.num_rows < start + prompt_events or start < 0:
        raise ValueError(f"{session.path}: {features.num_rows} model events; cannot take {prompt_events} from "
                         f"{start}")
    window = features.slice(start, prompt_events)
    encoded = tokenizer.encode_events(window)
    book = session.book_after(int(window.column("source_row")[-1].as_py()))
    mid = window.column("mid").to_numpy()
    p_open = float(mid[0] / (1 + window.column("mid_return_open").to_numpy()[0]))
    events = session.events
    return Prompt(events.column("instrument")[0].as_py(), str(events.column("date")[0]), encoded["input_ids"],
                  encoded["context_ids"], book, int(window.column("ts_recv")[-1].as_py()), p_open,
                  session.average_daily_volume, window)


EVENT_COLUMNS = ("action_id", "side_id", "price_offset", "inter_arrival", "ts_ns", "price", "size", "order_id",
                 "executed", "cancelled")
"""Columns of a rollout's ``tokens`` table that every generator has: the event as applied to the book
(:func:`simulator.orders.apply_model_event`'s record, with δp and Δt)."""
CONTEXT_COLUMNS = ("liquidity", "flag", "mid_return_bin", "spread_bin")
"""Columns of a TradeFM rollout's ``tokens`` table with the context ids each position received (the last one
only with a ``book_context="spread"`` tokenizer)."""


@dataclass
class Rollout:
    """One generated continuation: ``tokens`` (one row per generated event: token, action_id, side_id,
    price_offset, inter_arrival, ts_ns, price, size, order_id, executed, cancelled, and the context the model
    received with it: :data:`CONTEXT_COLUMNS`), ``events`` (every book
    message, see :class:`BookRecorder`) and ``book_series`` (book after each message)."""

    tokens: pa.Table
    events: pa.Table
    book_series: pa.Table
    recorder: BookRecorder


def generate_rollouts(model, tokenizer, prompt: Prompt, n_events: int, n_rollouts: int = 1, seed: int = 0,
                      mid_mode: str = "book", repetition_penalty: float = 1.2, do_sample: bool = True,
                      value_mode: str = "sample", use_cache: bool = True, levels: int = 5, agent=None,
                      progress: bool = True) -> list[Rollout]:
    """Generate ``n_rollouts`` independent continuations of ``prompt`` (a batch), closed loop.

    Defaults follow the paper (§8): multinomial sampling with repetition penalty 1.2, book-midpoint mid.
    Same ``seed`` → identical rollouts. Each row has its own book, recorder and value sampler. Every row
    gets exactly ``n_events`` events: the processor masks ``<eos>`` with the other special tokens, so
    ``generate`` runs without an end-of-sequence check (no per-step ``min_new_tokens`` / EOS work).

    Returns:
        One :class:`Rollout` per row.
    """
    recorders = [BookRecorder(levels) for _ in range(n_rollouts)]
    books = []
    for recorder in recorders:
        book = copy.deepcopy(prompt.book)
        book.listener = recorder
        books.append(book)
    context = np.broadcast_to(prompt.context_ids, (n_rollouts, *prompt.context_ids.shape))
    processor = MarketSimulatorLogitsProcessor(tokenizer, books, context, prompt.ts_ns, prompt.p_open,
                                               prompt.average_daily_volume, mid_mode=mid_mode, seed=seed,
                                               value_mode=value_mode, agent=agent)
    device = next(model.parameters()).device
    ids = torch.as_tensor(np.broadcast_to(prompt.input_ids, (n_rollouts, len(prompt.input_ids))).copy(),
                          device=device)
    max_ctx = model.config.max_position_embeddings
    torch.manual_seed(seed)
    bar = tqdm(total=n_events, desc="generate", unit="event", disable=not progress)
    produced = 0
    while produced < n_events:
        chunk = min(n_events - produced, max_ctx - min(ids.shape[1], max_ctx // 2))  # keep ≥ half as context
        keep = min(ids.shape[1], max_ctx - chunk)
        processor.begin_window(ids.shape[1] - keep)
        out = model.generate(ids[:, -keep:], context_provider=processor.context_provider,
                             logits_processor=LogitsProcessorList([processor]), max_new_tokens=chunk,
                             do_sample=do_sample, repetition_penalty=repetition_penalty, top_k=0,
                             use_cache=use_cache, pad_token_id=tokenizer.pad_token_id, eos_token_id=None)
        processor.sync(out)
        ids = torch.cat([ids, out[:, keep:]], dim=1)
        produced += chunk
        bar.update(chunk)
    bar.close()
    rollouts = []
    for row in range(n_rollouts):
        records = processor.records[row]
        context = processor.context[row, len(prompt.input_ids):len(prompt.input_ids) + len(records)]
        tokens = pa.table({
            **{k: [r[k] for r in records] for k in ("token", *EVENT_COLUMNS)},
            **{name: context[:, i] for i, name in enumerate(CONTEXT_COLUMNS[:context.shape[1]])}})
        rollouts.append(Rollout(tokens, recorders[row].events(), recorders[row].book_series(), recorders[row]))
    return rollouts
