"""Indexing vs PyTorch: ``__getitem__``/``__setitem__``, views vs copies, gradients, index ops, in-place ops.

Each case builds the same tensor in both frameworks from NumPy data, applies
the same index (or op), and compares shapes, dtypes, values, error classes
and gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

A = np.arange(60, dtype=np.float32).reshape(3, 4, 5)


def tname(d):
    return str(d).split(".")[-1]


def base(lib, dtype="float32"):
    return lib.tensor(A.copy()).to(getattr(lib, dtype))


def it(lib, v, dtype="int64"):
    return lib.tensor(v, dtype=getattr(lib, dtype))


def as_np(t):
    t = t.detach()
    if isinstance(t, torch.Tensor):
        return t.numpy()
    return np.asarray(t.numpy())


def assert_same(expected, got, *, tol=0.0):
    if isinstance(expected, (tuple, list)):
        assert len(expected) == len(got)
        for e, g in zip(expected, got):
            assert_same(e, g, tol=tol)
        return
    if not isinstance(expected, torch.Tensor):
        assert got == expected
        return
    assert isinstance(got, ember.Tensor)
    assert tname(got.dtype) == tname(expected.dtype), f"dtype {got.dtype} != torch {expected.dtype}"
    assert tuple(got.shape) == tuple(expected.shape), f"shape {tuple(got.shape)} != torch {tuple(expected.shape)}"
    if tol:
        np.testing.assert_allclose(as_np(got), as_np(expected), rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(as_np(got), as_np(expected))


def run_both(fn, *, tol=0.0):
    """``fn(torch)`` vs ``fn(ember)``: the same error class, or the same results."""
    try:
        expected = fn(torch)
    except Exception as e:
        cls = type(e)
        with pytest.raises(cls):
            fn(ember)
        return
    assert_same(expected, fn(ember), tol=tol)


def cases(d):
    return pytest.mark.parametrize("fn", list(d.values()), ids=list(d))


# ---- __getitem__ ------------------------------------------------------------------------------

KEYS = {
    "int": lambda lib: 1,
    "neg_int": lambda lib: -1,
    "two_ints": lambda lib: (1, 2),
    "all_ints_0d": lambda lib: (2, -1, 3),
    "slice": lambda lib: slice(1, None),
    "slice_step": lambda lib: (slice(None), slice(None, None, 2)),
    "slice_neg_bounds": lambda lib: (slice(-2, None), slice(1, -1, 2)),
    "slice_step3": lambda lib: (Ellipsis, slice(0, 5, 3)),
    "slice_oob": lambda lib: slice(1, 100),
    "slice_empty": lambda lib: slice(2, 1),
    "none": lambda lib: None,
    "none_mid": lambda lib: (slice(None), None, 1),
    "none_twice": lambda lib: (None, 0, None),
    "ellipsis": lambda lib: (Ellipsis, 1),
    "ellipsis_mid": lambda lib: (0, Ellipsis, 2),
    "ellipsis_none": lambda lib: (None, Ellipsis, None),
    "ellipsis_only": lambda lib: Ellipsis,
    "list": lambda lib: [0, 2],
    "list_neg": lambda lib: [-1, 0, -1],
    "nested_list": lambda lib: ([[0, 1], [2, 0]],),
    "two_lists": lambda lib: ([0, 2], [1, 3]),
    "tensor": lambda lib: it(lib, [2, 0]),
    "tensor_neg": lambda lib: it(lib, [-1, -3]),
    "tensor_2d": lambda lib: it(lib, [[0, 1], [2, 2]]),
    "tensor_int32": lambda lib: it(lib, [1, 2], "int32"),
    "tensor_repeated": lambda lib: it(lib, [1, 1, 1, 0]),
    "tensor_0d": lambda lib: it(lib, 1),
    "tensor_0d_pair": lambda lib: (it(lib, 1), it(lib, 2)),
    "two_tensors": lambda lib: (it(lib, [0, 2]), it(lib, [1, 3])),
    "broadcast_tensors": lambda lib: (it(lib, [[0], [2]]), it(lib, [1, 3])),
    "three_tensors": lambda lib: (it(lib, [0, 2]), it(lib, [1, 3]), it(lib, [4, 0])),
    "adv_slice_adv": lambda lib: (it(lib, [0, 2]), slice(None), it(lib, [1, 3])),
    "adv_slice_adv_2d": lambda lib: (it(lib, [[0], [2]]), slice(1, 3), it(lib, [1, 3])),
    "slice_adv": lambda lib: (slice(None), it(lib, [0, 2])),
    "slice_adv_adv": lambda lib: (slice(None), it(lib, [0, 2]), it(lib, [1, 4])),
    "int_slice_adv": lambda lib: (1, slice(None), it(lib, [0, 4])),
    "int_none_slice_adv": lambda lib: (1, None, slice(None), it(lib, [0, 4])),
    "adv_slice_int": lambda lib: (it(lib, [0, 2]), slice(1, 3), 1),
    "adv_int": lambda lib: (it(lib, [0, 2]), 1),
    "int_adv_int": lambda lib: (0, it(lib, [0, 2]), -1),
    "slice_int_adv": lambda lib: (slice(None), 0, it(lib, [1, 3])),
    "none_adv": lambda lib: (None, it(lib, [0, 1])),
    "adv_none_adv": lambda lib: (it(lib, [0, 1]), None, it(lib, [1, 2])),
    "ellipsis_adv": lambda lib: (Ellipsis, it(lib, [0, 4])),
    "mask_full": lambda lib: base(lib) > 30,
    "mask_first_dim": lambda lib: lib.tensor([True, False, True]),
    "mask_2d": lambda lib: (base(lib) > 30)[:, :, 0],
    "mask_then_slice": lambda lib: (lib.tensor([True, False, True]), slice(None, 2)),
    "slice_mask": lambda lib: (slice(None), lib.tensor([True, False, False, True])),
    "mask_and_tensor": lambda lib: (lib.tensor([True, False, True]), it(lib, [0, 3])),
    "mask_slice_list": lambda lib: (lib.tensor([True, False, True]), slice(1, 3), [0, 2]),
    "mask_slice_int": lambda lib: ([True, False, True], slice(None), 1),
    "mask_all_false": lambda lib: lib.tensor([False, False, False]),
    "bool_true": lambda lib: True,
    "bool_false": lambda lib: False,
    "bool_true_int": lambda lib: (True, 1),
    "bool_list": lambda lib: [True, False, True],
    "uint8_mask": lambda lib: lib.tensor([1, 0, 1], dtype=lib.uint8),
    "empty_list": lambda lib: [],
    "empty_tensor": lambda lib: it(lib, []),
    "zero_d_result": lambda lib: (0, 0, 0),
    "oob_int": lambda lib: 3,
    "oob_neg_int": lambda lib: -4,
    "oob_tensor": lambda lib: it(lib, [0, 3]),
    "too_many": lambda lib: (0, 0, 0, 0),
    "float_index": lambda lib: 1.0,
    "float_tensor": lambda lib: lib.tensor([0.0]),
    "mask_wrong_shape": lambda lib: lib.tensor([True, False]),
    "neg_step": lambda lib: slice(None, None, -1),
}


@cases(KEYS)
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_getitem(fn, dtype):
    run_both(lambda lib: base(lib, dtype)[fn(lib)])


@cases(KEYS)
def test_getitem_noncontiguous_base(fn):
    run_both(lambda lib: base(lib).transpose(0, 2).contiguous().transpose(0, 2)[fn(lib)])


@pytest.mark.parametrize(
    "key",
    [
        lambda lib: 1,
        lambda lib: (slice(None), 2),
        lambda lib: (Ellipsis, slice(1, 4, 2)),
        lambda lib: (None, 0),
        lambda lib: (0, 0, 0),
        lambda lib: it(lib, 1),
        lambda lib: (1, slice(None, None, 2), None),
    ],
    ids=["int", "slice_int", "ellipsis_step", "none", "0d", "tensor_0d", "mixed"],
)
def test_basic_indexing_returns_view(key):
    for lib in (torch, ember):
        x = base(lib)
        v = x[key(lib)]
        v.fill_(-1.0) if v.dim() else v.fill_(-1.0)
        assert (x == -1).sum().item() == v.numel() > 0
        x.zero_()
        assert (v == 0).all().item(), "the view sees writes to its base"


@pytest.mark.parametrize(
    "key",
    [
        lambda lib: [0, 2],
        lambda lib: it(lib, [1]),
        lambda lib: lib.tensor([True, False, True]),
        lambda lib: (slice(None), [1, 2]),
        lambda lib: base(lib) > 10,
    ],
    ids=["list", "tensor", "mask", "slice_list", "full_mask"],
)
def test_advanced_indexing_returns_copy(key):
    for lib in (torch, ember):
        x = base(lib)
        c = x[key(lib)]
        c.fill_(-1.0)
        assert (x == -1).sum().item() == 0
        x.zero_()
        assert (c == -1).all().item()


def test_view_of_view_and_version_counter():
    x = ember.zeros(4, 4)
    v = x[1:3][:, ::2]
    v += 1
    t = torch.zeros(4, 4)
    tv = t[1:3][:, ::2]
    tv += 1
    assert_same(t, x)
    assert x._version == v._version


# ---- __setitem__ --------------------------------------------------------------------------------

SETS = {
    "int_scalar": lambda lib: (1, -1.0),
    "neg_int_scalar": lambda lib: (-1, 2.5),
    "slice_scalar": lambda lib: ((slice(None), slice(1, 3)), 7.0),
    "step_scalar": lambda lib: ((slice(None, None, 2),), 9.0),
    "tensor_value": lambda lib: ((0, 0), lib.arange(5.0)),
    "broadcast_row": lambda lib: ((slice(None), 1), lib.arange(5.0)),
    "broadcast_col": lambda lib: ((0,), lib.arange(4.0).reshape(4, 1)),
    "broadcast_leading_ones": lambda lib: ((0,), lib.arange(5.0).reshape(1, 1, 5)),
    "ellipsis": lambda lib: ((Ellipsis, 0), 5.0),
    "none": lambda lib: ((None, 0), lib.zeros(1, 4, 5)),
    "mask_scalar": lambda lib: (base(lib) > 30, 0.0),
    "mask_tensor_values": lambda lib: (base(lib) > 50, lib.arange(9.0)),
    "mask_rows": lambda lib: (lib.tensor([True, False, True]), lib.zeros(4, 5)),
    "mask_rows_broadcast": lambda lib: (lib.tensor([True, False, True]), lib.arange(5.0)),
    "mask_2d_scalar": lambda lib: ((base(lib) > 30)[:, :, 0], -2.0),
    "int_tensor": lambda lib: (it(lib, [0, 2]), -3.0),
    "int_tensor_neg": lambda lib: (it(lib, [-1]), 2.0),
    "int_tensor_values": lambda lib: (it(lib, [0, 2]), lib.ones(2, 4, 5)),
    "int_tensor_broadcast": lambda lib: (it(lib, [0, 2]), lib.arange(5.0)),
    "list_idx": lambda lib: ([0, 2], 4.0),
    "adv_pair": lambda lib: ((it(lib, [0, 2]), it(lib, [1, 3])), lib.arange(10.0).reshape(2, 5)),
    "adv_pair_mismatch_raises": lambda lib: ((it(lib, [0, 2]), it(lib, [1, 3])), lib.tensor([100.0, 200.0])),
    "adv_sep": lambda lib: ((it(lib, [0, 2]), slice(None), it(lib, [1, 3])), lib.arange(8.0).reshape(2, 4)),
    "int_slice_adv": lambda lib: ((1, slice(None), it(lib, [0, 4])), lib.arange(8.0).reshape(4, 2)),
    "tensor_0d_index": lambda lib: (it(lib, 1), 8.0),
    "bool_true": lambda lib: (True, 1.0),
    "value_int_into_float": lambda lib: (0, 3),
    "value_float64_tensor": lambda lib: (0, lib.ones(4, 5, dtype=lib.float64) / 3),
    "value_int_tensor": lambda lib: (0, lib.ones(4, 5, dtype=lib.int64)),
    "value_0d_tensor": lambda lib: ((0, 0, 0), lib.tensor(42.0)),
    "value_bad_shape_raises": lambda lib: (0, lib.ones(3)),
    "oob_raises": lambda lib: (it(lib, [3]), 2.0),
}


@cases(SETS)
def test_setitem(fn):
    def go(lib):
        x = base(lib)
        k, v = fn(lib)
        x[k] = v
        return x

    run_both(go)


@pytest.mark.parametrize("value", [2.7, -1, True, 300])
def test_setitem_int_tensor_casts_value(value):
    def go(lib):
        x = base(lib, "int64")
        x[0, 0, 0] = value
        x[1] = lib.ones(4, 5) * 2.5
        return x

    run_both(go)
    if value != -1:  # PyTorch wraps -1 into uint8 but refuses 256 (a range NumPy does not share)
        run_both(lambda lib: _set(base(lib, "uint8"), (0, 0), value))
        run_both(lambda lib: base(lib, "int8").fill_(value))


def _set(x, k, v):
    x[k] = v
    return x


def test_setitem_on_view_writes_base():
    for lib in (torch, ember):
        x = base(lib)
        v = x[1]
        v[2:, 1] = -5.0
        assert x[1, 3, 1].item() == -5.0
        v[lib.tensor([0, 1])] = 0.0
        assert (x[1, :2] == 0).all().item()


def test_setitem_on_expanded_raises():
    for lib in (torch, ember):
        x = lib.zeros(3, 1).expand(3, 4)
        with pytest.raises(RuntimeError):
            x[0] = 1.0  # the written row's four elements share one memory location
        with pytest.raises(RuntimeError):
            x.add_(1.0)


# ---- gradients -------------------------------------------------------------------------------------

GRAD_KEYS = {
    "int": lambda lib: 1,
    "slice_step": lambda lib: (slice(None), slice(None, None, 2)),
    "none_ellipsis": lambda lib: (None, Ellipsis, 0),
    "list": lambda lib: [0, 2],
    "repeated": lambda lib: it(lib, [1, 1, 0, 1]),
    "repeated_2d": lambda lib: (it(lib, [[0, 0], [2, 0]]), it(lib, [1, 1])),
    "mask": lambda lib: base(lib) > 25,
    "mask_rows": lambda lib: lib.tensor([True, False, True]),
    "adv_slice_adv_repeated": lambda lib: (it(lib, [0, 0, 2]), slice(None), it(lib, [1, 1, 3])),
    "int_slice_adv": lambda lib: (1, slice(None), it(lib, [0, 4, 0])),
    "neg_tensor": lambda lib: (Ellipsis, it(lib, [-1, -1, 0])),
    "0d": lambda lib: (0, 1, 2),
}


@cases(GRAD_KEYS)
def test_getitem_gradient(fn):
    grads = []
    outs = []
    for lib in (torch, ember):
        x = base(lib).requires_grad_()
        y = x[fn(lib)]
        w = lib.tensor(np.linspace(-1.0, 1.0, y.numel(), dtype=np.float32).reshape(tuple(y.shape)))
        (y * w).sum().backward()
        grads.append(x.grad)
        outs.append(y)
    assert_same(outs[0], outs[1])
    assert_same(grads[0], grads[1], tol=1e-6)


SET_GRAD = {
    "slice": lambda lib: (slice(1, 3), None),
    "int": lambda lib: (0, None),
    "mask": lambda lib: (lib.tensor([True, False, True]), None),
    "tensor": lambda lib: (it(lib, [2, 0]), None),
    "adv_pair": lambda lib: ((it(lib, [0, 2]), it(lib, [1, 3])), None),
    "broadcast": lambda lib: ((slice(None), 1), (5,)),
    "scalar_value": lambda lib: ((slice(None), 0, 0), ()),
}


@cases(SET_GRAD)
def test_setitem_gradient(fn):
    """Gradients flow to both the overwritten tensor (zero where written) and the written value."""
    res = []
    for lib in (torch, ember):
        x = base(lib).requires_grad_()
        key, vshape = fn(lib)
        probe = A.copy()[_np_key(key)] if vshape is None else np.zeros(vshape, np.float32)
        v = lib.tensor(np.full(probe.shape, 2.0, np.float32)).requires_grad_()
        y = x * 1.5
        y[key] = v * 3
        w = lib.tensor(np.linspace(-1.0, 1.0, y.numel(), dtype=np.float32).reshape(tuple(y.shape)))
        (y * w).sum().backward()
        res.append((y, x.grad, v.grad))
    for e, g in zip(res[0], res[1]):
        assert_same(e, g, tol=1e-6)


def _np_key(key):
    if isinstance(key, tuple):
        return tuple(_np_key(k) for k in key)
    if isinstance(key, (torch.Tensor, ember.Tensor)):
        return np.asarray(key.numpy())
    return key


def test_index_put_accumulate_gradient_and_values():
    res = []
    for lib in (torch, ember):
        x = lib.zeros(5).requires_grad_()
        v = lib.tensor([1.0, 2.0, 3.0, 4.0]).requires_grad_()
        y = x.clone().index_put_((it(lib, [0, 1, 0, 4]),), v, accumulate=True)
        (y * lib.arange(5.0)).sum().backward()
        res.append((y, x.grad, v.grad))
    for e, g in zip(*res):
        assert_same(e, g)


# ---- index ops ---------------------------------------------------------------------------------

M = np.array([[3.0, -1.0, 2.0, 2.0], [0.5, 4.0, -2.0, 1.0], [1.0, 1.0, 1.0, 0.0]], dtype=np.float32)


def m(lib, dtype="float32"):
    return lib.tensor(M.copy()).to(getattr(lib, dtype))


INDEX_OPS = {
    "gather_dim1": lambda lib: lib.gather(m(lib), 1, it(lib, [[0, 0], [1, 3], [2, 1]])),
    "gather_dim0": lambda lib: m(lib).gather(0, it(lib, [[2, 0, 1, 1]])),
    "gather_neg_dim": lambda lib: lib.gather(m(lib), -1, it(lib, [[3], [2], [0]])),
    "gather_smaller_index": lambda lib: lib.gather(m(lib), 1, it(lib, [[1, 2]])),
    "gather_oob_raises": lambda lib: lib.gather(m(lib), 1, it(lib, [[4]])),
    "gather_ndim_raises": lambda lib: lib.gather(m(lib), 1, it(lib, [1])),
    "scatter_src": lambda lib: lib.zeros(3, 4).scatter(1, it(lib, [[0, 1], [2, 3], [1, 0]]), m(lib)),
    "scatter_value": lambda lib: m(lib).scatter(0, it(lib, [[2, 0, 1, 0]]), -7.0),
    "scatter_value_kw": lambda lib: lib.scatter(m(lib), 1, it(lib, [[3], [0], [1]]), value=9.0),
    "scatter_int": lambda lib: m(lib, "int64").scatter(1, it(lib, [[0], [1], [2]]), 5),
    "scatter_add": lambda lib: lib.zeros(3, 4).scatter_add(1, it(lib, [[0, 0, 0], [1, 1, 3], [2, 2, 2]]), m(lib)),
    "scatter_add_dim0": lambda lib: lib.ones(2, 4).scatter_add(0, it(lib, [[0, 1, 0, 1], [1, 1, 0, 0]]), m(lib)[:2]),
    "scatter_reduce_add": lambda lib: lib.zeros(3, 4).scatter(
        1, it(lib, [[0, 0], [1, 1], [3, 3]]), m(lib), reduce="add"
    ),
    "index_select_0": lambda lib: lib.index_select(m(lib), 0, it(lib, [2, 0, 2])),
    "index_select_1": lambda lib: m(lib).index_select(1, it(lib, [3, 1])),
    "index_select_neg": lambda lib: m(lib).index_select(-1, it(lib, [0])),
    "index_select_int32": lambda lib: m(lib).index_select(0, it(lib, [1], "int32")),
    "index_select_2d_raises": lambda lib: m(lib).index_select(0, it(lib, [[1]])),
    "index_add": lambda lib: m(lib).index_add(0, it(lib, [0, 2, 0]), lib.ones(3, 4)),
    "index_add_alpha": lambda lib: m(lib).index_add(1, it(lib, [1, 1]), lib.ones(3, 2), alpha=2.5),
    "index_fill": lambda lib: m(lib).index_fill(1, it(lib, [0, 2]), -1.0),
    "index_copy": lambda lib: m(lib).index_copy(0, it(lib, [2, 0]), lib.zeros(2, 4)),
    "masked_fill": lambda lib: m(lib).masked_fill(m(lib) > 1, 0.0),
    "masked_fill_broadcast": lambda lib: m(lib).masked_fill(lib.tensor([True, False, False, True]), -5.0),
    "masked_fill_tensor_value": lambda lib: m(lib).masked_fill(m(lib) < 0, lib.tensor(100.0)),
    "masked_fill_int": lambda lib: m(lib, "int64").masked_fill(m(lib) > 1, 7),
    "masked_fill_int_float_value": lambda lib: m(lib, "int32").masked_fill(m(lib) > 1, 2.9),
    "masked_fill_float_mask_raises": lambda lib: m(lib).masked_fill(m(lib), 0.0),
    "masked_fill_bad_shape_raises": lambda lib: m(lib).masked_fill(lib.tensor([[True], [False]]), 0.0),
    "masked_select": lambda lib: lib.masked_select(m(lib), m(lib) > 0.7),
    "masked_select_broadcast": lambda lib: m(lib).masked_select(lib.tensor([False, True, True, False])),
    "nonzero": lambda lib: lib.nonzero(m(lib) > 1),
    "nonzero_1d": lambda lib: lib.tensor([0, 3, 0, 1]).nonzero(),
    "nonzero_as_tuple": lambda lib: lib.nonzero(m(lib) > 1, as_tuple=True),
    "nonzero_empty": lambda lib: lib.nonzero(lib.zeros(2, 2)),
    "nonzero_0d": lambda lib: lib.nonzero(lib.tensor(5)),
    "where_1arg": lambda lib: lib.where(m(lib) > 1),
    "argwhere": lambda lib: lib.argwhere(m(lib) < 0),
    "topk": lambda lib: tuple(lib.topk(lib.tensor([1.0, 5.0, 3.0, 4.0, 2.0]), 3)),
    "topk_smallest": lambda lib: tuple(lib.topk(lib.tensor([1.0, 5.0, 3.0, 4.0, 2.0]), 2, largest=False)),
    "topk_dim0": lambda lib: tuple(m(lib).topk(2, dim=0)),
    "topk_k0": lambda lib: tuple(m(lib).topk(0)),
    "topk_too_big_raises": lambda lib: m(lib).topk(5),
    "topk_int": lambda lib: tuple(lib.tensor([4, 1, 9, 7]).topk(2)),
    "sort": lambda lib: tuple(lib.sort(lib.tensor([3.0, 1.0, 2.0, -1.0]))),
    "sort_desc": lambda lib: tuple(lib.sort(lib.tensor([3.0, 1.0, 2.0, -1.0]), descending=True)),
    "sort_dim0": lambda lib: tuple(m(lib).sort(dim=0)),
    "sort_stable_ties": lambda lib: tuple(m(lib).sort(dim=1, stable=True)),
    "sort_stable_ties_desc": lambda lib: tuple(m(lib).sort(dim=1, descending=True, stable=True)),
    "sort_int": lambda lib: tuple(lib.tensor([5, -2, 7, 0]).sort()),
    "sort_bool": lambda lib: tuple(lib.tensor([True, False, True]).sort(stable=True)),
    "argsort": lambda lib: lib.argsort(lib.tensor([3.0, 1.0, 2.0])),
    "argsort_desc": lambda lib: lib.tensor([[3.0, 1.0, 2.0], [0.0, 9.0, 5.0]]).argsort(dim=1, descending=True),
    "argsort_stable": lambda lib: m(lib).argsort(dim=1, stable=True),
    "unique": lambda lib: lib.unique(lib.tensor([3, 1, 2, 3, 1, 5])),
    "unique_inverse_counts": lambda lib: lib.unique(
        lib.tensor([[3, 1], [2, 3]]), return_inverse=True, return_counts=True
    ),
    "unique_float": lambda lib: lib.unique(m(lib)),
    "unique_dim0": lambda lib: lib.unique(lib.tensor([[1, 2], [0, 1], [1, 2]]), dim=0),
    "unique_method": lambda lib: lib.tensor([2.0, 2.0, -1.0]).unique(return_counts=True),
    "one_hot": lambda lib: _one_hot(lib)(it(lib, [0, 2, 1])),
    "one_hot_classes": lambda lib: _one_hot(lib)(it(lib, [[0], [3]]), num_classes=5),
    "one_hot_bad_class_raises": lambda lib: _one_hot(lib)(it(lib, [0, 5]), num_classes=3),
    "one_hot_float_raises": lambda lib: _one_hot(lib)(lib.tensor([0.0, 1.0])),
    "take": lambda lib: lib.take(m(lib), it(lib, [[0, 11], [5, -1]])),
    "take_along_dim": lambda lib: lib.take_along_dim(m(lib), it(lib, [[0], [3], [1]]), dim=1),
    "narrow": lambda lib: m(lib).narrow(1, 1, 2),
    "select": lambda lib: m(lib).select(1, -1),
    "select_oob_raises": lambda lib: m(lib).select(0, 3),
}


def _one_hot(lib):
    return lib.nn.functional.one_hot


@cases(INDEX_OPS)
def test_index_ops(fn):
    run_both(fn)


def test_gather_scatter_gradients():
    res = []
    for lib in (torch, ember):
        x = m(lib).requires_grad_()
        src = lib.tensor(np.arange(12, dtype=np.float32).reshape(3, 4)).requires_grad_()
        idx = it(lib, [[0, 0, 1], [3, 3, 3], [2, 1, 0]])
        g = x.gather(1, idx)
        s = x.scatter_add(1, idx, src[:, :3])
        s2 = x.scatter(1, it(lib, [[0], [1], [2]]), src[:, :1])
        sel = x.index_select(0, it(lib, [2, 2, 0]))
        (g.sum() * 2 + (s * s).sum() + (s2 * 3).sum() + (sel * sel).sum()).backward()
        res.append((x.grad, src.grad))
    for e, g in zip(*res):
        assert_same(e, g, tol=1e-6)


def test_sort_topk_gradients():
    res = []
    for lib in (torch, ember):
        x = m(lib)[:, :3].requires_grad_()
        v, _ = x.sort(dim=1)
        t, _ = x.topk(2, dim=0)
        (v * lib.arange(3.0) + 0).sum().backward(retain_graph=True)
        (t * t).sum().backward()
        res.append(x.grad)
    assert_same(res[0], res[1], tol=1e-6)


def test_masked_ops_gradients():
    res = []
    for lib in (torch, ember):
        x = m(lib).requires_grad_()
        mask = m(lib) > 1
        y = x.masked_fill(mask, 0.0) * 2 + x.masked_select(mask).sum()
        y.sum().backward()
        res.append(x.grad)
    assert_same(res[0], res[1])


# ---- in-place ops ------------------------------------------------------------------------------------

INPLACE = {
    "add_": lambda lib, x: x.add_(lib.ones(4)),
    "add_alpha": lambda lib, x: x.add_(lib.ones(3, 4), alpha=-2),
    "add_scalar": lambda lib, x: x.add_(2.5),
    "sub_": lambda lib, x: x.sub_(m(lib)),
    "mul_": lambda lib, x: x.mul_(lib.tensor([[2.0], [0.5], [-1.0]])),
    "mul_scalar": lambda lib, x: x.mul_(3),
    "div_": lambda lib, x: x.div_(2),
    "clamp_": lambda lib, x: x.clamp_(-1.0, 2.0),
    "clamp_min_only": lambda lib, x: x.clamp_(min=0.0),
    "clamp_max_": lambda lib, x: x.clamp_max_(1.0),
    "masked_fill_": lambda lib, x: x.masked_fill_(x > 1, -1.0),
    "copy_": lambda lib, x: x.copy_(lib.arange(12.0).reshape(3, 4)),
    "copy_broadcast": lambda lib, x: x.copy_(lib.arange(4.0)),
    "copy_cast": lambda lib, x: x.copy_(lib.arange(12).reshape(3, 4)),
    "copy_f64": lambda lib, x: x.copy_(lib.ones(3, 4, dtype=lib.float64) / 3),
    "copy_bad_shape_raises": lambda lib, x: x.copy_(lib.ones(5)),
    "zero_": lambda lib, x: x.zero_(),
    "fill_": lambda lib, x: x.fill_(2.5),
    "fill_tensor": lambda lib, x: x.fill_(lib.tensor(-3.0)),
    "fill_1d_tensor_raises": lambda lib, x: x.fill_(lib.tensor([1.0, 2.0])),
    "index_add_": lambda lib, x: x.index_add_(0, it(lib, [0, 0, 2]), lib.ones(3, 4)),
    "index_add_alpha": lambda lib, x: x.index_add_(1, it(lib, [3, 1]), lib.ones(3, 2), alpha=3),
    "scatter_": lambda lib, x: x.scatter_(1, it(lib, [[0, 1], [2, 3], [1, 0]]), lib.zeros(3, 2)),
    "scatter_value": lambda lib, x: x.scatter_(0, it(lib, [[2, 0, 1, 0]]), 7.0),
    "scatter_add_": lambda lib, x: x.scatter_add_(1, it(lib, [[0, 0], [1, 1], [3, 3]]), lib.ones(3, 2)),
    "index_fill_": lambda lib, x: x.index_fill_(1, it(lib, [0, 2]), 1.5),
    "exp_": lambda lib, x: x.exp_(),
    "neg_": lambda lib, x: x.neg_(),
    "pow_": lambda lib, x: x.pow_(2),
    "sqrt_nan": lambda lib, x: x.sqrt_(),
    "iadd": lambda lib, x: _iop(x, lambda a: a.__iadd__(1.0)),
    "imul_broadcast": lambda lib, x: _iop(x, lambda a: a.__imul__(lib.tensor([1.0, 2.0, 3.0, 4.0]))),
    "itruediv": lambda lib, x: _iop(x, lambda a: a.__itruediv__(4)),
    "add_broadcast_out_raises": lambda lib, x: x.add_(lib.ones(2, 3, 4)),
    "mul_broadcast_out_raises": lambda lib, x: x[:, :1].mul_(lib.ones(3, 4)),
    "add_f64_into_f32": lambda lib, x: x.add_(lib.ones(4, dtype=lib.float64) / 3),
}


def _iop(x, f):
    f(x)
    return x


@cases(INPLACE)
def test_inplace_ops(fn):
    def go(lib):
        x = m(lib)
        out = fn(lib, x)
        assert out is x
        return x

    run_both(go, tol=1e-6)


INPLACE_INT = {
    "add_int": lambda lib, x: x.add_(2),
    "mul_int_tensor": lambda lib, x: x.mul_(lib.tensor([2, 3, 4, 5])),
    "add_float_raises": lambda lib, x: x.add_(1.5),
    "add_float_tensor_raises": lambda lib, x: x.add_(lib.ones(4)),
    "mul_float_raises": lambda lib, x: x.mul_(0.5),
    "div_raises": lambda lib, x: x.div_(2),
    "exp_raises": lambda lib, x: x.exp_(),
    "clamp_int": lambda lib, x: x.clamp_(0, 2),
    "masked_fill_float_value": lambda lib, x: x.masked_fill_(x > 1, 2.7),
    "fill_float": lambda lib, x: x.fill_(2.7),
    "copy_float": lambda lib, x: x.copy_(lib.full((3, 4), -1.9)),
    "floor_divide_": lambda lib, x: x.floor_divide_(2),
    "index_add_float_src_raises": lambda lib, x: x.index_add_(0, it(lib, [0]), lib.ones(1, 4)),
    "iadd_int32_tensor": lambda lib, x: _iop(x, lambda a: a.__iadd__(lib.ones(4, dtype=lib.int32))),
}


@cases(INPLACE_INT)
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_inplace_ops_int(fn, dtype):
    def go(lib):
        x = m(lib, dtype).abs()
        out = fn(lib, x)
        assert out is x
        return x

    run_both(go)


def test_inplace_bool():
    run_both(lambda lib: lib.tensor([True, False]).logical_not_())
    run_both(lambda lib: _iop(lib.tensor([True, False]), lambda a: a.__ior__(lib.tensor([False, True]))))
    run_both(lambda lib: lib.tensor([True, False]).add_(1.0))


def test_inplace_version_and_saved_tensor_errors():
    for lib in (torch, ember):
        x = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError):
            x.add_(1.0)  # a leaf that requires grad
        with pytest.raises(RuntimeError):
            x[0] = 2.0
        y = x.exp()
        z = y * y
        y.mul_(2)  # y was saved by exp (as its output) and by mul
        with pytest.raises(RuntimeError):
            z.sum().backward()
        with lib.no_grad():
            x.add_(1.0)
        assert x.tolist() == [2.0, 2.0, 2.0]


def test_inplace_on_view_gradient():
    res = []
    for lib in (torch, ember):
        x = lib.tensor(M.copy()).requires_grad_()
        y = x * 2
        y[1].mul_(3)
        y[:, 2:].clamp_(max=5.0)
        y[0, 0] = 0.0
        (y * lib.arange(12.0).reshape(3, 4)).sum().backward()
        res.append((y, x.grad))
    for e, g in zip(*res):
        assert_same(e, g, tol=1e-6)
