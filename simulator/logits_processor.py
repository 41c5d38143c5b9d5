"""The market simulator inside ``model.generate()``: a ``LogitsProcessor`` plus a context provider.

Closed loop (TradeFM §8, Algorithm 3), one :class:`simulator.book.OrderBook` per batch row:

1. ``context_provider(input_ids)`` — passed to ``generate`` as a model kwarg and called by
   ``TradeFMForCausalLM.prepare_inputs_for_generation`` before every forward — walks the positions not yet
   applied: for each, it first computes the position's context from the book *before* the event (liquidity
   tier, flag, Δp bin of (mid − p_open)/p_open, and with a ``book_context="spread"`` tokenizer the bin of the
   book's relative spread, exactly as :mod:`data_prep.features` does for real data),
   then decodes the token and applies it to the book (:func:`simulator.orders.apply_model_event`). It
   returns the context of every position for the model's next forward. Prompt positions are never
   applied: the book starts from the real book at the prompt's end.
2. ``__call__(input_ids, scores)`` masks, with −inf, every token the books cannot take: special tokens,
   and cancels on a side without resting volume.

Turning a token into numbers (:meth:`MarketSimulatorLogitsProcessor.event_values`): the tokenizer gives the
bins; ``value_mode="sample"`` (default) draws δp, size and Δt from the bin's empirical values
(``FieldBins.within_bin``: quantiles of the calibration data inside the bin, so round lots and Δt = 0 keep
their mass), or uniformly within the bin on the tokenizer's scale (identity for δp, log for size and Δt)
for a tokenizer calibrated without them, from a per-row ``numpy`` generator seeded with ``seed + row``
(MarS-style sampling, so one bin does not collapse to one value); ``"center"`` uses the bin's
representative. The event's time is the previous time plus Δt.

The last sampled token is not seen by either hook (``generate`` stops): call :meth:`sync` with the output.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from transformers import LogitsProcessor

from data_prep.quotes import relative_spread

from .book import OrderBook
from .orders import apply_model_event, reference_mid


class MarketSimulatorLogitsProcessor(LogitsProcessor):
    """Simulator-in-the-loop processor for ``TradeFMForCausalLM.generate``.

    Args:
        tokenizer: the calibrated ``TradeFMTokenizer`` of the model.
        books: one order book per batch row, set to the real book at the prompt's end.
        prompt_context: (B, P, C) int context ids of the prompt positions (C = the tokenizer's
            ``len(context_vocab_sizes)``).
        start_ts_ns: (B,) time of the last prompt event, UTC ns.
        p_open: (B,) the session's opening price (dollars) for Δp.
        average_daily_volume: (B,) shares/session, for the liquidity tier.
        flag: 0 market-level (default) or 1 participant-level generation (a context input, §5.3).
        mid_mode: ``"book"`` (paper, §8) or ``"ew_vwap"`` (the training features' estimator).
        seed: seeds the per-row value sampling. value_mode: ``"sample"`` or ``"center"``.
        agent: optional callable ``(row, book, ts_ns) -> None`` run before every generated position; it may
            submit orders to ``book`` (flag them ``participant=True``); the model sees their effect through
            the next context (Δp) and the feasibility mask.
    """

    def __init__(self, tokenizer, books: list[OrderBook], prompt_context, start_ts_ns, p_open, average_daily_volume,
                 flag: int = 0, mid_mode: str = "book", seed: int = 0, value_mode: str = "sample",
                 agent: Callable[[int, OrderBook, int], None] | None = None):
        if flag not in (0, 1):
            raise ValueError(f"flag must be 0 (market) or 1 (participant), got {flag!r}")
        if value_mode not in ("sample", "center"):
            raise ValueError(f"value_mode must be 'sample' or 'center', got {value_mode!r}")
        self.tokenizer, self.books, self.mid_mode, self.value_mode, self.agent = tokenizer, books, mid_mode, value_mode, agent
        prompt_context = np.asarray(prompt_context, dtype=np.int64)
        self.n_context = len(tokenizer.context_vocab_sizes)
        self.spread_context = tokenizer.book_context == "spread"
        if prompt_context.shape[-1] != self.n_context:
            raise ValueError(f"prompt_context has {prompt_context.shape[-1]} context features per position, the "
                             f"tokenizer {self.n_context}")
        # (B, capacity, C) context of every absolute position; grows by doubling
        self._context = np.zeros((len(books), max(64, 2 * prompt_context.shape[1]), self.n_context), np.int64)
        self._context[:, :prompt_context.shape[1]] = prompt_context
        self.ts_ns = [int(t) for t in np.broadcast_to(start_ts_ns, len(books))]
        self.p_open = np.broadcast_to(np.asarray(p_open, dtype=np.float64), len(books))
        self.adv = np.broadcast_to(np.asarray(average_daily_volume, dtype=np.float64), len(books))
        self.flag = flag
        self.rngs = [np.random.default_rng(seed + row) for row in range(len(books))]
        self.applied = prompt_context.shape[1]  # absolute positions whose token is applied (or is prompt)
        self.window_start = 0
        self.records: list[list[dict]] = [[] for _ in books]
        n = tokenizer.n_event_tokens
        # per-token lookup tables, so that the hot loop does no array work per token
        decoded = tokenizer.decode_events(np.arange(n))
        self._fields = {}
        for name, bin_key in (("price_offset", "price_bin"), ("size", "size_bin"), ("inter_arrival", "time_bin")):
            bins = tokenizer.bins[name]
            within = [bins.within_bin[k] if bins.within_bin else [] for k in decoded[bin_key]]  # per token
            self._fields[name] = (bins, bins.forward(decoded[f"{name}_low"]), bins.forward(decoded[f"{name}_high"]),
                                  decoded[name], within)
        self._action, self._side = decoded["action_id"], decoded["side_id"]
        block = n // 4  # ids per (action, side): see tokenization Eq. 1
        self.cancel_ranges = [(2 * block, 3 * block), (3 * block, 4 * block)]  # cancel-buy, cancel-sell
        self.n_event_tokens = n

    def begin_window(self, window_start: int):
        """Tell the processor that ``input_ids`` column 0 is absolute position ``window_start`` (for
        rollouts longer than the model's context, generated in sliding windows)."""
        self.window_start = window_start

    def _contexts(self) -> np.ndarray:
        """(B, C) context ids of the next position from every row's current book (one call for all rows)."""
        mids = np.array([reference_mid(book, self.mid_mode) for book in self.books], dtype=np.float64)
        spread = None
        if self.spread_context:
            bid, ask = np.array([book.quotes() for book in self.books], dtype=np.float64).T
            spread = relative_spread(bid, ask)
        return self.tokenizer.context_ids((mids - self.p_open) / self.p_open, self.adv, self.flag,
                                          spread)[0]

    def event_values(self, row: int, token: int) -> tuple[int, int, float, float, float]:
        """(action_id, side_id, δp fraction, size shares, Δt seconds) for one token (module docstring)."""
        values = []
        for bins, low, high, representative, within in self._fields.values():
            lo, hi, pool = low[token], high[token], within[token]
            if self.value_mode == "sample" and pool:
                values.append(pool[self.rngs[row].integers(len(pool))])
            elif self.value_mode == "sample" and np.isfinite(lo) and np.isfinite(hi) and hi > lo:
                values.append(float(bins.inverse(self.rngs[row].uniform(lo, hi))))
            else:
                values.append(float(representative[token]))
        return int(self._action[token]), int(self._side[token]), *values

    def context_provider(self, input_ids: torch.LongTensor) -> torch.LongTensor:
        """Apply every not-yet-applied token of ``input_ids`` (B, T) and return the context ids (B, T, C)
        of all its positions (see the module docstring)."""
        self._apply(input_ids)
        end = self.window_start + input_ids.shape[1]
        return torch.as_tensor(self._context[:, self.window_start:end], device=input_ids.device)

    def _apply(self, input_ids: torch.LongTensor):
        """Apply the tokens of ``input_ids`` (B, T) at absolute positions not applied yet to the books, recording
        each position's context (from the book before its event) in ``self._context``."""
        end = self.window_start + input_ids.shape[1]
        if end > self._context.shape[1]:
            grown = np.zeros((len(self.books), 2 * end, self.n_context), dtype=np.int64)
            grown[:, :self._context.shape[1]] = self._context
            self._context = grown
        tokens = input_ids[:, self.applied - self.window_start:].tolist()  # one device→host copy per call
        for pos in range(self.applied, end):
            if self.agent is not None:
                for row, book in enumerate(self.books):
                    self.agent(row, book, self.ts_ns[row])
            self._context[:, pos] = self._contexts()
            for row, book in enumerate(self.books):
                token = tokens[row][pos - self.applied]
                action, side, price_offset, size, inter_arrival = self.event_values(row, token)
                self.ts_ns[row] += int(round(inter_arrival * 1e9))
                record = apply_model_event(book, action, side, price_offset, size, self.ts_ns[row], self.mid_mode)
                record.update(token=token, price_offset=price_offset, inter_arrival=inter_arrival)
                self.records[row].append(record)
        self.applied = max(self.applied, end)

    @property
    def context(self) -> np.ndarray:
        """(B, positions applied so far, C) int64: the context of every prompt and generated position."""
        return self._context[:, :self.applied]

    sync = context_provider

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._apply(input_ids)
        scores = scores.clone()
        scores[:, self.n_event_tokens:] = -float("inf")  # <pad>, <bos>, <eos>, <unk> are not events
        for row, book in enumerate(self.books):
            for side, (lo, hi) in enumerate(self.cancel_ranges):
                if not book.has_volume(side):
                    scores[row, lo:hi] = -float("inf")
        return scores
