"""The registry itself (``op_registry.py``): every public op has an entry, the names it claims exist, and each
alias (``torch.exp`` for ``Tensor.exp``, ``F.relu`` for ``Tensor.relu`` ...) is the same op as its entry."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from op_registry import (
    KINDS,
    REGISTRY,
    TG,
    make_function,
    make_leaves,
    outputs_of,
    parametrize,
    run,
    to_numpy,
    torch_library,
)
from strategies import examples

import tinygrad_edu
from tinygrad_edu import Tensor
from tinygrad_edu.nn import functional as F

# Public names that are not ops, each with why it has no entry. Everything else public must be in the registry.
NOT_OPS = {
    # what a tensor is: attributes and queries, no tensor result
    **dict.fromkeys(
        ["Tensor.shape", "Tensor.dtype", "Tensor.device", "Tensor.ndim", "Tensor.size", "Tensor.dim", "Tensor.numel"],
        "describes the tensor (test_tensor_api)",
    ),
    **dict.fromkeys(
        ["Tensor.is_contiguous", "Tensor.is_floating_point", "Tensor.is_cuda", "torch.is_tensor", "torch.numel"],
        "a query with a Python result (test_tensor_api)",
    ),
    "Tensor.data": "the same storage outside the graph, PyTorch's legacy .data (test_tensor_api)",
    **dict.fromkeys(["Tensor.equal", "torch.equal"], "a whole-tensor comparison, a Python result (test_tensor_api)"),
    # files, settings and wrappers: no tensor op
    **dict.fromkeys(["torch.save", "torch.load"], "files in PyTorch's format (test_serialization)"),
    **dict.fromkeys(
        ["torch.set_float32_matmul_precision", "torch.get_float32_matmul_precision", "torch.is_autocast_enabled"],
        "a setting (test_autocast)",
    ),
    "torch.compile": "returns the model unchanged: it runs eagerly here (test_names_audit)",
    "Tensor.pin_memory": "memory placement for GPU transfers, no math (test_names_audit)",
    # leaving the engine: Python values and arrays
    **dict.fromkeys(
        ["Tensor.item", "Tensor.tolist", "Tensor.numpy", "Tensor.__float__", "Tensor.__int__", "Tensor.__bool__"],
        "converts to a Python value or an array (test_tensor_api)",
    ),
    "Tensor.__index__": "lets a 0-d integer tensor stand for an int (test_tensor_api)",
    "Tensor.__array__": "numpy.asarray(t): the tensor's array, as numpy() (test_surface_ops)",
    "Tensor.nelement": "the same query as numel, an int (test_surface_ops)",
    "Tensor.__format__": "printing (test_tensor_api)",
    "Tensor.__repr__": "printing (test_tensor_api)",
    "Tensor.__init__": "the constructor, a factory (test_tensor_api)",
    "Tensor.__len__": "Python's len(): the first dim's size (test_tensor_api)",
    "Tensor.__iter__": "Python iteration: each row is x[i], the getitem entry's op (test_tensor_api)",
    # autograd's own API, not a function of the tensor's values
    **dict.fromkeys(
        [
            "Tensor.requires_grad",
            "Tensor.requires_grad_",
            "Tensor.grad",
            "Tensor.grad_fn",
            "Tensor.is_leaf",
            "Tensor.retain_grad",
            "Tensor.retains_grad",
            "Tensor.register_hook",
            "Tensor.zero_grad_",
            "Tensor.backward",
        ],
        "autograd bookkeeping (test_autograd)",
    ),
    "Tensor.detach": "cuts the graph: no gradient by definition (test_autograd)",
    "Tensor.detach_": "cuts the graph in place (test_autograd)",
    "torch.is_grad_enabled": "grad mode (test_autograd)",
    # in-place writes: allowed only outside the graph, so there is no derivative to test (test_tensor_api,
    # test_optim); with requires_grad the augmented operators fall back to the out-of-place ops of the registry
    **dict.fromkeys(
        [
            "Tensor.add_",
            "Tensor.sub_",
            "Tensor.mul_",
            "Tensor.div_",
            "Tensor.lerp_",
            "Tensor.addcmul_",
            "Tensor.addcdiv_",
            "Tensor.clamp_",
            "Tensor.masked_fill_",
            "Tensor.copy_",
            "Tensor.fill_",
            "Tensor.zero_",
            "Tensor.normal_",
            "Tensor.uniform_",
            "Tensor.__setitem__",
            "Tensor.__iadd__",
            "Tensor.__isub__",
            "Tensor.__imul__",
            "Tensor.__itruediv__",
        ],
        "in-place write (test_tensor_api, test_optim)",
    ),
    "Tensor.cuda": "moves to a GPU: the registry's tests run on cuda through the device fixture when one is there",
    # factories: tensors from sizes, data or random draws, no input tensor to differentiate
    **dict.fromkeys(
        [
            "Tensor.new_zeros",
            "Tensor.new_ones",
            "Tensor.new_tensor",
            "torch.tensor",
            "torch.as_tensor",
            "torch.from_numpy",
            "torch.zeros",
            "torch.ones",
            "torch.empty",
            "torch.empty_like",
            "torch.full",
            "torch.eye",
            "torch.arange",
            "torch.linspace",
            "torch.zeros_like",
            "torch.ones_like",
            "torch.full_like",
        ],
        "a factory (test_tensor_api)",
    ),
    **dict.fromkeys(
        [
            "torch.rand",
            "torch.randn",
            "torch.rand_like",
            "torch.randn_like",
            "torch.randint",
            "torch.randperm",
            "torch.normal",
            "torch.multinomial",
            "torch.bernoulli",
            "Tensor.bernoulli",
            "Tensor.bernoulli_",
            "Tensor.random_",
        ],
        "a random factory or in-place fill, PyTorch's CPU numbers bit for bit (test_random_streams)",
    ),
    **dict.fromkeys(
        ["torch.manual_seed", "torch.seed", "torch.get_rng_state", "torch.set_rng_state", "torch.initial_seed"],
        "the random generators' state (test_tensor_api)",
    ),
    "torch.assert_async": "a check of device values that raises, no tensor result (test_cuda_standin)",
}


def public_api() -> set[str]:
    """``Tensor``'s public names and its operator methods (the dunders it defines), and the functions of
    ``tinygrad_edu`` and ``tinygrad_edu.nn.functional`` (classes, modules and dtypes are not ops)."""
    names = {f"Tensor.{n}" for n in dir(Tensor) if not n.startswith("_")}
    names |= {f"Tensor.{n}" for n, v in vars(Tensor).items() if n.startswith("__") and inspect.isfunction(v)}
    names |= {
        f"torch.{n}"
        for n, v in vars(tinygrad_edu).items()
        if not n.startswith("_") and callable(v) and not inspect.isclass(v) and not inspect.ismodule(v)
    }
    names |= {
        f"F.{n}"
        for n, v in vars(F).items()
        if not n.startswith("_") and inspect.isfunction(v) and v.__module__ == F.__name__
    }
    return names


def test_every_public_op_has_a_registry_entry():
    covered = {name for entry in REGISTRY for name in entry.public_names}
    missing = sorted(public_api() - covered - set(NOT_OPS))
    assert not missing, (
        f"public names with no entry in tests/op_registry.py: {missing}. Add an entry (or an alias of an existing "
        "one); if it is not an op, add it to NOT_OPS here with the reason."
    )


def test_registry_and_exclusions_name_only_public_names_and_never_both():
    covered = {name for entry in REGISTRY for name in entry.public_names}
    api = public_api()
    assert not covered - api, f"entries claim names that are not public: {sorted(covered - api)}"
    assert not set(NOT_OPS) - api, f"NOT_OPS lists names that are not public: {sorted(set(NOT_OPS) - api)}"
    assert not covered & set(NOT_OPS), f"both an entry and NOT_OPS: {sorted(covered & set(NOT_OPS))}"


def test_entries_are_consistent():
    names = [e.name for e in REGISTRY]
    assert len(names) == len(set(names)), "entry names must be unique"
    for e in REGISTRY:
        assert e.covers, f"{e.name}: covers names no public function"
        assert set(e.skips) <= set(KINDS), f"{e.name}: unknown test kind"
        if not e.differentiable:
            assert not e.second_derivative_zero_almost_everywhere and e.composition is None, e.name


WITH_ALIASES = tuple(e for e in REGISTRY if e.aliases)


@parametrize(WITH_ALIASES, "aliases")
@examples(3)
@given(data=st.data())
def test_aliases_are_the_same_op(entry, data):
    """Each other spelling gives exactly the entry's values, dtypes and gradients."""
    sample = data.draw(entry.samples, label="sample")
    results = {}
    for name, fn in {entry.name: entry.fn, **entry.alias_fns()}.items():
        leaves = make_leaves(TG, sample, requires_grad=entry.differentiable)
        outputs = outputs_of(make_function(entry, TG, sample, fn=fn)(*leaves))
        if entry.differentiable:
            float_outputs = [o for o in outputs if o.dtype.is_floating_point and o.requires_grad]
            tinygrad_edu.autograd.backward(float_outputs, [o.new_ones(o.shape) * 0.5 for o in float_outputs])
        grads = [None if x.grad is None else to_numpy(x.grad) for x in leaves]
        results[name] = ([(to_numpy(o), str(getattr(o, "dtype", type(o)))) for o in outputs], grads)
    (values, grads) = results.pop(entry.name)
    for name, (alias_values, alias_grads) in results.items():
        assert len(alias_values) == len(values), name
        for (a, dtype_a), (b, dtype_b) in zip(alias_values, values):
            assert dtype_a == dtype_b, f"{name}: dtype {dtype_a}, {entry.name} gives {dtype_b}"
            np.testing.assert_array_equal(a, b, err_msg=name)
        for a, b in zip(alias_grads, grads):
            assert (a is None) == (b is None), name
            if a is not None:
                np.testing.assert_array_equal(a, b, err_msg=f"{name}: gradient")


