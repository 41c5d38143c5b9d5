"""TradeFM: a Llama-style decoder over composite order-flow tokens (TradeFM §7, App. B).

The decoder — RMSNorm, grouped-query attention with RoPE, SwiGLU MLP — is transformers' own Llama, so SDPA
and flash attention, the KV ``Cache`` classes, gradient checkpointing and the tensor-parallel plans come
with it. The one new piece is the input: the paper's *tabular embedding*, one table for the composite
trade token and one per context feature (liquidity tier, market/participant flag, Δp bin), concatenated
and projected to the hidden size (§7). The output head predicts the trade token only.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from transformers import Cache, GenerationMixin
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.models.llama.modeling_llama import LlamaModel, LlamaPreTrainedModel

from .configuration_tradefm import TradeFMConfig


class TradeFMTabularEmbedding(nn.Module):
    """Token + context embeddings, concatenated and linearly projected (§7).

    Input ``input_ids`` (B, T) int64 composite ids and ``context_ids`` (B, T, C) int64 context ids
    (C = ``len(config.context_vocab_sizes)``); output (B, T, hidden_size) in the parameters' dtype.
    """

    def __init__(self, config: TradeFMConfig):
        super().__init__()
        self.token = nn.Embedding(config.vocab_size, config.embedding_dim, config.pad_token_id)
        self.context = nn.ModuleList(nn.Embedding(n, config.embedding_dim) for n in config.context_vocab_sizes)
        self.proj = nn.Linear(config.embedding_dim * (1 + len(config.context_vocab_sizes)), config.hidden_size,
                              bias=False)

    def forward(self, input_ids: torch.LongTensor, context_ids: torch.LongTensor) -> torch.Tensor:
        if context_ids is None:
            raise ValueError("TradeFM needs `context_ids` of shape (batch, seq, "
                             f"{len(self.context)}) with every `input_ids` (liquidity tier, flag, Δp bin)")
        if context_ids.shape != (*input_ids.shape, len(self.context)):
            raise ValueError(f"`context_ids` must have shape {(*input_ids.shape, len(self.context))} to match "
                             f"`input_ids`, got {tuple(context_ids.shape)}")
        if not torch.compiler.is_compiling():  # a compiled step keeps one graph: its lookups check bounds
            self._check_context_range(context_ids)
        tables = [self.token(input_ids)] + [table(context_ids[..., i]) for i, table in enumerate(self.context)]
        return self.proj(torch.cat(tables, dim=-1))  # (B, T, C+1 · E) → (B, T, H)

    def _check_context_range(self, context_ids: torch.LongTensor):
        """Raise ``ValueError`` naming the first context feature of ``context_ids`` (B, T, C) outside its
        vocabulary; one host sync, not one per feature."""
        sizes = torch.tensor([table.num_embeddings for table in self.context], device=context_ids.device)
        out_of_range = (context_ids < 0) | (context_ids >= sizes)
        if out_of_range.any():
            i = int(out_of_range.flatten(0, -2).any(0).nonzero()[0])
            ids = context_ids[..., i]
            raise ValueError(f"context feature {i} must be in [0, {int(sizes[i])}), got values in "
                             f"[{int(ids.min())}, {int(ids.max())}]")


class TradeFMPreTrainedModel(LlamaPreTrainedModel):
    """Llama's weight initialisation, attention back-ends and loading machinery, for the TradeFM config."""

    config_class = TradeFMConfig
    config: TradeFMConfig
    base_model_prefix = "model"
    _no_split_modules = ["LlamaDecoderLayer"]

    def save_pretrained(self, save_directory, *args, **kwargs):
        """``PreTrainedModel.save_pretrained`` (safetensors), with an ``auto_map`` listing AutoConfig,
        AutoModel and AutoModelForCausalLM so ``trust_remote_code=True`` loads any of them."""
        self.config.auto_map = {"AutoConfig": "configuration_tradefm.TradeFMConfig",
                                "AutoModel": "modeling_tradefm.TradeFMModel",
                                "AutoModelForCausalLM": "modeling_tradefm.TradeFMForCausalLM"}
        return super().save_pretrained(save_directory, *args, **kwargs)


