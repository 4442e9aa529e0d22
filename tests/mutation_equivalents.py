"""The surviving mutants of the mutation run that are equivalent: each group says why no test can tell the mutant
from the engine (the values, shapes, dtypes, devices and errors the user sees are the same; only time or memory
may differ). ``tests/mutation_report.py`` lists every survivor under its group, and the rest as unexplained.

Names are mutmut's, without the ``tinygrad_edu.`` prefix; a mutant's number changes when its function does, so
a group that names a mutant that no longer survives is simply not printed for it.
"""

from __future__ import annotations


def _names(prefix: str, *numbers: int) -> list[str]:
    return [f"{prefix}__mutmut_{n}" for n in numbers]


EQUIVALENT: dict[str, tuple[str, list[str]]] = {
    "Unused defaults": (
        "a keyword default that no caller uses: every call passes it explicitly (`keepdim=`, `largest=`, "
        "`approximate=`, `k=` of the recorded tril/triu, `ignore_index=` and `reduction=` of the fused loss)",
        [
            *_names("ops.reduce.xǁMeanǁforward", 1),
            *_names("ops.reduce.xǁMaxAlongǁforward", 1, 2),
            *_names("ops.reduce.xǁMaxAllǁforward", 1),
            *_names("ops.reduce.xǁAmaxAlongǁforward", 1, 2),
            *_names("ops.elementwise.xǁGeluǁforward", 1, 2),
            *_names("ops.elementwise.xǁGeluǁcomposite", 1, 2),
            *_names("ops.nn_ops.xǁCrossEntropyǁforward", 1, 2),
            *_names("ops.nn_ops.xǁCrossEntropyǁcomposite", 1, 2),
            *_names("autograd.differentiable.x_tril", 1),
            *_names("autograd.differentiable.x_triu", 1),
            *_names("ops.reduce.xǁSumǁforward", 1),
            *_names("autograd.engine.x_grad", 1, 2),
            *_names("autograd.engine.x_backward", 1, 2),
        ],
    ),
    "Accepted and ignored": (
        "gradgradcheck accepts PyTorch's options that it does not implement and ignores them "
        "(`gen_non_contig_grad_outputs`, `nondet_tol`, `check_undefined_grad`, `check_grad_dtypes`); "
        "a different default is ignored the same way",
        _names("autograd.gradcheck.x_gradgradcheck", 4, 6, 7, 8),
    ),
    "Unneeded work": (
        "a gradient nobody asked for is computed anyway (`need_x or True`), a value saved that backward will not "
        "read, a graph recorded where none is needed, or the backward walk goes further than the targets; the "
        "engine drops what is not needed, so only time and memory are lost; grad mode switched on (or not) around "
        "the backward pass, where each recorded backward (`higher_order._recorded_backward`) switches it on itself",
        [
            *_names("kernels.addmm.xǁLinearAddmmǁforward", 26, 28),
            *_names("ops.elementwise.xǁAddǁbackward", 3, 10),
            *_names("ops.elementwise.xǁSubǁbackward", 3, 10),
            *_names("ops.elementwise.xǁDivǁforward", 6),
            *_names("ops.elementwise.xǁDivǁbackward", 6),
            *_names("ops.elementwise.xǁMulǁforward", 7, 9),
            *_names("ops.elementwise.xǁMaximumǁbackward", 8, 30),
            *_names("ops.nn_ops.xǁLinearǁforward", 24, 26),
            *_names("ops.nn_ops.xǁLinearǁbackward", 20, 30),
            *_names("ops.nn_ops.xǁLayerNormǁbackward", 9, 14, 16),  # renumbered: rerun of 2026-12-08
            *_names("ops.movement.xǁWhereǁbackward", 4, 18),
            *_names("ops.nn_ops.xǁCrossEntropyǁforward", 89),
            *_names("autograd.function.xǁFunctionǁbackward_on_tensors", 20, 31),
            *_names("autograd.higher_order.x__composite_backward", 3, 9, 40, 46, 49),
            *_names("autograd.engine.x_grad", 9, 15),
            *_names("autograd.engine.x__ops_leading_to", 5, 14),
            *_names("autograd.gradcheck.x__op_names", 5, 8, 9),
            *_names("autograd.differentiable.x_broadcast_to", 1),
            *_names("autograd.engine.x_topological_order", 24),
            *_names("autograd.engine.x__run", 9, 16, 28, 32, 34, 35, 36, 37, 48, 83, 84),
        ],
    ),
    "Memory only": (
        "`astype(copy=...)`, `exp(out=...)` and the like decide whether a buffer is reused or copied, not the values; "
        "`release` drops a node's references so memory can go, and None drops them as well as an empty tuple",
        [
            *_names("ops.elementwise.x_erf", 2, 4, 7),
            *_names("ops.elementwise.xǁSigmoidǁforward", 8, 10, 26),
            *_names("ops.elementwise.xǁClampǁforward", 4, 6, 13),
            *_names("ops.nn_ops.xǁSoftmaxǁforward", 56, 58),
            *_names("autograd.x_grad", 75, 77, 78),
            *_names("autograd.functional.x__grad", 47, 49, 50),
            *_names("autograd.gradcheck.x_gradcheck", 26, 28, 30),
            *_names("autograd.gradcheck.x__same_layout", 67, 70),
            *_names("autograd.gradcheck.x__analytic_vjp", 25, 26),
            *_names("autograd.engine.x__store_grad", 21),
            *_names("autograd.engine.x_seed_for", 30, 32, 33),
            *_names("autograd.graph.x_release", 1, 2),
        ],
    ),
    "Branches that agree at the boundary": (
        "the two branches give the same value at the boundary: σ(0) = 1/(1+1) = e⁰/(1+e⁰), Φ's left tail at 0 is "
        "½ = 1 - ½, and `>=` against `>` in gradcheck's fast comparison differs only at exact equality",
        [
            *_names("ops.elementwise.xǁSigmoidǁforward", 17),
            *_names("autograd.gradcheck.x__check_fast", 31),
            *_names("autograd.gradcheck.x_gradcheck", 99, 118),
        ],
    ),
    "The same dtype either way": (
        "`kernels.applies` checks that its arrays share one float dtype, and the arrays of these calls always do; "
        "a count cast to float64 instead of the input's dtype, or a mask made of floats instead of booleans, gives "
        "the same result, since the engine casts every gradient to its input's dtype",
        [
            *_names("ops.elementwise.xǁGeluǁbackward", 38, 39, 40),
            *_names("ops.nn_ops.xǁSoftmaxǁbackward", 12, 13),
            *_names("ops.nn_ops.xǁSoftmaxǁforward", 40, 42),
            *_names("ops.nn_ops.xǁLayerNormǁforward", 14),
            *_names("ops.nn_ops.xǁCrossEntropyǁbackward", 8, 9, 17, 56),
            *_names("ops.nn_ops.xǁCrossEntropyǁcomposite", 30),
            *_names("ops.reduce.xǁMaxAllǁforward", 11),
            *_names("ops.reduce.xǁAmaxAlongǁforward", 22),
            *_names("ops.movement.xǁScatterAddǁforward", 5, 7),
        ],
    ),
    "Two casts in series": (
        "a gradient seed of another dtype is cast to its output's (`seed_for`), and each result is cast to its "
        "input's dtype again at the end (`autograd.grad`, `_store_grad`): every op keeps its dtype in between, so "
        "removing or inverting either cast leaves the other to do the same work",
        [
            *_names("autograd.engine.x_seed_for", 25, 26, 27, 28, 29),
            *_names("autograd.engine.x__store_grad", 1, 2, 3, 9, 10, 11),
            *_names("autograd.x_grad", 65, 66, 67, 68),
        ],
    ),
    "Another path to the same values": (
        "the choice between two implementations of the same function (batched matmul as one 2-D product or not, "
        "the float32 Φ in cache-sized blocks or in one pass, scatter with or without accumulation where every "
        "position is unique): every element gets the same value",
        [
            *_names("ops.movement.xǁSplitǁbackward", 2, 19, 25),  # concatenate or scatter into disjoint slices
            *_names("ops.reduce.xǁMatMulǁforward", 14, 21, 22),
            *_names("ops.reduce.xǁMatMulǁbackward", 22, 23),
            *_names("ops.reduce.xǁMaxAlongǁbackward", 7, 13),
            *_names("autograd.gradcheck.x__same_layout", 44, 47),
            *_names("ops.movement.x__has_integer_array", 16),
        ],
    ),
    "NumPy's lenient spellings": (
        "NumPy accepts the mutated spelling with the same meaning: `reshape(-2)` is `reshape(-1)` (any negative "
        "size is the unknown one), `reshape(None)` keeps the shape, `kind='STABLE'` is `'stable'`, a float "
        "`ones(1)` concatenated with booleans gives the same `flatnonzero`, `reduceat`'s axis is 0 by default, "
        "`'XXiuXX'` contains `'i'` and `'u'`, a flag of None is as false as False, `dtype=None` and `astype(None)` "
        "mean float64, the dtype gradcheck passes anyway",
        [
            *_names("kernels.addmm.xǁLinearAddmmǁforward", 17),
            *_names("ops.reduce.xǁMatMulǁforward", 33),
            *_names("ops.reduce.xǁMatMulǁbackward", 32, 40),
            *_names("ops.nn_ops.xǁLinearǁforward", 11),
            *_names("ops.nn_ops.xǁLinearǁbackward", 9, 26),
            *_names("ops.nn_ops.xǁLayerNormǁforward", 36),
            *_names("ops.nn_ops.xǁLayerNormǁbackward", 36),
            *_names("ops.movement.x__has_integer_array", 14),
            *_names("autograd.differentiable.x_tril", 4),
            *_names("ops.movement.x_index_on_device", 26, 39),
            *_names("autograd.gradcheck.x_gradcheck", 25),
            *_names("autograd.gradcheck.x__float64_copy", 11),
            *_names("autograd.gradcheck.x__same_layout", 2, 49, 63, 65),
            *_names("autograd.gradcheck.x__analytic_vjp", 24, 32, 34),
            *_names("autograd.graph.x_saved_as_tensors", 32),
            *_names("autograd.graph.x__apply", 79),
        ],
    ),
    "An in-place product keeps its dtype": (
        "`grad_x *= scale` writes into grad_x, which keeps its own dtype whatever scale's is (the count cast to "
        "the gradient's dtype, or to float64), and a count of rows is exact in either",
        _names("ops.nn_ops.xǁCrossEntropyǁbackward", 17),
    ),
    "Markers that match nothing either way": (
        "the fused cross-entropy kernels take an ignore marker, and the op passes them targets whose ignored rows "
        "were already replaced by 0 (and zeroed after): -1, -2 and None all match no row",
        [
            *_names("ops.nn_ops.xǁCrossEntropyǁforward", 39, 44),
            *_names("ops.nn_ops.xǁCrossEntropyǁbackward", 34, 41),
        ],
    ),
    "Values that cannot differ": (
        "dropout with p = 1 keeps nothing, so x·0·scale is 0 whatever the scale; a mean over no rows is nan, and "
        "`float32(None)` is nan too; the error message reads the first bad index of one or of two; a shape "
        "default is read only for an operand that needs no gradient (a Python number); an inverse permutation "
        "overwrites every entry of its initial list; an array a hook returns is a NumPy array, on the CPU, the "
        "device new_tensor takes when none is named; a positive stride that is a multiple of a float's size is at "
        "least 2",
        [
            *_names("ops.nn_ops.xǁDropoutǁforward", 14),
            *_names("ops.nn_ops.xǁCrossEntropyǁforward", 122),
            *_names("ops.movement.x_check_range", 7),
            *_names("ops.movement.xǁWhereǁforward", 5, 13),
            *_names("ops.elementwise.x__shape", 3, 6),
            *_names("autograd.engine.x__run_hooks", 16),
            *_names("ops.movement.xǁPermuteǁbackward", 3),
            *_names("autograd.gradcheck.x__same_layout", 33),
        ],
    ),
    "Not read by the ops a backward runs": (
        "an op run inside a backward (`ctx.run`) is never recorded, and the ops run that way (ScatterAdd, Index, "
        "Expand, ToDevice) do not read `needs_input_grad` in forward",
        _names("ops.op.xǁOpǁrun", 3, 5),
    ),
    "Guarded earlier": (
        "the engine refuses a gradient of the wrong shape before gradcheck compares it (`_check_grad_shape`), so "
        "gradcheck's own shape check never fails; a function without ops has a zero second derivative, so "
        "gradgradcheck never names 'none' in a failure; saved tensors hold arrays, NumPy scalars and None, and None "
        "has no dtype, so the conditions before `.dtype` are never both false; every op has a Tensor among its "
        "arguments, so a device is always found; binary ops check their operands' devices before the op is applied "
        "(`promotion.py`), so `_common_device`'s own message, which names the op, is not reached through them",
        [
            *_names("autograd.gradcheck.x_gradcheck", 59, 60, 61, 62, 63),
            *_names("autograd.gradcheck.x_gradgradcheck", 148, 149),
            *_names("autograd.graph.x_saved_as_tensors", 21, 22),
            *_names("autograd.graph.x__apply", 5),
        ],
    ),
    "Attributes that exist": (
        "`getattr(..., default)` with the default dropped: NumPy, CuPy and the stand-in all have `lib.stride_tricks."
        "as_strided`, so the default is never used",
        _names("autograd.gradcheck.x__same_layout", 11, 16, 21),
    ),
    "A size-1 dim's stride is free": (
        "a dim of size 1 is never stepped along, so its stride, whatever it is, leaves the copy's values, and the "
        "strides the op sees along every other dim, unchanged",
        _names("autograd.gradcheck.x__same_layout", 41, 52, 54, 56),
    ),
    "Random draws": (
        "another seed for gradgradcheck's random grad_outputs, or one shared direction for all elements in "
        "gradcheck's fast mode: a different random probe of the same derivatives",
        [
            *_names("autograd.gradcheck.x_gradgradcheck", 35),
            *_names("autograd.gradcheck.x__check_fast", 2),
            *_names("autograd.gradcheck.x_gradcheck", 6),
        ],
    ),
    "Copies thrown away": (
        "gradcheck perturbs float64 copies of the inputs; restoring a copy to None (nan) after the last evaluation "
        "changes nothing anyone reads; a None first derivative is skipped by the check as zeros are",
        [*_names("autograd.gradcheck.x__check_fast", 19), *_names("autograd.gradcheck.x_gradgradcheck", 105)],
    ),
    "The inner check's own defaults": (
        "gradgradcheck's inner gradcheck is given `raise_exception=True`, its default; without `fast_mode=`, "
        "slow mode gives the same verdict",
        _names("autograd.gradcheck.x_gradgradcheck", 119, 126, 127),
    ),
    "Set before mutmut forks": (
        "`use_tensor_type` runs once, when tinygrad_edu is imported, and grad mode's thread-local default is read "
        "only in a thread that never set the mode; mutmut's forked children inherit both from the process that ran "
        "the tests, so no test in a child can see them mutated (in a fresh process the three grad-mode mutants are "
        "killed: `MUTANT_UNDER_TEST=<name> python -m pytest tests/test_autograd.py` from `mutants/`)",
        [*_names("autograd.graph.x_use_tensor_type", 1, 2), *_names("autograd.grad_mode.x_is_grad_enabled", 3, 6, 9)],
    ),
    "Only ToDevice moves data": (
        "`output_device` is set by ToDevice alone, which saves no output, so the recreated handle of a collected "
        "output always takes the op's device",
        _names("autograd.graph.x_output_tensor", 9, 15, 16),
    ),
    "Detached or not, under no_grad": (
        "a Function's forward runs under no_grad, so its inputs record nothing whether detached or not; a vector "
        "v stays out of the graph without create_graph whether it is detached or viewed",
        [
            *_names("autograd.functional.x__constant_unless_graph", 3, 5),
        ],
    ),
    "Single-output composites": (
        "every composite returns one Tensor, and every output of a composite receives a gradient, so wrapping the "
        "output in a tuple again or keeping a None gradient never happens",
        _names("autograd.higher_order.x__composite_backward", 19, 26),
    ),
}
