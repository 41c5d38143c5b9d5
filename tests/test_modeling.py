"""TradeFM model: shapes, causality, KV cache, generation, presets, save/load through every Auto path."""

import json
import subprocess
import sys
import sysconfig

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from modeling_tradefm import NOMINAL_PARAMETERS, PRESETS, TradeFMConfig, TradeFMForCausalLM, TradeFMModel


def small_config(**kw):
    return TradeFMConfig(**{**dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, embedding_dim=32), **kw})


def batch(b=2, t=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 16384, (b, t), generator=g)
    ctx = torch.stack([torch.randint(0, 3, (b, t), generator=g), torch.randint(0, 2, (b, t), generator=g),
                       torch.randint(0, 32, (b, t), generator=g)], dim=-1)
    return ids, ctx


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TradeFMForCausalLM(small_config()).eval()


def test_forward_backward_shapes(model):
    ids, ctx = batch()
    model.train()
    out = model(input_ids=ids, context_ids=ctx, labels=ids)
    model.eval()
    assert out.logits.shape == (2, 12, 16388)
    assert abs(out.loss.item() - torch.log(torch.tensor(16388.0)).item()) < 0.5  # near uniform at init
    out.loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["model.embed.context.2.weight"].abs().sum() > 0  # context features reach the loss
    model.zero_grad()
    hidden = TradeFMModel(small_config())(input_ids=ids, context_ids=ctx).last_hidden_state
    assert hidden.shape == (2, 12, 64)


def test_causal_masking(model):
    ids, ctx = batch()
    ids2, ctx2 = ids.clone(), ctx.clone()
    ids2[:, 7:] = (ids2[:, 7:] + 1) % 16384
    ctx2[:, 7:, 2] = (ctx2[:, 7:, 2] + 5) % 32
    with torch.no_grad():
        a = model(input_ids=ids, context_ids=ctx).logits
        b = model(input_ids=ids2, context_ids=ctx2).logits
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert (a[:, 7:] - b[:, 7:]).abs().max() > 1e-3


def test_context_changes_predictions(model):
    ids, ctx = batch()
    other = ctx.clone()
    other[..., 0] = (other[..., 0] + 1) % 3
    with torch.no_grad():
        assert (model(input_ids=ids, context_ids=ctx).logits - model(input_ids=ids, context_ids=other).logits).abs().max() > 1e-4


def test_bad_context_is_refused(model):
    ids, ctx = batch()
    with pytest.raises(ValueError, match="context_ids"):
        model(input_ids=ids)
    with pytest.raises(ValueError, match="shape"):
        model(input_ids=ids, context_ids=ctx[:, :5])
    bad = ctx.clone()
    bad[0, 0, 2] = 32
    with pytest.raises(ValueError, match=r"context feature 2 must be in \[0, 32\)"):
        model(input_ids=ids, context_ids=bad)
    bad = ctx.clone()
    bad[1, 4, 0] = -1
    with pytest.raises(ValueError, match=r"context feature 0 must be in \[0, 3\), got values in \[-1, "):
        model(input_ids=ids, context_ids=bad)


@pytest.mark.parametrize("kw, message", [
    (dict(context_vocab_sizes=[3, 0, 32]), "context_vocab_sizes must be positive"),
    (dict(num_key_value_heads=3), r"num_key_value_heads \(3\) must divide num_attention_heads \(4\)"),
    (dict(tie_word_embeddings=True), "tie_word_embeddings needs embedding_dim == hidden_size"),
])
def test_inconsistent_config_is_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        small_config(**kw)


def test_config_validated_on_load(tmp_path):
    small_config().save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**saved, "context_vocab_sizes": [3, -2, 32]}))
    with pytest.raises(ValueError, match="context_vocab_sizes"):
        AutoConfig.from_pretrained(tmp_path)


def test_kv_cache_matches_full_forward(model):
    ids, ctx = batch()
    with torch.no_grad():
        full = model(input_ids=ids, context_ids=ctx).logits
        first = model(input_ids=ids[:, :8], context_ids=ctx[:, :8], use_cache=True)
        rest = model(input_ids=ids[:, 8:], context_ids=ctx[:, 8:], cache=first.cache, use_cache=True)
    torch.testing.assert_close(rest.logits, full[:, 8:], atol=1e-5, rtol=1e-5)


