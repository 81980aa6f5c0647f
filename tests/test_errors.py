"""Bad input gets a clear error: PyTorch's class, a message that names the op, shapes and dtypes.

Every case runs under torch and ember. ember's error must be an instance of the builtin
class torch raised (RuntimeError, IndexError, TypeError, ValueError), so ``except`` clauses
written for torch still work; its message must contain what a user needs to fix the call
(the op's name, each operand's shape as ember prints it, the size it expected). The
assertions read ember's message only, never torch's wording. An in-place op that fails
must leave its target as it was: same values, same ``_version``, same history.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


def _raised(fn, lib):
    try:
        fn(lib)
    except Exception as e:  # noqa: BLE001 - the class is what is compared
        return e
    raise AssertionError(f"{lib.__name__} raised nothing")


def _builtin_class(exc):
    """The builtin class an error is an instance of (torch's own classes subclass them)."""
    return next(k for k in type(exc).__mro__ if k.__module__ == "builtins")


def check(fn, needles):
    """``fn(lib)`` raises under both; ember's error has torch's class and names ``needles``."""
    expected = _builtin_class(_raised(fn, torch))
    err = _raised(fn, ember)
    assert isinstance(err, expected), f"torch raised {expected.__name__}, ember {type(err).__name__}: {err}"
    msg = str(err)
    missing = [n for n in needles if n not in msg]
    assert not missing, f"ember's message lacks {missing}: {msg!r}"
    return err


def F(m):
    return m.nn.functional


def i64(m, *shape):
    return m.zeros(*shape, dtype=m.int64)


# ---- broadcasting in binary (and ternary) ops -------------------------------------------------

BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "atan2", "pow", "eq", "lt", "remainder", "logical_and"]


@pytest.mark.parametrize("name", BINARY)
def test_binary_broadcast_mismatch(name):
    check(
        lambda m: getattr(m, name)(m.ones(2, 3), m.ones(4, 3)),
        [f"{name}:", "(2, 3) float32", "(4, 3) float32", "(2)", "(4)", "dimension 0"],
    )


