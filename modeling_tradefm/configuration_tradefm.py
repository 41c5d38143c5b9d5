"""TradeFM configuration: a Llama decoder plus the paper's tabular input embedding (TradeFM §7, App. B)."""

from transformers import LlamaConfig


class TradeFMConfig(LlamaConfig):
    r"""Configuration of :class:`TradeFMModel` / :class:`TradeFMForCausalLM`.

    Everything of :class:`transformers.LlamaConfig` applies (``hidden_size``, ``intermediate_size``,
    ``num_hidden_layers``, ``num_attention_heads``, ``num_key_value_heads`` for grouped-query attention,
    ``rope_parameters``, ``rms_norm_eps``, ``attention_dropout``, ``initializer_range``,
    ``tie_word_embeddings`` …), with TradeFM's defaults: the 500m preset's shape (32 layers, hidden 1024,
    MLP 4096, 32 query / 8 key-value heads, 1,024 positions) and an untied output head.

    Args:
        vocab_size (`int`, defaults to 16388): trade-token vocabulary: 16,384 composite event ids (paper Eq. 1)
            plus ``<pad>`` 16384, ``<bos>`` 16385, ``<eos>`` 16386, ``<unk>`` 16387 (``len(TradeFMTokenizer)``).
        context_vocab_sizes (`list[int]`, defaults to [3, 2, 32]): vocabulary of each context feature given
            with every token and never predicted (§5.3): liquidity tier, market/participant flag, Δp bin.
        embedding_dim (`int`, optional): width of each of the 1 + len(context_vocab_sizes) embedding tables,
            which are concatenated and projected to ``hidden_size``; defaults to ``hidden_size`` (the paper:
            four 1,024-wide tables projected 4,096 → 1,024).
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


__all__ = ["TradeFMConfig"]
