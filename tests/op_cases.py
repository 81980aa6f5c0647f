"""Input generators for the op-table sweep.

An op's row names its sample family (``sample=dict(cases="gather")`` or the
elementwise/reduce defaults); this file turns a family into concrete calls.
A new op of an existing family is tested with no new code; a new family adds
one generator here. Each call says how to invoke ember and torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


# ---- helpers both sweeps use (tests/test_op_table.py, tests/graph/test_graph_sweep.py) ----------
def resolve(root, path):
    """The function at dotted ``path`` under module ``root`` ("Tensor.contiguous", "nn.functional.relu")."""
    obj = root
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def same_layout(v, dtype):
    """A fresh copy in ``dtype`` that keeps a strided (non-contiguous) input strided."""
    if v.flags.c_contiguous or v.ndim == 0:
        return np.array(v, dtype=dtype)
    base = np.empty(v.shape + (2,), dtype=dtype)
    base[..., 0] = v
    return base[..., 0]


def flat(out):
    """Nested tuples/lists of outputs, flattened in order."""
    if isinstance(out, (tuple, list)):
        return [o for x in out for o in flat(x)]
    return [out]


@dataclass
class Arr:
    """An input array; ``grad`` marks it as differentiable in float tests."""

    value: np.ndarray
    grad: bool = True


@dataclass
class Call:
    fn: str  # ember function (dotted path under ember)
    args: list
    kwargs: dict = field(default_factory=dict)
    torch_fn: str | None = None  # dotted path under torch; default: same as fn
    torch_kwargs: dict | None = None
    grad: bool = True  # compare gradients / gradcheck
    second: bool = True  # gradgradcheck
    fd: bool = True  # finite differences are meaningful (not through a float32 cast)
    rtol: float = 1e-6


def floats(draw, shape, domain=(-3.0, 3.0), noncontig=None):
    """Random values in ``domain`` (a seed drawn by hypothesis), sometimes as a non-contiguous view."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    lo, hi = domain
    vals = rng.uniform(lo, hi, size=shape)
    if noncontig is None:
        noncontig = draw(st.booleans())
    if noncontig and len(shape) >= 1:
        base = np.empty(tuple(shape) + (2,))
        base[..., 0] = vals
        vals = base[..., 0]  # strided view, same values
    return vals


def ints(draw, shape, lo, hi):
    seed = draw(st.integers(0, 2**31 - 1))
    return np.random.default_rng(seed).integers(lo, hi, size=shape)


def small_shape(draw, min_dims=0, max_dims=3, min_side=0, max_side=4):
    return draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side))


# ---- defaults by kind ----------------------------------------------------------------
def elementwise(draw, name, sample):
    domains = sample.get("domain") or [(-3.0, 3.0)]
    n = len(domains)
    shapes = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=3, min_side=0, max_side=4)
    ).input_shapes
    args = []
    for shape, dom in zip(shapes, domains):
        if dom is None:  # a condition
            args.append(Arr(ints(draw, shape, 0, 2).astype(bool), grad=False))
        else:
            args.append(Arr(floats(draw, shape, dom)))
    if n == 2 and sample.get("scalar", True) and draw(st.booleans()):  # tensor op Python scalar
        lo, hi = domains[1]
        args[1] = float(np.round(draw(st.floats(lo, hi)), 2)) or hi
    attrs = sample.get("attrs", [{}])
    kw = draw(st.sampled_from(attrs))
    return [Call(name, args, dict(kw), torch_fn=sample.get("torch"), grad=sample.get("grad", True))]


