"""tf.data for TF1 programs: in-memory Datasets and the one-shot/initializable iterators over them.

A Dataset is a recipe for a Python iterator of NumPy elements (an array, a
tuple or a dict of arrays). ``get_next()`` is a graph HOST node whose getter
pulls ONE element per ``Session.run`` (one getter node returns the whole
element; per-component HOST nodes pick its parts), so fetching several
components of one element in one run reads one element, as in TF.

Limits (documented differences from TF): ``map(fn)`` calls ``fn`` on NumPy
arrays (use NumPy or ember eager ops inside, not ``tf.*`` graph ops); its
output shapes come from the first element (from zeros of the element shapes
when the data is fed). ``shuffle`` uses NumPy's RNG, so the order differs from
TF's for the same seed. Placeholders given to ``from_tensor_slices`` /
``from_tensors`` are read when an initializable iterator's initializer runs
(with its feed_dict); ``Iterator.from_structure`` + ``make_initializer`` switch
datasets.
"""

from __future__ import annotations

import numpy as np

from ...graph import ir
from ...graph.build import frame_of_user, symbolic_tensor
from .framework import get_default_graph
from .ops_api import Operation
from .session import OutOfRangeError


# ---- element structures: an array, a tuple of arrays or a dict of arrays --------------------------
# as in tf.data, a tuple is a structure of components and a list is one array
def _flatten(x):
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in _flatten(x[k])]
    if isinstance(x, tuple):
        return [v for e in x for v in _flatten(e)]
    return [x]


def _pack(like, flat):
    it = iter(flat)

    def go(s):
        if isinstance(s, dict):
            return {k: go(s[k]) for k in sorted(s)}
        if isinstance(s, tuple):
            return tuple(go(e) for e in s)
        return next(it)

    return go(like)


def _as_array(x):
    from ...tensor import Tensor as _EmberTensor
    from ._convert import array_for

    if isinstance(x, _EmberTensor):
        return np.asarray(x._data)
    return array_for(x, None)


def _map_structure(fn, x):
    return _pack(x, [fn(a) for a in _flatten(x)])


def _sources(tensors):
    """Flat components (arrays, or None where a graph tensor is read at initialization), spec, graph values."""
    from ...graph.symbolic import Symbolic
    from .framework import as_dtype, convert_to_tensor

    comps, specs, inputs = [], [], []
    for x in _flatten(tensors):
        d = getattr(x, "_data", None)
        if isinstance(d, Symbolic) or hasattr(x, "_as_graph_tensor"):
            t = convert_to_tensor(x)
            inputs.append(t._data.value)
            comps.append(None)
            specs.append((tuple(t._data.value.shape), np.dtype(as_dtype(t.dtype).np)))
        else:
            a = _as_array(x)
            comps.append(a)
            specs.append((tuple(a.shape), a.dtype))
    return comps, _pack(tensors, specs), inputs


def _bind(comps, fed):
    it = iter(fed)
    return [next(it) if a is None else a for a in comps]


