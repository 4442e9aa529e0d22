"""tinygrad_edu.viz: graph drawings (DOT source always, rendering when `dot` exists) and backward traces."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as torch
from tinygrad_edu.autograd import graph
from tinygrad_edu.autograd.function import Function
from tinygrad_edu.ops.op import Op
from tinygrad_edu.viz import dot_available, draw_graph, record_modules, render, trace_backward

graphviz = pytest.importorskip("graphviz", reason='graphviz python package missing: pip install -e ".[viz]"')
needs_dot = pytest.mark.skipif(
    not dot_available(), reason="graphviz's dot program is missing (apt-get install graphviz)"
)


def tiny_gpt():
    from gpt.model import GPT, GPTConfig

    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=7, block_size=6, n_layer=2, n_head=2, n_embd=8))


def test_draw_graph_nodes_labels_and_grads():
    x = torch.randn(3, requires_grad=True)
    w = torch.randn(3, requires_grad=True)
    y = (x * w).tanh().sum()
    before = draw_graph(y, params={"x": x, "w": w}).source
    assert "Sum" in before and "Tanh" in before and "Mul" in before
    assert "x\\n(3) float32" in before and "grad:" not in before
    y.backward(retain_graph=True)
    after = draw_graph(y, params={"x": x, "w": w}).source
    assert after.count("grad: |g|") == 2  # both leaves now summarise their gradient
    assert after.count("->") == 4  # x->Mul, w->Mul, Mul->Tanh, Tanh->Sum
    assert "grad:" not in draw_graph(y, show_grad=False).source


def test_draw_graph_after_freed_backward_says_so():
    x = torch.randn(2, requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        draw_graph(y)


def test_record_modules_groups_and_folds_gpt_and_restores():
    model = tiny_gpt()
    idx = torch.tensor([[1, 2, 3, 4]])
    observers_before = (list(graph.forward_observers), list(graph.backward_observers))
    with record_modules(model):
        _, loss = model(idx, idx)
    assert (list(graph.forward_observers), list(graph.backward_observers)) == observers_before
    assert all("forward" not in m.__dict__ for m in model.modules())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())  # hooks removed
    full = draw_graph(loss, params=model).source
    assert "cluster_blocks_0_attn" in full and "blocks.0.attn (CausalSelfAttention)" in full
    folded = draw_graph(loss, params=model, max_depth=1).source
    assert "ops folded" in folded and "Softmax" not in folded
    assert "cluster_blocks_0_attn" not in folded
    assert len(folded) < len(full) / 3  # the point of folding: a GPT stays readable
    ungrouped = draw_graph(loss, group_modules=False).source
    assert "cluster_" not in ungrouped
    with pytest.raises(ValueError):
        draw_graph(loss, max_depth=0)


def test_record_modules_restores_on_exception():
    model = tiny_gpt()
    observers_before = (list(graph.forward_observers), list(graph.backward_observers))
    with pytest.raises(ValueError), record_modules(model):
        model(torch.zeros(1, 99, dtype=torch.long))  # longer than block_size
    assert (list(graph.forward_observers), list(graph.backward_observers)) == observers_before
    assert all("forward" not in m.__dict__ for m in model.modules())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())  # hooks removed


@needs_dot
def test_render_svg_and_png(tmp_path):
    x = torch.randn(2, 2, requires_grad=True)
    graph = draw_graph((x @ x).sum())
    svg = render(graph, tmp_path / "g.svg")
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    draw_graph((x * x).sum(), save=tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


def test_trace_backward_rows_in_reverse_order_and_restores():
    originals = {cls: dict(vars(cls)) for cls in (Op, Function)}
    x = torch.randn(4, 3, requires_grad=True)
    w = torch.randn(3, 2, requires_grad=True)
    loss = (x @ w).relu().mean()
    with trace_backward() as trace:
        loss.backward()
    assert [r.op for r in trace.rows] == ["Mean", "Relu", "MatMul"]
    assert [r.step for r in trace.rows] == [0, 1, 2]
    mm = trace.rows[-1]
    assert mm.grad_output_shapes == [(4, 2)] and mm.grad_input_shapes == [(4, 3), (3, 2)]
    np.testing.assert_allclose(mm.grad_input_norms[1], np.linalg.norm(w.grad.numpy()), rtol=1e-5)
    assert trace.rows[0].grad_output_norm == pytest.approx(1.0) and all(r.time_us >= 0 for r in trace.rows)
    table = trace.table()
    assert "MatMul" in table and "3 backward steps" in table
    assert {cls: dict(vars(cls)) for cls in (Op, Function)} == originals
    assert graph.backward_observers == []


def test_trace_backward_sees_user_functions_and_restores_on_error():
    from user_functions import Square

    x = torch.randn(3, requires_grad=True)
    original = dict(vars(Function))
    with pytest.raises(KeyError), trace_backward() as trace:
        Square.apply(x).sum().backward()
        raise KeyError("boom")
    assert [r.op for r in trace.rows] == ["Sum", "Square"]
    assert dict(vars(Function)) == original
    assert graph.backward_observers == []


def test_draw_graph_labels_ops_with_trace_steps():
    x = torch.randn(3, requires_grad=True)
    y = x.exp().sum()
    with trace_backward() as trace:
        y.backward(retain_graph=True)
    assert "backward step 1" in draw_graph(y, trace=trace).source


def test_missing_graphviz_gives_install_hint(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "graphviz", None)  # makes `import graphviz` raise ImportError
    x = torch.randn(2, requires_grad=True)
    with pytest.raises(ImportError, match=r"\.\[viz\]") as info:
        draw_graph(x.sum())
    assert "apt-get install graphviz" in str(info.value)
