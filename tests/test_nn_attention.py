"""Attention and Transformer layers against PyTorch with identical weights.

``scaled_dot_product_attention`` (bool/float/causal masks, scale, gradients),
``MultiheadAttention`` (every mask kind, need_weights, averaged or per-head
weights, kdim/vdim, bias_kv, zero_attn, batch_first, unbatched) and the
Transformer encoder/decoder stacks in eval mode (post- and pre-norm, relu/gelu).
Weights come from the torch module's ``state_dict`` via NumPy, so names must match.

Tolerance: ``rtol=1e-5`` with an absolute floor of ``1e-5`` times the tensor's
largest magnitude (entries that cancel to ~0 have no meaningful relative error);
whole Transformer stacks use ``2e-5`` (several LayerNorms and softmaxes in
float32, where PyTorch's CPU kernels sum in a different order).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as EF
from ember import nn


@pytest.fixture(autouse=True)
def _torch_one_thread():
    """PyTorch on one thread and without oneDNN (which JIT-compiles per shape): tiny reference ops
    otherwise cost 20 ms each in OpenMP waits on a loaded 2-core machine. Same math either way."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.backends.mkldnn.flags(enabled=False):
            yield
    finally:
        torch.set_num_threads(n)


def _close(e, t, what="", rtol=1e-5):
    e = e.detach().numpy() if hasattr(e, "detach") else np.asarray(e)
    t = t.detach().numpy()
    assert e.shape == t.shape, (what, e.shape, t.shape)
    scale = float(np.abs(t).max()) if t.size else 0.0
    np.testing.assert_allclose(e, t, rtol=rtol, atol=rtol * max(scale, 1e-3), err_msg=what)


def _leaves(rng, *shapes):
    arrs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return [ember.tensor(a, requires_grad=True) for a in arrs], [torch.tensor(a, requires_grad=True) for a in arrs]


