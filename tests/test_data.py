"""ember.utils.data (datasets, samplers, collate, DataLoader with workers) and ember.datasets."""

import collections

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import ember
from ember.utils import data as eud


def _ds(n=10):
    x = ember.arange(n * 2).float().reshape(n, 2)
    return eud.TensorDataset(x, ember.arange(n))


def _labels(loader):
    return [b[1].tolist() for b in loader]


def _to_np(x):
    if isinstance(x, (ember.Tensor, torch.Tensor)):
        return ("T", str(x.dtype).split(".")[-1], x.detach().numpy().tolist())
    if isinstance(x, dict):
        return {k: _to_np(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [_to_np(v) for v in x])
    return x


Point = collections.namedtuple("Point", "x y")


@pytest.mark.parametrize(
    "make",
    [
        lambda T: [T.tensor([1.0, 2.0]), T.tensor([3.0, 4.0])],
        lambda T: [(1, 2.5, "a"), (3, 4.5, "b")],
        lambda T: [
            {"a": T.ones(2, 2), "b": [1, 2], "c": (True, 0.5)},
            {"a": T.zeros(2, 2), "b": [3, 4], "c": (False, 1.5)},
        ],
        lambda T: [np.arange(3, dtype=np.float32), np.ones(3, dtype=np.float32)],
        lambda T: [np.float64(1.5), np.float64(2.5)],
        lambda T: [np.int32(1), np.int32(2)],
        lambda T: [Point(1, T.ones(2)), Point(2, T.zeros(2))],
        lambda T: [[{"k": np.ones((2, 1), dtype=np.int64)}, 7], [{"k": np.zeros((2, 1), dtype=np.int64)}, 8]],
    ],
)
def test_default_collate_matches_torch(make):
    ours = eud.default_collate(make(ember))
    theirs = tud.default_collate(make(torch))
    assert _to_np(ours) == _to_np(theirs)
    assert type(ours).__name__ == type(theirs).__name__


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="equal size"):
        eud.default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="default_collate"):
        eud.default_collate([object(), object()])


