"""``torch.utils.tensorboard.SummaryWriter``: losses, histograms, text and the autograd graph, as TensorBoard
event files (``tensorboard --logdir runs`` shows them).

The files are written through the ``tensorboard`` package (the ``tensorboard`` extra): its ``EventFileWriter``
(the record format, a background thread, flushing) and its protocol buffers, the same pieces PyTorch's own
writer uses, and the package a learner needs anyway to look at the files. What is built here is only what goes
into each record: a scalar, a histogram's buckets, a text, the graph's nodes.

Example (makemore's way of logging)::

    from tinygrad_edu.utils.tensorboard import SummaryWriter

    with SummaryWriter("runs/mlp") as writer:
        for step in range(steps):
            ...
            writer.add_scalar("Loss/train", loss.item(), step)
"""

from __future__ import annotations

import os
import socket
import time
import types
from datetime import datetime

import numpy

INSTALL_HINT = (
    'SummaryWriter writes TensorBoard files through the tensorboard package: pip install -e ".[tensorboard]" '
    "(or pip install tensorboard)"
)


def _tensorboard() -> types.SimpleNamespace:
    """The pieces of the ``tensorboard`` package used here, or an ImportError naming the extra."""
    try:
        from tensorboard.compat.proto import (
            attr_value_pb2,
            event_pb2,
            graph_pb2,
            node_def_pb2,
            summary_pb2,
            tensor_pb2,
            tensor_shape_pb2,
        )
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return types.SimpleNamespace(
        EventFileWriter=EventFileWriter,
        Event=event_pb2.Event,
        SessionLog=event_pb2.SessionLog,
        GraphDef=graph_pb2.GraphDef,
        NodeDef=node_def_pb2.NodeDef,
        AttrValue=attr_value_pb2.AttrValue,
        Summary=summary_pb2.Summary,
        SummaryMetadata=summary_pb2.SummaryMetadata,
        HistogramProto=summary_pb2.HistogramProto,
        TensorProto=tensor_pb2.TensorProto,
        TensorShapeProto=tensor_shape_pb2.TensorShapeProto,
    )