class Dataset:
    """An in-memory dataset: ``_make(*fed)`` returns a fresh Python iterator of elements.

    ``_inputs`` are the graph values (placeholders) the data comes from; an initializable
    iterator's initializer reads them when run (with its feed_dict) and passes them as ``fed``.
    """

    def __init__(self, make, spec, inputs=()):
        self._make = make
        self._spec = spec  # the element structure with (shape, dtype) leaves; None dims unknown
        self._inputs = tuple(inputs)

    # ---- sources -------------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors):
        comps, spec, inputs = _sources(tensors)
        known = {len(a) for a in comps if a is not None and a.ndim}
        if len(known) > 1 or any(a is not None and a.ndim == 0 for a in comps):
            raise ValueError(f"from_tensor_slices: all components need the same first dimension, got {sorted(known)}")

        def make(*fed):
            flat = _bind(comps, fed)
            if len({len(a) for a in flat}) != 1:
                from ...graph.execute import InvalidArgumentError

                raise InvalidArgumentError(
                    f"from_tensor_slices: components' first dimensions differ: {[len(a) for a in flat]}"
                )
            return (_pack_spec(spec, [a[i] for a in flat]) for i in range(len(flat[0])))

        return Dataset(make, _map_structure_spec(lambda s: (tuple(s[0][1:]), s[1]), spec), inputs)

    @staticmethod
    def from_tensors(tensors):
        comps, spec, inputs = _sources(tensors)
        return Dataset(lambda *fed: iter([_pack_spec(spec, _bind(comps, fed))]), spec, inputs)

    @staticmethod
    def range(*args):  # noqa: A003 - TF's name
        r = range(*args)
        return Dataset(lambda: (np.array(i, np.int64) for i in r), ((), np.dtype(np.int64)))

    # ---- transformations -----------------------------------------------------------------------
    def batch(self, batch_size, drop_remainder=False):
        src, n = self._make, int(batch_size)

        def make(*fed):
            buf = []
            for e in src(*fed):
                buf.append(_flatten(e))
                if len(buf) == n:
                    yield self._stack(buf)
                    buf = []
            if buf and not drop_remainder:
                yield self._stack(buf)

        dim = n if drop_remainder else None
        return Dataset(make, _map_structure_spec(lambda s: ((dim,) + tuple(s[0]), s[1]), self._spec), self._inputs)

    def _stack(self, rows):
        return _pack_spec(self._spec, [np.stack(col) for col in zip(*rows)])

    def repeat(self, count=None):
        src = self._make

        def make(*fed):
            i = 0
            while count is None or count < 0 or i < count:
                yield from src(*fed)
                i += 1

        return Dataset(make, self._spec, self._inputs)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """Shuffle within a buffer of ``buffer_size`` (NumPy's RNG: the order differs from TF's)."""
        src, n = self._make, int(buffer_size)
        base = np.random.SeedSequence(seed)
        epochs = [0]

        def make(*fed):
            rng = np.random.default_rng(base.spawn(epochs[0] + 1)[-1] if reshuffle_each_iteration else base)
            epochs[0] += 1
            buf = []
            for e in src(*fed):
                buf.append(e)
                if len(buf) >= n:
                    yield buf.pop(int(rng.integers(len(buf))))
            while buf:
                yield buf.pop(int(rng.integers(len(buf))))

        return Dataset(make, self._spec, self._inputs)

    def map(self, map_func, num_parallel_calls=None):
        """Apply ``map_func`` to each element's NumPy arrays (tuples are spread as arguments, as TF)."""
        src = self._make

        def call(e):
            out = map_func(*e) if isinstance(e, tuple) else map_func(e)
            return _map_structure(_as_array, out)

        def make(*fed):
            return (call(e) for e in src(*fed))

        if self._inputs:  # fed data is not known yet: trace fn on zeros of the element's shapes
            first = call(_pack_spec(self._spec, [np.zeros([1 if d is None else d for d in sh], dt)
                                                 for sh, dt in _spec_flat(self._spec)]))  # fmt: skip
        else:
            first = next(iter(make()), None)
        if first is None:
            raise ValueError("Dataset.map on an empty dataset: ember needs one element to know the output shapes")
        unknown = any(None in s[0] for s in _spec_flat(self._spec))
        spec = _map_structure(
            lambda a: (((None,) + a.shape[1:]) if unknown and a.ndim else a.shape, a.dtype), first
        )  # fmt: skip
        return Dataset(make, spec, self._inputs)

    def take(self, count):
        src = self._make

        def make(*fed):
            if count < 0:
                yield from src(*fed)
                return
            for i, e in enumerate(src(*fed)):
                if i >= count:
                    return
                yield e

        return Dataset(make, self._spec, self._inputs)

    def prefetch(self, buffer_size):
        return self  # elements are computed on the host when pulled: nothing to overlap

    def cache(self, filename=""):
        return self

    # ---- iterators ---------------------------------------------------------------------------------
    def make_one_shot_iterator(self):
        return Iterator(self, initializable=False)

    def make_initializable_iterator(self, shared_name=None):
        return Iterator(self, initializable=True)

    @property
    def output_shapes(self):
        return _map_structure_spec(lambda s: s[0], self._spec)

    @property
    def output_types(self):
        from .framework import as_dtype

        return _map_structure_spec(lambda s: as_dtype(s[1]), self._spec)


def _is_leaf(s):
    return isinstance(s, tuple) and len(s) == 2 and isinstance(s[1], np.dtype)


def _spec_flat(spec):
    if _is_leaf(spec):
        return [spec]
    if isinstance(spec, dict):
        return [v for k in sorted(spec) for v in _spec_flat(spec[k])]
    return [v for e in spec for v in _spec_flat(e)]


def _map_structure_spec(fn, spec):
    if _is_leaf(spec):
        return fn(spec)
    if isinstance(spec, dict):
        return {k: _map_structure_spec(fn, spec[k]) for k in sorted(spec)}
    return tuple(_map_structure_spec(fn, e) for e in spec)


def _pick(i):
    def pick(element):
        return element[i]

    pick.__name__ = f"component{i}"
    return pick


