"""Recurrent layers: ``RNN``, ``GRU``, ``LSTM`` and their one-step cells, with PyTorch's parameter names, gate
order and shapes, so that a PyTorch state_dict loads into them.

Each is built from Tensor ops that autograd already differentiates (``F.linear``, ``sigmoid``, ``tanh``, ``*``,
``+``): the backward pass through time is the engine's ordinary backward over the unrolled loop, no new op.
The input's projection ``W_ih·x_t + b_ih`` is taken for all time steps in one product; only ``W_hh·h`` waits
for the previous step.
"""

from __future__ import annotations

import math
import numbers

from .. import factories
from . import functional as F
from . import init
from .module import Module, Parameter

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}  # how many blocks of hidden_size rows W_ih has


# -- one time step of each kind: ``projected`` is W_ih·x_t + b_ih, already computed ------------------------


def rnn_step(projected, h, weight_hh, bias_hh, nonlinearity: str):
    """h' = tanh(W_ih·x + b_ih + W_hh·h + b_hh) (or relu)."""
    pre = projected + F.linear(h, weight_hh, bias_hh)
    return pre.tanh() if nonlinearity == "tanh" else pre.relu()


def lstm_step(projected, state, weight_hh, bias_hh):
    """Gates i, f, g, o in PyTorch's order: c' = σ(f)·c + σ(i)·tanh(g), h' = σ(o)·tanh(c')."""
    h, c = state
    i, f, g, o = (projected + F.linear(h, weight_hh, bias_hh)).chunk(4, -1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def gru_step(projected, h, weight_hh, bias_hh):
    """Gates r, z, n in PyTorch's order: r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r·(W_hn·h + b_hn)),
    h' = (1 - z)·n + z·h. The reset gate multiplies W_hn·h + b_hn, bias included, as PyTorch (and cuDNN) do."""
    x_r, x_z, x_n = projected.chunk(3, -1)
    h_r, h_z, h_n = F.linear(h, weight_hh, bias_hh).chunk(3, -1)
    r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return (1 - z) * n + z * h


def _check_sizes(input_size, hidden_size) -> None:
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
    if hidden_size <= 0:
        raise ValueError("hidden_size must be greater than zero")


class RNNBase(Module):
    """The shared body of RNN, LSTM and GRU: parameters per layer and direction, the loop over time and layers.

    Input (L, N, H_in), or (N, L, H_in) with ``batch_first``, or unbatched (L, H_in). Output (L, N, D·H) with
    D = 2 if ``bidirectional``: every step's last-layer hidden state, both directions side by side; and the
    final hidden state of every layer and direction, (num_layers·D, N, H)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        _check_sizes(input_size, hidden_size)
        if not isinstance(num_layers, numbers.Integral) or num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout <= 1:
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"
            )
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, float(dropout), bidirectional
        directions = 2 if bidirectional else 1
        rows = GATES[mode] * hidden_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                setattr(
                    self,
                    "weight_ih" + suffix,
                    Parameter(factories.empty(rows, layer_input, device=device, dtype=dtype)),
                )
                setattr(
                    self,
                    "weight_hh" + suffix,
                    Parameter(factories.empty(rows, hidden_size, device=device, dtype=dtype)),
                )
                if bias:
                    setattr(self, "bias_ih" + suffix, Parameter(factories.empty(rows, device=device, dtype=dtype)))
                    setattr(self, "bias_hh" + suffix, Parameter(factories.empty(rows, device=device, dtype=dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias U(-1/√hidden_size, 1/√hidden_size), PyTorch's default."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, layer: int, direction: int) -> tuple:
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        bias = (getattr(self, "bias_ih" + suffix), getattr(self, "bias_hh" + suffix)) if self.bias else (None, None)
        return getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix), *bias

    def _step(self, projected, state, weight_hh, bias_hh):
        raise NotImplementedError

    def _initial_state(self, hx, batch: int, unbatched: bool, like):
        """``hx`` as a list of one state per layer and direction (zeros when not given)."""
        expected = (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)
        if hx is None:
            zeros = factories.zeros(*expected, dtype=like.dtype, device=like.device)
            return list(zeros.split(1, 0)) if expected[0] else []
        wanted = (expected[0], expected[2]) if unbatched else expected
        if tuple(hx.shape) != wanted:
            raise RuntimeError(f"Expected hidden size {wanted}, got {list(hx.shape)}")
        if hx.dtype != like.dtype:
            raise RuntimeError(
                f"input and hidden tensors are not the same dtype, found input tensor with {like.dtype} "
                f"and hidden tensor with {hx.dtype}"
            )
        return list((hx.unsqueeze(1) if unbatched else hx).split(1, 0))

    def _states(self, hx, batch, unbatched, like):
        """Per layer and direction, the state ``_step`` carries: h (or (h, c) for the LSTM)."""
        return [s.squeeze(0) for s in self._initial_state(hx, batch, unbatched, like)]

    @staticmethod
    def _hidden(state):
        return state

    def _finals(self, finals, unbatched):
        h_n = factories.stack(finals, 0)
        return h_n.squeeze(1) if unbatched else h_n

    def forward(self, input, hx=None):
        if input.dim() not in (2, 3):
            raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.dim()}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {input.shape[-1]}"
            )
        unbatched = input.dim() == 2
        x = input.unsqueeze(1) if unbatched else input.transpose(0, 1) if self.batch_first else input  # (L, N, H_in)
        length, batch = x.shape[0], x.shape[1]
        if length == 0:
            raise RuntimeError(f"{type(self).__name__}: the input has no time steps (sequence length 0)")
        states = self._states(hx, batch, unbatched, x)
        directions = 2 if self.bidirectional else 1
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                weight_ih, weight_hh, bias_ih, bias_hh = self._weights(layer, direction)
                projected = F.linear(x, weight_ih, bias_ih).split(1, 0)  # W_ih·x_t + b_ih for every t at once
                state = states[layer * directions + direction]
                hidden = [None] * length
                for t in reversed(range(length)) if direction else range(length):
                    state = self._step(projected[t].squeeze(0), state, weight_hh, bias_hh)
                    hidden[t] = self._hidden(state)
                outputs.append(factories.stack(hidden, 0))
                finals.append(state)
            x = factories.cat(outputs, 2) if directions == 2 else outputs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:  # between layers, not after the last
                x = F.dropout(x, self.dropout, True)
        output = x.squeeze(1) if unbatched else x.transpose(0, 1) if self.batch_first else x
        return output, self._finals(finals, unbatched)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        return text + (", bidirectional=True" if self.bidirectional else "")


class RNN(RNNBase):
    """h_t = tanh(W_ih·x_t + b_ih + W_hh·h_{t-1} + b_hh) (``nonlinearity='relu'``: relu). Returns (output, h_n)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(
            mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype
        )
        self.nonlinearity = nonlinearity

    def _step(self, projected, state, weight_hh, bias_hh):
        return rnn_step(projected, state, weight_hh, bias_hh, self.nonlinearity)


class GRU(RNNBase):
    """The gated recurrent unit (gates r, z, n as ``gru_step``). Returns (output, h_n)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype
        )

    def _step(self, projected, state, weight_hh, bias_hh):
        return gru_step(projected, state, weight_hh, bias_hh)


class LSTM(RNNBase):
    """Long short-term memory (gates i, f, g, o as ``lstm_step``). Takes and returns the state as (h, c):
    returns (output, (h_n, c_n))."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ):
        if proj_size:
            raise NotImplementedError(f"LSTM: proj_size is not supported (got proj_size={proj_size}); leave it 0")
        super().__init__(
            "LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype
        )
        self.proj_size = 0

    def _step(self, projected, state, weight_hh, bias_hh):
        return lstm_step(projected, state, weight_hh, bias_hh)

    def _states(self, hx, batch, unbatched, like):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise RuntimeError("LSTM: the initial state must be a tuple (h_0, c_0)")
        h0, c0 = (None, None) if hx is None else hx
        hs = self._initial_state(h0, batch, unbatched, like)
        cs = self._initial_state(c0, batch, unbatched, like)
        return [(h.squeeze(0), c.squeeze(0)) for h, c in zip(hs, cs)]

    @staticmethod
    def _hidden(state):
        return state[0]

    def _finals(self, finals, unbatched):
        h_n, c_n = factories.stack([h for h, _ in finals], 0), factories.stack([c for _, c in finals], 0)
        return (h_n.squeeze(1), c_n.squeeze(1)) if unbatched else (h_n, c_n)


class RNNCellBase(Module):
    """One step: weight_ih (G·H, H_in), weight_hh (G·H, H), bias_ih and bias_hh (G·H), all U(-1/√H, 1/√H).
    Input (N, H_in) or unbatched (H_in,)."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        _check_sizes(input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        rows = self.gates * hidden_size
        self.weight_ih = Parameter(factories.empty(rows, input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(factories.empty(rows, hidden_size, device=device, dtype=dtype))
        self.bias_ih = Parameter(factories.empty(rows, device=device, dtype=dtype)) if bias else None
        self.bias_hh = Parameter(factories.empty(rows, device=device, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _batched(self, input, hx):
        """(input as (N, H_in), hx as (N, H) or zeros, whether the input was unbatched)."""
        if input.dim() not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[-1]} expected {self.input_size}")
        unbatched = input.dim() == 1
        x = input.unsqueeze(0) if unbatched else input
        if hx is None:
            return x, factories.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device), unbatched
        h = hx.unsqueeze(0) if unbatched else hx
        if tuple(h.shape) != (x.shape[0], self.hidden_size):
            raise RuntimeError(
                f"hidden has inconsistent shape: got {list(hx.shape)}, expected "
                f"{[self.hidden_size] if unbatched else [x.shape[0], self.hidden_size]}"
            )
        return x, h, unbatched

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", device=None, dtype=None
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, h, unbatched = self._batched(input, hx)
        h = rnn_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh, self.nonlinearity)
        return h.squeeze(0) if unbatched else h


class GRUCell(RNNCellBase):
    gates = 3

    def forward(self, input, hx=None):
        x, h, unbatched = self._batched(input, hx)
        h = gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return h.squeeze(0) if unbatched else h


class LSTMCell(RNNCellBase):
    """Takes and returns the state as (h, c)."""

    gates = 4

    def forward(self, input, hx=None):
        h0, c0 = (None, None) if hx is None else hx
        x, h, unbatched = self._batched(input, h0)
        _, c, _ = self._batched(input, c0)
        h, c = lstm_step(F.linear(x, self.weight_ih, self.bias_ih), (h, c), self.weight_hh, self.bias_hh)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)
