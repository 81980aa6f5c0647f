"""Linear algebra primitives: matmul (with PyTorch's 1-D and batching rules) and einsum."""

from __future__ import annotations

import numpy as np

from .. import ops as F
from ..errors import ShapeError, describe
from ..op import LINALG, primitive
from ._rules import broadcast_shapes


def _matmul_dtype(sig):
    from ..op import _split_signature

    dims, zeros, _ = _split_signature(sig)
    ds = dims + zeros
    if len(ds) == 2 and ds[0] is not ds[1]:
        raise RuntimeError(f"matmul: expected m1 and m2 to have the same dtype, but got: {ds[0].name} != {ds[1].name}")
    return None, ds[0]


def inner_dim_error(op, a, b):
    """``op: (2, 3) @ (4, 5): size of the last dim ...``, or None when a's last dim meets b's."""
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka is None or kb is None or ka == kb:
        return None
    which = "dim 0" if b.ndim == 1 else "dim -2"
    return ShapeError(
        f"{op}: {tuple(a.shape)} @ {tuple(b.shape)}: size of the last dim of the first operand ({ka}) must equal "
        f"{which} of the second ({kb})"
    )


def _matmul_shape(a, b):
    args = (a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: {describe(args)}: both arguments to matmul need to be at least 1D")
    err = inner_dim_error("matmul", a, b)
    if err is not None:
        raise err
    if a.ndim == 1 and b.ndim == 1:
        return ()
    if a.ndim == 1:
        return tuple(b.shape[:-2]) + (b.shape[-1],)
    if b.ndim == 1:
        return tuple(a.shape[:-1])
    batch = broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]), op="matmul", args=args)
    return batch + (a.shape[-2], b.shape[-1])


def _matmul_vjp(g, a, b, *, need, in_shapes, **_):
    a_nd, b_nd = len(in_shapes[0] or a.shape), len(in_shapes[1] or b.shape)
    if a_nd == 1 and b_nd == 1:
        return (g * b if need[0] else None, g * a if need[1] else None)
    ga = gb = None
    if a_nd == 1:  # (k,) @ (..., k, n) -> (..., n)
        g2 = F.unsqueeze(g, -2)
        if need[0]:
            ga = F.reshape(F.matmul(g2, F.mT(b)), (-1, in_shapes[0][0])).sum(0)
        if need[1]:
            gb = F.matmul(F.unsqueeze(a, -1), g2)
        return ga, gb
    if b_nd == 1:  # (..., m, k) @ (k,) -> (..., m)
        g2 = F.unsqueeze(g, -1)
        if need[0]:
            ga = F.matmul(g2, F.unsqueeze(b, 0))
        if need[1]:
            gb = F.reshape(F.matmul(F.mT(a), g2), (-1, in_shapes[1][0])).sum(0)
        return ga, gb
    if need[0]:
        ga = F.matmul(g, F.mT(b))
    if need[1]:
        if b_nd == 2:
            gb = _weight_grad(g, a, b, in_shapes[1] or b.shape, a_nd)
        else:
            gb = F.matmul(F.mT(a), g)
    return ga, gb


def _weight_grad(g, a, b, b_shape, a_nd):
    """d b for ``a @ b`` with a 2-D b, as ONE GEMM.

    (..., m, k) @ (k, n) folds the leading dims into rows instead of a batch of
    per-matrix products summed afterwards (3-4x faster for Linear on sequences). When b
    is itself a transpose (Linear's ``weight.t()``) the product is computed as
    ``(g^T a)^T``, so the gradient reaching the weight is already in its C order and
    needs no transposing copy of a weight-sized array. The choice reads how b was made,
    not its memory layout, so eager, traced and TF1 graphs compute the same bits.
    """
    k, n = b_shape
    if a_nd > 2:
        a, g = F.reshape(a, (-1, k)), F.reshape(g, (-1, n))
    if _made_by_permute(b):
        return F.mT(F.matmul(F.mT(g), a))
    return F.matmul(F.mT(a), g)


def _made_by_permute(t):
    node = getattr(t, "_node", None)  # eager tape (also while ember.compile traces backward)
    if node is not None:
        return getattr(getattr(node, "op", None), "name", None) == "permute"
    value = getattr(getattr(t, "_data", None), "value", None)  # a graph tensor (symbolic autodiff)
    producer = getattr(value, "node", None)
    return producer is not None and producer.op_name == "permute"


