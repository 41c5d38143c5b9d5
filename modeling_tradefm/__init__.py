"""TradeFM as a Hugging Face model. Importing the package registers it with the Auto classes."""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from .configuration_tradefm import TradeFMConfig
from .modeling_tradefm import TradeFMForCausalLM, TradeFMModel, TradeFMPreTrainedModel
from .presets import NOMINAL_PARAMETERS, PRESETS, preset_config

AutoConfig.register(TradeFMConfig.model_type, TradeFMConfig, exist_ok=True)
AutoModel.register(TradeFMConfig, TradeFMModel, exist_ok=True)
AutoModelForCausalLM.register(TradeFMConfig, TradeFMForCausalLM, exist_ok=True)

# save_pretrained copies the code files and writes `auto_map`, so a checkpoint also loads with
# trust_remote_code=True where this package is not installed.
TradeFMConfig.register_for_auto_class()
TradeFMModel.register_for_auto_class("AutoModel")
TradeFMForCausalLM.register_for_auto_class("AutoModelForCausalLM")

__all__ = ["TradeFMConfig", "TradeFMModel", "TradeFMForCausalLM", "TradeFMPreTrainedModel", "PRESETS",
           "NOMINAL_PARAMETERS", "preset_config"]
