"""``tf.summary`` for TF1 tutorials: summaries are fetchable, the writer keeps what it is given.

TensorBoard is not installed here, so there is no event-file format to write:
a summary op is a ``{tag: tensor}`` dict (Session.run fetches dicts, so
``summary, _ = sess.run([merged, train_op])`` works), and ``FileWriter``
creates its log directory and keeps the values it is handed in memory
(``writer.scalars``: a list of ``(step, tag, value)``) for programs and
tests that want to look at them.
"""

from __future__ import annotations

import os

import numpy as np

from .framework import get_default_graph

SUMMARIES = "summaries"


def _add(name, tensor, collections):
    from .ops_api import get_name_scope

    scope = get_name_scope()
    tag = f"{scope}/{name}" if scope else name
    s = {tag: tensor}
    for c in collections if collections is not None else [SUMMARIES]:
        get_default_graph().add_to_collection(c, s)
    return s


def scalar(name, tensor, collections=None, family=None):
    return _add(name, tensor, collections)


def histogram(name, values, collections=None, family=None):
    return _add(name, values, collections)


def image(name, tensor, max_outputs=3, collections=None, family=None):
    return _add(name, tensor, collections)


def audio(name, tensor, sample_rate, max_outputs=3, collections=None, family=None):
    return _add(name, tensor, collections)


def text(name, tensor, collections=None):
    return _add(name, tensor, collections)


def tensor_summary(name, tensor, summary_description=None, collections=None, **kwargs):
    return _add(name, tensor, collections)


def merge(inputs, collections=None, name=None):
    out = {}
    for s in inputs:
        if s is not None:
            out.update(s)
    for c in collections or []:
        get_default_graph().add_to_collection(c, out)
    return out


def merge_all(key=SUMMARIES, scope=None, name=None):
    """All summaries in ``key`` merged (None when there are none, as in TF)."""
    got = get_default_graph().get_collection(key)
    return merge(got) if got else None


class FileWriter:
    """Makes ``logdir``; keeps summaries in memory (no TensorBoard here to write event files for)."""

    def __init__(self, logdir, graph=None, max_queue=10, flush_secs=120, graph_def=None, filename_suffix=None,
                 session=None):  # fmt: skip
        self._logdir = str(logdir)
        os.makedirs(self._logdir, exist_ok=True)
        self.graph = graph
        self.scalars = []  # (step, tag, value) for 0-d values
        self.summaries = []  # (step, {tag: value}) as given
        self.closed = False

    def get_logdir(self):
        return self._logdir

    def add_summary(self, summary, global_step=None):
        if summary is None:
            return
        if not isinstance(summary, dict):
            raise TypeError(
                f"add_summary expects the value of a tf.summary op fetched with Session.run, got {type(summary)}"
            )
        self.summaries.append((global_step, summary))
        for tag, v in summary.items():
            if np.ndim(v) == 0:
                self.scalars.append((global_step, tag, float(v)))

    def add_graph(self, graph, global_step=None, graph_def=None):
        self.graph = graph

    def add_run_metadata(self, run_metadata, tag, global_step=None):
        pass

    def add_session_log(self, session_log, global_step=None):
        pass

    def add_event(self, event):
        pass

    def flush(self):
        pass

    def close(self):
        self.closed = True

    def reopen(self):
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FileWriterCache:
    _cache: dict = {}

    @staticmethod
    def get(logdir):
        return FileWriterCache._cache.setdefault(logdir, FileWriter(logdir))

    @staticmethod
    def clear():
        FileWriterCache._cache.clear()
