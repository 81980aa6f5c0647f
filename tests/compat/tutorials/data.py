"""Bundled stand-ins for the tutorials' downloads, and the hooks that make two runs comparable.

``mnist()`` is scikit-learn's 8x8 digits scaled to [0, 1] with one-hot labels,
served like ``input_data.read_data_sets(..., one_hot=True)`` (``next_batch``
walks the data in order, so TF and ember see the same batches). ``on_init``
loads the same seeded NumPy values into every trainable variable, whatever
in-graph initializer the script used, so both frameworks start alike.
"""

from __future__ import annotations

import zlib

import numpy as np


class _Split:
    def __init__(self, images, labels):
        self.images = images
        self.labels = labels
        self.num_examples = len(images)
        self._pos = 0

    def next_batch(self, batch_size):
        if self._pos + batch_size > self.num_examples:
            self._pos = 0
        i = self._pos
        self._pos += batch_size
        return self.images[i : i + batch_size], self.labels[i : i + batch_size]


class Data:
    def __init__(self, init_std=0.1, n_train=1000, n_test=300):
        from sklearn.datasets import load_digits

        d = load_digits()
        x = (d.data / 16.0).astype(np.float32)
        y = np.eye(10, dtype=np.float32)[d.target]
        self.train = _Split(x[:n_train], y[:n_train])
        self.test = _Split(x[n_train : n_train + n_test], y[n_train : n_train + n_test])
        self.init_std = init_std
        self.initial = {}  # variable name -> the array loaded into it

    def on_init(self, sess, tf):
        """Load seeded N(0, init_std) values (biases: 0.1) into every trainable variable."""
        for v in tf.trainable_variables():
            shape = v.shape.as_list()
            rng = np.random.RandomState(zlib.crc32(v.name.encode()))
            if len(shape) <= 1:
                val = np.full(shape, 0.1, np.float32) if shape else np.float32(rng.randn())
            else:
                val = (rng.randn(*shape) * self.init_std).astype(np.float32)
            v.load(val, sess)
            self.initial[v.name] = val


def mnist(**kw):
    return Data(**kw)
