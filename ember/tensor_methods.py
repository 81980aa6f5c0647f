"""Attach operators and methods to Tensor from the op table (one place, one list).

Dunders map straight to primitive functions (the short eager path); named
methods are the public ops with the tensor as first argument; ``name_``
methods are the in-place versions built by ``ops.inplace.make_inplace``.
"""

from __future__ import annotations

from . import devices as _dev
from . import dtypes as dt
from . import ops as F
from . import random as _random
from .ops import elementwise as E
from .ops import inplace as IP
from .ops import linalg as L
from .tensor import Tensor, _make

# ---- operators -----------------------------------------------------------------
Tensor.__add__ = E.add
Tensor.__radd__ = lambda self, other: E.add(other, self)
Tensor.__sub__ = E.sub
Tensor.__rsub__ = lambda self, other: F.sub(other, self)
Tensor.__mul__ = E.mul
Tensor.__rmul__ = lambda self, other: E.mul(other, self)
Tensor.__truediv__ = E.div
Tensor.__rtruediv__ = lambda self, other: E.div(other, self)
Tensor.__floordiv__ = E.floor_divide
Tensor.__rfloordiv__ = lambda self, other: E.floor_divide(other, self)
Tensor.__mod__ = E.remainder
Tensor.__rmod__ = lambda self, other: E.remainder(other, self)
Tensor.__pow__ = F.pow
Tensor.__rpow__ = lambda self, other: F.pow(other, self)
Tensor.__matmul__ = L.matmul
Tensor.__rmatmul__ = lambda self, other: L.matmul(other, self)
Tensor.__neg__ = E.neg
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = E.abs
Tensor.__invert__ = lambda self: E.logical_not(self) if self.dtype is dt.bool_ else E.bitwise_not(self)
Tensor.__and__ = E.bitwise_and
Tensor.__or__ = E.bitwise_or
Tensor.__xor__ = E.bitwise_xor
Tensor.__rand__ = lambda self, other: E.bitwise_and(other, self)
Tensor.__ror__ = lambda self, other: E.bitwise_or(other, self)
Tensor.__rxor__ = lambda self, other: E.bitwise_xor(other, self)
Tensor.__eq__ = E.eq
Tensor.__ne__ = E.ne
Tensor.__lt__ = E.lt
Tensor.__le__ = E.le
Tensor.__gt__ = E.gt
Tensor.__ge__ = E.ge
Tensor.__getitem__ = F.getitem
Tensor.__setitem__ = IP.setitem

# ---- named methods: the public op of the same name ----------------------------------
_METHODS = """
abs absolute acos add addcdiv addcmul addmm all allclose amax amin any argmax argmin argsort argwhere asin atan
atan2 bitwise_and bitwise_not bitwise_or bitwise_xor bmm broadcast_to ceil chunk clamp clamp_max clamp_min clip
clone contiguous cos cosh count_nonzero cummax cumprod cumsum diag diag_embed diagonal diagonal_scatter dist div
divide dot eq equal erf exp exp2 expand_as expm1 flatten fliplr flipud float_power floor floor_divide fmax fmin
fmod gather ge gelu greater greater_equal gt hypot index_add index_copy index_fill index_put index_select inner
isclose isfinite isinf isnan kthvalue le lerp less less_equal log log10 log1p log2 log_softmax logical_and
logical_not logical_or logical_xor logit logsumexp lt masked_fill masked_scatter masked_select matmul max maximum
mean median min minimum mm moveaxis movedim msort mul multiply mv nan_to_num nanmean nansum narrow ne neg negative
nonzero norm not_equal outer pow prod reciprocal relu remainder repeat_interleave reshape_as roll round rsqrt
scatter scatter_add select sigmoid sign sin sinh softmax sort split sqrt square squeeze std sub subtract sum
swapaxes swapdims take take_along_dim tan tanh tensor_split tile topk trace transpose tril triu true_divide trunc
unbind unflatten unique unsqueeze var view_as where
""".split()

for _name in _METHODS:
    _fn = getattr(F, _name, None)
    if _fn is not None:
        setattr(Tensor, _name, _fn)

# varargs forms: x.view(2, 3), x.permute(1, 0), x.flip(0, 1) ...
Tensor.view = F.view
Tensor.reshape = F.reshape
Tensor.permute = F.permute
Tensor.expand = F.expand
Tensor.repeat = F.repeat
Tensor.flip = lambda self, *dims: F.flip(self, dims[0] if len(dims) == 1 else dims)
Tensor.t = F.t
Tensor.T = property(F.T)
Tensor.mT = property(F.mT)
Tensor.H = property(F.T)
Tensor.mH = property(F.mT)


# ---- dtype and device conversion --------------------------------------------------------
def _parse_to(args, kwargs):
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, (dt.dtype, type)) or (isinstance(a, str) and a in dt._by_name_table):
            dtype = a
        elif a is not None:
            device = a
    return device, dtype


def to(self, *args, copy=False, non_blocking=False, memory_format=None, **kwargs):
    """``x.to(dtype)``, ``x.to(device)``, ``x.to(other)``: self when nothing changes, as in PyTorch."""
    device, dtype = _parse_to(args, kwargs)
    out = self
    if device is not None:
        target = _dev.device(device)
        if target != self.device:
            out = _to_device(out, target)
    if dtype is not None:
        out = F.cast(out, dt.as_dtype(dtype))
    if copy and out is self:
        out = F.clone(self)
    return out