def reduction(draw, name, sample):
    shape = small_shape(draw, min_dims=0, max_dims=4, min_side=1)
    x = Arr(floats(draw, shape, (sample.get("domain") or [(-3.0, 3.0)])[0]))
    nd = len(shape)
    keepdim = draw(st.booleans())
    grad = sample.get("grad", True)
    if name in ("all", "any"):
        x = Arr(floats(draw, shape) > 0, grad=False)
    calls = []
    dim_int = draw(st.integers(-nd, nd - 1)) if nd else 0
    dims_tuple = tuple(draw(st.permutations(range(nd)))[: draw(st.integers(1, nd))]) if nd else (0,)
    if name == "prod":
        calls.append(Call(name, [x], {}, grad=grad))
        calls.append(Call(name, [x], {"dim": dim_int, "keepdim": keepdim}, grad=grad))
    elif name in ("amax", "amin"):
        calls.append(Call(name, [x], {"dim": dims_tuple if nd else (), "keepdim": keepdim}, grad=grad))
    elif name == "logsumexp":
        calls.append(Call(name, [x], {"dim": dims_tuple if nd else 0, "keepdim": keepdim}, grad=grad))
    else:
        calls.append(Call(name, [x], {}, grad=grad))
        calls.append(Call(name, [x], {"dim": dims_tuple if nd else 0, "keepdim": keepdim}, grad=grad))
    return calls


# ---- named families ------------------------------------------------------------------------
def _max_dim(draw, name, sample):
    shape = small_shape(draw, min_dims=1, min_side=1)
    x = Arr(floats(draw, shape))
    d = draw(st.integers(-len(shape), len(shape) - 1))
    fn = "max" if name == "max_dim" else "min"
    return [Call(fn, [x], {"dim": d, "keepdim": draw(st.booleans())}, second=False), Call(fn, [x], {})]


def _arg(draw, name, sample):
    shape = small_shape(draw, min_dims=0, min_side=1)
    x = Arr(floats(draw, shape), grad=False)
    calls = [Call(name, [x], {}, grad=False)]
    if shape:
        d = draw(st.integers(-len(shape), len(shape) - 1))
        calls.append(Call(name, [x], {"dim": d, "keepdim": draw(st.booleans())}, grad=False))
    return calls


def _cum(draw, name, sample):
    shape = small_shape(draw, min_dims=0)
    dom = (sample.get("domain") or [(-3.0, 3.0)])[0]
    x = Arr(floats(draw, shape, dom))
    d = draw(st.integers(-len(shape), len(shape) - 1)) if shape else 0
    return [Call(name, [x], {"dim": d})]


def _norm(draw, name, sample):
    shape = small_shape(draw, min_dims=0, min_side=1)
    x = Arr(floats(draw, shape))
    ord_ = draw(st.sampled_from([2, 1, 3, float("inf")]))
    nd = len(shape)
    dim = None if not nd or draw(st.booleans()) else draw(st.integers(-nd, nd - 1))
    kw = {"ord": ord_, "dim": dim, "keepdim": draw(st.booleans())}
    return [Call("linalg.vector_norm", [x], kw, torch_fn="linalg.vector_norm", second=ord_ not in (1, float("inf")))]


def _reshape(draw, name, sample):
    shape = small_shape(draw, min_dims=0, min_side=1)
    n = int(np.prod(shape))
    x = Arr(floats(draw, shape))
    target = draw(st.sampled_from([(n,), (-1,), (1, n), (n, 1, -1)]))
    return [
        Call("reshape", [x, target]),
        Call("flatten", [x]),
        Call("unsqueeze", [x, draw(st.integers(-len(shape) - 1, len(shape)))]),
        Call("squeeze", [x]),
    ]


def _permute(draw, name, sample):
    shape = small_shape(draw, min_dims=1)
    x = Arr(floats(draw, shape))
    perm = tuple(draw(st.permutations(range(len(shape)))))
    calls = [Call("permute", [x, perm])]
    if len(shape) >= 2:
        calls.append(Call("transpose", [x, 0, -1]))
        calls.append(Call("movedim", [x, 0, -1]))
    return calls


def _expand(draw, name, sample):
    shape = small_shape(draw, min_dims=0, max_dims=3, min_side=1, max_side=3)
    base = tuple(1 if draw(st.booleans()) else s for s in shape)
    x = Arr(floats(draw, base))
    target = (2,) + tuple(shape)
    return [Call("broadcast_to", [x, target]), Call("Tensor.expand", [x, *target], torch_fn="Tensor.expand")]


