"""tf.saved_model (TF1): ``simple_save``, ``builder.SavedModelBuilder`` and ``loader.load``.

They write and read ember's model directory (``ember.export``): placeholders
become the inputs, fetched tensors the outputs, the variables' current values
the weights. ``load`` rebuilds the graph into a Session's graph and puts the
weights in its store, and returns a MetaGraphDef-like object whose
``signature_def`` maps the signature's names to tensor names ("x:0"), as in TF.
The same directory loads with ``ember.export.load_model`` for serving.
"""

from __future__ import annotations

import os
import types

from ...export import model_dir
from ...export.loaded import dry_run
from ...export.save import save_model
from ...export.template import instantiate

# tf.saved_model.tag_constants / signature_constants
tag_constants = types.SimpleNamespace(SERVING="serve", TRAINING="train", GPU="gpu", TPU="tpu", EVAL="eval")
signature_constants = types.SimpleNamespace(
    DEFAULT_SERVING_SIGNATURE_DEF_KEY="serving_default",
    PREDICT_METHOD_NAME="tensorflow/serving/predict",
    PREDICT_INPUTS="inputs",
    PREDICT_OUTPUTS="outputs",
)
SERVING = tag_constants.SERVING
TRAINING = tag_constants.TRAINING
DEFAULT_SERVING_SIGNATURE_DEF_KEY = signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY
PREDICT_METHOD_NAME = signature_constants.PREDICT_METHOD_NAME


class TensorInfo:
    """``signature_def[key].inputs[name]``: the tensor's graph name ("x:0"), dtype and shape."""

    def __init__(self, name, dtype, shape, tensor=None):
        self.name, self.dtype, self.tensor_shape, self._tensor = name, dtype, shape, tensor

    def __repr__(self):
        return f"TensorInfo(name={self.name!r}, dtype={self.dtype}, shape={self.tensor_shape})"


class SignatureDef:
    def __init__(self, inputs, outputs, method_name=PREDICT_METHOD_NAME):
        self.inputs, self.outputs, self.method_name = dict(inputs), dict(outputs), method_name


class MetaGraphDef:
    """What ``loader.load`` returns: the tags it matched and ``signature_def``."""

    def __init__(self, tags, signature_def):
        self.meta_info_def = types.SimpleNamespace(tags=list(tags))
        self.signature_def = signature_def


def build_tensor_info(tensor):
    """tf.saved_model.utils.build_tensor_info."""
    v = tensor._data.value
    return TensorInfo(v.name, v.dtype.name, list(v.shape), tensor)


def predict_signature_def(inputs, outputs):
    """tf.saved_model.signature_def_utils.predict_signature_def(inputs, outputs): dicts name -> tensor."""
    if not inputs or not outputs:
        raise ValueError("Prediction signatures must have at least one input and one output")
    return SignatureDef(
        {k: build_tensor_info(t) for k, t in inputs.items()}, {k: build_tensor_info(t) for k, t in outputs.items()}
    )


def _check_export_dir(export_dir):
    if os.path.exists(export_dir) and (not os.path.isdir(export_dir) or os.listdir(export_dir)):
        raise AssertionError(
            "Export directory already exists, and isn't empty. Please choose a different export directory, "
            f"or delete all the contents of the specified directory: {export_dir}"
        )


def simple_save(session, export_dir, inputs, outputs, legacy_init_op=None):
    """Save ``session``'s graph and variables for serving: ``inputs``/``outputs`` dicts name -> tensor."""
    _check_export_dir(export_dir)
    save_model(session, inputs, export_dir, outputs=outputs, tags=(SERVING,))


class SavedModelBuilder:
    """tf.saved_model.builder.SavedModelBuilder, for one meta graph with one signature."""

    def __init__(self, export_dir):
        _check_export_dir(export_dir)
        self._export_dir = export_dir
        self._pending = None

    def add_meta_graph_and_variables(self, sess, tags, signature_def_map=None, assets_collection=None,
                                     legacy_init_op=None, clear_devices=False, main_op=None,
                                     strip_default_attrs=False, saver=None, **kwargs):  # fmt: skip
        if self._pending is not None:
            raise NotImplementedError("ember's SavedModelBuilder stores one meta graph (one set of tags)")
        sigs = dict(signature_def_map or {})
        if len(sigs) != 1:
            raise NotImplementedError(
                f"ember's SavedModel stores exactly one signature; got {len(sigs)} ({sorted(sigs)})"
            )
        ((key, sig),) = sigs.items()
        if not isinstance(sig, SignatureDef):
            raise TypeError("signature_def_map values must come from predict_signature_def")
        self._pending = (sess, list(tags), key, sig)

    def add_meta_graph(self, tags, signature_def_map=None, **kwargs):
        raise NotImplementedError("ember's SavedModelBuilder stores one meta graph: use add_meta_graph_and_variables")

    def save(self, as_text=False):
        if self._pending is None:
            raise AssertionError("add_meta_graph_and_variables() must be called before save()")
        sess, tags, key, sig = self._pending
        inputs = {k: i._tensor for k, i in sig.inputs.items()}
        outputs = {k: i._tensor for k, i in sig.outputs.items()}
        save_model(sess, inputs, self._export_dir, outputs=outputs, tags=tags, signature_key=key)
        return os.fsencode(self._export_dir)


Builder = SavedModelBuilder


def load(sess, tags, export_dir, import_scope=None, **saver_kwargs):
    """Rebuild the saved graph into ``sess.graph``, restore its variables into ``sess``; a MetaGraphDef."""
    template, _tb, raw, clean = model_dir.read_dir(export_dir)
    if set(tags) != set(raw["tags"]):
        raise RuntimeError(
            f"MetaGraphDef associated with tags {list(tags)!r} could not be found in SavedModel. "
            f"Available tags: {raw['tags']!r}"
        )
    if model_dir.has_batch_dims(template):
        raise ValueError(
            f"{export_dir} was exported from an eager model with a variable batch size; "
            "load it with ember.export.load_model (it cannot be rebuilt into a TF1 graph)"
        )
    dry_run(template, None)  # a corrupted graph fails here, before it touches the Session's graph
    graph = sess.graph
    if import_scope:
        graph.scope.append(import_scope)
    try:
        _, ins, outs, _ = instantiate(template, None, graph=graph, store=sess._store)
    finally:
        if import_scope:
            graph.scope.pop()

    def infos(part, values):
        return {
            n: TensorInfo(v.name, clean[part][n]["dtype"], clean[part][n]["shape"]) for n, v in zip(clean[part], values)
        }

    key = raw.get("signature_key", DEFAULT_SERVING_SIGNATURE_DEF_KEY)
    return MetaGraphDef(raw["tags"], {key: SignatureDef(infos("inputs", ins), infos("outputs", outs))})


def maybe_saved_model_directory(export_dir):
    """Whether ``export_dir`` looks like a saved model (it holds a signature.json)."""
    return os.path.isfile(os.path.join(export_dir, model_dir.SIGNATURE_FILE))


loader = types.SimpleNamespace(load=load, maybe_saved_model_directory=maybe_saved_model_directory)
builder = types.SimpleNamespace(SavedModelBuilder=SavedModelBuilder)
signature_def_utils = types.SimpleNamespace(predict_signature_def=predict_signature_def)
utils = types.SimpleNamespace(build_tensor_info=build_tensor_info)
