"""TradeFM's composite tokenizer: calibrated bins (:mod:`.binning`) and :class:`TradeFMTokenizer`.

Importing registers the tokenizer with ``AutoTokenizer`` (for the ``tradefm`` model type); saved
tokenizers also carry an ``auto_map`` for ``trust_remote_code=True`` users without this package.
"""

from transformers import AutoTokenizer

from modeling_tradefm.configuration_tradefm import TradeFMConfig

from .tokenization_tradefm import FEATURE_OPTION_DEFAULTS, TradeFMTokenizer

AutoTokenizer.register(TradeFMConfig, tokenizer_class=TradeFMTokenizer, exist_ok=True)
TradeFMTokenizer.register_for_auto_class("AutoTokenizer")

__all__ = ["FEATURE_OPTION_DEFAULTS", "TradeFMTokenizer"]