def _cat(draw, name, sample):
    shape = small_shape(draw, min_dims=1, max_side=3)
    d = draw(st.integers(-len(shape), len(shape) - 1))
    k = draw(st.integers(1, 3))
    parts = []
    for _ in range(k):
        s = list(shape)
        s[d] = draw(st.integers(0, 3))
        parts.append(Arr(floats(draw, tuple(s))))
    stack_parts = [Arr(floats(draw, shape)) for _ in range(k)]
    sd = draw(st.integers(-len(shape) - 1, len(shape)))
    return [
        Call("cat", [parts], {"dim": d}),
        Call("stack", [stack_parts], {"dim": sd}),
        Call("split", [parts[0], 2], {"dim": d}),
        Call("chunk", [parts[0], 2], {"dim": d}),
        Call("unbind", [parts[0]], {"dim": d}),
    ]


def _flip(draw, name, sample):
    shape = small_shape(draw, min_dims=1)
    x = Arr(floats(draw, shape))
    dims = tuple(draw(st.permutations(range(len(shape))))[: draw(st.integers(1, len(shape)))])
    return [Call("flip", [x, dims])]


def _roll(draw, name, sample):
    shape = small_shape(draw, min_dims=1)
    x = Arr(floats(draw, shape))
    return [
        Call("roll", [x, draw(st.integers(-5, 5))]),
        Call("roll", [x, (draw(st.integers(-5, 5)),)], {"dims": (draw(st.integers(-len(shape), len(shape) - 1)),)}),
    ]


def _repeat(draw, name, sample):
    shape = small_shape(draw, min_dims=0, max_dims=2, max_side=3)
    x = Arr(floats(draw, shape))
    reps = tuple(draw(st.integers(0, 3)) for _ in range(max(1, len(shape) + draw(st.integers(0, 1)))))
    return [Call("Tensor.repeat", [x, *reps], torch_fn="Tensor.repeat"), Call("tile", [x, reps])]


def _tri(draw, name, sample):
    shape = small_shape(draw, min_dims=2)
    x = Arr(floats(draw, shape))
    return [Call(name, [x], {"diagonal": draw(st.integers(-3, 3))})]


def _diagonal(draw, name, sample):
    shape = small_shape(draw, min_dims=2, max_dims=3, min_side=1)
    x = Arr(floats(draw, shape))
    d1, d2 = draw(st.permutations(range(len(shape))))[:2]
    return [
        Call("diagonal", [x], {"offset": draw(st.integers(-2, 2)), "dim1": d1, "dim2": d2}),
        Call("trace", [Arr(floats(draw, shape[:2]))]),
    ]


def _diagonal_scatter(draw, name, sample):
    n, m = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    off = draw(st.integers(-1, 1))
    k = max(0, min(n, m - off) if off >= 0 else min(n + off, m))
    return [Call("diagonal_scatter", [Arr(floats(draw, (n, m))), Arr(floats(draw, (k,)))], {"offset": off})]


def _pad(draw, name, sample):
    shape = small_shape(draw, min_dims=1, max_dims=3, min_side=2)
    x = Arr(floats(draw, shape))
    npairs = draw(st.integers(1, len(shape)))
    pads = [draw(st.integers(0, 2)) for _ in range(2 * npairs)]
    calls = [Call("nn.functional.pad", [x, pads], {"value": 0.5})]
    small = [min(p, 1) for p in pads]
    if len(shape) >= 2 and npairs <= len(shape) - 1:
        mode = draw(st.sampled_from(["reflect", "replicate", "circular"]))
        calls.append(Call("nn.functional.pad", [x, small[: 2 * min(npairs, 2)]], {"mode": mode}))
    return calls


def _cast(draw, name, sample):
    shape = small_shape(draw)
    x = Arr(floats(draw, shape))
    return [
        Call("Tensor.to", [x, "float32"], torch_fn="Tensor.to", fd=False),
        Call("Tensor.double", [x], torch_fn="Tensor.double"),
    ]


def _index_key(draw, shape):
    key = []
    for s in shape[: draw(st.integers(0, len(shape)))]:
        kind = draw(st.sampled_from(["int", "slice", "none", "tensor"]))
        if kind == "int" and s > 0:
            key.append(draw(st.integers(-s, s - 1)))
        elif kind == "tensor" and s > 0:
            key.append(Arr(ints(draw, (draw(st.integers(0, 3)),), -s, s), grad=False))
        elif kind == "none":
            key.append(None)
            key.append(slice(None))
        else:
            key.append(slice(draw(st.integers(-4, 4)), draw(st.integers(-4, 4)), draw(st.integers(1, 3))))
    return tuple(key)


