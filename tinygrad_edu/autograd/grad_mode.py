"""Switching graph recording on and off: ``no_grad``, ``enable_grad``, ``set_grad_enabled``."""

from __future__ import annotations

import contextlib
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


def _set(enabled: bool) -> None:
    _state.enabled = enabled


class _NeedsCall(type):
    """``with no_grad:`` (the class, not an instance) gets a message that says what to write instead."""

    def __enter__(cls):
        raise TypeError(f"{cls.__name__} is a class: write `with {cls.__name__}():`, with the parentheses")

    def __exit__(cls, *exc):
        return False


class _GradMode(contextlib.ContextDecorator, metaclass=_NeedsCall):
    """Base of the context managers below; each also works as a decorator (``@no_grad()``)."""

    enabled: bool

    def __enter__(self):
        self._previous = is_grad_enabled()
        _set(self.enabled)
        return self

    def __exit__(self, *exc):
        _set(self._previous)
        return False


class no_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """Ops run inside record no graph: for evaluation, sampling and in-place parameter updates."""

    enabled = False


class enable_grad(_GradMode):  # noqa: N801
    """Turn recording back on inside a ``no_grad`` block."""

    enabled = True


class set_grad_enabled(_GradMode):  # noqa: N801
    """``set_grad_enabled(False)`` as a context manager, decorator or plain call."""

    def __init__(self, mode: bool):
        if not isinstance(mode, bool):  # bool("no") is True
            raise TypeError(f"set_grad_enabled(): argument 'mode' must be bool, not {type(mode).__name__}")
        self.enabled = mode
        self._previous = is_grad_enabled()
        _set(self.enabled)  # a plain call takes effect at once, as in PyTorch

    def __enter__(self):
        _set(self.enabled)
        return self


class inference_mode(_GradMode):  # noqa: N801
    """PyTorch's inference mode, which here is ``no_grad`` (no tensor is marked as made in it):
    ``inference_mode(False)`` turns recording back on inside one, and it decorates with or without parentheses."""

    def __new__(cls, mode=True):
        if callable(mode):  # @inference_mode, without parentheses: mode is the decorated function
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        if not isinstance(mode, bool):
            raise TypeError(f"inference_mode(): argument 'mode' must be bool, not {type(mode).__name__}")
        self.enabled = not mode
