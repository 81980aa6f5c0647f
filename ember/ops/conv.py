"""Convolution and pooling primitives (N, C, H, W): conv2d, its two adjoints, max_pool2d.

``conv2d(x, w)`` is a bilinear map. Its two adjoints are primitives of their own,
``conv_transpose2d(g, w)`` (the input gradient, col2im; also PyTorch's transposed
convolution) and ``conv2d_weight(x, g)`` (the weight gradient). The three VJPs are
written with each other, so second and higher derivatives work:

    conv2d(x, w)            -> dx = conv_transpose2d(g, w)     dw = conv2d_weight(x, g)
    conv_transpose2d(g, w)  -> dg = conv2d(Z, w)               dw = conv2d_weight(Z, g)
    conv2d_weight(x, g)     -> dx = conv_transpose2d(g, W)     dg = conv2d(x, W)

Kernels pad once, take a strided window view (no copy) and contract it with one
batched matmul over the groups; col2im adds back one strided slice per kernel tap.
Padding is symmetric per dim; asymmetric padding ('same' with an even kernel,
ceil_mode pools) is an explicit ``pad`` before the primitive. bias is added by the
functional form. The table names end in ``_nchw`` so that they do not shadow
PyTorch's top-level ``torch.conv2d`` / ``torch.max_pool2d`` signatures.
"""

from __future__ import annotations

from .. import dtypes as dt
from .. import ops as F
from ..op import NN, primitive


def _out_len(n, k, s, p, d):
    if n is None:
        return None
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _windows(xp, x, kh, kw, ho, wo, stride, dilation):
    """(N, C, Ho, Wo, kh, kw) strided view of an already padded x (no copy)."""
    sn, sc, sh, sw = x.strides
    shape = (x.shape[0], x.shape[1], ho, wo, kh, kw)
    strides = (sn, sc, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1])
    return xp.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


def _pad_input(xp, x, padding, value=0.0):
    ph, pw = padding
    if ph or pw:
        return _pad_hw(xp, x, ph, ph, pw, pw, value)
    return x


def _pad_hw(xp, x, top, bottom, left, right, value=0.0):
    """x (N, C, H, W) with its last two dims padded by ``value``: one fill and one copy.

    ``np.pad`` does the same work behind ~90 us of Python per call, which was a third of a
    batch-1 ResNet-20 forward.
    """
    n, c, h, w = x.shape
    out = xp.full((n, c, h + top + bottom, w + left + right), value, dtype=x.dtype)
    out[:, :, top : top + h, left : left + w] = x
    return out


def _im2col(xp, x, kh, kw, ho, wo, stride, padding, dilation):
    """Patches of x as a (C*kh*kw, N*Ho*Wo) matrix, rows ordered (c, i, j).

    One strided slice copy per kernel tap; this layout keeps every GEMM operand
    contiguous, and the rows of one group are one contiguous block.
    """
    n, c = x.shape[:2]
    xt = _pad_input(xp, x, padding).transpose(1, 0, 2, 3)  # C N H W
    cols = xp.empty((c, kh, kw, n, ho, wo), dtype=x.dtype)
    sh, sw = stride
    for i in range(kh):
        hs = i * dilation[0]
        for j in range(kw):
            ws = j * dilation[1]
            cols[:, i, j] = xt[:, :, hs : hs + sh * (ho - 1) + 1 : sh, ws : ws + sw * (wo - 1) + 1 : sw]
    return cols.reshape(c * kh * kw, n * ho * wo)


def _channels_first(xp, a):
    """(N, C, H, W) -> contiguous (C, N*H*W)."""
    n, c, h, w = a.shape
    return xp.ascontiguousarray(a.transpose(1, 0, 2, 3)).reshape(c, n * h * w)


def _grouped_dot(xp, a, b, groups, trans_b=False):
    """Per group: a[g] @ b[g] (or b[g].T), a and b split into equal row blocks."""
    if groups == 1:
        return xp.dot(a, b.T if trans_b else b)
    ra, rb = a.shape[0] // groups, b.shape[0] // groups
    parts = [
        xp.dot(a[k * ra : (k + 1) * ra], (b[k * rb : (k + 1) * rb].T if trans_b else b[k * rb : (k + 1) * rb]))
        for k in range(groups)
    ]
    return xp.concatenate(parts, axis=0)


def _check_conv(x, w, groups, name):
    if x.ndim != 4 or w.ndim != 4:
        raise RuntimeError(f"{name}: expected 4-D input and weight, got input {x.shape} and weight {w.shape}")


