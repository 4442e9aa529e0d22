"""Mixed precision, as ``torch.amp``: ``autocast`` (products in a low precision, the touchy ops in float32) and
``GradScaler`` (scale the loss so float16 gradients do not underflow; skip a step whose gradients overflowed).

What autocast changes is a table of ops in ``autograd/autocast.py``, consulted where ``graph.apply`` dispatches
an op; this file holds the public objects. bfloat16 has no storage here (NumPy has no such dtype): a bfloat16
autocast rounds values to bfloat16 and keeps them in float32 arrays, and ``tinygrad_edu.bfloat16`` names the
precision for ``autocast(dtype=...)`` but cannot be a tensor's dtype.
"""

from __future__ import annotations

import functools
import types
import warnings

from . import backend, dtypes
from .autograd import autocast as _state
from .autograd.grad_mode import no_grad
from .tensor import Tensor


class _NamedPrecision:
    """``bfloat16``: a precision autocast can compute in, with no array dtype behind it (NumPy has none)."""

    is_floating_point = True
    itemsize = 2

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"tinygrad_edu.{self.name}"

    def __reduce__(self):
        return "bfloat16"  # the module-level singleton, as a dtype is


bfloat16 = _NamedPrecision("bfloat16")
DEFAULT_DTYPE = {"cpu": bfloat16, "cuda": dtypes.float16}


