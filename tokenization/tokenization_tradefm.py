"""TradeFM's universal composite tokenizer (paper §6, Algorithm 1, Eq. 1).

One order event (an add or a cancel) becomes one token: its action, side and three calibrated bins —
δp (price offset from the mid, equal-frequency bins), v = log(1 + size) and Δt (equal-width bins on the
log scale) — combined by a mixed radix (Eq. 1 with the default 16 × 16 × 16 bins)::

    id = action·8192 + side·4096 + price_bin·256 + size_bin·16 + time_bin

with action 0 = add, 1 = cancel and side 0 = buy (bid), 1 = sell (ask). Event ids are
``0 .. n_event_tokens − 1``; ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>`` follow. Each position also carries
three *context* ids that are model inputs but never predicted (§5.3): liquidity tier (3 tiers of the
instrument's average daily volume), market/participant flag (2), and the Δp bin (32 equal-frequency bins
of the mid's return since the open).

The tokenizer is calibrated once (:meth:`TradeFMTokenizer.calibrate`) on the first ``calib_days`` trading
days, then frozen; its state is one plain JSON file (``tradefm_tokenizer.json``), so ``save_pretrained`` /
``from_pretrained`` round-trip it exactly and nothing is pickled. As text, a token reads
``ADD|SELL|p07|v07|t11``.
"""

from __future__ import annotations

import json
import os
from typing import Mapping

import numpy as np
import pyarrow as pa
from transformers import PreTrainedTokenizer

from .binning import DEFAULT_TIME_FLOOR_S, FieldBins, log_width_bins, quantile_bins, searchsorted_right

ACTION_NAMES = ("ADD", "CXL")
SIDE_NAMES = ("BUY", "SELL")
EVENT_FIELDS = ("price_offset", "size", "inter_arrival")
N_LIQUIDITY_TIERS = 3
N_FLAGS = 2
FEATURE_OPTION_DEFAULTS = {"executions": "mid_only", "book_context": "none"}
"""How the calibration's features were built (``data_prep.features.session_features`` options), as recorded in
``tradefm_tokenizer.json``; these paper choices apply to tokenizers saved before an option was recorded."""
DEFAULT_LIQUIDITY_THRESHOLDS = (1e6, 1e7)
"""Average daily traded volume (shares or contracts per session) separating low|medium|high tiers."""


def _load_calibration(path: str) -> dict:
    """Read and validate a ``tradefm_tokenizer.json``.

    Raises:
        ValueError: naming the file and the offending key when the JSON is malformed, the format is
            unknown, or bin edges are not finite and non-decreasing.
    """
    try:
        with open(path, encoding="utf-8") as f:
            calibration = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if calibration.get("format") != "tradefm-tokenizer/1":
        raise ValueError(f"{path}: field 'format' must be 'tradefm-tokenizer/1', got {calibration.get('format')!r}")
    for option in FEATURE_OPTION_DEFAULTS:
        if not isinstance(calibration.get(option, ""), str):
            raise ValueError(f"{path}: field {option!r} must be a string, got {calibration[option]!r}")
    spread_context = calibration.get("book_context") == "spread"
    if spread_context != ("spread" in calibration.get("bins", {})):
        raise ValueError(f"{path}: field 'bins.spread' must be present exactly when 'book_context' is 'spread'")
    for name in (*EVENT_FIELDS, "mid_return_open", *(("spread",) if spread_context else ())):
        try:
            bins = FieldBins(**calibration["bins"][name])
            declared = calibration["n_bins"][name]
        except (KeyError, TypeError) as err:
            raise ValueError(f"{path}: field 'bins.{name}' is missing or malformed ({err!r})") from err
        edges = np.asarray(bins.edges, dtype=np.float64)
        if not np.isfinite(edges).all() or (np.diff(edges) < 0).any() or bins.n_bins != declared:
            raise ValueError(f"{path}: field 'bins.{name}.edges' must be finite, non-decreasing and give "
                             f"{declared} bins")
        if bins.within_bin is not None and (len(bins.within_bin) != declared or not all(
                np.isfinite(np.asarray(v, dtype=np.float64)).all() for v in bins.within_bin)):
            raise ValueError(f"{path}: field 'bins.{name}.within_bin' must hold {declared} lists of finite values")
    return calibration


