"""``tf.summary`` for TF1 tutorials: summaries are fetchable, the writer keeps what it is given.

A summary op is a ``{tag: tensor}`` dict (Session.run fetches dicts, so
``summary, _ = sess.run([merged, train_op])`` works). ``FileWriter`` keeps the
values it is handed in memory (``writer.scalars``: a list of ``(step, tag,
value)``) and, when tensorboardX is installed (``ember[tensorboard]``), also
writes them as TensorBoard event files in its log directory through
``ember.utils.tensorboard.SummaryWriter``: scalars, histograms, images, text,
and the graph given to it.
"""

from __future__ import annotations

import os

import numpy as np

from .framework import get_default_graph

SUMMARIES = "summaries"


_KINDS = {}  # tag -> "scalar" | "histogram" | "image" | "text" | ...: how FileWriter writes its values


def _add(name, tensor, collections, kind="tensor", **options):
    from .ops_api import get_name_scope

    scope = get_name_scope()
    tag = f"{scope}/{name}" if scope else name
    _KINDS[tag] = (kind, options)
    s = {tag: tensor}
    for c in collections if collections is not None else [SUMMARIES]:
        get_default_graph().add_to_collection(c, s)
    return s


def scalar(name, tensor, collections=None, family=None):
    return _add(name, tensor, collections, "scalar")


def histogram(name, values, collections=None, family=None):
    return _add(name, values, collections, "histogram")


def image(name, tensor, max_outputs=3, collections=None, family=None):
    return _add(name, tensor, collections, "image", max_outputs=max_outputs)


def audio(name, tensor, sample_rate, max_outputs=3, collections=None, family=None):
    return _add(name, tensor, collections)


def text(name, tensor, collections=None):
    return _add(name, tensor, collections, "text")


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
        self._events = _event_writer(self._logdir, max_queue, flush_secs, filename_suffix)
        if graph is not None or session is not None:
            self.add_graph(graph if graph is not None else session.graph)

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
            if self._events is not None:
                _write_event(self._events, tag, v, global_step)

    def add_graph(self, graph, global_step=None, graph_def=None):
        self.graph = graph
        if self._events is not None and graph is not None:
            self._events.add_graph(graph)

    def add_run_metadata(self, run_metadata, tag, global_step=None):
        pass

    def add_session_log(self, session_log, global_step=None):
        pass

    def add_event(self, event):
        pass

    def flush(self):
        if self._events is not None:
            self._events.flush()

    def close(self):
        self.closed = True
        if self._events is not None:
            self._events.close()

    def reopen(self):
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _event_writer(logdir, max_queue, flush_secs, filename_suffix):
    """ember's SummaryWriter on ``logdir`` when tensorboardX is installed, else None (values stay in memory)."""
    import importlib.util

    if importlib.util.find_spec("tensorboardX") is None:
        return None
    from ...utils.tensorboard import SummaryWriter

    return SummaryWriter(
        log_dir=logdir, max_queue=max_queue, flush_secs=flush_secs, filename_suffix=filename_suffix or ""
    )


def _write_event(writer, tag, value, step):
    kind, options = _KINDS.get(tag, ("tensor", {}))
    v = np.asarray(value)
    if kind == "scalar" or (kind == "tensor" and v.ndim == 0 and v.dtype.kind in "biuf"):
        writer.add_scalar(tag, float(v), step)
    elif kind == "histogram" and v.size and v.dtype.kind in "biuf":
        writer.add_histogram(tag, v.astype(np.float64), step)
    elif kind == "image" and v.ndim == 4:
        # tf.summary.image: NHWC batch, one image per tag suffix as TF writes them
        for i in range(min(options.get("max_outputs", 3), v.shape[0])):
            img = v[i] if v.shape[-1] != 1 else v[i, :, :, 0]
            writer.add_image(f"{tag}/image/{i}" if v.shape[0] > 1 else f"{tag}/image", img, step,
                             dataformats="HWC" if img.ndim == 3 else "HW")  # fmt: skip
    elif kind == "text":
        writer.add_text(tag, v.item().decode() if isinstance(v.item(), bytes) else str(v.item()), step)


class FileWriterCache:
    _cache: dict = {}

    @staticmethod
    def get(logdir):
        return FileWriterCache._cache.setdefault(logdir, FileWriter(logdir))

    @staticmethod
    def clear():
        FileWriterCache._cache.clear()