def _getitem(draw, name, sample):
    shape = small_shape(draw, min_dims=1)
    x = Arr(floats(draw, shape))
    key = _index_key(draw, shape)
    mask = Arr(floats(draw, shape) > 0, grad=False)
    return [
        Call("getitem", [x, key], torch_fn="Tensor.__getitem__"),
        Call("getitem", [x, mask], torch_fn="Tensor.__getitem__"),
    ]


def _index_put(draw, name, sample):
    shape = small_shape(draw, min_dims=1, min_side=1)
    x = Arr(floats(draw, shape))
    n = draw(st.integers(1, 4))
    idx = Arr(ints(draw, (n,), -shape[0], shape[0]), grad=False)
    vals = Arr(floats(draw, (n,) + tuple(shape[1:])))
    acc = draw(st.booleans())
    if not acc:  # repeated indices make plain assignment order-dependent
        idx = Arr(np.unique(idx.value % shape[0]), grad=False)
        vals = Arr(floats(draw, (len(idx.value),) + tuple(shape[1:])))
    return [Call("index_put", [x, (idx,), vals], {"accumulate": acc})]


def _gather_like(draw):
    shape = small_shape(draw, min_dims=1, min_side=1)
    d = draw(st.integers(-len(shape), len(shape) - 1))
    ishape = tuple(
        draw(st.integers(1, s)) if i != d % len(shape) else draw(st.integers(0, 4)) for i, s in enumerate(shape)
    )
    idx = Arr(ints(draw, ishape, 0, shape[d]), grad=False)
    return shape, d, ishape, idx


def _gather(draw, name, sample):
    shape, d, ishape, idx = _gather_like(draw)
    x = Arr(floats(draw, shape))
    calls = [Call("gather", [x, d, idx])]
    iv = Arr(ints(draw, (draw(st.integers(0, 4)),), 0, shape[d]), grad=False)
    calls.append(Call("index_select", [x, d, iv]))
    src = Arr(floats(draw, (len(iv.value),) + tuple(s for i, s in enumerate(shape) if i != d % len(shape))))
    src = Arr(np.moveaxis(src.value, 0, d % len(shape)))
    calls.append(Call("index_add", [x, d, iv, src]))
    return calls


def _scatter(draw, name, sample):
    shape, d, ishape, idx = _gather_like(draw)
    x = Arr(floats(draw, shape))
    src = Arr(floats(draw, ishape))
    # plain scatter with duplicate targets is order-dependent: make targets unique along d
    uniq = np.argsort(np.random.default_rng(0).random(ishape), axis=d) % shape[d]
    ok = ishape[d] <= shape[d]
    calls = [Call("scatter_add", [x, d, idx, src])]
    if ok:
        calls.append(Call("scatter", [x, d, Arr(uniq, grad=False), src]))
    return calls


def _sort(draw, name, sample):
    shape = small_shape(draw, min_dims=1)
    x = Arr(floats(draw, shape))
    d = draw(st.integers(-len(shape), len(shape) - 1))
    desc = draw(st.booleans())
    return [
        Call("sort", [x], {"dim": d, "descending": desc}, second=False),
        Call("argsort", [x], {"dim": d, "descending": desc}, grad=False),
    ]


def _topk(draw, name, sample):
    shape = small_shape(draw, min_dims=1, min_side=1)
    x = Arr(floats(draw, shape))
    d = draw(st.integers(-len(shape), len(shape) - 1))
    k = draw(st.integers(0, shape[d]))
    return [Call("topk", [x, k], {"dim": d, "largest": draw(st.booleans())}, second=False)]


def _nonzero(draw, name, sample):
    shape = small_shape(draw)
    x = Arr(np.round(floats(draw, shape, (-1, 1))), grad=False)
    return [Call("nonzero", [x], grad=False), Call("nonzero", [x], {"as_tuple": True}, grad=False)]


