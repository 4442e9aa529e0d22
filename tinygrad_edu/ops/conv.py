"""Convolution (PyTorch's ``conv1d`` and ``conv2d``, which are cross-correlations) as one op, forward over backward.

The plain way to write it: cut every window the filter slides over out of the zero-padded input
(``as_strided``: a view, no copy), lay the windows out as rows of a matrix ("im2col"), and take one matrix
product with the filters (the weight, one per output channel). Backward is the same bookkeeping read backwards:
the weight's gradient is one more matrix product, and the input's gradient spreads each window's gradient back
to the positions it was read from ("col2im"). Shapes: ``x`` is (N, C_in, *L) and ``weight`` (C_out, C_in /
groups, *K), for 1 or 2 spatial axes L and K. ``padding`` is one (before, after) pair per spatial axis, as
``F.conv*`` has resolved it ('same' may pad one side more than the other).
"""

from __future__ import annotations

import itertools
import math

from .op import Op


class Convolution(Op):
    """out = b + W·window(x): dW = Σ grad·window(x)ᵀ, dwindow(x) = Wᵀ·grad (col2im adds it back to x), db = Σ grad

    Written out: out[n,o,p] = b[o] + Σ_{c,k} w[o,c,k] · x_pad[n, g·C_g + c, p·s + k·d], where g is output channel
    o's group, s the stride and d the dilation; every x_pad element receives the sum of w·grad over the windows
    that read it."""

    @staticmethod
    def forward(ctx, x, weight, bias=None, *, stride, padding, dilation, groups):
        xp = ctx.xp
        n, spatial = x.shape[0], len(stride)
        filter_shape = weight.shape[2:]
        padded = xp.pad(x, ((0, 0), (0, 0), *padding))
        positions = tuple(
            (size - d * (k - 1) - 1) // s + 1 for size, k, d, s in zip(padded.shape[2:], filter_shape, dilation, stride)
        )
        # every window as a view of the padded input, no copy: window p, filter element k sits at p·s + k·d
        # along each spatial axis, so those two axes step stride·(the axis's step) and dilation·(its step)
        steps = padded.strides[2:]
        windows = xp.lib.stride_tricks.as_strided(
            padded,
            (*padded.shape[:2], *positions, *filter_shape),
            (
                *padded.strides[:2],
                *(s * step for s, step in zip(stride, steps)),
                *(d * step for d, step in zip(dilation, steps)),
            ),
        )  # (N, C, *P, *K)
        columns = as_columns(windows, groups)  # (G, N·P, C_g·K): one row per window, in each group
        filters = group_filters(weight, groups)  # (G, O_g, C_g·K)
        out = columns @ filters.swapaxes(1, 2)  # (G, N·P, O_g): the one matrix product
        out = out.reshape(groups, n, *positions, filters.shape[1])
        out = out.transpose(1, 0, 2 + spatial, *range(2, 2 + spatial)).reshape(n, weight.shape[0], *positions)
        if bias is not None:
            out = out + bias.reshape(bias.shape[0], *(1,) * spatial)
        ctx.geometry = (x.shape, weight.shape, padded.shape, positions, stride, padding, dilation, groups)
        need_x, need_w, _ = ctx.needs_input_grad
        ctx.save_for_backward(columns if need_w else None, weight if need_x else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        columns, weight = ctx.saved_tensors
        x_shape, weight_shape, padded_shape, positions, stride, padding, dilation, groups = ctx.geometry
        need_x, need_w, need_b = ctx.needs_input_grad
        n, spatial, c_out = x_shape[0], len(stride), grad.shape[1]
        n_positions = math.prod(positions)
        # grad (N, O, *P) -> (G, N·P, O_g), the layout of the forward's product
        grad_rows = grad.reshape(n, groups, c_out // groups, n_positions).transpose(1, 0, 3, 2)
        grad_rows = grad_rows.reshape(groups, n * n_positions, c_out // groups)
        grad_b = grad.sum(axis=(0, *range(2, 2 + spatial))) if need_b else None
        grad_w = None
        if need_w:
            grad_w = (grad_rows.swapaxes(1, 2) @ columns).reshape(weight_shape)
        grad_x = None
        if need_x:
            filter_shape = weight.shape[2:]
            c_group = weight.shape[1]
            grad_columns = grad_rows @ group_filters(weight, groups)  # (G, N·P, C_g·K)
            grad_columns = grad_columns.reshape(groups, n, *positions, c_group, *filter_shape)
            order = (1, 0, 2 + spatial, *range(2, 2 + spatial), *range(3 + spatial, 3 + 2 * spatial))
            grad_windows = grad_columns.transpose(order).reshape(n, groups * c_group, *positions, *filter_shape)
            # col2im: each filter offset read a strided slice of the padded input; hand its gradient back there
            grad_padded = xp.zeros(padded_shape, dtype=grad.dtype)
            for offset in itertools.product(*(range(k) for k in filter_shape)):
                where = tuple(
                    slice(k * d, k * d + s * (p - 1) + 1, s) for k, d, s, p in zip(offset, dilation, stride, positions)
                )
                grad_padded[(slice(None), slice(None), *where)] += grad_windows[(Ellipsis, *offset)]
            crop = tuple(slice(before, size - after) for (before, after), size in zip(padding, padded_shape[2:]))
            grad_x = grad_padded[(slice(None), slice(None), *crop)]
        return grad_x, grad_w, grad_b

    @staticmethod
    def composite(x, weight, bias=None, *, stride, padding, dilation, groups):
        """The same sum from Tensor matmuls (backward reads the forward's windows, so higher-order gradients
        differentiate this): for each filter offset, the input positions it reads are picked by a 0/1 matrix
        per spatial axis (which also does the zero padding), then contracted with that offset's weights."""
        n, c_out, spatial = x.shape[0], weight.shape[0], len(stride)
        c_group, o_group = weight.shape[1], c_out // groups
        filter_shape = weight.shape[2:]
        lengths = x.shape[2:]
        positions = tuple(
            (length + before + after - d * (k - 1) - 1) // s + 1
            for length, (before, after), d, k, s in zip(lengths, padding, dilation, filter_shape, stride)
        )
        n_positions = math.prod(positions)
        out = None
        for offset in itertools.product(*(range(k) for k in filter_shape)):
            picked = x
            for axis in range(spatial):  # bring the axis last, contract it with its picking matrix, put it back
                before, length = padding[axis][0], lengths[axis]
                read = [p * stride[axis] + offset[axis] * dilation[axis] - before for p in range(positions[axis])]
                pick = [[1.0 if r == j else 0.0 for r in read] for j in range(length)]  # (L, P): a 0/1 matrix
                rotate = 2 + axis != x.ndim - 1
                picked = picked.transpose(-1, 2 + axis) if rotate else picked
                picked = picked @ x.new_tensor(pick)
                picked = picked.transpose(-1, 2 + axis) if rotate else picked
            # (N, G·C_g, *P) · w[:, :, offset] (G·O_g, C_g) -> (N, G·O_g, *P), group by group
            rows = picked.reshape(n, groups, c_group, n_positions).permute(1, 0, 3, 2)  # (G, N, P, C_g)
            w = weight[(slice(None), slice(None), *offset)].reshape(groups, 1, o_group, c_group).transpose(-1, -2)
            term = rows @ w  # (G, N, P, O_g)
            out = term if out is None else out + term
        out = out.permute(1, 0, 3, 2).reshape(n, c_out, *positions)
        return out + bias.reshape(c_out, *(1,) * spatial) if bias is not None else out


def as_columns(windows, groups):
    """(N, C, *P, *K) windows -> (G, N·P, C_g·K): one row per window position, one matrix per group."""
    n, channels = windows.shape[:2]
    spatial = (windows.ndim - 2) // 2
    positions, filter_shape = windows.shape[2 : 2 + spatial], windows.shape[2 + spatial :]
    c_group = channels // groups
    grouped = windows.reshape(n, groups, c_group, *positions, *filter_shape)
    order = (1, 0, *range(3, 3 + spatial), 2, *range(3 + spatial, 3 + 2 * spatial))
    return grouped.transpose(order).reshape(groups, n * math.prod(positions), c_group * math.prod(filter_shape))


def group_filters(weight, groups):
    """(O, C_g, *K) -> (G, O_g, C_g·K)."""
    return weight.reshape(groups, weight.shape[0] // groups, math.prod(weight.shape[1:]))
