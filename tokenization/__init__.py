"""TradeFM's composite tokenizer: calibrated bins (:mod:`.binning`) and :class:`TradeFMTokenizer`."""

from .tokenization_tradefm import TradeFMTokenizer

TradeFMTokenizer.register_for_auto_class("AutoTokenizer")

__all__ = ["TradeFMTokenizer"]
