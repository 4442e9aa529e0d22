"""``nn.utils``: gradient clipping."""

from __future__ import annotations

import math

from .. import factories
from ..autograd.grad_mode import no_grad
from ..tensor import Tensor


def zero_grad(parameters, set_to_none: bool = True) -> None:
    """Forget the gradients of ``parameters``: ``.grad = None``, or zeros in place (``set_to_none=False``).

    ``Module.zero_grad`` and ``Optimizer.zero_grad`` both come here."""
    for p in parameters:
        if set_to_none or p.grad is None:
            p.grad = None
        else:
            with no_grad():
                p.grad = p.grad.detach()  # a gradient from backward(create_graph=True) keeps no graph
                p.grad.zero_()


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``; returns the norm before."""
    try:
        norm_type = float(norm_type)  # as PyTorch: 2, 2.0, "inf" and math.inf all name a norm
    except (TypeError, ValueError):
        raise ValueError(f"clip_grad_norm_: norm_type must be a number such as 2.0 or inf, got {norm_type!r}") from None
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    # the norm and the scale stay on the device: reading them on the host would cost a GPU sync per step
    with no_grad():
        if norm_type == math.inf:
            total = factories.stack([g.abs().max() for g in grads]).max()
        elif norm_type == 0:  # PyTorch's 0-"norm" of each gradient's 0-"norm": how many have a non-zero entry
            total = factories.stack([(g != 0).any() for g in grads]).sum().to(grads[0].dtype)
        elif norm_type == 2 and _one_kind(grads):
            # the usual case: each gradient's squared norm is its dot product with itself, one BLAS call with no
            # temporary array (rather than g * g, then a sum), added up on the device
            xp = grads[0]._xp
            squares = xp.stack([xp.dot(flat, flat) for flat in (g._data.reshape(-1) for g in grads)])
            total = Tensor._wrap(xp.asarray(xp.sqrt(squares.sum())), grads[0].device)
        elif norm_type == 2:  # gradients of several dtypes: promoted as the stack of their norms promotes them
            total = factories.stack([(g * g).sum() for g in grads]).sum().sqrt()
        else:
            total = factories.stack([(g.abs() ** norm_type).sum() for g in grads]).sum() ** (1.0 / norm_type)
        if error_if_nonfinite and not math.isfinite(total.item()):
            raise RuntimeError(
                f"the total norm of gradients is {total.item()}: clip_grad_norm_ was asked to fail on it"
            )
        # scaled by min(1, max_norm / norm) always, as PyTorch does, instead of asking the host whether to
        coefficient = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coefficient)
    return total


def _one_kind(grads) -> bool:
    """All on one device, all of one floating dtype: their norms can be summed as arrays."""
    first = grads[0]
    return first._data.dtype.kind == "f" and all(
        g.device == first.device and g._data.dtype == first._data.dtype for g in grads
    )


def parameters_to_vector(parameters) -> Tensor:
    return factories.cat([p.reshape(-1) for p in parameters])