class TradeFMTokenizer(PreTrainedTokenizer):
    """Composite tokenizer for L3 order events (adds and cancels), Hugging Face ``PreTrainedTokenizer``.

    Args:
        vocab_file: path of a saved ``tradefm_tokenizer.json`` (calibration state); ``None`` gives an
            uncalibrated tokenizer, whose vocabulary exists but which cannot encode events.
        n_price_bins, n_size_bins, n_time_bins: bins per event field (16 each in the paper).
        n_mid_return_bins: Δp context bins (32 in the paper).

    Token strings (``ADD|BUY|p03|v10|t00``) go through the usual ``__call__``/``decode``; the domain API is
    :meth:`encode_events`, :meth:`decode_events` and :meth:`context_ids`.
    """

    vocab_files_names = {"vocab_file": "tradefm_tokenizer.json"}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, vocab_file: str | None = None, n_price_bins: int = 16, n_size_bins: int = 16,
                 n_time_bins: int = 16, n_mid_return_bins: int = 32, **kwargs):
        self.calibration: dict | None = None
        if vocab_file is not None:
            self.calibration = _load_calibration(vocab_file)
            n_price_bins, n_size_bins, n_time_bins, n_mid_return_bins = (
                self.calibration["n_bins"][k] for k in ("price_offset", "size", "inter_arrival", "mid_return_open"))
        self.n_price_bins, self.n_size_bins, self.n_time_bins = n_price_bins, n_size_bins, n_time_bins
        self.n_mid_return_bins = n_mid_return_bins
        self.n_event_tokens = 4 * n_price_bins * n_size_bins * n_time_bins
        self._event_tokens = self._token_strings()
        specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
        self.vocab = {t: i for i, t in enumerate(self._event_tokens + specials)}
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        for name in ("pad", "bos", "eos", "unk"):
            kwargs.setdefault(f"{name}_token", f"<{name}>")
        super().__init__(n_price_bins=n_price_bins, n_size_bins=n_size_bins, n_time_bins=n_time_bins,
                         n_mid_return_bins=n_mid_return_bins, **kwargs)
        self.bins = {}
        if self.calibration is not None:
            self.bins = {name: FieldBins(**spec) for name, spec in self.calibration["bins"].items()}

    # ----------------------------------------------------------------- composite ids (paper Eq. 1)
    @property
    def context_vocab_sizes(self) -> tuple[int, ...]:
        """Sizes of the context vocabularies: liquidity tier, flag, Δp bin (the paper's three), and the spread
        bin with ``book_context="spread"``."""
        spread = (self.bins["spread"].n_bins,) if "spread" in self.bins else ()
        return (N_LIQUIDITY_TIERS, N_FLAGS, self.n_mid_return_bins, *spread)

    def compose(self, action_id, side_id, price_bin, size_bin, time_bin) -> np.ndarray:
        """Mixed-radix composite id (Eq. 1); all inputs are int arrays of one shape, output int64."""
        a, s = np.asarray(action_id, np.int64), np.asarray(side_id, np.int64)
        return (((a * 2 + s) * self.n_price_bins + np.asarray(price_bin, np.int64)) * self.n_size_bins
                + np.asarray(size_bin, np.int64)) * self.n_time_bins + np.asarray(time_bin, np.int64)

    def decompose(self, ids) -> dict[str, np.ndarray]:
        """Inverse of :meth:`compose`: ids (any int array) → ``action_id, side_id, price_bin, size_bin,
        time_bin`` (int64 arrays of the same shape).

        Raises:
            ValueError: if an id is not an event token (special or out of range), naming its position.
        """
        ids = np.asarray(ids, dtype=np.int64)
        bad = (ids < 0) | (ids >= self.n_event_tokens)
        if bad.any():
            pos = int(np.flatnonzero(bad.ravel())[0])
            raise ValueError(f"id {int(ids.ravel()[pos])} at position {pos} is not an event token "
                             f"(event ids are 0..{self.n_event_tokens - 1})")
        rest, time_bin = np.divmod(ids, self.n_time_bins)
        rest, size_bin = np.divmod(rest, self.n_size_bins)
        rest, price_bin = np.divmod(rest, self.n_price_bins)
        action_id, side_id = np.divmod(rest, 2)
        return {"action_id": action_id, "side_id": side_id, "price_bin": price_bin,
                "size_bin": size_bin, "time_bin": time_bin}

    def _token_strings(self) -> list[str]:
        """The string of every event id, in id order (``ADD|BUY|p03|v10|t00``), decomposed in one call."""
        d = {k: v.tolist() for k, v in self.decompose(np.arange(self.n_event_tokens)).items()}
        return [f"{ACTION_NAMES[a]}|{SIDE_NAMES[s]}|p{p:02d}|v{v:02d}|t{t:02d}"
                for a, s, p, v, t in zip(d["action_id"], d["side_id"], d["price_bin"], d["size_bin"], d["time_bin"])]

    # ----------------------------------------------------------------- calibration
    @classmethod
    def calibrate(cls, features: pa.Table, calib_days: int = 30, n_price_bins: int = 16, n_size_bins: int = 16,
                  n_time_bins: int = 16, n_mid_return_bins: int = 32, outlier_mode: str = "clamp",
                  lower_pct: float = 1.0, upper_pct: float = 99.0, time_floor_s: float = DEFAULT_TIME_FLOOR_S,
                  liquidity_thresholds: tuple[float, float] = DEFAULT_LIQUIDITY_THRESHOLDS,
                  executions: str = "mid_only", book_context: str = "none",
                  n_spread_bins: int = 8) -> "TradeFMTokenizer":
        """Fit the bins on the first ``calib_days`` distinct dates of ``features`` (paper §6, Alg. 1).

        Args:
            features: model-event features (``data_prep.features``): needs ``date``, ``instrument``,
                ``price_offset`` (fraction), ``size`` (shares), ``inter_arrival`` (s), ``mid_return_open``
                (fraction). Pass only training sessions.
            calib_days: number of leading trading days used (all of them if fewer exist).
            outlier_mode: ``"clamp"`` or ``"edge_bins"`` (see :mod:`tokenization.binning`).
            lower_pct, upper_pct: trimming percentiles of the calibration sample.
            time_floor_s: floor added to Δt before the log (seconds).
            liquidity_thresholds: average daily volume (shares/contracts) separating the three tiers.
            executions: how the features were built from executions (``data_prep.features``: ``"mid_only"``
                or ``"aggressor_adds"``); recorded so that prompts and references are built the same way.
            book_context: ``"none"`` (the paper's three context features) or ``"spread"``: the features carry
                ``spread`` (relative quoted spread of the book each event met), binned into ``n_spread_bins``
                equal-frequency bins as a fourth context feature; recorded like ``executions``.

        Returns:
            A frozen, calibrated tokenizer. Same input → same bins (no randomness).

        Raises:
            ValueError: if ``features`` is empty or misses a column.
        """
        missing = {"date", "instrument", "price_offset", "size", "inter_arrival", "mid_return_open"} - set(
            features.column_names)
        if missing:
            raise ValueError(f"calibrate: features table lacks columns {sorted(missing)}")
        if features.num_rows == 0:
            raise ValueError("calibrate: no events to calibrate on")
        dates = np.asarray(features.column("date").to_numpy(zero_copy_only=False), dtype="datetime64[D]")
        days = np.unique(dates)[:calib_days]
        keep = np.isin(dates, days)
        col = {k: features.column(k).to_numpy(zero_copy_only=False)[keep] for k in
               ("price_offset", "size", "inter_arrival", "mid_return_open")}
        if book_context == "spread":
            if "spread" not in features.column_names:
                raise ValueError("calibrate: book_context='spread' needs the features' 'spread' column "
                                 "(data_prep.features.session_features(..., book_context='spread'))")
            spread = features.column("spread").to_numpy(zero_copy_only=False)[keep]
            col["spread"] = spread[np.isfinite(spread)]  # a one-sided book has no spread: the top bin, see context_ids
        bins = {
            "price_offset": quantile_bins("price_offset", col["price_offset"], n_price_bins, lower_pct, upper_pct,
                                          outlier_mode),
            "size": log_width_bins("size", col["size"], n_size_bins, "log1p", upper_pct, outlier_mode),
            "inter_arrival": log_width_bins("inter_arrival", col["inter_arrival"], n_time_bins, "log_floor",
                                            upper_pct, outlier_mode, floor=time_floor_s),
            "mid_return_open": quantile_bins("mid_return_open", col["mid_return_open"], n_mid_return_bins,
                                             lower_pct, upper_pct, outlier_mode),
        }
        if "spread" in col:
            bins["spread"] = quantile_bins("spread", col["spread"], n_spread_bins, 0.0, upper_pct, outlier_mode)
        instruments = features.column("instrument").to_numpy(zero_copy_only=False)[keep]
        calibration = {
            "format": "tradefm-tokenizer/1",
            "n_bins": {name: b.n_bins for name, b in bins.items()},
            "bins": {name: b.to_dict() for name, b in bins.items()},
            "liquidity_thresholds": [float(t) for t in liquidity_thresholds],
            "executions": executions,
            "book_context": book_context,
            "calibration_window": {"dates": [str(d) for d in days], "instruments": sorted(set(instruments.tolist())),
                                   "n_events": int(keep.sum()), "lower_pct": lower_pct, "upper_pct": upper_pct},
        }
        return cls._from_calibration(calibration)

    @classmethod
    def _from_calibration(cls, calibration: dict) -> "TradeFMTokenizer":
        n_bins = calibration["n_bins"]
        tok = cls(n_price_bins=n_bins["price_offset"], n_size_bins=n_bins["size"],
                  n_time_bins=n_bins["inter_arrival"], n_mid_return_bins=n_bins["mid_return_open"])
        tok.calibration = calibration
        tok.bins = {name: FieldBins(**spec) for name, spec in calibration["bins"].items()}
        return tok

    def _require_calibration(self):
        if self.calibration is None:
            raise ValueError("this TradeFMTokenizer is not calibrated: use TradeFMTokenizer.calibrate(features) "
                             "or from_pretrained(a directory holding tradefm_tokenizer.json)")

    @property
    def feature_options(self) -> dict[str, str]:
        """How the calibration's features were built — ``executions`` (``data_prep.features.EXECUTION_MODES``)
        and ``book_context`` (``data_prep.features.BOOK_CONTEXTS``) — as keyword arguments of
        ``data_prep.features.session_features``; :data:`FEATURE_OPTION_DEFAULTS` for unrecorded ones."""
        self._require_calibration()
        return {name: self.calibration.get(name, default) for name, default in FEATURE_OPTION_DEFAULTS.items()}

    @property
    def executions(self) -> str:
        """How executions entered the calibration's model events (:attr:`feature_options`)."""
        return self.feature_options["executions"]

    @property
    def book_context(self) -> str:
        """Book state in the context beyond the paper's three features: ``"none"`` or ``"spread"``
        (:attr:`feature_options`); the simulator feeds its own book's spread back the same way."""
        return self.feature_options["book_context"]

    # ----------------------------------------------------------------- events ⇄ ids
    def liquidity_tier(self, average_daily_volume) -> np.ndarray:
        """Average daily volume (shares or contracts per session) → tier 0 low, 1 medium, 2 high (int64)."""
        self._require_calibration()
        return searchsorted_right(self.calibration["liquidity_thresholds"], average_daily_volume).astype(np.int64)

    def context_ids(self, mid_return_open, average_daily_volume, flag=0, spread=None) -> tuple[np.ndarray, dict]:
        """Context ids per position (§5.3): ``[liquidity tier, flag, Δp bin]``, then the spread bin with
        ``book_context="spread"``.

        Args:
            mid_return_open: (N,) Δp = (p_mid − p_open) / p_open, fractions.
            average_daily_volume: scalar or (N,) shares per session.
            flag: scalar or (N,) 0 market, 1 participant.
            spread: (N,) relative quoted spread (best ask − best bid) / midpoint of the book each event met,
                fractions, NaN where a side was empty (the top bin: no quote on one side is the widest
                spread); required, and only accepted, with ``book_context="spread"``.

        Returns:
            ``(context, clamped)``: (N, C) int64, C = ``len(context_vocab_sizes)``, and counts of clamped
            values per binned feature.

        Raises:
            ValueError: flag not 0/1; ``spread`` missing or given against the tokenizer's ``book_context``.
        """
        self._require_calibration()
        dp_bin, below, above = self.bins["mid_return_open"].digitize(mid_return_open)
        n = len(dp_bin)
        context = np.empty((n, len(self.context_vocab_sizes)), dtype=np.int64)
        context[:, 0] = np.broadcast_to(self.liquidity_tier(average_daily_volume), (n,))
        context[:, 1] = np.broadcast_to(np.asarray(flag, dtype=np.int64), (n,))
        context[:, 2] = dp_bin
        if ((context[:, 1] < 0) | (context[:, 1] >= N_FLAGS)).any():
            raise ValueError("flag must be 0 (market) or 1 (participant)")
        clamped = {"mid_return_open": below + above}
        if ("spread" in self.bins) != (spread is not None):
            raise ValueError(f"this tokenizer has book_context={self.book_context!r}: spread must be "
                             f"{'given' if 'spread' in self.bins else 'None'}")
        if spread is not None:
            bins = self.bins["spread"]
            spread = np.asarray(spread, dtype=np.float64)
            context[:, 3], below, above = bins.digitize(np.where(np.isnan(spread), bins.edges[-1], spread))
            clamped["spread"] = below + above
        return context, clamped

    def encode_events(self, events: pa.Table | Mapping[str, np.ndarray]) -> dict:
        """Encode model events (adds and cancels) into composite ids and context ids.

        Args:
            events: table or mapping with ``action_id`` (0 add, 1 cancel), ``side_id`` (0 buy, 1 sell),
                ``price_offset`` (δp, fraction), ``size`` (shares), ``inter_arrival`` (Δt, s),
                ``mid_return_open`` (Δp, fraction), ``average_daily_volume`` (shares/session), ``spread``
                (with ``book_context="spread"``) and optionally ``flag`` (default 0), all of length N.

        Returns:
            dict with ``input_ids`` (N,) int64, ``context_ids`` (N, C) int64 (see :meth:`context_ids`), and
            ``clamped``: per field, the number of values outside the calibrated range that were clamped into an
            edge bin.

        Raises:
            ValueError: uncalibrated tokenizer, missing column, NaN, or action/side not in {0, 1}.
        """
        self._require_calibration()

        def column(name, default=None):
            if isinstance(events, pa.Table):
                if name in events.column_names:
                    return events.column(name).to_numpy(zero_copy_only=False)
            elif name in events:
                return np.asarray(events[name])
            if default is None:
                raise ValueError(f"encode_events: missing column {name!r}")
            return default

        action, side = column("action_id").astype(np.int64), column("side_id").astype(np.int64)
        for name, values in (("action_id", action), ("side_id", side)):
            bad = (values < 0) | (values > 1)
            if bad.any():
                raise ValueError(f"encode_events: {name} must be 0 or 1, got {values[bad][0]} at position "
                                 f"{int(np.flatnonzero(bad)[0])}")
        binned, clamped = {}, {}
        for name in EVENT_FIELDS:
            binned[name], below, above = self.bins[name].digitize(column(name))
            clamped[name] = below + above
        input_ids = self.compose(action, side, binned["price_offset"], binned["size"], binned["inter_arrival"])
        context, ctx_clamped = self.context_ids(column("mid_return_open"), column("average_daily_volume"),
                                                column("flag", np.zeros(len(action), np.int64)),
                                                column("spread") if "spread" in self.bins else None)
        return {"input_ids": input_ids, "context_ids": context, "clamped": {**clamped, **ctx_clamped}}

    def decode_events(self, ids) -> dict[str, np.ndarray]:
        """Event ids → fields, bin ranges and representative values.

        Args:
            ids: (N,) event ids (no special tokens).

        Returns:
            dict of (N,) arrays: ``action_id``, ``side_id``, ``price_bin``, ``size_bin``, ``time_bin`` (int64);
            for each field in ``price_offset`` (fraction), ``size`` (shares), ``inter_arrival`` (s): the bin's
            ``<field>_low`` / ``<field>_high`` bounds and a representative ``<field>`` value that encodes
            back to the same bin (see :meth:`tokenization.binning.FieldBins.representatives`). The bins'
            empirical values are ``tokenizer.bins[field].within_bin[<field bin>]``.

        Raises:
            ValueError: uncalibrated tokenizer or a non-event id.
        """
        self._require_calibration()
        out = self.decompose(ids)
        for name, bin_key in zip(EVENT_FIELDS, ("price_bin", "size_bin", "time_bin")):
            low, high = self.bins[name].bin_bounds()
            k = out[bin_key]
            out[f"{name}_low"], out[f"{name}_high"] = low[k], high[k]
            out[name] = self.bins[name].representatives()[k]
        return out

    # ----------------------------------------------------------------- PreTrainedTokenizer plumbing
    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab, **self._added_tokens_encoder)

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return text.split()

    def _convert_token_to_id(self, token: str) -> int:
        return self.vocab.get(token, self.vocab["<unk>"])

    def _convert_id_to_token(self, index: int) -> str:
        return self.ids_to_tokens.get(index, "<unk>")

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        """Write the calibration JSON (plain JSON, floats exact) to ``save_directory``."""
        self._require_calibration()
        name = (filename_prefix + "-" if filename_prefix else "") + self.vocab_files_names["vocab_file"]
        path = os.path.join(save_directory, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.calibration, f, indent=1)
        os.replace(tmp, path)
        return (path,)