def _unique(draw, name, sample):
    shape = small_shape(draw)
    x = Arr(ints(draw, shape, 0, 4), grad=False)
    return [Call("unique", [x], {"return_inverse": True, "return_counts": True}, grad=False)]


def _one_hot(draw, name, sample):
    shape = small_shape(draw)
    x = Arr(ints(draw, shape, 0, 4), grad=False)
    return [Call("nn.functional.one_hot", [x], {"num_classes": 5}, grad=False)]


def _matmul(draw, name, sample):
    k = draw(st.integers(1, 4))
    m, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=2)).input_shapes
    kind = draw(st.sampled_from(["mm", "vec_mat", "mat_vec", "dot", "batched"]))
    if kind == "mm":
        a, b = (m, k), (k, n)
    elif kind == "vec_mat":
        a, b = (k,), batch[1] + (k, n)
    elif kind == "mat_vec":
        a, b = batch[0] + (m, k), (k,)
    elif kind == "dot":
        a, b = (k,), (k,)
    else:
        a, b = batch[0] + (m, k), batch[1] + (k, n)
    return [Call("matmul", [Arr(floats(draw, a)), Arr(floats(draw, b))])]


def _einsum(draw, name, sample):
    eq = draw(
        st.sampled_from(["ij,jk->ik", "bij,bjk->bik", "i,i->", "ij->j", "ij,j->i", "i,j->ij", "...ij,...jk", "ii->i"])
    )
    sizes = {c: draw(st.integers(1, 3)) for c in "bijk"}
    ins = eq.split("->")[0].split(",")
    args = []
    for s in ins:
        shape = tuple(sizes[c] for c in s.replace("...", "b"))
        if s == "ii":
            shape = (sizes["i"], sizes["i"])
        args.append(Arr(floats(draw, shape)))
    return [Call("einsum", [eq, *args], grad=eq != "ii->i")]


def _softmax(draw, name, sample):
    shape = small_shape(draw, min_dims=1)
    x = Arr(floats(draw, shape))
    d = draw(st.integers(-len(shape), len(shape) - 1))
    return [Call(name, [x], {"dim": d})]


# ---- convolution and pooling (N, C, H, W) ------------------------------------------------------
def _conv_geometry(draw, transposed=False):
    groups = draw(st.sampled_from([1, 1, 2]))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    n = draw(st.sampled_from([1, 2, 2, 0]))
    # spatial sizes large enough for one output position
    hw = tuple(max(draw(st.integers(1, 6)), dilation[i] * (k[i] - 1) + 1 - 2 * padding[i]) for i in range(2))
    return n, groups, cg, og, k, stride, dilation, padding, hw


def _conv2d(draw, name, sample):
    n, groups, cg, og, k, stride, dilation, padding, hw = _conv_geometry(draw)
    x = Arr(floats(draw, (n, cg * groups) + hw))
    w = Arr(floats(draw, (og * groups, cg) + k))
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return [Call("nn.functional.conv2d", [x, w], kw)]


