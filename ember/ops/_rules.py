"""Shape rules shared by many ops: they see ShapeDtype values, never data.

A dim may be None (unknown until a graph runs); rules propagate it.
"""

from __future__ import annotations

from ..errors import ShapeError, describe


def numel(shape):
    """How many elements ``shape`` holds; None when a dim is known only at run time (a graph's None)."""
    n = 1
    for s in shape:
        if s is None:
            return None
        n *= s
    return n


def same_shape(x, *rest, **attrs):
    return x.shape


def broadcast_shapes(*shapes, op="broadcast", args=()):
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(ndim):
        dim = 1
        for s in shapes:
            j = i - (ndim - len(s))
            if j < 0:
                continue
            d = s[j]
            if d == 1:
                continue
            if dim == 1:
                dim = d
            elif d is None or dim is None:
                dim = d if dim is None else dim
            elif d != dim:
                k = [n for n, s2 in enumerate(shapes) if len(s2) > j and s2[j] == d][0]
                raise ShapeError(
                    f"{op}: {describe(args) if args else shapes}: the size of tensor a ({dim}) must match the "
                    f"size of tensor b ({d}) at non-singleton dimension {i} (operand {k})"
                )
        out.append(dim)
    return tuple(out)


def broadcast(*specs, **attrs):
    """Elementwise ops: NumPy/PyTorch broadcasting of every tensor argument."""
    shapes = [s.shape for s in specs if hasattr(s, "shape")]
    return broadcast_shapes(*shapes, op=attrs.get("_op", "elementwise"), args=specs)


def wrap_dim(dim, ndim, op="dim"):
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n if ndim else 0


def wrap_dims(dims, ndim, op="dim"):
    if dims is None:
        return tuple(range(ndim))
    if isinstance(dims, int):
        dims = (dims,)
    out = tuple(wrap_dim(d, ndim, op) for d in dims)
    if len(set(out)) != len(out):
        raise RuntimeError(f"{op}: dim {out} appears multiple times in the list of dims")
    return out


def reduce_shape(shape, axis, keepdim):
    axes = range(len(shape)) if axis is None else axis
    if keepdim:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def reduce_rule(x, *rest, axis=None, keepdim=False, **attrs):
    return reduce_shape(x.shape, axis, keepdim)