CASES = [
    # operators reach the same ops
    pytest.param(lambda m: m.ones(2, 3) + m.ones(2, 4), ["add:", "(2, 3)", "(2, 4)", "(3)", "(4)"], id="operator+"),
    pytest.param(lambda m: m.ones(5) * m.ones(4), ["mul:", "(5,)", "(4,)", "(5)", "(4)"], id="operator*"),
    pytest.param(
        lambda m: m.where(m.ones(2, 3) > 0, m.ones(2, 3), m.ones(4, 3)),
        ["where:", "(2, 3) bool", "(2, 3) float32", "(4, 3) float32"],
        id="where-operands",
    ),
    pytest.param(
        lambda m: m.where(m.ones(5) > 0, m.ones(2, 3), m.ones(2, 3)),
        ["where:", "(5,) bool", "(2, 3) float32", "(5)", "(3)"],
        id="where-condition",
    ),
    pytest.param(
        lambda m: m.maximum(m.ones(2, 3, dtype=m.float64), m.ones(3, 2)),
        ["maximum:", "(2, 3) float64", "(3, 2) float32"],
        id="maximum-mixed-dtypes",
    ),
    pytest.param(
        lambda m: m.ones(2, 3).masked_fill(m.ones(3, 2) > 0, 0.0),
        ["masked_fill", "[3, 2]", "[2, 3]"],
        id="masked_fill-mask",
    ),
    # ---- matmul and friends ----
    pytest.param(
        lambda m: m.matmul(m.ones(100), m.ones(1, 1)),
        [
            "matmul: (100,) @ (1, 1): size of the last dim of the first operand (100) must equal dim -2 of the second (1)"
        ],
        id="matmul-spec-example",
    ),
    pytest.param(lambda m: m.ones(2, 3) @ m.ones(4, 5), ["matmul:", "(2, 3) @ (4, 5)", "(3)", "(4)"], id="matmul-2d"),
    pytest.param(
        lambda m: m.matmul(m.ones(3), m.ones(4)), ["matmul:", "(3,) @ (4,)", "dim 0 of the second (4)"], id="matmul-1d"
    ),
    pytest.param(
        lambda m: m.matmul(m.ones(2, 3), m.ones(4)), ["matmul:", "(2, 3) @ (4,)", "(3)", "(4)"], id="matmul-2d-1d"
    ),
    pytest.param(
        lambda m: m.matmul(m.ones(2, 3, 4), m.ones(5, 4, 6)),
        ["matmul:", "(2, 3, 4) float32", "(5, 4, 6) float32", "(2)", "(5)"],
        id="matmul-batch",
    ),
    pytest.param(
        lambda m: m.matmul(m.tensor(1.0), m.ones(3)), ["matmul:", "() float32", "(3,) float32", "1D"], id="matmul-0d-a"
    ),
    pytest.param(
        lambda m: m.ones(3) @ m.tensor(1.0), ["matmul:", "(3,) float32", "() float32", "1D"], id="matmul-0d-b"
    ),
    pytest.param(
        lambda m: m.matmul(m.ones(2, 3), m.ones(3, 2, dtype=m.float64)),
        ["matmul", "float32", "float64"],
        id="matmul-dtypes",
    ),
    pytest.param(lambda m: m.mm(m.ones(2, 3), m.ones(4, 5)), ["mm:", "(2, 3) @ (4, 5)", "(3)", "(4)"], id="mm-inner"),
    pytest.param(lambda m: m.mm(m.ones(3), m.ones(3, 5)), ["mm:", "[3]", "[3, 5]", "matrices"], id="mm-1d"),
    pytest.param(lambda m: m.mm(m.tensor(1.0), m.ones(3, 5)), ["mm:", "[]", "[3, 5]"], id="mm-0d"),
    pytest.param(
        lambda m: m.mm(m.ones(2, 3), m.ones(3, 2, dtype=m.float64)),
        ["mm:", "(2, 3) float32", "(3, 2) float64"],
        id="mm-dtypes",
    ),
    pytest.param(
        lambda m: m.bmm(m.ones(2, 3, 4), m.ones(2, 5, 6)),
        ["bmm:", "(2, 3, 4) @ (2, 5, 6)", "(4)", "(5)"],
        id="bmm-inner",
    ),
    pytest.param(
        lambda m: m.bmm(m.ones(2, 3, 4), m.ones(3, 4, 6)), ["bmm:", "[2, 3, 4]", "[3, 4, 6]", "2 and 3"], id="bmm-batch"
    ),
    pytest.param(lambda m: m.bmm(m.ones(3, 4), m.ones(4, 6)), ["bmm:", "[3, 4]", "[4, 6]", "3D"], id="bmm-2d"),
    pytest.param(lambda m: m.mv(m.ones(2, 3), m.ones(4)), ["mv:", "(2, 3) @ (4,)", "(3)", "(4)"], id="mv-inner"),
    pytest.param(lambda m: m.mv(m.ones(2, 3), m.ones(3, 1)), ["mv:", "[2, 3]", "[3, 1]"], id="mv-matrix-vec"),
    pytest.param(lambda m: m.dot(m.ones(3), m.ones(4)), ["dot:", "(3,) @ (4,)", "(3)", "(4)"], id="dot-sizes"),
    pytest.param(lambda m: m.dot(m.ones(3, 1), m.ones(3)), ["dot:", "[3, 1]", "[3]", "2D"], id="dot-2d"),
    pytest.param(lambda m: m.dot(m.tensor(1.0), m.ones(3)), ["dot:", "[]", "[3]", "0D"], id="dot-0d"),
    pytest.param(
        lambda m: m.dot(m.ones(3), m.ones(3, dtype=m.float64)),
        ["dot:", "(3,) float32", "(3,) float64"],
        id="dot-dtypes",
    ),
    pytest.param(lambda m: m.outer(m.ones(2, 2), m.ones(3)), ["outer:", "1-D", "2-D", "(2, 2)"], id="outer-2d"),
    # ---- reshape, view, expand ----
    pytest.param(lambda m: m.ones(2, 3).reshape(4, 2), ["reshape:", "[4, 2]", "size 6", "(2, 3)"], id="reshape-size"),
    pytest.param(
        lambda m: m.ones(2, 3).reshape(-1, 4), ["reshape:", "[-1, 4]", "size 6", "(2, 3)"], id="reshape-infer"
    ),
    pytest.param(lambda m: m.reshape(m.ones(2, 3), (7,)), ["reshape:", "[7]", "(2, 3)"], id="reshape-function"),
    pytest.param(lambda m: m.ones(2, 3).view(5), ["view:", "[5]", "size 6", "(2, 3)"], id="view-size"),
    pytest.param(lambda m: m.tensor(1.0).view(2), ["view:", "[2]", "size 1", "()"], id="view-0d"),
    pytest.param(
        lambda m: m.ones(2, 3).t().view(6), ["view:", "[6]", "(3, 2)", "stride", ".reshape("], id="view-noncontiguous"
    ),
    pytest.param(
        lambda m: m.ones(2, 3, 4).permute(2, 0, 1).view(-1),
        ["view:", "[24]", "(4, 2, 3)", "stride"],
        id="view-permuted",
    ),
    pytest.param(lambda m: m.ones(2, 3).expand(2, 4), ["expand:", "(4)", "(3)", "[2, 4]", "[2, 3]"], id="expand-size"),
    pytest.param(lambda m: m.ones(2, 3).expand(3), ["expand:", "(1)", "(2)"], id="expand-fewer-dims"),
    pytest.param(
        lambda m: m.ones(3, 1).expand_as(m.ones(2, 4)), ["expand:", "(2)", "(3)", "[2, 4]", "[3, 1]"], id="expand_as"
    ),
    pytest.param(lambda m: m.ones(2, 3).repeat(2), ["repeat:", "[2]", "(2, 3)"], id="repeat-fewer-dims"),
    pytest.param(lambda m: m.tril(m.ones(3)), ["tril:", "2 dimensions", "(3,)"], id="tril-1d"),
    pytest.param(lambda m: m.ones(3).triu(), ["triu:", "2 dimensions", "(3,)"], id="triu-1d"),
    pytest.param(lambda m: m.diag(m.ones(2, 3, 4)), ["diag", "3D", "(2, 3, 4)"], id="diag-3d"),
    pytest.param(
        lambda m: m.ones(2, 3).narrow(1, 2, 5), ["narrow", "start (2)", "length (5)", "(3)", "(2, 3)"], id="narrow"
    ),
    # ---- cat, stack, permute ----
    pytest.param(lambda m: m.cat([m.ones(2, 3), m.ones(3)]), ["cat:", "got 2 and 1", "(2, 3)", "(3,)"], id="cat-ranks"),
    pytest.param(
        lambda m: m.cat([m.ones(2, 3), m.ones(2, 4)]),
        ["cat:", "dimension 0", "Expected size 3 but got size 4", "(2, 3) float32", "(2, 4) float32"],
        id="cat-sizes",
    ),
    pytest.param(
        lambda m: m.cat([m.ones(2, 3), m.ones(3, 3), m.ones(2, 3)], dim=1),
        ["cat:", "dimension 1", "Expected size 2 but got size 3", "tensor number 1", "(3, 3) float32"],
        id="cat-sizes-dim1",
    ),
    pytest.param(
        lambda m: m.stack([m.ones(2, 3), m.ones(3, 2)]), ["stack", "[2, 3]", "[3, 2]", "entry 1"], id="stack-shapes"
    ),
    pytest.param(
        lambda m: m.stack([m.ones(2, 3), m.ones(2, 3), m.ones(2)]),
        ["stack", "[2, 3]", "[2]", "entry 2"],
        id="stack-rank",
    ),
    pytest.param(
        lambda m: m.ones(2, 3, 4).permute(0, 1), ["permute", "= 3", "= 2", "(2, 3, 4)", "[0, 1]"], id="permute-count"
    ),
    pytest.param(
        lambda m: m.ones(2, 3, 4).permute(0, 1, 1), ["permute", "[0, 1, 1]", "(2, 3, 4)"], id="permute-duplicate"
    ),
    # ---- gather, scatter ----
    pytest.param(
        lambda m: m.gather(m.ones(2, 3), 1, i64(m, 2)),
        ["gather()", "same number of dimensions", "(2, 3) float32", "(2,) int64"],
        id="gather-rank",
    ),
    pytest.param(
        lambda m: m.gather(m.ones(2, 3), 1, m.full((2, 1), 5, dtype=m.int64)),
        ["gather()", "index 5", "size 3", "(2, 3) float32", "(2, 1) int64"],
        id="gather-out-of-range",
    ),
    pytest.param(
        lambda m: m.gather(m.ones(2, 3), 1, m.zeros(2, 1)), ["gather()", "float32", "(2, 1)"], id="gather-float-index"
    ),
    pytest.param(
        lambda m: m.ones(2, 3).scatter(1, i64(m, 2), m.ones(2, 3)),
        ["scatter()", "same number of dimensions", "(2, 3) float32", "(2,) int64"],
        id="scatter-rank",
    ),
    pytest.param(
        lambda m: m.ones(2, 3).scatter_add(1, i64(m, 2), m.ones(2, 3)),
        ["scatter_add()", "same number of dimensions", "(2, 3) float32", "(2,) int64"],
        id="scatter_add-rank",
    ),
    pytest.param(
        lambda m: m.ones(2, 3).scatter(1, m.zeros(2, 1), m.ones(2, 3)),
        ["scatter()", "float32", "(2, 1)"],
        id="scatter-float-index",
    ),
    # ---- indexing ----
    pytest.param(lambda m: m.ones(2, 3)[5], ["getitem", "index 5", "size 2", "(2, 3)"], id="getitem-int"),
    pytest.param(lambda m: m.ones(2, 3)[0, 3], ["getitem", "index 3", "size 3", "(2, 3)"], id="getitem-second-dim"),
    pytest.param(lambda m: m.ones(2, 3)[-3], ["getitem", "index -3", "size 2", "(2, 3)"], id="getitem-negative"),
    pytest.param(lambda m: m.ones(2, 3)[0, 0, 0], ["getitem", "too many indices", "(2, 3)"], id="getitem-too-many"),
    pytest.param(
        lambda m: m.ones(2, 3)[m.tensor([0, 5])],
        ["getitem", "index 5", "size 2", "(2, 3) float32", "(2,) int64"],
        id="getitem-index-tensor",
    ),
    pytest.param(
        lambda m: m.ones(2, 3)[m.ones(3, 2) > 0], ["getitem", "(2, 3) float32", "(3, 2) bool"], id="getitem-mask-2d"
    ),
    pytest.param(lambda m: m.ones(4)[m.ones(3) > 0], ["getitem", "(4,) float32", "(3,) bool"], id="getitem-mask-1d"),
    pytest.param(lambda m: m.ones(2, 3).select(1, 5), ["select()", "index 5", "[2, 3]", "dimension 1"], id="select"),
    # ---- conversions ----
    pytest.param(lambda m: m.ones(3).item(), ["item()", "3 elements", "(3,)"], id="item-multi"),
    pytest.param(lambda m: m.ones(0).item(), ["item()", "0 elements", "(0,)"], id="item-empty"),
    pytest.param(lambda m: bool(m.ones(3)), ["bool()", "more than one value", "(3,)"], id="bool-multi"),
    pytest.param(lambda m: bool(m.ones(0)), ["bool()", "no values", "(0,)"], id="bool-empty"),
    pytest.param(lambda m: float(m.ones(2, 2)), ["float()", "one element", "(2, 2)"], id="float-multi"),
    pytest.param(lambda m: int(m.ones(3)), ["int()", "one element", "(3,)"], id="int-multi"),
    pytest.param(lambda m: len(m.tensor(1.0)), ["len()", "0-d"], id="len-0d"),
    # ---- autograd ----
    pytest.param(
        lambda m: m.ones(3, dtype=m.int64).requires_grad_(), ["floating point", "int64"], id="requires_grad_-int"
    ),
    pytest.param(
        lambda m: setattr(m.ones(3, dtype=m.int32), "requires_grad", True),
        ["floating point", "int32"],
        id="requires_grad-attr-int",
    ),
    pytest.param(lambda m: m.tensor([1, 2], requires_grad=True), ["floating point", "int64"], id="tensor-int-rg"),
    pytest.param(
        lambda m: m.zeros(3, dtype=m.bool, requires_grad=True), ["floating point", "bool"], id="zeros-bool-rg"
    ),
    pytest.param(
        lambda m: (m.ones(3, requires_grad=True) * 2).backward(),
        ["scalar outputs", "(3,)", "backward"],
        id="backward-nonscalar",
    ),
    pytest.param(
        lambda m: (m.ones(2, 2, requires_grad=True) * 2).backward(), ["scalar outputs", "(2, 2)"], id="backward-matrix"
    ),
    pytest.param(lambda m: m.ones(3).sum().backward(), ["does not require grad"], id="backward-no-grad"),
    # ---- einsum ----
    pytest.param(
        lambda m: m.einsum("ij,jk->ik", m.ones(2, 3)), ["einsum", "2 operands", "1 given"], id="einsum-too-few"
    ),
    pytest.param(
        lambda m: m.einsum("ij->ij", m.ones(2, 3), m.ones(3)), ["einsum", "1 operands", "2 given"], id="einsum-too-many"
    ),
    pytest.param(
        lambda m: m.einsum("ij,jk->ik", m.ones(2, 3), m.ones(4, 5)),
        ["einsum", "'j'", "3 and 4", "(2, 3) float32", "(4, 5) float32"],
        id="einsum-sizes",
    ),
    pytest.param(
        lambda m: m.einsum("ijk,jk->ik", m.ones(2, 3), m.ones(3, 5)),
        ["einsum", "'ijk'", "2 dims"],
        id="einsum-subscripts",
    ),
    # ---- sorting, one_hot ----
    pytest.param(lambda m: m.ones(3).topk(5), ["topk", "k=5", "(3,) float32"], id="topk-k"),
    pytest.param(lambda m: m.ones(2, 3).topk(3, dim=0), ["topk", "k=3", "(2, 3) float32"], id="topk-dim"),
    pytest.param(
        lambda m: F(m).one_hot(m.tensor([0, -1, 2]), 3),
        ["one_hot", "non-negative", "(3,) int64"],
        id="one_hot-negative",
    ),
    pytest.param(
        lambda m: F(m).one_hot(m.tensor([0, 3]), 3),
        ["one_hot", "num_classes (3)", "(2,) int64"],
        id="one_hot-too-large",
    ),
    # ---- creation ----
    pytest.param(lambda m: m.tensor([[1, 2], [3]]), ["tensor()", "length 2 at dim 1 (got 1)"], id="tensor-ragged"),
    pytest.param(
        lambda m: m.tensor([[1.0], [2.0, 3.0]]), ["tensor()", "length 1 at dim 1 (got 2)"], id="tensor-ragged-longer"
    ),
    pytest.param(
        lambda m: m.tensor([[[1, 2]], [[3]]]), ["tensor()", "length 2 at dim 2 (got 1)"], id="tensor-ragged-deep"
    ),
    pytest.param(lambda m: m.tensor([[1, 2], 3]), ["tensor()", "dim 1", "3"], id="tensor-scalar-among-lists"),
    pytest.param(lambda m: m.tensor([1, [2]]), ["tensor()", "dim 1"], id="tensor-list-among-scalars"),
    pytest.param(lambda m: m.arange(0, 10, 0), ["arange", "step must be nonzero"], id="arange-zero-step"),
    pytest.param(lambda m: m.arange(0.0, 1.0, 0.0), ["arange", "step must be nonzero"], id="arange-zero-float-step"),
    pytest.param(lambda m: m.arange(0, 10, -1), ["arange", "lower bound", "step=-1"], id="arange-step-sign"),
    # ---- the alpha of add/sub ----
    pytest.param(
        lambda m: m.add(m.ones(3, dtype=m.int64), m.ones(3, dtype=m.int64), alpha=1.5),
        ["add:", "alpha", "(3,) int64"],
        id="add-int-float-alpha",
    ),
    pytest.param(
        lambda m: m.sub(m.ones(3, dtype=m.int64), 2, alpha=0.5),
        ["sub:", "alpha", "(3,) int64"],
        id="sub-int-float-alpha",
    ),
]


