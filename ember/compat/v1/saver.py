"""tf.train.Saver: checkpoints as safetensors files, written atomically, never pickled.

``save`` writes ``path-STEP.safetensors`` (variable name -> array, from the
Session's store) through a temporary file, fsync and ``os.replace``, so a
crash leaves either the old or the new checkpoint, never half of one; a small
JSON file ``checkpoint`` in the same folder (also replaced atomically) lists
the kept checkpoints for ``latest_checkpoint``. ``restore`` only ever parses
safetensors (a JSON header and raw bytes): a pickle is refused, never loaded.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..._atomic import atomic_write_bytes
from ...graph.execute import FailedPreconditionError

SUFFIX = ".safetensors"
INDEX = "checkpoint"
_PICKLE_MAGIC = (b"\x80", b"(", b"}", b"]", b"c")  # protocol 2+ opcode, and protocol 0/1 openings


def _safetensors():
    try:
        import safetensors.numpy as st
    except ImportError as e:
        raise ImportError(
            "ember's tf.train.Saver stores checkpoints with the safetensors package: pip install safetensors"
        ) from e
    return st


class NotFoundError(ValueError):
    """A checkpoint file or a variable in it is missing (TF's class name)."""


def _file_of(path):
    return path if path.endswith(SUFFIX) else path + SUFFIX


def _var_name(v):
    return v._slot.name


class Saver:
    """Saver(var_list=None, max_to_keep=5): ``var_list`` a list of Variables or a dict name -> Variable."""

    def __init__(self, var_list=None, reshape=False, sharded=False, max_to_keep=5, keep_checkpoint_every_n_hours=10000.0,
                 name=None, restore_sequentially=False, saver_def=None, builder=None, defer_build=False,
                 allow_empty=False, write_version=2, pad_step_number=False, save_relative_paths=False,
                 filename=None):  # fmt: skip
        from .variables import global_variables

        if var_list is None:
            var_list = global_variables()
        if isinstance(var_list, dict):
            items = list(var_list.items())
        else:
            items = [(_var_name(v), v) for v in var_list]
        names = [n for n, _ in items]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"At least two variables have the same name: {sorted(dup)[0]}")
        if not items and not allow_empty:
            raise ValueError("No variables to save")
        self._items = items
        self._max_to_keep = max_to_keep
        self._last = []  # checkpoint prefixes this Saver wrote, oldest first
        _safetensors()

    # ---- save ----------------------------------------------------------------------------------------------
    def save(self, sess, save_path, global_step=None, latest_filename=None, meta_graph_suffix="meta",
             write_meta_graph=True, write_state=True, strip_default_attrs=False, save_debug_info=False):  # fmt: skip
        """Write the variables' current values; returns the checkpoint prefix (pass it to restore)."""
        st = _safetensors()
        sess._check_open()
        if global_step is not None:
            step = global_step if isinstance(global_step, (int, np.integer)) else sess.run(global_step)
            prefix = f"{save_path}-{int(step)}"
        else:
            prefix = save_path
        arrays = {}
        for name, v in self._items:
            a = sess._store.get(v._slot)
            if a is None:
                raise FailedPreconditionError(f"Attempting to save uninitialized value {name}")
            arrays[name] = np.array(a, order="C")
        d = os.path.dirname(prefix)
        if d and not os.path.isdir(d):
            raise NotFoundError(f"Parent directory of {prefix} doesn't exist, can't save.")
        atomic_write_bytes(_file_of(prefix), st.save(arrays, metadata={"format": "ember.v1"}))
        if prefix in self._last:
            self._last.remove(prefix)
        self._last.append(prefix)
        while self._max_to_keep and len(self._last) > self._max_to_keep:
            old = self._last.pop(0)
            if os.path.exists(_file_of(old)):
                os.remove(_file_of(old))
        if write_state:
            _write_index(d, prefix, self._last, latest_filename or INDEX)
        return prefix

    # ---- restore -------------------------------------------------------------------------------------------
    def restore(self, sess, save_path):
        """Load every variable of this Saver from ``save_path`` into ``sess``; names and shapes must match."""
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        sess._check_open()
        arrays = load_checkpoint(save_path)
        new = {}
        for name, v in self._items:
            if name not in arrays:
                raise NotFoundError(f"Key {name} not found in checkpoint {_file_of(save_path)}")
            a = arrays[name]
            if a.shape != tuple(v._slot.shape):
                raise ValueError(
                    f"Assign requires shapes of both tensors to match. lhs shape= {list(v._slot.shape)} "
                    f"rhs shape= {list(a.shape)} (variable {name}, checkpoint {_file_of(save_path)})"
                )
            new[v._slot] = np.array(a, dtype=v._slot.dtype)
        sess._store.update(new)  # all or nothing: nothing is written before every check passed

    @property
    def last_checkpoints(self):
        return list(self._last)


def load_checkpoint(save_path):
    """name -> array from a checkpoint written by Saver.save; refuses anything but safetensors."""
    st = _safetensors()
    path = _file_of(save_path)
    if not os.path.exists(path):
        raise ValueError(f"The passed save_path is not a valid checkpoint: {save_path}")
    with open(path, "rb") as f:
        head = f.read(2)
    if head[:1] in _PICKLE_MAGIC and not _plausible_header(path):
        raise ValueError(
            f"{path} looks like a Python pickle, not a safetensors checkpoint: ember never unpickles files "
            "(unpickling runs arbitrary code)."
        )
    try:
        return st.load_file(path)
    except Exception as e:
        raise ValueError(f"{path} is not a valid safetensors checkpoint ({type(e).__name__}: {e})") from None


def _plausible_header(path):
    """A safetensors file starts with the little-endian length of its JSON header, then '{'."""
    with open(path, "rb") as f:
        raw = f.read(9)
    if len(raw) < 9:
        return False
    n = int.from_bytes(raw[:8], "little")
    return raw[8:9] == b"{" and n < os.path.getsize(path)


def _write_index(d, latest, kept, filename):
    def rel(p):
        return os.path.relpath(p, d) if d else p

    index = {"model_checkpoint_path": rel(latest), "all_model_checkpoint_paths": [rel(p) for p in kept]}
    final = os.path.join(d, filename) if d else filename
    atomic_write_bytes(final, json.dumps(index, indent=1).encode())


class CheckpointState:
    def __init__(self, model_checkpoint_path, all_model_checkpoint_paths):
        self.model_checkpoint_path = model_checkpoint_path
        self.all_model_checkpoint_paths = all_model_checkpoint_paths


def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    path = os.path.join(checkpoint_dir, latest_filename or INDEX)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        index = json.load(f)

    def full(p):
        return p if os.path.isabs(p) else os.path.join(checkpoint_dir, p)

    return CheckpointState(full(index["model_checkpoint_path"]), [full(p) for p in index["all_model_checkpoint_paths"]])


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The prefix of the newest checkpoint in ``checkpoint_dir`` whose file exists, or None."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not os.path.exists(_file_of(state.model_checkpoint_path)):
        return None
    return state.model_checkpoint_path


def checkpoint_exists(checkpoint_prefix):
    return os.path.exists(_file_of(checkpoint_prefix))