KNOWN_BUGS = tuple(e for e in REGISTRY if e.known_bug)


# defined only while some entry is marked known_bug (none is today), so that no empty test is collected
if KNOWN_BUGS:

    @pytest.mark.parametrize(
        "entry",
        [pytest.param(e, id=e.name, marks=pytest.mark.xfail(strict=True, reason=e.known_bug)) for e in KNOWN_BUGS],
    )
    @settings(phases=(Phase.generate,), max_examples=2, deadline=None)  # it fails at once: nothing to shrink
    @given(data=st.data())
    def test_known_engine_bugs_are_still_there(entry, data):
        """The entries that the other tests skip for a known engine bug, against their NumPy reference and
        PyTorch: expected to fail. Once the bug is fixed this XPASSes: delete the entry's known_bug."""
        sample = data.draw(entry.samples, label="sample")
        outputs, _ = run(entry, TG, sample)
        if entry.numpy_ref is not None:
            for out, ref in zip(outputs, outputs_of(entry.numpy_ref(*sample.inputs, *sample.args, **sample.kwargs))):
                assert to_numpy(out).shape == np.shape(ref)
                np.testing.assert_allclose(to_numpy(out), ref, rtol=1e-12)
        torch = pytest.importorskip("torch", reason="PyTorch is not installed")
        theirs, _ = run(entry, torch_library(torch), sample)
        for out, ref in zip(outputs, theirs):
            assert to_numpy(out).shape == to_numpy(ref).shape
