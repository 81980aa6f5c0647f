"""Small bundled datasets from scikit-learn (no downloads): digits, breast cancer, diabetes.

Each is a map-style ``Dataset`` with a seeded train/test split::

    train = ember.datasets.Digits(train=True)          # 1437 images (1, 8, 8) in [0, 1], labels 0-9
    test = ember.datasets.Digits(train=False)          # the other 360

Needs the ``data`` extra: ``pip install ember[data]`` (scikit-learn).
"""

from __future__ import annotations

import numpy as np

from .tensor import _make
from .utils.data import Dataset

__all__ = ["BreastCancer", "Diabetes", "Digits", "load"]


def _sklearn():
    try:
        import sklearn.datasets as skd
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        raise ImportError(
            "ember.datasets needs scikit-learn, which is not installed; install the data extra: pip install ember[data]"
        ) from e
    return skd, train_test_split


class _SklearnDataset(Dataset):
    classification = True

    def __init__(self, train=True, test_size=0.2, seed=0, transform=None, target_transform=None, standardize=False):
        skd, split = _sklearn()
        x, y = self._load(skd)
        idx = np.arange(len(y))
        tr, te = split(idx, test_size=test_size, random_state=seed, stratify=y if self.classification else None)
        sel = tr if train else te
        x = x.astype(np.float32)
        if standardize:  # statistics of the training split, for both splits
            mu, sd = x[tr].mean(0), x[tr].std(0)
            x = (x - mu) / np.where(sd == 0, 1, sd)
        self.train = train
        self.data = _make(np.ascontiguousarray(x[sel]))
        ydt = np.int64 if self.classification else np.float32
        self.targets = _make(np.ascontiguousarray(y[sel].astype(ydt)))
        self.transform = transform
        self.target_transform = target_transform

    def _load(self, skd):  # pragma: no cover - overridden
        raise NotImplementedError

    def __len__(self):
        return int(self.targets.shape[0])

    def __getitem__(self, index):
        x, y = self.data[index], self.targets[index]
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def __repr__(self):
        split = "train" if self.train else "test"
        return f"{self.__class__.__name__}(split={split}, samples={len(self)}, data shape={tuple(self.data.shape)})"


class Digits(_SklearnDataset):
    """8x8 grey images of handwritten digits, as (1, 8, 8) float32 in [0, 1]; 10 classes; 1797 samples."""

    num_classes = 10

    def _load(self, skd):
        d = skd.load_digits()
        return d.images[:, None, :, :] / 16.0, d.target


class BreastCancer(_SklearnDataset):
    """30 features per tumour, binary label (0 malignant, 1 benign); 569 samples."""

    num_classes = 2

    def _load(self, skd):
        d = skd.load_breast_cancer()
        return d.data, d.target


class Diabetes(_SklearnDataset):
    """10 (already scaled) features, a float32 regression target (disease progression); 442 samples."""

    classification = False

    def _load(self, skd):
        d = skd.load_diabetes()
        return d.data, d.target


def load(name, **kwargs):
    """``load('digits', train=False)`` -> the dataset by name."""
    table = {"digits": Digits, "breast_cancer": BreastCancer, "diabetes": Diabetes}
    if name not in table:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(table)}")
    return table[name](**kwargs)