class autocast:  # noqa: N801 - PyTorch's name
    """``with autocast("cpu"):`` (or as a decorator): matmul, mm, bmm, linear (and conv) compute in ``dtype``
    (bfloat16 by default on the CPU, float16 on ``cuda``); cross_entropy in float32, and on ``cuda`` softmax,
    log_softmax, layer_norm and sum too (PyTorch's lists for each device). Regions nest; ``enabled=False``
    turns autocast off inside one. ``cache_enabled`` (PyTorch keeps low-precision copies of weights for a
    region) changes no values and is accepted."""

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled: bool | None = None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type not in DEFAULT_DTYPE:
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
        self.device = device_type
        self.fast_dtype = DEFAULT_DTYPE[device_type] if dtype is None else dtype
        if enabled and device_type == "cuda" and not backend.cuda_available():
            warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.", stacklevel=2)
            enabled = False
        elif enabled and self.fast_dtype not in (bfloat16, dtypes.float16):
            name = device_type.upper()
            warnings.warn(
                f"In {name} autocast, but the target dtype is not supported. Disabling autocast.\n{name} Autocast "
                "only supports dtypes of torch.bfloat16, torch.float16 currently.",
                stacklevel=2,
            )
            enabled = False
        self._enabled = enabled
        self._cache_enabled = cache_enabled
        self._saved: list = []

    def __enter__(self):
        self._saved.append(_state.active.get(self.device, _ABSENT))
        _state.active[self.device] = self.fast_dtype.name if self._enabled else None
        return self

    def __exit__(self, *exc) -> bool:
        previous = self._saved.pop()
        if previous is _ABSENT:
            del _state.active[self.device]
        else:
            _state.active[self.device] = previous
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def autocast_region(*args, **kwargs):
            with type(self)(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return func(*args, **kwargs)

        return autocast_region


_ABSENT = object()


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    return _state.active.get(device_type) is not None


class GradScaler:
    """Loss scaling for float16 training, as ``torch.amp.GradScaler``.

    ``scale(loss)`` multiplies by the scale; ``unscale_(optimizer)`` divides the gradients by it in place and notes
    whether any is inf or NaN; ``step(optimizer)`` unscales (if not done) and steps only when none was; ``update()``
    multiplies the scale by ``backoff_factor`` after a skipped step, by ``growth_factor`` after ``growth_interval``
    clean steps in a row. ``enabled=False`` makes every method pass through, as nanoGPT relies on."""

    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ):
        self._device = device
        if enabled and device == "cuda" and not backend.cuda_available():
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.", stacklevel=2)
            enabled = False
        if enabled:
            if growth_factor <= 1.0:
                raise ValueError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise ValueError("The backoff factor must be < 1.0.")
        self._enabled = enabled
        self._init_scale, self._growth_factor = float(init_scale), float(growth_factor)
        self._backoff_factor, self._growth_interval = float(backoff_factor), int(growth_interval)
        self._scale: float | None = None  # set at the first scale(), as PyTorch's lazily made tensor
        self._growth_tracker = 0
        self._stages: dict = {}  # id(optimizer) -> {"stage": "unscaled" | "stepped", "found_inf": bool}

    def is_enabled(self) -> bool:
        return self._enabled

    def scale(self, outputs):
        """``outputs`` (a Tensor or an iterable of them) times the current scale."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._scale = self._init_scale
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError("outputs must be a Tensor or an iterable of Tensors")

    def _check_started(self, funcname: str) -> None:
        if self._scale is None:
            raise RuntimeError(
                f"Attempted {funcname} but _scale is None.  This may indicate your script did not use "
                "scaler.scale(loss or outputs) earlier in the iteration."
            )

    @no_grad()
    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale, in place (in float32 arithmetic: the inverse scale is
        taken in float64 and rounded to float32, as PyTorch's), and note whether any gradient is inf or NaN."""
        if not self._enabled:
            return
        self._check_started("unscale_")
        stage = self._stages.get(id(optimizer), {}).get("stage")
        if stage == "unscaled":
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if stage == "stepped":
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = float(Tensor(1.0 / self._scale, dtype=dtypes.float32).item())
        found_inf = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.dtype == dtypes.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                found_inf = found_inf or not bool(p.grad.isfinite().all().item())
                p.grad.mul_(inv_scale)
        self._stages[id(optimizer)] = {"stage": "unscaled", "found_inf": found_inf}

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step()`` on unscaled gradients, skipped (returning None) where one was inf or NaN."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_started("step")
        if self._stages.get(id(optimizer), {}).get("stage") == "stepped":
            raise RuntimeError("step() has already been called since the last update().")
        if id(optimizer) not in self._stages:
            self.unscale_(optimizer)
        state = self._stages[id(optimizer)]
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = "stepped"
        return result

    def update(self, new_scale=None) -> None:
        """Back off after an overflow, grow after ``growth_interval`` clean steps (or set ``new_scale``)."""
        if not self._enabled:
            return
        self._check_started("update")
        if new_scale is not None:
            self._scale = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
        else:
            if not self._stages:
                raise RuntimeError("No inf checks were recorded prior to update.")
            if any(s["found_inf"] for s in self._stages.values()):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = self._scale * self._growth_factor
                    if grown != float("inf"):  # PyTorch keeps the scale finite
                        self._scale = grown
                    self._growth_tracker = 0
            # the scale lives in a float32 tensor in PyTorch: keep it a float32 value
            self._scale = float(Tensor(self._scale, dtype=dtypes.float32).item())
        self._stages = {}

    def get_scale(self) -> float:
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def state_dict(self) -> dict:
        """``scale``, the factors, the interval and ``_growth_tracker``, as PyTorch's; empty when disabled."""
        if not self._enabled:
            return {}
        return {
            "scale": self.get_scale(),
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._growth_tracker,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "The source state dict is empty, possibly because it was saved from a disabled instance of GradScaler."
            )
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale = self._init_scale
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


class _DeviceAutocast(autocast):
    """``torch.cpu.amp.autocast`` / ``torch.cuda.amp.autocast``: ``autocast`` with the device fixed."""

    device_type = "cpu"

    def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True):
        super().__init__(self.device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    def __call__(self, func):
        @functools.wraps(func)
        def autocast_region(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return func(*args, **kwargs)

        return autocast_region


class _CpuAutocast(_DeviceAutocast):
    device_type = "cpu"


class _CudaAutocast(_DeviceAutocast):
    device_type = "cuda"


class _CudaGradScaler(GradScaler):
    """``torch.cuda.amp.GradScaler``: ``GradScaler("cuda", ...)``."""

    def __init__(self, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000, enabled=True):
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


_CpuAutocast.__name__ = _CudaAutocast.__name__ = _CudaGradScaler.__name__ = "autocast"
_CudaGradScaler.__name__ = "GradScaler"
cpu_amp = types.SimpleNamespace(autocast=_CpuAutocast)
cuda_amp = types.SimpleNamespace(autocast=_CudaAutocast, GradScaler=_CudaGradScaler)
