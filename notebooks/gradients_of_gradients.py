# %% [markdown]
# # Gradients of gradients
#
# `backward(create_graph=True)` and `torch.autograd.grad(..., create_graph=True)` record the backward pass
# itself as a graph, so a gradient can be differentiated again. Three uses: Newton's method, a Hessian-vector
# product without the Hessian, and the derivatives of `tanh`, plotted.

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
import matplotlib.pyplot as plt
import numpy as np

import tinygrad_edu as torch

# %% [markdown]
# ## Newton's method
#
# To minimise f, step x ← x − f′(x) / f″(x). Both derivatives come from autograd: the first with
# `create_graph=True`, so that the second is the gradient of the first. Here f(x) = x·log(x), whose minimum
# is at 1/e.


# %%
def f(x):
    return x * torch.log(x)


x = 0.5
path = [x]
for _ in range(6):
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (first,) = torch.autograd.grad(f(t), t, create_graph=True)
    (second,) = torch.autograd.grad(first, t)
    x = x - first.item() / second.item()
    path.append(x)
for k, value in enumerate(path):
    print(f"step {k}: x = {value:.12f}, distance to 1/e = {abs(value - np.exp(-1)):.2e}")
assert abs(path[-1] - np.exp(-1)) < 1e-12

# %% [markdown]
# Each step squares the error: quadratic convergence.

# %% [markdown]
# ## A Hessian-vector product
#
# H·v is the gradient of (∇f · v): two backward passes, never the n×n Hessian. Checked against the Hessian
# built column by column, and against `torch.autograd.functional.hvp`.


# %%
def rosenbrock(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


p = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
v = torch.tensor([0.3, -0.7], dtype=torch.float64)
(grad,) = torch.autograd.grad(rosenbrock(p), p, create_graph=True)
(hv,) = torch.autograd.grad((grad * v).sum(), p, retain_graph=True)  # the Hessian below reuses the graph
hessian = np.stack([torch.autograd.grad(grad[i], p, retain_graph=True)[0].numpy() for i in range(2)])
print("H·v by two backward passes:", hv.numpy())
print("H @ v from the full Hessian:", hessian @ v.numpy())
print("torch.autograd.functional.hvp:", torch.autograd.functional.hvp(rosenbrock, p.detach(), v)[1].numpy())
np.testing.assert_allclose(hv.numpy(), hessian @ v.numpy(), rtol=1e-12)

# %% [markdown]
# ## The derivatives of tanh
#
# Differentiate four times in a row, and compare with the closed forms: tanh′ = 1 − tanh², and each next one
# by the chain rule on that polynomial in tanh.

# %%
xs = torch.linspace(-4, 4, 201, dtype=torch.float64).requires_grad_()
curves = [torch.tanh(xs)]
for _ in range(4):
    (derivative,) = torch.autograd.grad(curves[-1].sum(), xs, create_graph=True)
    curves.append(derivative)

t = np.tanh(xs.detach().numpy())
closed = [t, 1 - t**2, -2 * t * (1 - t**2), (1 - t**2) * (6 * t**2 - 2), (1 - t**2) * (16 * t - 24 * t**3)]
for order, (ours, exact) in enumerate(zip(curves, closed)):
    np.testing.assert_allclose(ours.detach().numpy(), exact, atol=1e-12)
    print(f"order {order}: matches the closed form")

fig, ax = plt.subplots(figsize=(8, 4.5))
names = ["tanh", "tanh′", "tanh″", "tanh‴", "tanh⁽⁴⁾"]
for name, curve in zip(names, curves):
    ax.plot(xs.detach().numpy(), curve.detach().numpy(), label=name)
ax.axhline(0, color="gray", lw=0.5)
ax.set_title("tanh and its first four derivatives, by autograd")
ax.legend()
plt.show()
