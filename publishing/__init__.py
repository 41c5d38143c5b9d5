"""Publishing TradeFM on the Hugging Face Hub (``tradefm-push``) and local model directories (``tradefm-init``).

Loading needs no code from here: ``AutoModelForCausalLM`` / ``AutoModel`` / ``AutoTokenizer.from_pretrained``
and ``datasets.load_dataset`` on the repository id (with ``trust_remote_code=True`` where the ``tradefm``
package is not installed).
"""

from .checkpoint import CheckpointInfo, PublishError, validate_checkpoint
from .init_model import init_model_dir
from .model_card import dataset_card, model_card
from .push import PushResult, push_to_hub, validate_dataset

__all__ = ["CheckpointInfo", "PublishError", "PushResult", "dataset_card", "init_model_dir", "model_card",
           "push_to_hub", "validate_checkpoint", "validate_dataset"]