def test_sequential_batches_and_drop_last():
    ds = _ds(10)
    assert _labels(eud.DataLoader(ds, batch_size=4)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert _labels(eud.DataLoader(ds, batch_size=4, drop_last=True)) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(eud.DataLoader(ds, batch_size=4)) == 3 and len(eud.DataLoader(ds, batch_size=4, drop_last=True)) == 2
    xb, yb = next(iter(eud.DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 2) and xb.dtype == ember.float32 and yb.dtype == ember.int64
    single = list(eud.DataLoader(ds, batch_size=None))
    assert len(single) == 10 and single[3][1].shape == ()


def test_shuffle_reproducible_and_a_permutation():
    ds = _ds(23)
    a = _labels(eud.DataLoader(ds, batch_size=5, shuffle=True, generator=ember.Generator().manual_seed(3)))
    b = _labels(eud.DataLoader(ds, batch_size=5, shuffle=True, generator=ember.Generator().manual_seed(3)))
    c = _labels(eud.DataLoader(ds, batch_size=5, shuffle=True, generator=ember.Generator().manual_seed(4)))
    assert a == b and a != c
    assert sorted(sum(a, [])) == list(range(23))
    ember.manual_seed(11)
    d = _labels(eud.DataLoader(ds, batch_size=5, shuffle=True))
    ember.manual_seed(11)
    e = _labels(eud.DataLoader(ds, batch_size=5, shuffle=True))
    assert d == e and sorted(sum(d, [])) == list(range(23))
    loader = eud.DataLoader(ds, batch_size=5, shuffle=True, generator=ember.Generator().manual_seed(3))
    assert _labels(loader) != _labels(loader)  # a new order every epoch


def _seed_of_worker(_):
    info = eud.get_worker_info()
    return info.id


class _RandomDataset(eud.Dataset):
    """Each sample carries a random draw made in whichever process reads it."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        return i, float(ember.rand(1))


def test_workers_keep_order_and_are_reproducible():
    ds = _ds(37)
    base = _labels(eud.DataLoader(ds, batch_size=4, shuffle=True, generator=ember.Generator().manual_seed(5)))
    for nw in (1, 2, 3):
        got = _labels(
            eud.DataLoader(ds, batch_size=4, shuffle=True, generator=ember.Generator().manual_seed(5), num_workers=nw)
        )
        assert got == base
    runs = []
    for _ in range(2):
        loader = eud.DataLoader(
            _RandomDataset(), batch_size=3, num_workers=2, generator=ember.Generator().manual_seed(9)
        )
        runs.append([(b[0].tolist(), b[1].tolist()) for b in loader])
    assert runs[0] == runs[1]
    assert [i for b in runs[0] for i in b[0]] == list(range(12))
    # batch 0 comes from worker 0 and batch 1 from worker 1: each worker has its own seed
    assert runs[0][0][1][0] != runs[0][1][1][0]
    other = eud.DataLoader(_RandomDataset(), batch_size=3, num_workers=2, generator=ember.Generator().manual_seed(10))
    assert [b[1].tolist() for b in other] != [r[1] for r in runs[0]]


_INIT_LOG = []


def _init_fn(worker_id):
    info = eud.get_worker_info()
    assert info.id == worker_id and info.num_workers == 2
    ember.manual_seed(1000 + worker_id)


class _WhoDataset(eud.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = eud.get_worker_info()
        return -1 if info is None else info.id


def test_worker_init_fn_persistent_workers_and_errors():
    loader = eud.DataLoader(
        _WhoDataset(), batch_size=2, num_workers=2, worker_init_fn=_init_fn, persistent_workers=True
    )
    first = [b.tolist() for b in loader]
    second = [b.tolist() for b in loader]
    assert first == second == [[0, 0], [1, 1], [0, 0], [1, 1]]
    assert [b.tolist() for b in eud.DataLoader(_WhoDataset(), batch_size=4)] == [[-1] * 4, [-1] * 4]

    class Bad(eud.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            raise KeyError(f"missing {i}")

    with pytest.raises(KeyError, match="worker process"):
        list(eud.DataLoader(Bad(), batch_size=2, num_workers=1))


class _Stream(eud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = eud.get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


def test_iterable_dataset_matches_torch():
    class TStream(tud.IterableDataset):
        def __iter__(self):
            info = tud.get_worker_info()
            return iter(range(10) if info is None else range(info.id, 10, info.num_workers))

    for kw in (dict(batch_size=3), dict(batch_size=3, num_workers=2), dict(batch_size=3, drop_last=True)):
        ours = [b.tolist() for b in eud.DataLoader(_Stream(10), **kw)]
        theirs = [b.tolist() for b in tud.DataLoader(TStream(), **kw)]
        assert ours == theirs, kw


def test_empty_dataset_like_torch():
    empty = eud.TensorDataset(ember.zeros(0, 2))
    assert list(eud.DataLoader(empty, batch_size=2)) == [] and len(eud.DataLoader(empty)) == 0
    assert list(eud.DataLoader(empty, batch_size=2, num_workers=1)) == []
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        eud.DataLoader(empty, shuffle=True)


def test_option_errors():
    ds = _ds()
    with pytest.raises(ValueError, match="mutually exclusive"):
        eud.DataLoader(ds, sampler=eud.SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="mutually exclusive"):
        eud.DataLoader(ds, batch_sampler=eud.BatchSampler(eud.SequentialSampler(ds), 2, False), batch_size=3)
    with pytest.raises(ValueError):
        eud.DataLoader(ds, num_workers=-1)
    with pytest.raises(AssertionError, match="Size mismatch"):
        eud.TensorDataset(ember.zeros(3), ember.zeros(4))


def test_samplers():
    ds = _ds(10)
    bs = eud.BatchSampler(eud.SequentialSampler(ds), 3, drop_last=False)
    assert list(bs) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]] and len(bs) == 4
    assert list(eud.BatchSampler(range(10), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    sub = list(eud.SubsetRandomSampler([2, 4, 6, 8], generator=ember.Generator().manual_seed(0)))
    assert sorted(sub) == [2, 4, 6, 8]
    rs = list(eud.RandomSampler(ds, replacement=True, num_samples=50, generator=ember.Generator().manual_seed(0)))
    assert len(rs) == 50 and all(0 <= i < 10 for i in rs)
    loader = eud.DataLoader(ds, batch_sampler=bs)
    assert _labels(loader) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    custom = eud.DataLoader(ds, batch_size=2, sampler=[9, 8, 7, 6])
    assert _labels(custom) == [[9, 8], [7, 6]]
    w = list(eud.WeightedRandomSampler([0.0, 1.0, 0.0], 5, generator=ember.Generator().manual_seed(0)))
    assert w == [1] * 5


def test_random_split_subset_concat():
    ds = _ds(10)
    a, b = eud.random_split(ds, [7, 3], generator=ember.Generator().manual_seed(0))
    assert len(a) == 7 and len(b) == 3
    got = sorted(int(a[i][1]) for i in range(7)) + sorted(int(b[i][1]) for i in range(3))
    assert sorted(got) == list(range(10)) and len(set(got)) == 10
    parts = eud.random_split(range(11), [0.5, 0.3, 0.2], generator=ember.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [len(p) for p in tud.random_split(range(11), [0.5, 0.3, 0.2])]
    again = eud.random_split(ds, [7, 3], generator=ember.Generator().manual_seed(0))
    assert again[0].indices == a.indices
    with pytest.raises(ValueError, match="Sum of input lengths"):
        eud.random_split(ds, [5, 6])
    cat = eud.ConcatDataset([range(3), range(10, 14)])
    assert len(cat) == 7 and [cat[i] for i in range(7)] == [0, 1, 2, 10, 11, 12, 13] and cat[-1] == 13
    assert len(ds + ds) == 20
    assert eud.Subset(ds, [3, 1])[1][1].item() == 1


# ---- ember.datasets ------------------------------------------------------------------
def test_sklearn_datasets_shapes_and_splits():
    from ember import datasets

    tr, te = datasets.Digits(train=True), datasets.Digits(train=False)
    assert len(tr) + len(te) == 1797 and len(te) == 360
    x, y = tr[0]
    assert x.shape == (1, 8, 8) and x.dtype == ember.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
    assert y.dtype == ember.int64 and sorted(set(te.targets.tolist())) == list(range(10))
    assert datasets.Digits(seed=1).targets.tolist() != tr.targets.tolist()
    assert datasets.Digits().targets.tolist() == tr.targets.tolist()
    bc = datasets.BreastCancer(train=False, standardize=True)
    assert bc.data.shape == (114, 30) and set(bc.targets.tolist()) == {0, 1}
    dia = datasets.Diabetes()
    assert dia.data.shape == (353, 10) and dia.targets.dtype == ember.float32
    xb, yb = next(iter(eud.DataLoader(tr, batch_size=16)))
    assert xb.shape == (16, 1, 8, 8) and yb.shape == (16,)
    flip = datasets.Digits(transform=lambda im: im.flip(-1))
    np.testing.assert_array_equal(flip[0][0].numpy(), tr[0][0].numpy()[..., ::-1])


def test_datasets_need_sklearn(monkeypatch):
    import builtins

    from ember import datasets

    real = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match=r"pip install ember\[data\]"):
        datasets.Digits()