@pytest.mark.parametrize("fn, needles", CASES)
def test_error(fn, needles):
    check(fn, needles)


# ---- dims out of range: IndexError naming the op, the dim and the valid range ----------------

DIMS = [
    pytest.param(lambda m: m.ones(2, 3).transpose(0, 2), "transpose", "[-2, 1]", 2, id="transpose"),
    pytest.param(lambda m: m.ones(2, 3).transpose(-3, 0), "transpose", "[-2, 1]", -3, id="transpose-negative"),
    pytest.param(lambda m: m.ones(2, 3).sum(2), "sum", "[-2, 1]", 2, id="sum"),
    pytest.param(lambda m: m.ones(2, 3).sum((0, -3)), "sum", "[-2, 1]", -3, id="sum-tuple"),
    pytest.param(lambda m: m.ones(2, 3).mean(5), "mean", "[-2, 1]", 5, id="mean"),
    pytest.param(lambda m: m.softmax(m.ones(2, 3), dim=2), "softmax", "[-2, 1]", 2, id="softmax"),
    pytest.param(lambda m: F(m).softmax(m.ones(2, 3), dim=-3), "softmax", "[-2, 1]", -3, id="F.softmax"),
    pytest.param(lambda m: m.log_softmax(m.ones(2, 3), dim=2), "log_softmax", "[-2, 1]", 2, id="log_softmax"),
    pytest.param(lambda m: m.ones(2, 3).squeeze(2), "squeeze", "[-2, 1]", 2, id="squeeze"),
    pytest.param(lambda m: m.ones(2, 3).unsqueeze(3), "unsqueeze", "[-3, 2]", 3, id="unsqueeze"),
    pytest.param(lambda m: m.ones(2, 3).unsqueeze(-4), "unsqueeze", "[-3, 2]", -4, id="unsqueeze-negative"),
    pytest.param(lambda m: m.ones(2, 3, 4).permute(0, 1, 3), "permute", "[-3, 2]", 3, id="permute"),
    pytest.param(lambda m: m.cat([m.ones(2, 3), m.ones(2, 3)], dim=2), "cat", "[-2, 1]", 2, id="cat"),
    pytest.param(lambda m: m.ones(2, 3).cumsum(2), "cumsum", "[-2, 1]", 2, id="cumsum"),
    pytest.param(lambda m: m.ones(2, 3).argmax(2), "argmax", "[-2, 1]", 2, id="argmax"),
    pytest.param(lambda m: m.ones(2, 3).flip(2), "flip", "[-2, 1]", 2, id="flip"),
    pytest.param(lambda m: m.gather(m.ones(2, 3), 2, i64(m, 2, 3)), "gather", "[-2, 1]", 2, id="gather"),
    pytest.param(lambda m: m.ones(2, 3).topk(1, dim=2), "topk", "[-2, 1]", 2, id="topk"),
]


