"""``SummaryWriter`` with ``torch.utils.tensorboard``'s API, on tensorboardX's event-file writer and protos.

PyTorch's writer needs torch (and imports TensorFlow when it is installed);
this one needs only tensorboardX (and Pillow for images, matplotlib for
figures). Summaries are built the way PyTorch builds them (tags are kept as
given, float images are scaled by 255 and clipped, ``add_scalars`` writes one
sub-run per series named ``main_tag_tag``), so event files read back the same
in TensorBoard. Ember tensors are converted to NumPy arrays; every argument is
checked before anything is written.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import weakref

import numpy as np

_EXTRA = "pip install 'ember[tensorboard]'"
_IMAGE_FORMATS = {2: "HW", 3: "CHW", 4: "NCHW"}
_file_ids = itertools.count()


class _FileWriter:
    """One event file, written the way PyTorch's FileWriter writes it.

    Events are framed by tensorboardX's EventsWriter in the caller's thread and reach the disk every
    ``max_queue`` events, every ``flush_secs`` seconds, and on ``flush()``/``close()``: unlike
    tensorboardX's queue, ``flush()`` returns with every event on disk. Files are named
    ``events.out.tfevents.TIME.HOST.PID.N`` + suffix, N zero-padded so files sort in creation order
    (tensorboardX names them TIME.HOST and opens them with "wb": two writers on one directory within
    a second would truncate each other).
    """

    def __init__(self, logdir, max_queue=10, flush_secs=120, filename_suffix=""):
        from tensorboardX.event_file_writer import EventsWriter

        self._logdir = os.fspath(logdir)
        os.makedirs(self._logdir, exist_ok=True)
        suffix = f".{os.getpid()}.{next(_file_ids):06d}{filename_suffix}"
        self._events = EventsWriter(os.path.join(self._logdir, "events"), suffix)
        self._events.flush()
        self._max_queue = max(1, int(max_queue))
        self._pending = 0
        self._closed = False
        self._lock = threading.Lock()  # the periodic flush runs in another thread
        self._stop = threading.Event()
        weakref.finalize(self, _close_events, self._events, self._stop)
        if flush_secs and flush_secs > 0:
            me = weakref.ref(self)
            threading.Thread(target=_flush_every, args=(me, float(flush_secs), self._stop), daemon=True).start()

    def get_logdir(self):
        return self._logdir

    def add_event(self, event, step=None, walltime=None):
        event.wall_time = time.time() if walltime is None else walltime
        if step is not None:
            event.step = int(step)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"SummaryWriter: the event file in {self._logdir} is closed")
            self._events.write_event(event)
            self._pending += 1
            if self._pending >= self._max_queue:
                self._pending = 0
                self._events.flush()

    def add_summary(self, summary, global_step=None, walltime=None):
        from tensorboardX.proto.event_pb2 import Event

        self.add_event(Event(summary=summary), global_step, walltime)

    def flush(self):
        with self._lock:
            if not self._closed and self._pending:
                self._pending = 0
                self._events.flush()

    def close(self):
        with self._lock:
            if not self._closed:
                self._closed = True
                _close_events(self._events, self._stop)


def _close_events(events, stop):
    stop.set()
    try:
        events.close()
    except ValueError:  # already closed
        pass


def _flush_every(writer_ref, seconds, stop):
    """The periodic flush; it holds only a weak reference, so an unclosed writer can still be collected."""
    while not stop.wait(seconds):
        w = writer_ref()
        if w is None:
            return
        w.flush()
        del w


def _tbx():
    """tensorboardX, or an ImportError naming the extra that provides it."""
    try:
        import tensorboardX
        import tensorboardX.event_file_writer  # noqa: F401
        import tensorboardX.proto.event_pb2  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"ember.utils.tensorboard.SummaryWriter needs the tensorboard extra (tensorboardX): {_EXTRA}"
        ) from e
    return tensorboardX


def _need(module, feature, package):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as e:
        raise ImportError(f"SummaryWriter.{feature} needs {package}: pip install {package}") from e


def to_numpy(value, what):
    """An ember Tensor, NumPy array, number or (nested) list as a NumPy array."""
    from ...tensor import Tensor

    if isinstance(value, Tensor):
        return np.asarray(value.detach())
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
        return np.stack([to_numpy(v, what) for v in value])
    try:
        arr = np.asarray(value)
    except Exception as e:
        raise TypeError(f"{what}: expected an ember Tensor, NumPy array or number, got {type(value).__name__}") from e
    if arr.dtype == object:
        raise TypeError(f"{what}: expected an ember Tensor, NumPy array or number, got {type(value).__name__}")
    return arr


def _check_tag(tag, what):
    if not isinstance(tag, str):
        raise TypeError(f"SummaryWriter.{what}: tag must be a str, got {type(tag).__name__}")


def _step(global_step, what):
    if global_step is None:
        return None
    try:
        return int(to_numpy(global_step, f"SummaryWriter.{what} global_step").item())
    except (TypeError, ValueError) as e:
        raise TypeError(f"SummaryWriter.{what}: global_step must be an int, got {global_step!r}") from e


def _scalar_value(value, what):
    arr = to_numpy(value, f"SummaryWriter.{what}").squeeze()
    if arr.ndim != 0:
        raise ValueError(
            f"SummaryWriter.{what}: scalar_value must hold one element, got shape {tuple(arr.shape)} dtype {arr.dtype}"
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"SummaryWriter.{what}: scalar_value must be a real number, got dtype {arr.dtype}")
    return float(arr)


def _scalar_summary(tag, value, new_style=False, double_precision=False):
    """PyTorch's ``summary.scalar``: simple_value, or (new_style) a tensor with the scalars plugin."""
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboardX.proto.tensor_pb2 import TensorProto

    if not new_style:
        return Summary(value=[Summary.Value(tag=tag, simple_value=value)])
    if double_precision:
        proto = TensorProto(double_val=[value], dtype="DT_DOUBLE")
    else:
        proto = TensorProto(float_val=[value], dtype="DT_FLOAT")
    smd = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    return Summary(value=[Summary.Value(tag=tag, tensor=proto, metadata=smd)])


