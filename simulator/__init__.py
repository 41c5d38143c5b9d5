"""Deterministic limit-order-book simulator and closed-loop generation (TradeFM §8)."""

from .book import ASK, BID, Message, OrderBook, UnknownOrderError, infer_tick_size
from .orders import InfeasibleEventError, apply_model_event, is_feasible, reference_mid
from .recording import BookRecorder, write_lobster, write_parquet
from .replay import replay

__all__ = ["ASK", "BID", "Message", "OrderBook", "UnknownOrderError", "infer_tick_size", "InfeasibleEventError",
           "apply_model_event", "is_feasible", "reference_mid", "BookRecorder", "write_lobster", "write_parquet",
           "replay"]
