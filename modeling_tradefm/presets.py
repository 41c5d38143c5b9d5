"""Model sizes. ``500m`` is the paper's model (App. B: 32 layers, hidden 1024, MLP 4096, 32 query / 8 KV
heads, 524.4 M parameters); the paper trained ≈125M and ≈250M models without giving their shapes, so ours
are chosen to land on those counts; ``tiny`` trains in minutes on a CPU."""

from __future__ import annotations

from .configuration_tradefm import TradeFMConfig

PRESETS: dict[str, dict] = {
    "tiny": dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=2, embedding_dim=64),
    "125m": dict(hidden_size=768, intermediate_size=2816, num_hidden_layers=12, num_attention_heads=12,
                 num_key_value_heads=4),
    "250m": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=14, num_attention_heads=32,
                 num_key_value_heads=8),
    "500m": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=8),
}
NOMINAL_PARAMETERS = {"tiny": 4.17e6, "125m": 125e6, "250m": 250e6, "500m": 524.4e6}
"""Parameter count each preset is built to (tested within 3%)."""


def preset_config(name: str, **overrides) -> TradeFMConfig:
    """The :class:`TradeFMConfig` of a preset (``tiny``, ``125m``, ``250m``, ``500m``), with overrides.

    Raises:
        ValueError: unknown preset name.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown model size {name!r}; choose one of {sorted(PRESETS)}")
    return TradeFMConfig(**{**PRESETS[name], **overrides})