def _image_hwc(tag, img, dataformats, what):
    """Validate and convert an image (batch) to uint8 HWC the way PyTorch does."""
    from tensorboardX.utils import convert_to_HWC

    arr = to_numpy(img, f"SummaryWriter.{what}")
    fmt = str(dataformats).upper()
    ok = len(fmt) in (2, 3, 4) and len(set(fmt)) == len(fmt) and set(fmt) == set(_IMAGE_FORMATS[len(fmt)])
    if not ok:
        raise ValueError(
            f"SummaryWriter.{what}({tag!r}): dataformats must order the letters of HW, CHW or NCHW "
            f"(e.g. 'HWC', 'NHWC'), got {dataformats!r}"
        )
    if arr.ndim != len(fmt):
        raise ValueError(
            f"SummaryWriter.{what}({tag!r}): image of shape {tuple(arr.shape)} (dtype {arr.dtype}) does not "
            f"match dataformats {dataformats!r}: expected {len(fmt)} dimensions"
        )
    if "C" in fmt and arr.shape[fmt.index("C")] not in (1, 3, 4):
        raise ValueError(
            f"SummaryWriter.{what}({tag!r}): image of shape {tuple(arr.shape)} with dataformats {dataformats!r} "
            f"has {arr.shape[fmt.index('C')]} channels; expected 1, 3 or 4"
        )
    if arr.dtype.kind not in "biuf" or arr.size == 0:
        raise ValueError(
            f"SummaryWriter.{what}({tag!r}): expected a non-empty real image, got shape {tuple(arr.shape)} "
            f"dtype {arr.dtype}"
        )
    hwc = convert_to_HWC(arr, fmt)
    scale = 1 if hwc.dtype == np.uint8 else 255
    return (hwc.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)


