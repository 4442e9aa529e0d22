# %% [markdown]
# # Backprop by hand and by engine
#
# micrograd's first lecture on `tinygrad_edu`: an expression, its graph drawn, its backward pass traced step by
# step, its gradients checked against finite differences with `gradcheck`; then a tiny MLP that learns.
# `tinygrad_edu` has PyTorch's API, so it is imported as `torch`.

# %%
# Colab, or a kernel without the engine: install it first. PACKAGE is what pip installs: the published
# package, or where it is not published a clone's path or its "git+URL" (in a clone: pip install -e ".[notebook]")
import importlib.util
import subprocess
import sys

PACKAGE = "tinygrad-edu[notebook]"
if importlib.util.find_spec("tinygrad_edu") is None:
    if subprocess.call([sys.executable, "-m", "pip", "install", "-q", PACKAGE]) != 0:
        raise SystemExit(f"pip could not install {PACKAGE!r}: set PACKAGE to a clone's path or git+URL, then rerun")

# %%
import tinygrad_edu as torch
from tinygrad_edu.viz import dot_available, draw_graph, trace_backward

# %% [markdown]
# ## An expression
#
# The lecture's `L = (a*b + c) * f`, with tensors of one element. Every result remembers the op that made it:
# that is the graph `backward()` walks.

# %%
a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
b = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
c = torch.tensor(10.0, dtype=torch.float64, requires_grad=True)
f = torch.tensor(-2.0, dtype=torch.float64, requires_grad=True)
e = a * b
d = e + c
L = d * f
L

# %% [markdown]
# The graph behind `L`, drawn inline (a graphviz drawing: Jupyter shows it as SVG).

# %%
drawing = draw_graph(L, params={"a": a, "b": b, "c": c, "f": f})
drawing if dot_available() else print("install graphviz's dot program to see the drawing")

# %% [markdown]
# ## Backward, traced
#
# By hand, the chain rule gives dL/df = d = 4, dL/dd = f = -2, dL/dc = dL/dd = -2, dL/de = -2,
# dL/da = dL/de · b = 6, dL/db = dL/de · a = -4. The engine walks the graph from `L` back to the leaves:

# %%
with trace_backward() as trace:
    L.backward(retain_graph=True)
print(trace.table())
print("a.grad", a.grad.item(), " b.grad", b.grad.item(), " c.grad", c.grad.item(), " f.grad", f.grad.item())
assert (a.grad.item(), b.grad.item(), c.grad.item(), f.grad.item()) == (6.0, -4.0, -2.0, 4.0)

# %% [markdown]
# Now the drawing also shows each leaf's gradient:

# %%
draw_graph(L, params={"a": a, "b": b, "c": c, "f": f}) if dot_available() else None

# %% [markdown]
# ## Checking gradients
#
# `torch.autograd.gradcheck` compares the engine's gradients with finite differences, (f(x+h) - f(x-h)) / 2h,
# in float64. Here on a function with a `tanh`, a power and a sum:


# %%
def neuron(x, w, bias):
    return torch.tanh((x * w).sum() + bias) ** 2


inputs = (
    torch.randn(3, dtype=torch.float64, requires_grad=True),
    torch.randn(3, dtype=torch.float64, requires_grad=True),
    torch.randn(1, dtype=torch.float64, requires_grad=True),
)
print("gradcheck:", torch.autograd.gradcheck(neuron, inputs))

# %% [markdown]
# ## A tiny MLP
#
# Two moons of points, a 2-16-16-1 MLP with `tanh`, and plain gradient descent: the lecture's last exercise,
# with `nn.Sequential` and `torch.optim.SGD`.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

torch.manual_seed(1337)
rng = np.random.default_rng(0)
angle = rng.uniform(0, math.pi, 100)
upper = np.stack([np.cos(angle), np.sin(angle)], 1)
lower = np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], 1)
points = np.concatenate([upper, lower]) + rng.normal(0, 0.1, (200, 2))
labels = np.concatenate([np.ones(100), -np.ones(100)])
X, y = torch.tensor(points, dtype=torch.float32), torch.tensor(labels, dtype=torch.float32)

model = torch.nn.Sequential(
    torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
losses = []
for _ in range(300):
    scores = model(X).squeeze(1)
    loss = torch.relu(1 - y * scores).mean()  # the lecture's max-margin loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
accuracy = ((model(X).squeeze(1) > 0).float() * 2 - 1 == y).float().mean().item()
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}, accuracy {accuracy:.0%}")

# %% [markdown]
# What it learned: the decision boundary over the two moons, and the loss as it fell.

# %%
xs, ys = np.meshgrid(np.linspace(-1.5, 2.5, 80), np.linspace(-1, 1.5, 60))
grid = torch.tensor(np.stack([xs.ravel(), ys.ravel()], 1), dtype=torch.float32)
with torch.no_grad():
    zs = model(grid).numpy().reshape(xs.shape)
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
left.contourf(xs, ys, zs > 0, alpha=0.3, cmap="coolwarm")
left.scatter(points[:, 0], points[:, 1], c=labels, cmap="coolwarm", s=12)
left.set_title(f"decision boundary (accuracy {accuracy:.0%})")
right.plot(losses)
right.set_xlabel("step")
right.set_ylabel("max-margin loss")
right.set_title("training loss")
plt.show()
