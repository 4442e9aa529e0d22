"""See backprop run: a tiny MLP's graph, a trace of its backward pass, and a gradient check.

Run it with ``python -m gpt.examples.see_backprop`` (about a second). It

1. builds a 2-layer MLP on 4 examples and computes a mean-squared-error loss;
2. draws the graph behind the loss to ``out/see_backprop.svg`` (with graphviz installed: ``pip install -e ".[viz]"``
   and ``apt-get install graphviz``), ops boxed by the module that made them;
3. runs backward inside ``trace_backward`` and prints every step: the chain rule starts at the loss (step 0)
   and walks the forward pass in reverse, each op turning the gradient of its output into gradients of
   its inputs;
4. checks those gradients against finite differences with ``gradcheck``.
"""

from __future__ import annotations

import argparse
import sys

import tinygrad_edu as torch
import tinygrad_edu.nn as nn
from tinygrad_edu.autograd.gradcheck import gradcheck
from tinygrad_edu.viz import dot_available, draw_graph, record_modules, render, trace_backward


class TinyMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(3, 4)
        self.act = nn.Tanh()
        self.out = nn.Linear(4, 1)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpt.examples.see_backprop", description=__doc__.splitlines()[0])
    parser.add_argument("--save", default="out/see_backprop.svg", help="where the graph drawing goes (.svg or .png)")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    model = TinyMLP()
    x = torch.randn(4, 3)
    target = torch.randn(4, 1)

    # 1. forward, remembering which module made each op
    with record_modules(model):
        prediction = model(x)
        loss = ((prediction - target) ** 2).mean()
    print(f"loss = {loss.item():.4f}\n")

    # 2. backward, recording every step; retain_graph keeps the graph so it can be drawn afterwards
    with trace_backward() as trace:
        loss.backward(retain_graph=True)
    print("backward, step by step (step 0 is the loss; each step is one op's chain rule):")
    print(trace.table())
    print()

    # 3. the drawing: one box per op, one ellipse per parameter (with its gradient), grouped by module
    try:
        graph = draw_graph(loss, params=model, trace=trace)
    except ImportError as exc:
        print(f"(no drawing: {exc})")
    else:
        if dot_available():
            print(f"graph drawn to {render(graph, args.save)}")
        else:
            print("graphviz's dot program is missing, so here is the graph's DOT source instead:")
            print(graph.source)
    print()

    # 4. are the gradients right? compare with central finite differences, in float64
    def mlp(x, w1, b1, w2, b2):
        return ((x @ w1.T + b1).tanh() @ w2.T + b2 - target.double()) ** 2

    params = [p.detach().double().requires_grad_() for p in model.parameters()]
    ok = gradcheck(mlp, (x.double(), *params))
    print(f"gradcheck against finite differences: {'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