def _to_device(t, target):
    """Copy to another device; gradients flow back across the copy."""
    from .op import REGISTRY

    return REGISTRY["to_device"].fn(t, device=str(target), source=str(t.device))


Tensor.to = to
Tensor._to_device = staticmethod(_to_device)
Tensor.cpu = lambda self: self.to("cpu")
Tensor.cuda = lambda self, device=None, non_blocking=False: self.to(
    _dev.device("cuda", device if isinstance(device, int) else 0) if not isinstance(device, str) else device
)
Tensor.type_as = lambda self, other: self.to(other.dtype)

for _name, _d in [
    ("float", "float32"),
    ("double", "float64"),
    ("half", "float16"),
    ("long", "int64"),
    ("int", "int32"),
    ("short", "int16"),
    ("char", "int8"),
    ("byte", "uint8"),
    ("bool", "bool"),
]:
    setattr(Tensor, _name, (lambda d: lambda self, memory_format=None: F.cast(self, d))(dt._by_name_table[_d]))
if dt.bfloat16 is not None:
    Tensor.bfloat16 = lambda self: F.cast(self, dt.bfloat16)


def _type(self, dtype=None, non_blocking=False):
    if dtype is None:
        names = {
            "float32": "Float",
            "float64": "Double",
            "float16": "Half",
            "int64": "Long",
            "int32": "Int",
            "int16": "Short",
            "int8": "Char",
            "uint8": "Byte",
            "bool": "Bool",
            "bfloat16": "BFloat16",
        }
        return f"ember.{names[self.dtype.name]}Tensor"
    return F.cast(self, dtype)


Tensor.type = _type


def _new_maker(fn):
    def new(self, *size, dtype=None, device=None, requires_grad=False, **kw):
        like = getattr(size[0], "like", None) if len(size) == 1 else None
        if like is not None and None in size[0]:
            # a graph VJP asking for an input's shape whose dims are known only at run time
            # (autodiff's DynShape): fill a scalar, broadcast to that input when the graph runs
            return F.clone(F.expand_like(fn((), dtype=dtype or self.dtype), like))
        return fn(
            *size,
            dtype=dtype or self.dtype,
            device=device or (None if self.device.type == "cpu" else self.device),
            requires_grad=requires_grad,
        )

    return new


Tensor.new_zeros = _new_maker(F.zeros)
Tensor.new_ones = _new_maker(F.ones)
Tensor.new_empty = _new_maker(F.empty)
Tensor.new_full = lambda self, size, fill_value, *, dtype=None, device=None, requires_grad=False: F.full(
    size, fill_value, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad
)
Tensor.new_tensor = lambda self, data, *, dtype=None, device=None, requires_grad=False: F.tensor(
    data, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad
)

# ---- in-place methods ---------------------------------------------------------------------
_INPLACE = """
abs acos add addcdiv addcmul asin atan ceil clamp clamp_max clamp_min clip cos cosh div divide erf exp expm1 floor
floor_divide fmod gelu index_add index_copy index_fill lerp log log10 log1p log2 logical_not masked_fill
masked_scatter mul multiply nan_to_num neg negative pow reciprocal relu remainder round rsqrt scatter scatter_add
sigmoid sign sin sinh sqrt square sub subtract tan tanh tril triu true_divide trunc
""".split()

for _name in _INPLACE:
    _fn = getattr(F, _name, None)
    if _fn is not None:
        setattr(Tensor, _name + "_", IP.make_inplace(_fn, _name + "_"))

Tensor.zero_ = IP.zero_
Tensor.fill_ = IP.fill_
Tensor.copy_ = IP.copy_
Tensor.index_put_ = IP.index_put_
Tensor.normal_ = _random.normal_
Tensor.uniform_ = _random.uniform_
Tensor.bernoulli_ = _random.bernoulli_
Tensor.exponential_ = _random.exponential_
Tensor.random_ = _random.random_
Tensor.geometric_ = _random.geometric_
Tensor.__iadd__ = Tensor.add_
Tensor.__isub__ = Tensor.sub_
Tensor.__imul__ = Tensor.mul_
Tensor.__itruediv__ = Tensor.div_
Tensor.__ifloordiv__ = Tensor.floor_divide_
Tensor.__imod__ = Tensor.remainder_
Tensor.__ipow__ = Tensor.pow_
Tensor.__iand__ = IP.make_inplace(E.bitwise_and, "__iand__")
Tensor.__ior__ = IP.make_inplace(E.bitwise_or, "__ior__")
Tensor.__ixor__ = IP.make_inplace(E.bitwise_xor, "__ixor__")
Tensor.__imatmul__ = IP.make_inplace(L.matmul, "__imatmul__")
Tensor.multinomial = _random.multinomial
Tensor.bernoulli = lambda self, generator=None: _random.bernoulli(self, generator=generator)
_ = _make


# Host memory is already what pinning gives on CPU: pin_memory() is the identity, nothing is page-locked.
def _pin_memory(self, device=None):
    if self.device.type != "cpu":
        raise RuntimeError(f"cannot pin a tensor on {self.device}: only dense CPU tensors can be pinned")
    return self


Tensor.pin_memory = _pin_memory
Tensor.is_pinned = lambda self, device=None: False
