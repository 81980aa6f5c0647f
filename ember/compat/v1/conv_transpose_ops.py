"""tf.nn.conv2d_transpose: the gradient of conv2d with respect to its input, as a forward op.

TF defines it by the conv2d it inverts (input size ``output_shape``, TF's SAME
or VALID padding), so it runs ember's unpadded NCHW transposed convolution and
crops (or zero-extends) the full result to where that conv2d read its input.
Gradients come from the op table's VJPs of the pieces.
"""

from __future__ import annotations

from ... import ops as F
from ...ops import conv as C
from ._convert import named, to_tensors, with_user_line
from .nn_ops import _check_format, _from_nchw, _pads, _spatial, _to_nchw


@with_user_line
def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None, padding="SAME",  # noqa: A002
                     data_format="NHWC", name=None, input=None, filters=None, dilations=None):  # noqa: A002 # fmt: skip
    """value NHWC (or NCHW), filter [h, w, out_channels, in_channels], output_shape a list of 4 ints."""
    _check_format(data_format, "conv2d_transpose")
    if dilations not in (None, 1, [1, 1, 1, 1], (1, 1, 1, 1)):
        raise NotImplementedError("conv2d_transpose: dilations other than 1 are not supported")
    x, w = to_tensors(value if value is not None else input, filter if filter is not None else filters,
                      "Conv2DBackpropInput")  # fmt: skip
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d_transpose: value and filter must be 4-d, got {list(x.shape)} and {list(w.shape)}")
    if hasattr(output_shape, "_data"):
        raise NotImplementedError("conv2d_transpose: output_shape must be a list of 4 Python ints, not a tensor")
    out_shape = [int(s) for s in output_shape]
    if len(out_shape) != 4:
        raise ValueError(f"conv2d_transpose: output_shape must have 4 elements, got {output_shape}")
    cin = x.shape[3] if data_format == "NHWC" else x.shape[1]
    cout = out_shape[3] if data_format == "NHWC" else out_shape[1]
    if (cin is not None and cin != w.shape[3]) or cout != w.shape[2]:
        raise ValueError(
            f"conv2d_transpose: filter {list(w.shape)} must be [h, w, {cout} (output depth), {cin} (input depth)]"
        )
    s = _spatial(strides, data_format, "conv2d_transpose", "strides")
    k = (w.shape[0], w.shape[1])
    hw = tuple(out_shape[1:3]) if data_format == "NHWC" else tuple(out_shape[2:])
    pads = _pads(padding, hw, k, s, (1, 1), data_format, "conv2d_transpose")
    xc = _to_nchw(x, data_format)
    wc = F.permute(w, 3, 2, 0, 1)  # [h, w, out, in] -> (in, out, h, w), the transposed conv's layout
    full = C.conv_transpose2d(xc, wc, stride=s, padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), groups=1)
    # the conv2d this inverts read input pixel i at full-output position i + pad_before
    fh, fw = full.shape[2], full.shape[3]
    extra = [max(pads[i][0] + hw[i] - (fh, fw)[i], 0) for i in range(2)]
    if extra[0] or extra[1]:  # rows the strided conv2d never read get zero gradient
        full = F.pad(full, (0, extra[1], 0, extra[0]))
    out = full[:, :, pads[0][0] : pads[0][0] + hw[0], pads[1][0] : pads[1][0] + hw[1]]
    return named(_from_nchw(out, data_format), name)
