"""``repr(tensor)`` in PyTorch's style: ``tensor([1., 2.], requires_grad=True)``."""

from __future__ import annotations

import numpy as np

from . import dtypes as dt

_DEFAULT_SHOWN = {"float32", "int64", "bool"}


def format_tensor(t) -> str:
    data = np.asarray(t.__array__())
    if data.dtype == getattr(dt.bfloat16, "np", None):
        data = data.astype(np.float32)
    prefix = "tensor("
    if data.size == 0:
        body = "[]" if data.ndim <= 1 else "[]"
    else:
        kw = dict(separator=", ", prefix=prefix, threshold=1000, edgeitems=3, max_line_width=80)
        if data.dtype.kind == "f":
            finite = data[np.isfinite(data)]
            amax = np.abs(finite).max() if finite.size else 0.0
            amin = np.abs(finite[finite != 0]).min() if (finite != 0).any() else 0.0
            sci = amax >= 1e8 or (amin and amin < 1e-4) or (amin and amax / amin > 1000.0 and amax >= 1e3)
            ints = finite.size and np.all(finite == np.round(finite))
            if ints and not sci:
                fmt = lambda v: _float_int(v)  # noqa: E731
            elif sci:
                fmt = lambda v: f"{v:.4e}"  # noqa: E731
            else:
                fmt = lambda v: f"{v:.4f}"  # noqa: E731
            kw["formatter"] = {"float_kind": fmt}
        body = np.array2string(data, **kw)
    extras = []
    name = t.dtype.name
    if name not in _DEFAULT_SHOWN or (name == "float32" and dt.get_default_dtype() is not dt.float32):
        if not (data.size == 0 and name == "float32"):
            extras.append(f"dtype=ember.{name}")
    if data.size == 0 and data.shape != (0,):
        extras.insert(0, f"size={tuple(data.shape)}")
    dev = t.device
    if dev.type != "cpu":
        extras.insert(0, f"device='{dev}'")
    if t._node is not None:
        extras.append(f"grad_fn=<{t._node.name()}>")
    elif t._rg:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"


def _float_int(v):
    if not np.isfinite(v):
        return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
    return f"{v:.0f}."