def _matmul_impl(xp, a, b):
    """np.matmul, except that (..., m, k) @ (k, n) is one GEMM over the folded rows.

    NumPy's matmul runs a stack of small GEMMs there (one per leading index), which is
    1.5x slower than one GEMM for a Linear applied to a sequence.
    """
    if a.ndim > 2 and b.ndim == 2 and a.flags.c_contiguous and a.size:
        k, n = b.shape
        return xp.dot(a.reshape(-1, k), b).reshape(a.shape[:-1] + (n,))
    return xp.matmul(a, b)


matmul = primitive(
    "matmul",
    all_shapes=True,
    kind=LINALG,
    impl=_matmul_impl,
    shape=_matmul_shape,
    vjp=_matmul_vjp,
    dtype=_matmul_dtype,
    # b's own gradient reads b too, only to see whether b is a transpose (see _weight_grad)
    saves={0: (1,), 1: (0, 1)},
    onnx="MatMul",
    sample=dict(cases="matmul"),
)


def parse_einsum(equation, ndims):
    """Expand '...' and return (input subscripts, output subscripts) as strings."""
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->")
    else:
        lhs, rhs = eq, None
    ins = lhs.split(",")
    if len(ins) != len(ndims):
        raise RuntimeError(f"einsum(): {len(ins)} operands in the equation but {len(ndims)} given")
    used = set(c for c in lhs if c.isalpha())
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used]
    ell_n = max((nd - (len(s) - 3) for s, nd in zip(ins, ndims) if "..." in s), default=0)
    ell = "".join(free[:ell_n])
    out_ins = []
    for s, nd in zip(ins, ndims):
        if "..." in s:
            k = nd - (len(s) - 3)
            s = s.replace("...", ell[ell_n - k :])
        if len(s) != nd:
            raise RuntimeError(f"einsum(): the number of subscripts in '{s}' does not match the operand's {nd} dims")
        out_ins.append(s)
    if rhs is None:
        counts = {}
        for s in out_ins:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        rhs = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        rhs = rhs.replace("...", ell)
    return out_ins, rhs


def _einsum_impl(xp, *ops, equation):
    ins, out = parse_einsum(equation, [o.ndim for o in ops])
    eq = ",".join(ins) + "->" + out
    return xp.einsum(eq, *ops, optimize=len(ops) > 2) if xp is np else xp.einsum(eq, *ops)


def _einsum_vjp(g, *ops, need, in_shapes, equation, **_):
    ins, out = parse_einsum(equation, [len(s) for s in in_shapes])
    grads = []
    for i, nd in enumerate(need):
        if not nd:
            grads.append(None)
            continue
        target = ins[i]
        if len(set(target)) != len(target):
            raise RuntimeError(f"einsum backward: repeated subscripts in operand {i} ('{target}') are not supported")
        others = [(s, o) for j, (s, o) in enumerate(zip(ins, ops)) if j != i]
        avail = set(out) | set("".join(s for s, _ in others))
        keep = "".join(c for c in target if c in avail)
        eq = ",".join([out] + [s for s, _ in others]) + "->" + keep
        gi = F.einsum(eq, g, *[o for _, o in others])
        if keep != target:  # letters summed away inside this operand alone: broadcast back
            shape = [in_shapes[i][target.index(c)] if c in keep else 1 for c in target]
            gi = F.expand(F.reshape(gi, shape), in_shapes[i])
        grads.append(gi)
    return tuple(grads)


def _einsum_shape(*ops, equation):
    ins, out = parse_einsum(equation, [o.ndim for o in ops])
    sizes = {}
    for s, o in zip(ins, ops):
        for c, d in zip(s, o.shape):
            if d is None or d == 1:
                sizes.setdefault(c, d)
                continue
            if sizes.get(c) not in (None, 1, d):
                raise ShapeError(
                    f"einsum(): operands do not broadcast with remapped shapes: subscript '{c}' has size "
                    f"{sizes[c]} and {d} ({describe(ops)})"
                )
            sizes[c] = d
    return tuple(sizes[c] for c in out)


einsum_ = primitive(
    "einsum",
    all_shapes=True,
    kind=LINALG,
    impl=_einsum_impl,
    shape=_einsum_shape,
    vjp=_einsum_vjp,
    dtype="promote",
    saves=None,
    onnx="Einsum",
    sample=dict(cases="einsum"),
)