# ---- conv2d ---------------------------------------------------------------------------
def _conv2d_impl(xp, x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    _conv2d_shape(x, w, stride, padding, dilation, groups)  # PyTorch's errors, on concrete shapes
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho = _out_len(h, kh, stride[0], padding[0], dilation[0])
    wo = _out_len(wd, kw, stride[1], padding[1], dilation[1])
    if n * ho * wo == 0 or o == 0:
        return xp.zeros((n, o, ho, wo), dtype=x.dtype)
    cols = _im2col(xp, x, kh, kw, ho, wo, stride, padding, dilation)  # C*k, NHW
    out = _grouped_dot(xp, w.reshape(o, cg * kh * kw), cols, groups)  # O, NHW
    return xp.ascontiguousarray(out.reshape(o, n, ho, wo).transpose(1, 0, 2, 3))


def _conv2d_shape(x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    _check_conv(x, w, groups, "conv2d")
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if c is not None and cg is not None and c != cg * groups:
        raise RuntimeError(
            f"conv2d: Given groups={groups}, weight of size {list(w.shape)}, expected input{list(x.shape)} to have "
            f"{cg * groups} channels, but got {c} channels instead"
        )
    if o is not None and o % groups:
        raise RuntimeError(f"conv2d: out_channels ({o}) must be divisible by groups ({groups})")
    ho = _out_len(h, kh, stride[0], padding[0], dilation[0])
    wo = _out_len(wd, kw, stride[1], padding[1], dilation[1])
    if (ho is not None and ho <= 0) or (wo is not None and wo <= 0):
        raise RuntimeError(
            f"conv2d: Calculated output size: ({ho}x{wo}) is too small for input {list(x.shape)} and kernel {(kh, kw)}"
        )
    return (n, o, ho, wo)


def _transpose_output_padding(in_hw, out_hw, k, stride, padding, dilation):
    """output_padding that makes conv_transpose2d of an (out_hw) map produce in_hw."""
    return tuple(
        in_hw[i] - ((out_hw[i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k[i] - 1) + 1) for i in range(2)
    )


def _conv2d_vjp(g, x, w, *, need, in_shapes, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, **_):
    attrs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    xs, ws = in_shapes
    gx = gw = None
    if need[0]:
        op = _transpose_output_padding(xs[2:], tuple(g.shape[2:]), ws[2:], stride, padding, dilation)
        gx = conv_transpose2d(g, w, output_padding=op, **attrs)
    if need[1]:
        gw = conv2d_weight(x, g, kernel=tuple(ws[2:]), **attrs)
    return gx, gw


conv2d = primitive(
    "conv2d_nchw",
    kind=NN,
    impl=_conv2d_impl,
    shape=_conv2d_shape,
    vjp=_conv2d_vjp,
    dtype="promote",
    saves={0: (1,), 1: (0,)},
    all_shapes=True,
    onnx="Conv",
    sample=dict(cases="conv2d"),
)


# ---- conv_transpose2d (col2im) ------------------------------------------------------------
def _convt_len(n, k, s, p, d, op):
    if n is None:
        return None
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def _conv_transpose2d_impl(xp, x, w, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), groups=1):
    _conv_transpose2d_shape(x, w, stride, padding, output_padding, dilation, groups)
    n, ci, h, wd = x.shape
    _, og, kh, kw = w.shape
    lo = (dilation[0] * (kh - 1) - padding[0], dilation[1] * (kw - 1) - padding[1])
    if stride == (1, 1) and min(lo) >= 0 and n * h * wd and og and ci <= 2 * og:
        # stride 1: a plain correlation of the zero-padded input with the flipped, channel-swapped
        # kernel (one im2col + GEMM, no scatter-add); it moves less memory than col2im unless
        # the input has many more channels than the output (LeNet's first layer)
        cig = ci // groups
        wt = w.reshape(groups, cig, og, kh, kw).transpose(0, 2, 1, 3, 4).reshape(groups * og, cig, kh, kw)
        wt = wt[:, :, ::-1, ::-1]
        xpad = _pad_hw(xp, x, lo[0], lo[0] + output_padding[0], lo[1], lo[1] + output_padding[1])
        return _conv2d_impl(xp, xpad, wt, (1, 1), (0, 0), dilation, groups)
    co = og * groups
    ho = _convt_len(h, kh, stride[0], padding[0], dilation[0], output_padding[0])
    wo = _convt_len(wd, kw, stride[1], padding[1], dilation[1], output_padding[1])
    # full (uncropped) canvas; the crop drops `padding` on each side
    fh, fw = ho + 2 * padding[0], wo + 2 * padding[1]
    canvas = xp.zeros((co, n, fh, fw), dtype=xp.result_type(x.dtype, w.dtype))  # C N H W while adding
    if n * h * wd and ci and co:
        xm = _channels_first(xp, x)  # Ci, NHW
        wm = w.reshape(ci, og * kh * kw)  # rows of group k: k*Cig .. (k+1)*Cig
        if groups == 1:
            cols = xp.dot(wm.T, xm)
        else:
            cig = ci // groups
            cols = xp.concatenate(
                [xp.dot(wm[k * cig : (k + 1) * cig].T, xm[k * cig : (k + 1) * cig]) for k in range(groups)], axis=0
            )
        cols = cols.reshape(co, kh, kw, n, h, wd)
        sh, sw = stride
        for i in range(kh):
            hs = i * dilation[0]
            for j in range(kw):
                ws_ = j * dilation[1]
                canvas[:, :, hs : hs + sh * (h - 1) + 1 : sh, ws_ : ws_ + sw * (wd - 1) + 1 : sw] += cols[:, i, j]
    crop = canvas[:, :, padding[0] : padding[0] + ho, padding[1] : padding[1] + wo]
    return xp.ascontiguousarray(crop.transpose(1, 0, 2, 3))


def _conv_transpose2d_shape(x, w, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), groups=1):
    _check_conv(x, w, groups, "conv_transpose2d")
    n, ci, h, wd = x.shape
    cw, og, kh, kw = w.shape
    if ci is not None and cw is not None and ci != cw:
        raise RuntimeError(
            f"conv_transpose2d: Given transposed=1, weight of size {list(w.shape)}, expected input{list(x.shape)} "
            f"to have {cw} channels, but got {ci} channels instead"
        )
    ho = _convt_len(h, kh, stride[0], padding[0], dilation[0], output_padding[0])
    wo = _convt_len(wd, kw, stride[1], padding[1], dilation[1], output_padding[1])
    if (ho is not None and ho <= 0) or (wo is not None and wo <= 0):
        raise RuntimeError(f"conv_transpose2d: output size ({ho}x{wo}) is too small")
    return (n, None if og is None else og * groups, ho, wo)


def _conv_transpose2d_vjp(
    g, x, w, *, need, in_shapes, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), groups=1, **_
):
    attrs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    gx = gw = None
    if need[0]:
        gx = conv2d(g, w, **attrs)
        h, wd = in_shapes[0][2:]
        if tuple(gx.shape[2:]) != (h, wd):  # output_padding >= stride (allowed by dilation): drop the tail
            gx = gx[:, :, :h, :wd]
    if need[1]:
        gw = conv2d_weight(g, x, kernel=tuple(in_shapes[1][2:]), **attrs)
    return gx, gw