def _image_summary(tag, hwc):
    from tensorboardX.proto.summary_pb2 import Summary
    from tensorboardX.summary import make_image

    _need("PIL", "add_image", "pillow")
    return Summary(value=[Summary.Value(tag=tag, image=make_image(hwc))])


def _hparams_summaries(hparam_dict, metric_dict, hparam_domain_discrete):
    """PyTorch's ``summary.hparams``: the experiment, session-start and session-end summaries."""
    from google.protobuf import struct_pb2
    from tensorboardX.proto.api_pb2 import DataType, Experiment, HParamInfo, MetricInfo, MetricName, Status
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData, SessionEndInfo, SessionStartInfo
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

    from ...tensor import Tensor

    hparam_dict = {  # tensors (and NumPy scalars) become numbers first
        k: float(to_numpy(v, f"add_hparams[{k!r}]").reshape(-1)[0])
        if isinstance(v, (Tensor, np.ndarray, np.number))
        else v
        for k, v in hparam_dict.items()
    }
    domains = hparam_domain_discrete or {}
    if not isinstance(domains, dict):
        raise TypeError("add_hparams: hparam_domain_discrete should be a dictionary")
    for k, v in domains.items():
        if k not in hparam_dict or not isinstance(v, list) or not all(isinstance(d, type(hparam_dict[k])) for d in v):
            raise TypeError(
                f"add_hparams: hparam_domain_discrete[{k!r}] should be a list of same type as hparam_dict[{k!r}]"
            )
    hps, ssi = [], SessionStartInfo()
    for k, v in hparam_dict.items():
        if v is None:
            continue
        if isinstance(v, bool):
            ssi.hparams[k].bool_value, kind, field = v, "DATA_TYPE_BOOL", "bool_value"
        elif isinstance(v, (int, float)):
            ssi.hparams[k].number_value, kind, field = v, "DATA_TYPE_FLOAT64", "number_value"
        elif isinstance(v, str):
            ssi.hparams[k].string_value, kind, field = v, "DATA_TYPE_STRING", "string_value"
        else:
            raise ValueError(
                f"add_hparams: hparam_dict[{k!r}] should be int, float, str, bool or a Tensor, got {type(v).__name__}"
            )
        domain = None
        if k in domains:
            domain = struct_pb2.ListValue(values=[struct_pb2.Value(**{field: d}) for d in domains[k]])
        hps.append(HParamInfo(name=k, type=DataType.Value(kind), domain_discrete=domain))

    def wrap(tag, content):
        content = HParamsPluginData(version=0, **content).SerializeToString()
        smd = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="hparams", content=content))
        return Summary(value=[Summary.Value(tag=tag, metadata=smd)])

    exp = Experiment(hparam_infos=hps, metric_infos=[MetricInfo(name=MetricName(tag=k)) for k in metric_dict])
    return (
        wrap("_hparams_/experiment", {"experiment": exp}),
        wrap("_hparams_/session_start_info", {"session_start_info": ssi}),
        wrap("_hparams_/session_end_info", {"session_end_info": SessionEndInfo(status=Status.Value("STATUS_SUCCESS"))}),
    )