class Iterator:
    """tf.data.Iterator over a Dataset: ``get_next()`` tensors pull one element per Session.run."""

    def __init__(self, dataset, initializable):
        if dataset._inputs and not initializable:
            raise ValueError(
                "Failed to capture a placeholder in a one-shot iterator: use make_initializable_iterator() "
                "and feed the placeholder when running its initializer"
            )
        self._dataset = dataset
        self._spec = dataset._spec
        self._it = None
        self._initializable = initializable
        self._graph = get_default_graph()
        self._next = None
        self._init_op = None

    def _pull(self):
        if self._it is None:
            if self._initializable:
                from .session import FailedPreconditionError

                raise FailedPreconditionError("GetNext() failed because the iterator has not been initialized")
            self._it = self._dataset._make()
        try:
            e = next(self._it)
        except StopIteration:
            raise OutOfRangeError("End of sequence") from None
        return tuple(np.array(a, order="C") for a in _flatten(e))  # 0-d stays 0-d

    def _reset(self, *fed):
        self._it = self._dataset._make(*fed)
        return 0.0

    @staticmethod
    def from_structure(output_types, output_shapes=None, shared_name=None, output_classes=None):
        """A reinitializable iterator: ``make_initializer(ds)`` ops point it at datasets of this structure."""
        from .framework import as_dtype

        flat_types = _flatten(output_types)
        flat_shapes = _shape_leaves(output_shapes, len(flat_types))
        spec = _pack(output_types, [(tuple(sh), np.dtype(as_dtype(t).np)) for t, sh in zip(flat_types, flat_shapes)])
        return Iterator(Dataset(lambda: iter(()), spec), initializable=True)

    def make_initializer(self, dataset, name=None):
        """An op that (re)starts this iterator on ``dataset`` (its element types must match)."""
        want = [(len(sh), dt) for sh, dt in _spec_flat(self._spec)]
        got = [(len(sh), dt) for sh, dt in _spec_flat(dataset._spec)]
        if want != got:
            raise TypeError(f"Expected output types/ranks {want} but got dataset with {got}")

        def start(*fed):
            self._dataset = dataset
            return self._reset(*fed)

        ins = list(dataset._inputs)
        attrs = {"fn": start} if ins else {"get": start}
        node = self._graph.add(ir.HOST, None, ins, attrs, [((), float)], name=name or "MakeIterator",
                               frame=frame_of_user())  # fmt: skip
        return Operation(node)

    @property
    def initializer(self):
        if not self._initializable:
            raise ValueError("Iterator does not have an initializer (use make_initializable_iterator)")
        if self._init_op is None:
            ins = list(self._dataset._inputs)
            attrs = {"fn": self._reset} if ins else {"get": self._reset}
            node = self._graph.add(ir.HOST, None, ins, attrs, [((), float)], name="MakeIterator", frame=frame_of_user())
            self._init_op = Operation(node)
        return self._init_op

    def get_next(self, name=None):
        """The next element's tensors (one HOST getter per element, shared by its components)."""
        if self._next is None:
            g = self._graph
            spec = _spec_flat(self._spec)
            whole = g.add(ir.HOST, None, [], {"get": self._pull}, [((), object)], name=name or "IteratorGetNext",
                          frame=frame_of_user())  # fmt: skip
            parts = []
            for i, (shape, dtype) in enumerate(spec):
                node = g.add(ir.HOST, None, [whole.out], {"fn": _pick(i)}, [(tuple(shape), np.dtype(dtype))],
                             name=f"{whole.name}_component{i}", frame=frame_of_user())  # fmt: skip
                parts.append(symbolic_tensor(node.out))
            self._next = _pack_spec(self._spec, parts)
        return self._next

    @property
    def output_shapes(self):
        return self._dataset.output_shapes

    @property
    def output_types(self):
        return self._dataset.output_types


def _shape_leaves(shapes, n):
    """Flat shape tuples from an output_shapes structure (None: unknown rank is not supported)."""
    if shapes is None:
        raise NotImplementedError("Iterator.from_structure: pass output_shapes (ember needs each component's rank)")
    if (
        n == 1
        and not isinstance(shapes, dict)
        and not (isinstance(shapes, tuple) and shapes and not isinstance(shapes[0], (int, type(None))))
    ):
        return [tuple(shapes)]
    out = []

    def go(s):
        if isinstance(s, dict):
            for k in sorted(s):
                go(s[k])
        elif isinstance(s, tuple) and s and not isinstance(s[0], (int, type(None))):
            for e in s:
                go(e)
        else:
            out.append(tuple(None if d is None else int(d) for d in (s or ())))

    go(shapes)
    return out


def _pack_spec(spec, flat):
    it = iter(flat)

    def go(s):
        if _is_leaf(s):
            return next(it)
        if isinstance(s, dict):
            return {k: go(s[k]) for k in sorted(s)}
        return tuple(go(e) for e in s)

    return go(spec)


def make_one_shot_iterator(dataset):
    return dataset.make_one_shot_iterator()


def make_initializable_iterator(dataset, shared_name=None):
    return dataset.make_initializable_iterator(shared_name)