def _load(em, tm):
    assert list(em.state_dict()) == list(tm.state_dict())
    res = em.load_state_dict({k: ember.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    assert not res.missing_keys and not res.unexpected_keys


def _backward_both(rng, e_outs, t_outs):
    ws = [rng.standard_normal(tuple(t.shape)).astype(np.float32) for t in t_outs]
    sum((e * ember.tensor(w)).sum() for e, w in zip(e_outs, ws)).backward()
    sum((t * torch.tensor(w)).sum() for t, w in zip(t_outs, ws)).backward()


# ---- scaled_dot_product_attention --------------------------------------------------------------
def _mask(rng, kind, L, S):
    if kind == "bool":
        m = rng.random((L, S)) > 0.4
        m[:, 0] = True  # no fully masked row (PyTorch's kernels disagree on those)
        return ember.tensor(m), torch.tensor(m)
    if kind == "float":
        m = rng.standard_normal((1, L, S)).astype(np.float32)
        return ember.tensor(m), torch.tensor(m)
    if kind == "float-inf":
        m = np.where(rng.random((L, S)) > 0.4, 0.0, -np.inf).astype(np.float32)
        m[:, 0] = 0.0
        return ember.tensor(m), torch.tensor(m)
    return None, None


@pytest.mark.parametrize("mask", [None, "bool", "float", "float-inf", "causal"])
@pytest.mark.parametrize("shape", [(2, 5, 6, 8, 4), (3, 1, 4, 4, 8)], ids=["4d", "3d"])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_sdpa_matches_torch(shape, mask, scale):
    rng = np.random.default_rng(0)
    B, L, S, E, Ev = shape
    lead = (B, 2) if shape[0] == 2 else (B,)
    (eq, ek, ev), (tq, tk, tv) = _leaves(rng, lead + (L, E), lead + (S, E), lead + (S, Ev))
    causal = mask == "causal"
    em, tm = _mask(rng, mask, L, S)
    eo = EF.scaled_dot_product_attention(eq, ek, ev, attn_mask=em, is_causal=causal, scale=scale)
    to = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, is_causal=causal, scale=scale)
    _close(eo, to, "sdpa output")
    _backward_both(rng, [eo], [to])
    for e, t, n in zip((eq, ek, ev), (tq, tk, tv), "qkv"):
        _close(e.grad, t.grad, f"grad of {n}")


def test_sdpa_dropout_and_errors():
    q = ember.randn(2, 4, 8)
    ember.manual_seed(0)
    a = EF.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    b = EF.scaled_dot_product_attention(q, q, q)
    assert not np.allclose(a.numpy(), b.numpy())
    np.testing.assert_array_equal(EF.scaled_dot_product_attention(q, q, q, dropout_p=1.0).numpy(), 0.0)
    with pytest.raises(RuntimeError):
        EF.scaled_dot_product_attention(q, q, q, attn_mask=ember.ones(4, 4, dtype=ember.bool), is_causal=True)


# ---- MultiheadAttention ---------------------------------------------------------------------------
def _mha_pair(E, H, **kw):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(E, H, **kw)
    em = nn.MultiheadAttention(E, H, **kw)
    _load(em, tm)
    return em, tm


MHA_CASES = {
    "plain": dict(),
    "batch_first": dict(mod=dict(batch_first=True)),
    "no_bias": dict(mod=dict(bias=False)),
    "kdim_vdim": dict(mod=dict(kdim=6, vdim=5), cross=True),
    "cross": dict(cross=True),
    "cross_batch_first": dict(cross=True, mod=dict(batch_first=True), masks=("kpm_bool",)),
    "bias_kv_zero_attn": dict(mod=dict(add_bias_kv=True, add_zero_attn=True), masks=("attn_bool", "kpm_bool")),
    "causal_bool": dict(masks=("attn_bool",)),
    "causal_is_causal": dict(masks=("attn_float",), is_causal=True),
    "float_attn": dict(masks=("attn_rand",)),
    "attn_3d": dict(masks=("attn_3d",)),
    "kpm_bool": dict(masks=("kpm_bool",)),
    "kpm_float": dict(masks=("kpm_float",)),
    "kpm_and_attn": dict(masks=("kpm_bool", "attn_float"), mod=dict(batch_first=True)),
    "per_head_weights": dict(masks=("kpm_bool",), average=False),
    "unbatched": dict(batched=False, masks=("attn_bool", "kpm_bool")),
}


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("case", list(MHA_CASES))
def test_mha_matches_torch(case, need_weights):
    c = MHA_CASES[case]
    mod = c.get("mod", {})
    E, H, L, N = 8, 2, 5, 3
    S = 6 if c.get("cross") else L
    rng = np.random.default_rng(1)
    em, tm = _mha_pair(E, H, **mod)
    bf = mod.get("batch_first", False)
    batched = c.get("batched", True)

    def shape(n, d):
        if not batched:
            return (n, d)
        return (N, n, d) if bf else (n, N, d)

    if c.get("cross"):
        (eq, ek, ev), (tq, tk, tv) = _leaves(
            rng, shape(L, E), shape(S, mod.get("kdim", E)), shape(S, mod.get("vdim", E))
        )
        leaves = [(eq, tq), (ek, tk), (ev, tv)]
    else:
        (eq,), (tq,) = _leaves(rng, shape(L, E))
        ek = ev = eq
        tk = tv = tq
        leaves = [(eq, tq)]
    kw_e, kw_t = {}, {}
    for m in c.get("masks", ()):
        if m == "attn_bool":
            a = np.triu(np.ones((L, S), bool), 1)
            kw_e["attn_mask"], kw_t["attn_mask"] = ember.tensor(a), torch.tensor(a)
        elif m == "attn_float":
            a = np.triu(np.full((L, S), -np.inf, np.float32), 1)
            kw_e["attn_mask"], kw_t["attn_mask"] = ember.tensor(a), torch.tensor(a)
        elif m == "attn_rand":
            a = rng.standard_normal((L, S)).astype(np.float32)
            kw_e["attn_mask"], kw_t["attn_mask"] = ember.tensor(a), torch.tensor(a)
        elif m == "attn_3d":
            a = rng.standard_normal((N * H, L, S)).astype(np.float32)
            kw_e["attn_mask"], kw_t["attn_mask"] = ember.tensor(a), torch.tensor(a)
        elif m == "kpm_bool":
            k = np.zeros((N, S) if batched else (S,), bool)
            k[..., -2:] = True
            if batched:
                k[0, 1] = True
            kw_e["key_padding_mask"], kw_t["key_padding_mask"] = ember.tensor(k), torch.tensor(k)
        elif m == "kpm_float":
            k = rng.standard_normal((N, S)).astype(np.float32)
            kw_e["key_padding_mask"], kw_t["key_padding_mask"] = ember.tensor(k), torch.tensor(k)
    extra = dict(
        need_weights=need_weights, average_attn_weights=c.get("average", True), is_causal=c.get("is_causal", False)
    )
    eo, ew = em(eq, ek, ev, **kw_e, **extra)
    to, tw = tm(tq, tk, tv, **kw_t, **extra)
    _close(eo, to, "attention output")
    if need_weights:
        _close(ew, tw, "attention weights")
    else:
        assert ew is None and tw is None
    _backward_both(rng, [eo] + ([ew] if need_weights else []), [to] + ([tw] if need_weights else []))
    for i, (e, t) in enumerate(leaves):
        _close(e.grad, t.grad, f"grad of input {i}")
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        _close(ep.grad, tp.grad, f"grad of {n}")


def test_mha_parameters_and_init():
    E = 12
    em, tm = nn.MultiheadAttention(E, 3), torch.nn.MultiheadAttention(E, 3)
    assert [(n, tuple(p.shape)) for n, p in em.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in tm.named_parameters()
    ]
    w = em.in_proj_weight.detach().numpy()
    bound = np.sqrt(6.0 / (E + 3 * E))  # xavier_uniform_ on (3E, E)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    np.testing.assert_array_equal(em.in_proj_bias.detach().numpy(), 0.0)
    np.testing.assert_array_equal(em.out_proj.bias.detach().numpy(), 0.0)
    em2, tm2 = nn.MultiheadAttention(E, 3, kdim=5, vdim=7), torch.nn.MultiheadAttention(E, 3, kdim=5, vdim=7)
    assert [(n, tuple(p.shape)) for n, p in em2.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in tm2.named_parameters()
    ]
    assert em2.in_proj_weight is None
    with pytest.raises(AssertionError):
        nn.MultiheadAttention(10, 3)


def test_mha_dropout_only_in_training():
    em, tm = _mha_pair(8, 2, dropout=0.5)
    x = np.random.default_rng(2).standard_normal((4, 2, 8)).astype(np.float32)
    em.eval()
    tm.eval()
    _close(em(*(ember.tensor(x),) * 3)[0], tm(*(torch.tensor(x),) * 3)[0], "eval output")
    em.train()
    a = em(*(ember.tensor(x),) * 3)[0].detach().numpy()
    b = em(*(ember.tensor(x),) * 3)[0].detach().numpy()
    assert not np.allclose(a, b)


def test_mha_is_causal_needs_mask():
    em = nn.MultiheadAttention(8, 2)
    x = ember.randn(3, 2, 8)
    with pytest.raises(RuntimeError, match="attn_mask"):
        em(x, x, x, is_causal=True)


# ---- Transformer ----------------------------------------------------------------------------------
def _square_mask(L):
    return np.triu(np.full((L, L), -np.inf, np.float32), 1)


def test_generate_square_subsequent_mask():
    e = nn.Transformer.generate_square_subsequent_mask(5)
    t = torch.nn.Transformer.generate_square_subsequent_mask(5)
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    assert e.dtype == ember.float32


TR_CASES = [
    dict(),
    dict(norm_first=True),
    dict(batch_first=True, activation="gelu"),
    dict(batch_first=True, norm_first=True, activation="gelu"),
]


def _case_id(c):
    return "-".join(f"{k}={v}" for k, v in c.items()) or "default"


def _seq(rng, L, N, E, bf):
    return _leaves(rng, (N, L, E) if bf else (L, N, E))


@pytest.mark.parametrize("masks", ["none", "causal", "padding", "causal-padding"])
@pytest.mark.parametrize("cfg", TR_CASES, ids=_case_id)
def test_encoder_stack_matches_torch(cfg, masks):
    E, H, L, N = 8, 2, 5, 3
    rng = np.random.default_rng(3)
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(E, H, dim_feedforward=16, dropout=0.0, **cfg)
    tm = torch.nn.TransformerEncoder(tl, num_layers=2, norm=torch.nn.LayerNorm(E), enable_nested_tensor=False)
    el = nn.TransformerEncoderLayer(E, H, dim_feedforward=16, dropout=0.0, **cfg)
    em = nn.TransformerEncoder(el, num_layers=2, norm=nn.LayerNorm(E), enable_nested_tensor=False)
    _load(em, tm)
    em.eval()
    tm.eval()
    bf = cfg.get("batch_first", False)
    (ex,), (tx,) = _seq(rng, L, N, E, bf)
    kw_e, kw_t = {}, {}
    if "causal" in masks:
        m = _square_mask(L)
        kw_e["mask"], kw_t["mask"] = ember.tensor(m), torch.tensor(m)
    if "padding" in masks:
        p = np.zeros((N, L), bool)
        p[1, -2:] = True
        kw_e["src_key_padding_mask"], kw_t["src_key_padding_mask"] = ember.tensor(p), torch.tensor(p)
    eo, to = em(ex, **kw_e), tm(tx, **kw_t)
    _close(eo, to, "encoder output", rtol=2e-5)
    _backward_both(rng, [eo], [to])
    _close(ex.grad, tx.grad, "grad of src", rtol=2e-5)
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        _close(ep.grad, tp.grad, f"grad of {n}", rtol=2e-5)


@pytest.mark.parametrize("masks", ["none", "causal", "causal-padding-memory"])
@pytest.mark.parametrize("cfg", TR_CASES, ids=_case_id)
def test_decoder_stack_matches_torch(cfg, masks):
    E, H, L, S, N = 8, 2, 4, 6, 3
    rng = np.random.default_rng(4)
    torch.manual_seed(0)
    tl = torch.nn.TransformerDecoderLayer(E, H, dim_feedforward=16, dropout=0.0, **cfg)
    tm = torch.nn.TransformerDecoder(tl, num_layers=2, norm=torch.nn.LayerNorm(E))
    el = nn.TransformerDecoderLayer(E, H, dim_feedforward=16, dropout=0.0, **cfg)
    em = nn.TransformerDecoder(el, num_layers=2, norm=nn.LayerNorm(E))
    _load(em, tm)
    em.eval()
    tm.eval()
    bf = cfg.get("batch_first", False)
    (et,), (tt,) = _seq(rng, L, N, E, bf)
    (emem,), (tmem,) = _seq(rng, S, N, E, bf)
    kw_e, kw_t = {}, {}
    if "causal" in masks:
        m = _square_mask(L)
        kw_e["tgt_mask"], kw_t["tgt_mask"] = ember.tensor(m), torch.tensor(m)
    if "padding" in masks:
        p = np.zeros((N, L), bool)
        p[2, -1] = True
        kw_e["tgt_key_padding_mask"], kw_t["tgt_key_padding_mask"] = ember.tensor(p), torch.tensor(p)
    if "memory" in masks:
        mm = rng.standard_normal((L, S)).astype(np.float32)
        mp = np.zeros((N, S), bool)
        mp[0, -3:] = True
        kw_e.update(memory_mask=ember.tensor(mm), memory_key_padding_mask=ember.tensor(mp))
        kw_t.update(memory_mask=torch.tensor(mm), memory_key_padding_mask=torch.tensor(mp))
    eo, to = em(et, emem, **kw_e), tm(tt, tmem, **kw_t)
    _close(eo, to, "decoder output", rtol=2e-5)
    _backward_both(rng, [eo], [to])
    _close(et.grad, tt.grad, "grad of tgt", rtol=2e-5)
    _close(emem.grad, tmem.grad, "grad of memory", rtol=2e-5)
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        _close(ep.grad, tp.grad, f"grad of {n}", rtol=2e-5)


@pytest.mark.parametrize("batch_first", [False, True])
def test_full_transformer_matches_torch(batch_first):
    E, H, S, L, N = 8, 2, 6, 4, 2
    rng = np.random.default_rng(5)
    kw = dict(
        d_model=E,
        nhead=H,
        num_encoder_layers=2,
        num_decoder_layers=1,
        dim_feedforward=16,
        dropout=0.0,
        batch_first=batch_first,
    )
    torch.manual_seed(0)
    tm = torch.nn.Transformer(**kw)
    em = nn.Transformer(**kw)
    assert [(n, tuple(p.shape)) for n, p in em.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in tm.named_parameters()
    ]
    _load(em, tm)
    (es,), (ts,) = _seq(rng, S, N, E, batch_first)
    (et,), (tt,) = _seq(rng, L, N, E, batch_first)
    em_mask = nn.Transformer.generate_square_subsequent_mask(L)
    tm_mask = torch.nn.Transformer.generate_square_subsequent_mask(L)
    eo = em(es, et, tgt_mask=em_mask, tgt_is_causal=True)
    to = tm(ts, tt, tgt_mask=tm_mask, tgt_is_causal=True)
    _close(eo, to, "transformer output", rtol=2e-5)
    _backward_both(rng, [eo], [to])
    _close(es.grad, ts.grad, "grad of src", rtol=2e-5)
    _close(et.grad, tt.grad, "grad of tgt", rtol=2e-5)


def test_transformer_init_and_errors():
    em = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16)
    w = em.encoder.layers[0].linear1.weight.detach().numpy()  # (16, 8): xavier, not Linear's kaiming
    bound = np.sqrt(6.0 / (16 + 8))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    with pytest.raises(RuntimeError):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(RuntimeError):
        em(ember.randn(3, 2, 8), ember.randn(3, 4, 8))


def test_mha_gradcheck_float64():
    from ember.autograd import gradcheck, gradgradcheck

    ember.manual_seed(0)
    m = nn.MultiheadAttention(4, 2, dtype=ember.float64)
    x = ember.randn(3, 2, 4, dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda x: m(x, x, x)[0], (x,))
    assert gradgradcheck(lambda x: m(x, x, x, need_weights=False)[0], (x,))
