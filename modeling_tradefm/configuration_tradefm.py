"""TradeFM configuration: a Llama decoder plus the paper's tabular input embedding (TradeFM §7, App. B)."""

from transformers import LlamaConfig


class TradeFMConfig(LlamaConfig):
    r"""Configuration of :class:`TradeFMModel` / :class:`TradeFMForCausalLM`.

    A :class:`transformers.LlamaConfig` (v5 dataclass conventions, RoPE in ``rope_parameters``) with two
    TradeFM fields and TradeFM's defaults: the paper's 524.4M-parameter shape (App. B) and an untied head.

    Args:
        vocab_size (`int`, defaults to 16388): trade-token vocabulary: 16,384 composite event ids (paper Eq. 1)
            plus ``<pad>`` 16384, ``<bos>`` 16385, ``<eos>`` 16386, ``<unk>`` 16387; equals ``len(TradeFMTokenizer)``.
        context_vocab_sizes (`list[int]`, defaults to [3, 2, 32]): vocabulary of each context feature given with
            every token and never predicted (§5.3): liquidity tier, market/participant flag, Δp bin.
        embedding_dim (`int`, defaults to ``hidden_size``): width of each of the 1 + ``len(context_vocab_sizes)``
            embedding tables, which are concatenated and projected (no bias) to ``hidden_size``. The paper: four
            1,024-wide tables projected 4,096 → 1,024.
        hidden_size (`int`, defaults to 1024): width of the residual stream.
        intermediate_size (`int`, defaults to 4096): inner width of the SwiGLU MLP.
        num_hidden_layers (`int`, defaults to 32): decoder layers.
        num_attention_heads (`int`, defaults to 32): query heads.
        num_key_value_heads (`int`, defaults to 8): key/value heads (grouped-query attention); must divide
            ``num_attention_heads``. Equal to it for multi-head attention, 1 for multi-query attention.
        head_dim (`int`, defaults to ``hidden_size // num_attention_heads``): width of one attention head.
        hidden_act (`str`, defaults to ``"silu"``): MLP gate activation (SiLU: SwiGLU).
        max_position_embeddings (`int`, defaults to 1024): longest sequence (the paper's context length).
        rope_parameters (`dict`, defaults to ``{"rope_type": "default", "rope_theta": 10000.0}``): rotary position
            embedding; any RoPE scaling transformers supports (``"linear"``, ``"dynamic"``, ``"yarn"``…).
        rms_norm_eps (`float`, defaults to 1e-5): epsilon of every RMSNorm.
        attention_dropout (`float`, defaults to 0.0): dropout on attention probabilities in training.
        attention_bias (`bool`, defaults to False) / mlp_bias (`bool`, defaults to False): biases in the
            attention / MLP projections.
        initializer_range (`float`, defaults to 0.02): std of the normal initialisation of linear and embedding
            weights.
        use_cache (`bool`, defaults to True): return the key/value cache (generation).
        tie_word_embeddings (`bool`, defaults to False): share the output head with the trade-token table (only
            possible when ``embedding_dim == hidden_size``). The paper's count (524.39M) is untied.
        pad_token_id (`int`, defaults to 16384) / bos_token_id (`int`, defaults to 16385) / eos_token_id (`int`,
            defaults to 16386): special token ids, as in the tokenizer.

    Raises:
        ValueError: a context vocabulary or ``embedding_dim`` that is not positive, ``num_key_value_heads``
            not dividing ``num_attention_heads``, or tied embeddings with ``embedding_dim != hidden_size``.
    """

    model_type = "tradefm"

    vocab_size: int = 16388
    hidden_size: int = 1024
    intermediate_size: int = 4096
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = 8
    max_position_embeddings: int = 1024
    rms_norm_eps: float = 1e-5
    pad_token_id: int | None = 16384
    bos_token_id: int | None = 16385
    eos_token_id: int | list[int] | None = 16386
    tie_word_embeddings: bool = False
    context_vocab_sizes: list[int] | tuple[int, ...] = (3, 2, 32)
    embedding_dim: int | None = None

    def __post_init__(self, **kwargs):
        self.context_vocab_sizes = [int(v) for v in self.context_vocab_sizes]
        if self.embedding_dim is None:
            self.embedding_dim = self.hidden_size
        super().__post_init__(**kwargs)
        self._check_shapes()

    def _check_shapes(self):
        # Run from __post_init__, so on creation and on every from_pretrained (strict's class validators are
        # LlamaConfig's own, captured before this subclass existed).
        if not self.context_vocab_sizes or min(self.context_vocab_sizes) < 1:
            raise ValueError(f"context_vocab_sizes must be positive sizes, got {self.context_vocab_sizes}")
        if self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be positive, got {self.embedding_dim}")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_key_value_heads ({self.num_key_value_heads}) must divide num_attention_heads "
                             f"({self.num_attention_heads})")
        if self.tie_word_embeddings and self.embedding_dim != self.hidden_size:
            raise ValueError(f"tie_word_embeddings needs embedding_dim == hidden_size, got {self.embedding_dim} "
                             f"and {self.hidden_size}")


__all__ = ["TradeFMConfig"]
