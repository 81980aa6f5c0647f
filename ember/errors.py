"""Errors that name the op, its operands' shapes and dtypes, and what was expected.

``ShapeError`` subclasses both RuntimeError (what PyTorch raises) and
ValueError (what TensorFlow raises while building a graph), so code written
for either framework catches it.
"""

from __future__ import annotations


class ShapeError(RuntimeError, ValueError):
    """An op's operands have shapes it cannot combine."""


_PACKAGE_DIR = __file__.rsplit("/", 1)[0]


def user_frames():
    """The caller's stack without ember's own frames: where a user created an op."""
    import traceback

    return [f for f in traceback.extract_stack()[:-1] if not f.filename.startswith(_PACKAGE_DIR)]


def describe(args) -> str:
    """``(2, 3) float32, (3,) float64, 2.0`` for an op's positional args."""
    from .tensor import Tensor

    parts = []
    for a in args:
        if isinstance(a, Tensor):
            parts.append(f"{tuple(a._data.shape)} {a._data.dtype}")
        elif hasattr(a, "shape") and hasattr(a, "dtype"):
            parts.append(f"{tuple(a.shape)} {getattr(a.dtype, 'name', a.dtype)}")
        else:
            parts.append(repr(a))
    return ", ".join(parts)


def op_error(op, args, attrs, err):
    """Turn a kernel's exception into one that names the op and its operands.

    The op's own shape rule is asked first, since it explains a mismatch in
    the op's terms; ember's own errors pass through unchanged.
    """
    from .op import ShapeDtype
    from .tensor import Tensor

    if getattr(err, "_ember", False):
        return err
    specs = [ShapeDtype(a._data.shape, a.dtype) if isinstance(a, Tensor) else a for a in args]
    try:
        op.shape(*specs, **attrs)
    except (ShapeError, IndexError, TypeError, ValueError, RuntimeError) as rule_err:
        rule_err._ember = True
        return rule_err
    except Exception:
        pass
    text = str(err)
    named = text.startswith(op.name)  # the kernel already names the op ("gather(): ...", "one_hot: ...")
    msg = f"{text if named else f'{op.name}: {text}'} (operands: {describe(args)}"
    if attrs:
        msg += ", " + ", ".join(f"{k}={v!r}" for k, v in attrs.items())
    cls = type(err) if isinstance(err, (IndexError, TypeError, ZeroDivisionError, OverflowError)) else RuntimeError
    new = cls(msg + ")")
    new._ember = True
    return new


def shape_error(op_name: str, args, expected: str):
    err = ShapeError(f"{op_name}: {describe(args)}: {expected}")
    err._ember = True
    return err