class TradeFMModel(TradeFMPreTrainedModel):
    """The bare decoder: tabular embedding → Llama layers → final RMSNorm. Returns hidden states.

    ``forward(input_ids (B, T), context_ids (B, T, C), attention_mask (B, T) optional, position_ids,
    cache, use_cache, …)`` → ``BaseModelOutputWithPast`` with ``last_hidden_state``
    (B, T, hidden_size).
    """

    def __init__(self, config: TradeFMConfig):
        super().__init__(config)
        self.embed = TradeFMTabularEmbedding(config)
        self.decoder = LlamaModel(config)
        self.decoder.embed_tokens = None  # inputs arrive as embeddings from the tabular embedding
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed.token

    def set_input_embeddings(self, value: nn.Embedding):
        self.embed.token = value

    def forward(self, input_ids: torch.LongTensor | None = None, context_ids: torch.LongTensor | None = None,
                inputs_embeds: torch.Tensor | None = None, **kwargs) -> BaseModelOutputWithPast:
        if inputs_embeds is None:
            if input_ids is None:
                raise ValueError("pass `input_ids` (with `context_ids`) or `inputs_embeds`")
            inputs_embeds = self.embed(input_ids, context_ids)
        return self.decoder(inputs_embeds=inputs_embeds, **kwargs)


class TradeFMForCausalLM(TradeFMPreTrainedModel, GenerationMixin):
    """TradeFM with its next-trade-token head (cross-entropy on shifted ``labels``, -100 ignored).

    ``forward(input_ids (B, T), context_ids (B, T, C), labels (B, T) optional, …)`` →
    ``CausalLMOutputWithPast`` with ``logits`` (B, T, vocab_size) and ``loss`` (mean nats per token).

    Generation: ``generate(input_ids, context_ids=..., context_provider=...)``. ``context_provider`` is a
    callable ``input_ids (B, T) → context_ids (B, T, C)`` for every position so far (the market simulator
    computes the context of each sampled event); without one, the last context row is repeated for new
    positions. As for any causal LM, ``generate`` derives an attention mask from ``pad_token_id`` when none is
    given: pass ``attention_mask`` if a prompt legitimately holds the pad id (real event streams never do).
    """

    _tied_weights_keys = {"lm_head.weight": "model.embed.token.weight"}
    _tp_plan = {"lm_head": "colwise_gather_output"}

    def __init__(self, config: TradeFMConfig):
        super().__init__(config)
        self.model = TradeFMModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def forward(self, input_ids: torch.LongTensor | None = None, context_ids: torch.LongTensor | None = None,
                attention_mask: torch.Tensor | None = None, position_ids: torch.LongTensor | None = None,
                cache: Cache | None = None, inputs_embeds: torch.Tensor | None = None,
                labels: torch.LongTensor | None = None, use_cache: bool | None = None,
                logits_to_keep: int | torch.Tensor = 0, **kwargs) -> CausalLMOutputWithPast:
        # named like LlamaForCausalLM.forward, so generate() accepts a user's `cache` (e.g. a StaticCache)
        outputs = self.model(input_ids=input_ids, context_ids=context_ids, attention_mask=attention_mask,
                             position_ids=position_ids, cache=cache, inputs_embeds=inputs_embeds,
                             use_cache=use_cache, **kwargs)
        hidden_states = outputs.last_hidden_state
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden_states[:, keep, :])
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=outputs.cache)

    def prepare_inputs_for_generation(self, input_ids: torch.LongTensor, *args,
                                      context_ids: torch.LongTensor | None = None,
                                      context_provider: Callable[[torch.LongTensor], torch.LongTensor] | None = None,
                                      **kwargs):
        """``GenerationMixin``'s inputs plus ``context_ids`` for the uncached tail of ``input_ids``.

        ``context_provider(input_ids)`` (every position so far) is called at each step when given; otherwise
        ``context_ids`` (prompt context) is extended by repeating its last row for the generated positions.
        """
        if context_provider is not None:
            context_ids = context_provider(input_ids)
        elif context_ids is not None and context_ids.shape[1] < input_ids.shape[1]:
            new = input_ids.shape[1] - context_ids.shape[1]
            context_ids = torch.cat([context_ids, context_ids[:, -1:].expand(-1, new, -1)], dim=1)
        model_inputs = super().prepare_inputs_for_generation(input_ids, *args, **kwargs)
        if context_ids is not None:
            # a fresh (B, t, C) block: a view into the growing context would change strides every step, and a
            # compiled forward (static cache + torch.compile) would recompile for each
            model_inputs["context_ids"] = context_ids[:, -model_inputs["input_ids"].shape[1]:].clone(
                memory_format=torch.contiguous_format)
        return model_inputs


__all__ = ["TradeFMPreTrainedModel", "TradeFMModel", "TradeFMForCausalLM", "TradeFMTabularEmbedding"]