def _conv_transpose2d(draw, name, sample):
    n, groups, cg, og, k, stride, dilation, padding, hw = _conv_geometry(draw)
    output_padding = tuple(draw(st.integers(0, max(stride[i], dilation[i]) - 1)) for i in range(2))
    # the output must be non-empty: (h - 1) * s - 2p + d(k - 1) + op + 1 > 0
    padding = tuple(
        min(padding[i], ((hw[i] - 1) * stride[i] + dilation[i] * (k[i] - 1) + output_padding[i]) // 2) for i in range(2)
    )
    x = Arr(floats(draw, (n, cg * groups) + hw))
    w = Arr(floats(draw, (cg * groups, og) + k))
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    return [Call("nn.functional.conv_transpose2d", [x, w], kw)]


def _conv2d_weight(draw, name, sample):
    n, groups, cg, og, k, stride, dilation, padding, hw = _conv_geometry(draw)
    ho, wo = ((hw[i] + 2 * padding[i] - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(2))
    x = Arr(floats(draw, (n, cg * groups) + hw))
    g = Arr(floats(draw, (n, og * groups, ho, wo)))
    wsize = (og * groups, cg) + k
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return [Call("nn.grad.conv2d_weight", [x, wsize, g], kw)]


def _max_pool2d(draw, name, sample):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = tuple(draw(st.integers(0, k[i] // 2)) for i in range(2))
    # at least one dilated kernel span: a window entirely in the padding (possible with dilation)
    # gets -inf and an out-of-range index from PyTorch
    hw = tuple(max(draw(st.integers(1, 6)), dilation[i] * (k[i] - 1) + 1) for i in range(2))
    shape = (draw(st.sampled_from([1, 2, 0])), draw(st.integers(1, 3))) + hw
    x = Arr(floats(draw, shape))
    kw = dict(kernel_size=k, stride=stride, padding=padding, dilation=dilation, ceil_mode=draw(st.booleans()))
    return [
        Call("nn.functional.max_pool2d", [x], dict(kw, return_indices=True), second=False),
        Call("nn.functional.max_pool2d", [x], kw),
    ]


def _layer_norm(draw, name, sample):
    shape = small_shape(draw, min_dims=1, max_dims=3, min_side=1)
    k = draw(st.integers(1, len(shape)))
    norm = tuple(shape[len(shape) - k :])
    x = Arr(floats(draw, shape))
    calls = [Call("nn.functional.layer_norm", [x, norm], {"eps": draw(st.sampled_from([1e-5, 1e-3]))})]
    if draw(st.booleans()):
        w, b = Arr(floats(draw, norm)), Arr(floats(draw, norm))
        calls.append(Call("nn.functional.layer_norm", [x, norm, w, b]))
    return calls


FAMILIES = {
    "max_dim": _max_dim,
    "arg": _arg,
    "cum": _cum,
    "norm": _norm,
    "reshape": _reshape,
    "permute": _permute,
    "expand": _expand,
    "cat": _cat,
    "flip": _flip,
    "roll": _roll,
    "repeat": _repeat,
    "tri": _tri,
    "diagonal": _diagonal,
    "diagonal_scatter": _diagonal_scatter,
    "pad": _pad,
    "cast": _cast,
    "getitem": _getitem,
    "index_put": _index_put,
    "gather": _gather,
    "scatter": _scatter,
    "sort": _sort,
    "topk": _topk,
    "nonzero": _nonzero,
    "unique": _unique,
    "one_hot": _one_hot,
    "matmul": _matmul,
    "einsum": _einsum,
    "softmax": _softmax,
    "conv2d": _conv2d,
    "conv_transpose2d": _conv_transpose2d,
    "conv2d_weight": _conv2d_weight,
    "max_pool2d": _max_pool2d,
    "layer_norm": _layer_norm,
}

# composite kinds ----------------------------------------------------------------------------


def composite_calls(draw, name, sample):
    kind = sample.get("kind")
    torch_fn = sample.get("torch")
    if kind in ("unary", "binary", "ternary"):
        calls = elementwise(draw, name, dict(sample, attrs=[{}]))
        for c in calls:
            c.torch_fn = torch_fn
        return calls
    if kind == "binary_vec":
        return [
            Call(name, [Arr(floats(draw, (draw(st.integers(0, 3)),))), Arr(floats(draw, (draw(st.integers(0, 3)),)))])
        ]
    if kind == "matrix":
        return [Call(name, [Arr(floats(draw, small_shape(draw, min_dims=2, max_dims=2)))])]
    raise KeyError(f"unknown composite sample kind {kind!r} for {name}")


def calls_for(draw, name, op_kind, sample):
    if "cases" in sample:
        return FAMILIES[sample["cases"]](draw, name, sample)
    if sample.get("reduce"):
        return reduction(draw, name, sample)
    if sample.get("dtypes") == "int":
        shape = small_shape(draw)
        n = 2 if name.startswith("bitwise_") and name != "bitwise_not" else 1
        return [Call(name, [Arr(ints(draw, shape, -8, 8), grad=False) for _ in range(n)], grad=False)]
    if sample.get("unary"):
        return [Call(sample.get("ember", name), [Arr(floats(draw, small_shape(draw)))], torch_fn=sample.get("torch"))]
    return elementwise(draw, name, sample)