@pytest.mark.parametrize("fn, op, valid, dim", DIMS)
def test_dim_out_of_range(fn, op, valid, dim):
    err = check(fn, [op, valid, f"got {dim}"])
    assert isinstance(err, IndexError)


# ---- in-place ops: the error comes before any write -------------------------------------------


def _leaf(m, *shape, dtype=None):
    return m.arange(1, 1 + int(np.prod(shape)), dtype=dtype or m.float32).reshape(shape)


def _nonleaf(m, *shape):
    """A tensor with history, so the in-place op takes the recording path."""
    return _leaf(m, *shape).requires_grad_() * 1.0


INPLACE = [
    pytest.param(lambda m: _leaf(m, 3), lambda m, t: t.add_(m.ones(2, 3)), ["add_", "[3]", "[2, 3]"], id="add_-bcast"),
    pytest.param(
        lambda m: _leaf(m, 1, 3), lambda m, t: t.mul_(m.ones(2, 3)), ["mul_", "[1, 3]", "[2, 3]"], id="mul_-bcast"
    ),
    pytest.param(
        lambda m: _leaf(m, 3), lambda m, t: t.__iadd__(m.ones(2, 3)), ["add_", "[3]", "[2, 3]"], id="iadd-bcast"
    ),
    pytest.param(
        lambda m: _leaf(m, 2, 1), lambda m, t: t.sub_(m.ones(2, 3)), ["sub_", "[2, 1]", "[2, 3]"], id="sub_-bcast"
    ),
    pytest.param(
        lambda m: _leaf(m, 2, 3), lambda m, t: t.add_(m.ones(4, 3)), ["add", "(2, 3)", "(4, 3)"], id="add_-mismatch"
    ),
    pytest.param(
        lambda m: _nonleaf(m, 3),
        lambda m, t: t.add_(m.ones(2, 3)),
        ["add_", "[3]", "[2, 3]"],
        id="add_-bcast-recording",
    ),
    pytest.param(
        lambda m: _nonleaf(m, 2, 3),
        lambda m, t: t.mul_(m.ones(2, 4, requires_grad=True)),
        ["mul", "(2, 3)", "(2, 4)"],
        id="mul_-mismatch-recording",
    ),
    pytest.param(
        lambda m: _leaf(m, 3, dtype=m.int64),
        lambda m, t: t.add_(1.5),
        ["add_", "float32", "int64"],
        id="int-add_-float",
    ),
    pytest.param(
        lambda m: _leaf(m, 3, dtype=m.int64),
        lambda m, t: t.add_(m.ones(3)),
        ["add_", "float32", "int64"],
        id="int-add_-float-tensor",
    ),
    pytest.param(
        lambda m: _leaf(m, 3, dtype=m.int64),
        lambda m, t: t.add_(m.ones(3, dtype=m.float64)),
        ["add_", "float64", "int64"],
        id="int-add_-double-tensor",
    ),
    pytest.param(
        lambda m: _leaf(m, 3, dtype=m.int32),
        lambda m, t: t.mul_(2.5),
        ["mul_", "float32", "int32"],
        id="int-mul_-float",
    ),
    pytest.param(
        lambda m: _leaf(m, 3, dtype=m.int64), lambda m, t: t.div_(2), ["div_", "float32", "int64"], id="int-div_"
    ),
    pytest.param(
        lambda m: _leaf(m, 3, dtype=m.int64),
        lambda m, t: t.add_(m.ones(3, dtype=m.int64), alpha=0.5),
        ["add", "alpha", "(3,) int64"],
        id="int-add_-float-alpha",
    ),
    pytest.param(
        lambda m: _leaf(m, 2, 3),
        lambda m, t: t.scatter_(1, i64(m, 2), m.ones(2, 3)),
        ["scatter()", "(2, 3) float32", "(2,) int64"],
        id="scatter_-rank",
    ),
    pytest.param(
        lambda m: _leaf(m, 2, 3),
        lambda m, t: t.scatter_(1, m.zeros(2, 1), 1.0),
        ["scatter()", "float32", "(2, 1)"],
        id="scatter_-float-index",
    ),
    pytest.param(
        lambda m: _leaf(m, 2, 3),
        lambda m, t: t.masked_fill_(m.ones(3, 2) > 0, 0.0),
        ["masked_fill", "[3, 2]", "[2, 3]"],
        id="masked_fill_-mask",
    ),
    pytest.param(
        lambda m: _leaf(m, 2, 3), lambda m, t: t.copy_(m.ones(4)), ["copy_", "[2, 3]", "[4]"], id="copy_-shape"
    ),
    pytest.param(
        lambda m: _leaf(m, 3),
        lambda m, t: t.__setitem__(5, 0.0),
        ["setitem", "index 5", "size 3", "(3,)"],
        id="setitem-int",
    ),
    pytest.param(
        lambda m: _leaf(m, 2, 3),
        lambda m, t: t.__setitem__((1, m.tensor([0, 7])), 0.0),
        ["setitem", "index 7", "(2, 3)"],
        id="setitem-index-tensor",
    ),
    pytest.param(
        lambda m: _leaf(m, 2, 3),
        lambda m, t: t.__setitem__(m.ones(3, 2) > 0, 0.0),
        ["setitem", "(2, 3)", "(3, 2) bool"],
        id="setitem-mask",
    ),
    pytest.param(
        lambda m: _leaf(m, 2, 3),
        lambda m, t: t.__setitem__(0, m.ones(4)),
        ["setitem", "(4,)", "[2, 3]"],
        id="setitem-value-shape",
    ),
    pytest.param(
        lambda m: _leaf(m, 2, 3),
        lambda m, t: t.__setitem__(slice(None), m.ones(2, 4)),
        ["setitem", "(2, 4)", "[2, 3]"],
        id="setitem-slice-value-shape",
    ),
    pytest.param(
        lambda m: _nonleaf(m, 2, 3),
        lambda m, t: t.__setitem__(0, m.ones(4, requires_grad=True)),
        ["(2, 3)", "(4,)"],
        id="setitem-value-shape-recording",
    ),
    pytest.param(
        lambda m: _leaf(m, 3),
        lambda m, t: t.index_put_((m.tensor([5]),), m.tensor(1.0)),
        ["index_put", "index 5", "size 3", "(3,) float32"],
        id="index_put_-out-of-range",
    ),
]


@pytest.mark.parametrize("make, op, needles", INPLACE)
def test_inplace_error_changes_nothing(make, op, needles):
    expected = _builtin_class(_raised(lambda m: op(m, make(m)), torch))
    t = make(ember)
    values = t.detach().numpy().copy()
    version, history = t._version, t.grad_fn
    err = _raised(lambda m: op(m, t), ember)
    assert isinstance(err, expected), f"torch raised {expected.__name__}, ember {type(err).__name__}: {err}"
    missing = [n for n in needles if n not in str(err)]
    assert not missing, f"ember's message lacks {missing}: {str(err)!r}"
    assert t._version == version, "a failed in-place op bumped the version counter"
    assert t.grad_fn is history, "a failed in-place op rewrote the tensor's history"
    assert tuple(t.shape) == values.shape
    np.testing.assert_array_equal(t.detach().numpy(), values)


def test_inplace_error_on_view_leaves_base_alone():
    for m in (torch, ember):
        base = _leaf(m, 2, 3)
        view = base[0]
        before, version = base.clone(), base._version
        with pytest.raises(RuntimeError, match="add_" if m is ember else None):
            view.add_(m.ones(2, 3))
        assert base._version == version and view._version == version
        assert bool((base == before).all())