def test_generate_with_context_provider_cache_equals_no_cache(model):
    ids, ctx = batch(t=6)
    seen = []

    def provider(input_ids):  # context from the tokens so far: Δp bin = last token mod 32
        seen.append(input_ids.shape[1])
        c = torch.zeros(*input_ids.shape, 3, dtype=torch.long)
        c[..., 2] = input_ids % 32
        return c

    kw = dict(context_provider=provider, max_new_tokens=6, do_sample=False, pad_token_id=16384)
    a = model.generate(ids, **kw)
    b = model.generate(ids, use_cache=False, **kw)
    assert torch.equal(a, b) and a.shape == (2, 12)
    assert seen[:3] == [6, 7, 8]  # called once per step with every token so far
    plain = model.generate(ids, context_ids=ctx, max_new_tokens=3, do_sample=False, pad_token_id=16384)
    assert plain.shape == (2, 9)


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_parameter_counts(name):
    from modeling_tradefm import preset_config

    with torch.device("meta"):
        model = TradeFMForCausalLM(preset_config(name))
    n = sum(p.numel() for p in model.parameters())
    assert abs(n / NOMINAL_PARAMETERS[name] - 1) < 0.03, n


def test_500m_matches_the_paper_shape():
    from modeling_tradefm import preset_config

    c = preset_config("500m")
    assert (c.num_hidden_layers, c.hidden_size, c.intermediate_size, c.num_attention_heads,
            c.num_key_value_heads, c.embedding_dim) == (32, 1024, 4096, 32, 8, 1024)


def test_save_load_auto_classes(tmp_path, model):
    model.save_pretrained(tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert "model.safetensors" in files and not any(f.endswith(".bin") for f in files)
    assert {"configuration_tradefm.py", "modeling_tradefm.py"} <= files
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert set(auto_map) == {"AutoConfig", "AutoModel", "AutoModelForCausalLM"}
    ids, ctx = batch()
    with torch.no_grad():
        ref = model(input_ids=ids, context_ids=ctx).logits
        lm = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
        assert type(lm) is TradeFMForCausalLM and type(AutoConfig.from_pretrained(tmp_path)) is TradeFMConfig
        torch.testing.assert_close(lm(input_ids=ids, context_ids=ctx).logits, ref, atol=0, rtol=0)
        base = AutoModel.from_pretrained(tmp_path).eval()
        assert type(base) is TradeFMModel
        hidden = base(input_ids=ids, context_ids=ctx).last_hidden_state
        torch.testing.assert_close(model.lm_head(hidden), ref, atol=1e-6, rtol=1e-6)


REMOTE = r"""
import sys, importlib.util
sys.path.append({site!r})
assert importlib.util.find_spec("modeling_tradefm") is None, "package must not be importable here"
import torch
from transformers import AutoModel, AutoModelForCausalLM
d = {path!r}
lm = AutoModelForCausalLM.from_pretrained(d, trust_remote_code=True).eval()
base = AutoModel.from_pretrained(d, trust_remote_code=True)
assert type(lm).__module__.startswith("transformers_modules"), type(lm).__module__
ids = torch.load({batch!r})
with torch.no_grad():
    logits = lm(input_ids=ids["ids"], context_ids=ids["ctx"]).logits
torch.save(logits, {out!r})
gen = lm.generate(ids["ids"], context_ids=ids["ctx"], max_new_tokens=3, do_sample=False, pad_token_id=16384)
print(type(base).__name__, tuple(gen.shape))
"""


def test_trust_remote_code_without_the_package(tmp_path, model):
    ckpt = tmp_path / "ckpt"
    model.save_pretrained(ckpt)
    ids, ctx = batch()
    torch.save({"ids": ids, "ctx": ctx}, tmp_path / "batch.pt")
    code = REMOTE.format(site=sysconfig.get_paths()["purelib"], path=str(ckpt), batch=str(tmp_path / "batch.pt"),
                         out=str(tmp_path / "logits.pt"))
    # -S: no site processing, so the editable install's path hook is absent; cwd outside the repo.
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("TradeFMModel (2, 15)")
    with torch.no_grad():
        ref = model(input_ids=ids, context_ids=ctx).logits
    torch.testing.assert_close(torch.load(tmp_path / "logits.pt"), ref, atol=0, rtol=0)