class SummaryWriter:
    """Writes summaries to TensorBoard event files in ``log_dir`` (``torch.utils.tensorboard.SummaryWriter``).

    ``log_dir`` defaults to ``runs/CURRENT_DATETIME_HOSTNAME`` + ``comment``. ``purge_step``: a writer
    restarted after a crash at step T+X hides the old events with step >= T in TensorBoard.
    """

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120, filename_suffix=""):
        _tbx()
        if not log_dir:
            import socket
            from datetime import datetime

            current_time = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", current_time + "_" + socket.gethostname() + comment)
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.file_writer = self.all_writers = None
        self._get_file_writer()
        # TensorFlow's default histogram buckets, as PyTorch uses them
        v, buckets, neg_buckets = 1e-12, [], []
        while v < 1e20:
            buckets.append(v)
            neg_buckets.append(-v)
            v *= 1.1
        self.default_bins = neg_buckets[::-1] + [0] + buckets

    def get_logdir(self):
        """The directory event files are written to."""
        return self.log_dir

    def _get_file_writer(self):
        """The main run's FileWriter (created again after ``close()``, as PyTorch does)."""
        if self.all_writers is None or self.file_writer is None:
            from tensorboardX.proto.event_pb2 import Event, SessionLog

            self.file_writer = _FileWriter(self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                step = self.purge_step
                self.file_writer.add_event(Event(step=step, file_version="brain.Event:2"))
                self.file_writer.add_event(Event(step=step, session_log=SessionLog(status=SessionLog.START)))
                self.purge_step = None
        return self.file_writer

    # ---- scalars -----------------------------------------------------------------------------
    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False, double_precision=False):
        """One point of the curve ``tag``. ``new_style`` stores it as a tensor (scalars plugin)."""
        _check_tag(tag, "add_scalar")
        value = _scalar_value(scalar_value, f"add_scalar({tag!r})")
        step = _step(global_step, "add_scalar")
        summary = _scalar_summary(tag, value, new_style, double_precision)
        self._get_file_writer().add_summary(summary, step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several curves in one chart: each key is a sub-run ``log_dir/main_tag_key`` with tag ``main_tag``."""
        _check_tag(main_tag, "add_scalars")
        if not isinstance(tag_scalar_dict, dict):
            raise TypeError(f"add_scalars: tag_scalar_dict must be a dict, got {type(tag_scalar_dict).__name__}")
        values = {k: _scalar_value(v, f"add_scalars({main_tag!r}, {k!r})") for k, v in tag_scalar_dict.items()}
        step = _step(global_step, "add_scalars")
        walltime = time.time() if walltime is None else walltime
        fw_logdir = self._get_file_writer().get_logdir()
        for tag, value in values.items():
            fw_tag = fw_logdir + "/" + main_tag.replace("/", "_") + "_" + tag
            fw = self.all_writers.get(fw_tag)
            if fw is None:
                fw = _FileWriter(fw_tag, self.max_queue, self.flush_secs, self.filename_suffix)
                self.all_writers[fw_tag] = fw
            fw.add_summary(_scalar_summary(main_tag, value), step, walltime)

    # ---- distributions -----------------------------------------------------------------------
    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None):
        """A histogram of ``values`` (any shape). ``bins``: 'tensorflow' (default), a NumPy rule or edges."""
        from tensorboardX.proto.summary_pb2 import Summary
        from tensorboardX.summary import make_histogram

        _check_tag(tag, "add_histogram")
        arr = to_numpy(values, f"SummaryWriter.add_histogram({tag!r})")
        if arr.size == 0 or arr.dtype.kind not in "biuf":
            raise ValueError(
                f"SummaryWriter.add_histogram({tag!r}): expected non-empty real values, got shape "
                f"{tuple(arr.shape)} dtype {arr.dtype}"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"SummaryWriter.add_histogram({tag!r}): values contain NaN or Inf")
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        step = _step(global_step, "add_histogram")
        hist = make_histogram(arr.astype(float), bins, max_bins=max_bins)
        self._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, histo=hist)]), step, walltime)

    def add_histogram_raw(
        self, tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts, global_step=None, walltime=None
    ):  # noqa: A002 - PyTorch's argument names
        """A histogram from precomputed statistics (``bucket_limits`` are the right edges)."""
        from tensorboardX.proto.summary_pb2 import HistogramProto, Summary

        _check_tag(tag, "add_histogram_raw")
        if len(bucket_limits) != len(bucket_counts):
            raise ValueError("len(bucket_limits) != len(bucket_counts), see the document.")
        limits = [float(x) for x in to_numpy(bucket_limits, "add_histogram_raw bucket_limits").reshape(-1)]
        counts = [float(x) for x in to_numpy(bucket_counts, "add_histogram_raw bucket_counts").reshape(-1)]
        hist = HistogramProto(
            min=float(min), max=float(max), num=float(num), sum=float(sum), sum_squares=float(sum_squares),
            bucket_limit=limits, bucket=counts,
        )  # fmt: skip
        step = _step(global_step, "add_histogram_raw")
        self._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, histo=hist)]), step, walltime)

    # ---- images and text ---------------------------------------------------------------------
    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """One image: float values in [0, 1] or uint8 in [0, 255]; ``dataformats`` CHW, HWC, HW..."""
        _check_tag(tag, "add_image")
        hwc = _image_hwc(tag, img_tensor, dataformats, "add_image")
        step = _step(global_step, "add_image")
        self._get_file_writer().add_summary(_image_summary(tag, hwc), step, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """A batch of images, tiled into one grid (8 per row) as PyTorch does."""
        _check_tag(tag, "add_images")
        hwc = _image_hwc(tag, img_tensor, dataformats, "add_images")
        step = _step(global_step, "add_images")
        self._get_file_writer().add_summary(_image_summary(tag, hwc), step, walltime)

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """A matplotlib figure (or a list of them) rendered to an image."""
        _need("matplotlib", "add_figure", "matplotlib")
        from tensorboardX.utils import figure_to_image

        _check_tag(tag, "add_figure")
        fmt = "NCHW" if isinstance(figure, list) else "CHW"
        self.add_image(tag, figure_to_image(figure, close), global_step, walltime, dataformats=fmt)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """Markdown text, shown in the Text tab under ``tag``."""
        from tensorboardX.summary import text

        _check_tag(tag, "add_text")
        if not isinstance(text_string, str):
            raise TypeError(
                f"SummaryWriter.add_text({tag!r}): text_string must be a str, got {type(text_string).__name__}"
            )
        step = _step(global_step, "add_text")
        self._get_file_writer().add_summary(text(tag, text_string), step, walltime)

    # ---- hyperparameters ---------------------------------------------------------------------
    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None, global_step=None):
        """One hparams session: a sub-run ``log_dir/run_name`` (default: the time) holding the
        hyperparameters and the metrics as scalars, for TensorBoard's HParams tab."""
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        metrics = {k: _scalar_value(v, f"add_hparams metric {k!r}") for k, v in metric_dict.items()}
        step = _step(global_step, "add_hparams")
        exp, ssi, sei = _hparams_summaries(hparam_dict, metric_dict, hparam_domain_discrete)
        if not run_name:
            run_name = str(time.time())
        logdir = os.path.join(self._get_file_writer().get_logdir(), run_name)
        with SummaryWriter(log_dir=logdir) as w_hp:
            w_hp.file_writer.add_summary(exp, step)
            w_hp.file_writer.add_summary(ssi, step)
            w_hp.file_writer.add_summary(sei, step)
            for k, v in metrics.items():
                w_hp.add_scalar(k, v, step)

    # ---- graphs ------------------------------------------------------------------------------
    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """The model's graph in the Graphs tab.

        ``model``: an ``nn.Module`` or function, traced by ``ember.compile`` (eval mode, no grad) with
        ``input_to_model`` (a tensor or a tuple of them); an ``ember.compile`` result that already ran;
        or a graph (``compat.v1`` Graph, a Session, a GraphDef). ``use_strict_trace`` is accepted for
        PyTorch compatibility; ``verbose`` prints the ember graph.
        """
        from tensorboardX.proto.event_pb2 import Event

        from .graph_def import graph_def_of

        graph_def = graph_def_of(model, input_to_model, verbose=verbose)
        self._get_file_writer().add_event(Event(graph_def=graph_def.SerializeToString()))

    # ---- lifecycle ---------------------------------------------------------------------------
    def flush(self):
        """Write pending events of every run of this writer to disk."""
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()

    def close(self):
        """Flush and close the event files; a later ``add_*`` opens a new event file."""
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()
            writer.close()
        self.file_writer = self.all_writers = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()
