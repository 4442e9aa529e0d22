"""One parameter group's parameters, gradients and Adam moments, each laid end to end in one flat array.

A multi-tensor step: the update of every parameter in the group is one compiled pass over four flat arrays
(``kernels/adam.py``, run by ``fused.adam_group_`` for ``optim/adam.py``), instead of one kernel call, with its
Python and dispatch cost, per parameter tensor.
Each parameter (and each moment Tensor in the optimizer's state) keeps its own Tensor object and shape, but
its array becomes a view of its slice of the flat buffer, so the model, ``state_dict`` and checkpoints see no
difference. Gradients are gathered into the flat gradient buffer before each step: the engine makes a new
gradient array per backward, and gathering them costs one copy of the parameters' size.

Whatever rebinds an array behind the buffer's back (``p.data = ...``, ``optimizer.load_state_dict``) is seen
by ``still_bound``, an identity check per tensor, and the buffer is built again from the tensors' current
values; a group that ``fits`` does not (two dtypes, two devices, parameters sharing memory) steps per parameter.
"""

from __future__ import annotations


class FlatGroup:
    """The flat arrays of one parameter group, and the slice of each tensor in them."""

    def __init__(self, params, states):
        xp, dtype = params[0]._xp, params[0]._data.dtype
        sizes = [p._data.size for p in params]
        total = sum(sizes)
        self.param, self.grad = xp.empty(total, dtype), xp.empty(total, dtype)
        self.exp_avg, self.exp_avg_sq = xp.empty(total, dtype), xp.empty(total, dtype)
        self.slices = []
        start = 0
        for p, state, size in zip(params, states, sizes):
            where = slice(start, start + size)
            start += size
            self.slices.append(where)
            pairs = ((self.param, p), (self.exp_avg, state["exp_avg"]), (self.exp_avg_sq, state["exp_avg_sq"]))
            for flat, tensor in pairs:
                view = flat[where].reshape(tensor._data.shape)
                xp.copyto(view, tensor._data)
                tensor._data = view  # the same Tensor, its values now living in the flat buffer
        self._bound = [(p._data, s["exp_avg"]._data, s["exp_avg_sq"]._data) for p, s in zip(params, states)]

    @staticmethod
    def fits(params) -> bool:
        """One device and one dtype, parameters and gradients alike, and no two parameters sharing memory (the
        flat buffer would give each its own copy, and an update of one would no longer show in the other)."""
        xp, dtype = params[0]._xp, params[0]._data.dtype
        if not all(p._xp is xp and p._data.dtype == dtype and p.grad._data.dtype == dtype for p in params):
            return False
        arrays = [p._data for p in params]
        return not any(xp.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1 :])

    def still_bound(self, params, states) -> bool:
        """True while every parameter and moment still reads its slice of the flat buffers."""
        if len(params) != len(self._bound):
            return False
        return all(
            p._data is arrays[0] and s["exp_avg"]._data is arrays[1] and s["exp_avg_sq"]._data is arrays[2]
            for p, s, arrays in zip(params, states, self._bound)
        )

    def gather_grads(self, params) -> None:
        xp = params[0]._xp
        for p, where in zip(params, self.slices):
            xp.copyto(self.grad[where].reshape(p.grad._data.shape), p.grad._data)