conv_transpose2d = primitive(
    "conv_transpose2d_nchw",
    kind=NN,
    impl=_conv_transpose2d_impl,
    shape=_conv_transpose2d_shape,
    vjp=_conv_transpose2d_vjp,
    dtype="promote",
    saves={0: (1,), 1: (0,)},
    all_shapes=True,
    onnx="ConvTranspose",
    sample=dict(cases="conv_transpose2d"),
)


# ---- conv2d_weight: the weight gradient of conv2d --------------------------------------------
def _conv2d_weight_impl(xp, x, g, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    n, c = x.shape[:2]
    o, ho, wo = g.shape[1:]
    kh, kw = kernel
    cg = c // groups
    dtype = xp.result_type(x.dtype, g.dtype)
    if n * ho * wo == 0 or o == 0 or c == 0:
        return xp.zeros((o, cg, kh, kw), dtype=dtype)
    cols = _im2col(xp, x, kh, kw, ho, wo, stride, padding, dilation)  # C*k, NHW
    out = _grouped_dot(xp, _channels_first(xp, g), cols, groups, trans_b=True)  # O, Cg*k
    return out.reshape(o, cg, kh, kw)


def _conv2d_weight_shape(x, g, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    c = x.shape[1]
    return (g.shape[1], None if c is None else c // groups, *kernel)


def _conv2d_weight_vjp(G, x, g, *, need, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, **_):
    attrs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    gx = gg = None
    if need[0]:
        op = _transpose_output_padding(tuple(x.shape[2:]), tuple(g.shape[2:]), kernel, stride, padding, dilation)
        gx = conv_transpose2d(g, G, output_padding=op, **attrs)
    if need[1]:
        gg = conv2d(x, G, **attrs)
    return gx, gg


conv2d_weight = primitive(
    "conv2d_weight_nchw",
    kind=NN,
    impl=_conv2d_weight_impl,
    shape=_conv2d_weight_shape,
    vjp=_conv2d_weight_vjp,
    dtype="promote",
    saves=(0, 1),
    sample=dict(cases="conv2d_weight"),
)


# ---- max_pool2d ------------------------------------------------------------------------
def pool_out_len(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling output length (ceil_mode drops a last window that starts in the right padding)."""
    if n is None:
        return None
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _max_pool2d_impl(xp, x, kernel, stride, padding=(0, 0), dilation=(1, 1), ceil_mode=False):
    _max_pool2d_shape(x, kernel, stride, padding, dilation, ceil_mode)
    n, c, h, w = x.shape
    kh, kw = kernel
    ho = pool_out_len(h, kh, stride[0], padding[0], dilation[0], ceil_mode)
    wo = pool_out_len(w, kw, stride[1], padding[1], dilation[1], ceil_mode)
    if (
        padding == (0, 0)
        and (ho - 1) * stride[0] + dilation[0] * (kh - 1) < h
        and (wo - 1) * stride[1] + (dilation[1] * (kw - 1)) < w
    ):
        fast = _max_pool2d_by_taps(xp, x, kh, kw, ho, wo, stride, dilation)
        if fast is not None:
            return fast
    # pad with -inf: padding on the left, enough on the right for the last (ceil_mode) window
    need_h = (ho - 1) * stride[0] + dilation[0] * (kh - 1) + 1
    need_w = (wo - 1) * stride[1] + dilation[1] * (kw - 1) + 1
    rh = max(need_h - h - padding[0], 0)
    rw = max(need_w - w - padding[1], 0)
    xpad = _pad_hw(xp, x, padding[0], rh, padding[1], rw, -xp.inf)
    win = _windows(xp, xpad, kh, kw, ho, wo, stride, dilation).reshape(n, c, ho, wo, kh * kw)
    arg = xp.argmax(win, axis=-1)
    nanpos = xp.isnan(win)
    if nanpos.any():  # PyTorch propagates NaN and points at it
        has = nanpos.any(axis=-1)
        arg = xp.where(has, xp.argmax(nanpos, axis=-1), arg)
    vals = xp.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
    i, j = arg // kw, arg % kw
    hi = xp.arange(ho).reshape(ho, 1) * stride[0] - padding[0] + i * dilation[0]
    wi = xp.arange(wo) * stride[1] - padding[1] + j * dilation[1]
    idx = (hi * w + wi).astype(xp.int64)
    return xp.ascontiguousarray(vals), idx


def _max_pool2d_by_taps(xp, x, kh, kw, ho, wo, stride, dilation):
    """Max pooling as one running maximum over the kh*kw strided taps (output-sized work per tap).

    The general path copies every window into a (..., kh*kw) array and arg-maxes along
    it; for windows inside the input this is several times less memory traffic. Ties
    keep the first tap (argmax's and PyTorch's choice). None when the result has a NaN:
    the general path then points the index at it, as PyTorch does.
    """
    w = x.shape[3]
    best = code = None
    for k in range(kh * kw):
        i, j = divmod(k, kw)
        hs, ws = i * dilation[0], j * dilation[1]
        tap = x[:, :, hs : hs + stride[0] * (ho - 1) + 1 : stride[0], ws : ws + stride[1] * (wo - 1) + 1 : stride[1]]
        if best is None:
            best = tap.copy()
            code = xp.zeros(best.shape, dtype=xp.int8 if kh * kw < 128 else xp.int64)
            continue
        step = k - code  # code = k where this tap wins, by arithmetic (a masked store is ~10x slower)
        step *= tap > best
        code += step
        xp.maximum(best, tap, out=best)
    if best.dtype.kind == "f" and xp.isnan(best).any():
        return None
    # flat index into the (h, w) plane: each tap's offset, plus where its window starts
    offsets = xp.asarray([(k // kw) * dilation[0] * w + (k % kw) * dilation[1] for k in range(kh * kw)], dtype=xp.int64)
    starts = (xp.arange(ho) * (stride[0] * w)).reshape(ho, 1) + xp.arange(wo) * stride[1]
    return best, offsets.take(code) + starts


def _max_pool2d_shape(x, kernel, stride, padding=(0, 0), dilation=(1, 1), ceil_mode=False):
    if x.ndim != 4:
        raise RuntimeError(f"max_pool2d: expected a 4-D input, got {x.shape}")
    for i in range(2):
        if padding[i] * 2 > kernel[i]:
            raise RuntimeError(
                f"max_pool2d: pad should be at most half of effective kernel size, but got pad={padding[i]}, "
                f"kernel_size={kernel[i]}"
            )
    n, c, h, w = x.shape
    ho = pool_out_len(h, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    wo = pool_out_len(w, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    if (ho is not None and ho <= 0) or (wo is not None and wo <= 0):
        raise RuntimeError(f"max_pool2d: Given input size {list(x.shape)}, calculated output size is too small")
    s = (n, c, ho, wo)
    return s, s


def _max_pool2d_dtype(sig):
    from ..op import _first_dtype

    return None, (_first_dtype(sig), dt.int64)


def _max_pool2d_vjp(g, x, *, out, in_shapes, **_):
    gv = g[0]
    if gv is None:
        return (None,)
    return (max_pool2d_backward(gv, out[1], in_shapes[0]),)


max_pool2d_with_indices = primitive(
    "max_pool2d_nchw",
    kind=NN,
    impl=_max_pool2d_impl,
    shape=_max_pool2d_shape,
    vjp=_max_pool2d_vjp,
    dtype=_max_pool2d_dtype,
    saves=("out",),
    nout=2,
    onnx="MaxPool",
    sample=dict(cases="max_pool2d"),
)


def max_pool2d_backward(g, indices, input_shape):
    """Scatter-add ``g`` to the argmax positions (a composite of scatter_add: differentiable again)."""
    n, c, h, w = input_shape
    L = indices.shape[2] * indices.shape[3]
    if n is None:  # a graph batch dim known only at run time: zeros shaped like the input then
        zeros = F.reshape(F.clone(F.expand_like(g.new_zeros(()), input_shape.like)), (-1, c, h * w))
        n = -1
    else:
        zeros = g.new_zeros((n, c, h * w))
    flat = F.scatter_add(zeros, 2, F.reshape(indices, (n, c, L)), F.reshape(g, (n, c, L)))
    return F.reshape(flat, (n, c, h, w))


# ---- layer_norm: normalisation over the last dims, fused ------------------------------------
def _layer_norm_impl(xp, x, ndim, eps):
    axes = tuple(range(x.ndim - ndim, x.ndim))
    mean = xp.mean(x, axis=axes, keepdims=True)
    xc = x - mean
    var = xp.mean(xc * xc, axis=axes, keepdims=True)
    rstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
    xc *= rstd
    return xc, rstd


def _layer_norm_vjp(g, x, *, out, ndim, eps, **_):
    """out = (x - mean) * rstd, rstd = (var + eps)^-1/2, written in ember ops (differentiable again).

    dx = rstd * (g - mean(g) - out * mean(g * out))  -  g_rstd * rstd^2 * out / n
    """
    y, rstd = out
    gy, gr = g
    dims = tuple(range(y.ndim - ndim, y.ndim))
    gx = None
    if gy is not None:
        gm = F.mean(gy, dim=dims, keepdim=True)
        gom = F.mean(gy * y, dim=dims, keepdim=True)
        gx = (gy - gm - y * gom) * rstd
    if gr is not None:
        n = 1
        for d in dims:
            n *= y.shape[d]
        t = gr * rstd * rstd * y * (-1.0 / n) if n else y * 0.0
        gx = t if gx is None else gx + t
    return (gx,)


def _layer_norm_shape(x, ndim, eps):
    if ndim < 1 or ndim > x.ndim:
        raise RuntimeError(f"layer_norm: cannot normalise the last {ndim} dims of a {x.ndim}-D input")
    return x.shape, tuple(x.shape[: x.ndim - ndim]) + (1,) * ndim


def _layer_norm_dtype(sig):
    from ..op import _rule_float

    d = _rule_float(sig)[1]
    return d, (d, d)


layer_norm_lastdims = primitive(
    "layer_norm_lastdims",
    kind=NN,
    impl=_layer_norm_impl,
    shape=_layer_norm_shape,
    vjp=_layer_norm_vjp,
    dtype=_layer_norm_dtype,
    saves=("out",),
    nout=2,
    onnx="LayerNormalization",
    sample=dict(cases="layer_norm"),
)