class SummaryWriter:
    """Writes event files into ``log_dir`` (default ``runs/<date>_<host><comment>``, as PyTorch's).

    ``purge_step``: a run restarted from a checkpoint at that step tells TensorBoard to drop the events the
    crashed run wrote from that step on (a ``SessionLog.START`` at ``purge_step``)."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120, filename_suffix=""):
        self._tb = _tensorboard()
        if log_dir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        log_dir = os.fspath(log_dir)
        if log_dir.strip() == "":
            raise ValueError("SummaryWriter: log_dir is empty; name a folder (or pass None for runs/<date>_<host>)")
        if os.path.exists(log_dir) and not os.path.isdir(log_dir):
            raise ValueError(f"SummaryWriter: log_dir {log_dir!r} is a file, not a folder")
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue, self.flush_secs, self.filename_suffix = max_queue, flush_secs, filename_suffix
        self._writer = self._open(log_dir)
        self._scalar_writers: dict[str, object] = {}  # add_scalars' one writer per curve, in a folder of its own
        if purge_step is not None:
            self._add_event(
                self._writer, session_log=self._tb.SessionLog(status=self._tb.SessionLog.START), step=purge_step
            )
        self._closed = False

    def get_logdir(self) -> str:
        return self.log_dir

    # --- what training code logs -------------------------------------------------------------------------

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False, double_precision=False):
        """One point of the curve ``tag``: a Python number, a NumPy scalar or a one-element Tensor."""
        value = _scalar(scalar_value, tag)
        tb = self._tb
        if new_style:  # the scalars plugin's tensor form, which keeps float64 when asked to
            tensor = (
                tb.TensorProto(double_val=[value], dtype="DT_DOUBLE")
                if double_precision
                else tb.TensorProto(float_val=[value], dtype="DT_FLOAT")
            )
            metadata = tb.SummaryMetadata(plugin_data=tb.SummaryMetadata.PluginData(plugin_name="scalars"))
            entry = tb.Summary.Value(tag=tag, tensor=tensor, metadata=metadata)
        else:
            entry = tb.Summary.Value(tag=tag, simple_value=value)
        self._add_summary(self._writer, entry, global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several curves in one chart: each ``tag`` of the dict is written to ``log_dir/<main_tag>_<tag>/``
        under the name ``main_tag``, so TensorBoard draws them as runs side by side (PyTorch's layout)."""
        if not isinstance(tag_scalar_dict, dict):
            raise TypeError(
                f"add_scalars: tag_scalar_dict must be a dict of tag -> number, not {type(tag_scalar_dict).__name__}"
            )
        walltime = time.time() if walltime is None else walltime
        for tag, scalar_value in tag_scalar_dict.items():
            folder = os.path.join(self.log_dir, f"{main_tag}_{tag}".replace("/", "_"))
            writer = self._scalar_writers.get(folder)
            if writer is None:
                writer = self._scalar_writers[folder] = self._open(folder)
            entry = self._tb.Summary.Value(tag=main_tag, simple_value=_scalar(scalar_value, f"{main_tag}/{tag}"))
            self._add_summary(writer, entry, global_step, walltime)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None):
        """The distribution of ``values`` (a Tensor or array: weights, gradients, activations). ``bins``:
        ``"tensorflow"`` (TensorFlow's exponential buckets), a NumPy rule such as ``"auto"``, or a count."""
        array = _array(values).astype(numpy.float64).ravel()
        if array.size == 0:
            raise ValueError(f"add_histogram({tag!r}): values is empty; there is no distribution to draw")
        if not numpy.isfinite(array).all():
            raise ValueError(f"add_histogram({tag!r}): values holds NaN or inf; a histogram needs finite numbers")
        edges = _tensorflow_edges() if bins == "tensorflow" else bins
        counts, edges = numpy.histogram(array, bins=edges)
        if max_bins is not None and len(counts) > max_bins:  # merge neighbours until there are at most max_bins
            group = -(-len(counts) // max_bins)
            counts = numpy.add.reduceat(counts, numpy.arange(0, len(counts), group))
            edges = numpy.append(edges[:-1:group], edges[-1])
        # TensorBoard reads bucket i as (limit[i-1], limit[i]], the first as (-inf, limit[0]]: the empty buckets at
        # both ends are dropped, and an empty first bucket ending at the left edge of the data starts the list
        used = numpy.nonzero(counts)[0]
        first, last = used[0], used[-1] + 1
        histogram = self._tb.HistogramProto(
            min=float(array.min()),
            max=float(array.max()),
            num=float(array.size),
            sum=float(array.sum()),
            sum_squares=float(numpy.dot(array, array)),
            bucket_limit=[float(x) for x in edges[first : last + 1]],
            bucket=[0.0] + [float(x) for x in counts[first:last]],
        )
        self._add_summary(self._writer, self._tb.Summary.Value(tag=tag, histo=histogram), global_step, walltime)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """A text (Markdown) under ``tag`` (stored as ``<tag>/text_summary``, as PyTorch stores it)."""
        tb = self._tb
        if not isinstance(text_string, str):
            raise TypeError(f"add_text({tag!r}): text_string must be a str, not {type(text_string).__name__}")
        metadata = tb.SummaryMetadata(plugin_data=tb.SummaryMetadata.PluginData(plugin_name="text"))
        tensor = tb.TensorProto(
            dtype="DT_STRING",
            string_val=[text_string.encode("utf-8")],
            tensor_shape=tb.TensorShapeProto(dim=[tb.TensorShapeProto.Dim(size=1)]),
        )
        entry = tb.Summary.Value(tag=tag + "/text_summary", metadata=metadata, tensor=tensor)
        self._add_summary(self._writer, entry, global_step, walltime)

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """The autograd graph of ``model(input_to_model)`` for TensorBoard's Graphs tab: one node per op (its
        output shape in the node's attributes) and one per parameter, named as ``named_parameters`` names it.
        ``input_to_model``: a Tensor or a tuple of them. (``use_strict_trace`` is PyTorch's JIT tracer's
        option; there is no tracer here: the graph is the one autograd recorded.)"""
        if input_to_model is None:
            raise ValueError("add_graph needs input_to_model: the graph is recorded by running the model on it")
        inputs = input_to_model if isinstance(input_to_model, (tuple, list)) else (input_to_model,)
        output = model(*inputs)
        outputs = [t for t in (output if isinstance(output, (tuple, list)) else (output,)) if hasattr(t, "_ctx")]
        names = {id(p): name for name, p in model.named_parameters()} if hasattr(model, "named_parameters") else {}
        for k, t in enumerate(inputs):
            names.setdefault(id(t), f"input_{k}")
        graph = _graph_def(self._tb, outputs, names)
        if verbose:
            print(graph)
        self._add_event(self._writer, graph_def=graph.SerializeToString())

    # --- the files -----------------------------------------------------------------------------------------

    def flush(self) -> None:
        for writer in (self._writer, *self._scalar_writers.values()):
            writer.flush()

    def close(self) -> None:
        if self._closed:
            return
        for writer in (self._writer, *self._scalar_writers.values()):
            writer.flush()
            writer.close()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _open(self, folder: str):
        os.makedirs(folder, exist_ok=True)
        return self._tb.EventFileWriter(folder, self.max_queue, self.flush_secs, self.filename_suffix)

    def _add_summary(self, writer, entry, global_step, walltime) -> None:
        self._add_event(writer, summary=self._tb.Summary(value=[entry]), step=global_step, walltime=walltime)

    def _add_event(self, writer, step=None, walltime=None, **fields) -> None:
        if getattr(self, "_closed", False):
            raise RuntimeError(f"SummaryWriter({self.log_dir!r}) is closed; open a new one to write more")
        event = self._tb.Event(wall_time=time.time() if walltime is None else walltime, **fields)
        if step is not None:
            event.step = int(step)
        writer.add_event(event)


def _array(values) -> numpy.ndarray:
    """A NumPy array of a Tensor's values (ours or PyTorch's, on any device), an array, a list or a number."""
    if hasattr(values, "detach"):
        values = values.detach()
        values = values.cpu() if hasattr(values, "cpu") else values
        return numpy.asarray(values.numpy())
    return numpy.asarray(values)


def _scalar(value, tag: str) -> float:
    array = _array(value)
    if array.size != 1:
        raise ValueError(f"add_scalar({tag!r}): expected one number, got {array.size} values of shape {array.shape}")
    try:
        return float(array.reshape(()))
    except (TypeError, ValueError):
        raise TypeError(f"add_scalar({tag!r}): expected a number, got {value!r}") from None


def _tensorflow_edges() -> numpy.ndarray:
    """TensorFlow's default histogram buckets: ±1e-12 growing by 10% a bucket to ±1e20, and 0 between."""
    positive = 1e-12 * 1.1 ** numpy.arange(0, numpy.ceil(numpy.log(1e20 / 1e-12) / numpy.log(1.1)) + 1)
    return numpy.concatenate([[-numpy.inf], -positive[::-1], [0.0], positive, [numpy.inf]])


def _graph_def(tb, outputs, names: dict):
    """A ``GraphDef`` of the ops that produced ``outputs``: a NodeDef per op and per leaf, wired by inputs."""
    node_names: dict[int, str] = {}
    nodes = []

    def name_of(t) -> str:
        return node_names.get(id(t._ctx) if t._ctx is not None else id(t), "?")

    order, seen, stack = [], set(), [t._ctx for t in outputs if t._ctx is not None]
    leaves = {}
    while stack:  # every op reachable from the outputs, iteratively (long chains must not recurse)
        op = stack.pop()
        if id(op) in seen:
            continue
        seen.add(id(op))
        order.append(op)
        for parent in op.inputs:
            if not hasattr(parent, "_ctx"):
                continue
            if parent._ctx is not None:
                stack.append(parent._ctx)
            else:
                leaves[id(parent)] = parent
    for k, leaf in enumerate(leaves.values()):
        name = names.get(id(leaf), f"tensor_{k}").replace(".", "/")  # "/" nests a module's parameters in TB
        node_names[id(leaf)] = name
        nodes.append(tb.NodeDef(name=name, op="Parameter" if leaf.requires_grad else "Input"))
    for k, op in enumerate(reversed(order)):  # creation order: inputs before the ops that use them
        node_names[id(op)] = f"{op.name}_{k}"
    for op in reversed(order):
        inputs = [name_of(p) for p in op.inputs if hasattr(p, "_ctx")]
        shapes = " ".join(str(tuple(int(d) for d in shape)) for shape, _ in getattr(op, "output_meta", ()))
        attr = {"shape": tb.AttrValue(s=shapes.encode())} if shapes else {}
        nodes.append(tb.NodeDef(name=node_names[id(op)], op=op.name, input=inputs, attr=attr))
    return tb.GraphDef(node=nodes)
