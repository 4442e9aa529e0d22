"""Every public torch name that the Zero-to-Hero series' code calls, checked here against PyTorch.

The names were read from micrograd's ``test/test_engine.py`` and its lecture notebook's one torch cell, the
stored makemore lecture notebooks (nn-zero-to-hero's ``lectures/makemore``, parts 1-5: bigrams, MLP, batch norm,
backprop ninja, WaveNet), the ``torch.nn`` counterparts those lectures show beside their hand-written layers,
``makemore.py``, ng-video-lecture's ``bigram.py`` and ``gpt.py``, and nanoGPT's ``model.py``, ``train.py`` and
``sample.py``. For each:

- a function or class whose signature both libraries expose to ``inspect``: the same parameter names in the same
  order (private ``_x`` parameters and ``*args``/``**kwargs`` aside), apart from the omissions listed with a reason;
- otherwise a call as the series makes it, in both libraries, with the same result (values, dtype, shape);
- ``BEING_ADDED``: names not here yet, each with what it is; expected to fail until written (xfail, not strict:
  they pass as soon as they are, and then move out of the list);
- ``NOT_PROVIDED``: names deliberately left out, each raising NotImplementedError that names what to use instead.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest

import tinygrad_edu as tg

# -- the names, by where the series uses them ------------------------------------------------------------------

MICROGRAD = ["torch.Tensor", "Tensor.double", "Tensor.relu", "Tensor.tanh", "Tensor.exp", "Tensor.item",
             "Tensor.backward", "Tensor.data", "Tensor.grad", "Tensor.requires_grad"]  # fmt: skip
MAKEMORE_NOTEBOOKS = [  # what the stored notebooks' code cells call (their layers are hand-written classes)
    "torch.zeros", "torch.ones", "torch.tensor", "torch.int32", "torch.Generator", "torch.manual_seed",
    "torch.rand", "torch.randn", "torch.multinomial", "torch.randint", "torch.arange", "torch.linspace",
    "torch.tanh", "torch.log", "torch.sqrt", "torch.all", "torch.allclose", "torch.no_grad", "torch.zeros_like",
    "torch.ones_like", "torch.histogram", "torch.nn.functional.one_hot", "torch.nn.functional.cross_entropy",
    "torch.nn.functional.softmax",
    "Tensor.float", "Tensor.sum", "Tensor.mean", "Tensor.std", "Tensor.var", "Tensor.max", "Tensor.log",
    "Tensor.log10", "Tensor.exp", "Tensor.pow", "Tensor.abs", "Tensor.view", "Tensor.shape", "Tensor.nelement",
    "Tensor.retain_grad", "Tensor.T", "Tensor.squeeze", "Tensor.item", "Tensor.data", "Tensor.grad",
    "Tensor.requires_grad", "Tensor.backward", "Tensor.clone", "Tensor.detach", "Tensor.ndim", "Tensor.dtype",
]  # fmt: skip
MAKEMORE_LECTURES = [  # typed or shown in the lectures beside the notebooks: torch.nn's versions of their layers,
    # the concatenation of part 2 before view(), the init of part 3, float32 as the default dtype
    "torch.cat", "torch.unbind", "torch.float32", "torch.nn.init.kaiming_normal_", "torch.nn.BatchNorm1d",
    "torch.nn.Linear", "torch.nn.Embedding", "torch.nn.Flatten", "torch.nn.Sequential", "torch.nn.Tanh",
]  # fmt: skip
MAKEMORE_PY = [
    "torch.nn.Module", "torch.nn.LayerNorm", "torch.nn.ModuleDict", "torch.nn.ModuleList", "torch.nn.Parameter",
    "torch.nn.init.normal_", "torch.nn.init.zeros_", "torch.nn.init.ones_", "torch.optim.AdamW", "torch.tril",
    "torch.pow", "torch.topk", "torch.inference_mode", "torch.randperm", "torch.manual_seed",
    "torch.cuda.manual_seed_all", "torch.cuda.synchronize", "torch.save", "torch.load", "torch.long",
    "torch.nn.utils.clip_grad_norm_", "torch.utils.data.Dataset", "torch.utils.data.DataLoader",
    "torch.utils.data.RandomSampler", "torch.utils.tensorboard.SummaryWriter", "torch.sigmoid", "torch.stack",
    "Tensor.size", "Tensor.split", "Tensor.transpose", "Tensor.contiguous", "Tensor.masked_fill", "Tensor.to",
    "Tensor.unsqueeze", "Tensor.expand",
]  # fmt: skip
NG_VIDEO_LECTURE = [
    "torch.cuda.is_available", "torch.manual_seed", "torch.tensor", "torch.long", "torch.randint", "torch.stack",
    "torch.no_grad", "torch.zeros", "torch.ones", "torch.tril", "torch.cat", "torch.arange", "torch.multinomial",
    "torch.optim.AdamW", "torch.nn.Module", "torch.nn.Linear", "torch.nn.Embedding", "torch.nn.LayerNorm",
    "torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.Dropout", "torch.nn.ReLU",
    "torch.nn.functional.cross_entropy", "torch.nn.functional.softmax",
    "Tensor.to", "Tensor.view", "Tensor.transpose", "Tensor.masked_fill", "Tensor.mean", "Tensor.item",
    "Tensor.tolist", "Tensor.numel", "Tensor.backward", "Tensor.shape",
]  # fmt: skip
NANOGPT = [
    "torch.nn.functional.layer_norm", "torch.nn.functional.scaled_dot_product_attention", "torch.nn.GELU",
    "torch.nn.functional.gelu", "torch.compile", "torch.from_numpy", "torch.float16", "torch.bfloat16",
    "torch.backends.cuda.matmul.allow_tf32", "torch.backends.cudnn.allow_tf32", "torch.amp.autocast",
    "torch.autocast", "torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cuda.is_bf16_supported",
    "torch.cuda.set_device", "torch.cuda.manual_seed", "torch.distributed.init_process_group",
    "torch.distributed.destroy_process_group", "torch.nn.parallel.DistributedDataParallel", "torch.optim.AdamW",
    "torch.set_float32_matmul_precision", "torch.zeros", "Tensor.pin_memory", "Tensor.copy_", "Tensor.t",
    "Tensor.dim", "Tensor.numel",
]  # fmt: skip

BEING_ADDED: dict[str, str] = {}  # not here yet: each fails until it is added (then XPASS: move it out)

NOT_PROVIDED = {  # name -> a call that must raise NotImplementedError, and what the message names instead
    "torch.distributed.init_process_group": (lambda m: m.distributed.init_process_group("nccl"), "mpiexec"),
    "torch.distributed.destroy_process_group": (lambda m: m.distributed.destroy_process_group(), "mpiexec"),
    "torch.nn.parallel.DistributedDataParallel": (lambda m: _resolve(m, "torch.nn.parallel")
                                                  .DistributedDataParallel(m.nn.Linear(2, 2)), "mpiexec"),
}  # fmt: skip

# parameters of PyTorch's signature that are not here, and why (PyTorch-only machinery or deprecated spellings)
OMITTED = {
    "torch.save": {"pickle_module", "pickle_protocol"},  # the format is fixed here
    "torch.load": {"pickle_module", "mmap"},
    "torch.nn.Embedding": {"padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse"},
    "torch.nn.Dropout": {"inplace"}, "torch.nn.ReLU": {"inplace"},  # in-place activations save memory only
    "torch.nn.utils.clip_grad_norm_": {"foreach"},  # a kernel choice, as the optimizers' foreach
    "torch.nn.functional.cross_entropy": {"size_average", "reduce"},  # deprecated for reduction=
    "torch.cuda.synchronize": {"device"},  # one GPU per process here: it waits for that one
}  # fmt: skip

ALL_NAMES = sorted({*MICROGRAD, *MAKEMORE_NOTEBOOKS, *MAKEMORE_LECTURES, *MAKEMORE_PY, *NG_VIDEO_LECTURE, *NANOGPT})


def _resolve(root, name: str):
    """``torch.nn.functional.softmax`` (or ``Tensor.view``) looked up in ``root`` (tg or torch); None if absent."""
    head, *parts = name.split(".")
    obj = root.Tensor if head == "Tensor" else root
    for part in parts:
        try:
            obj = getattr(obj, part)
        except AttributeError:
            try:  # a submodule a script imports (torch.utils.tensorboard, torch.nn.parallel)
                obj = importlib.import_module(f"{obj.__name__}.{part}")
            except (ImportError, AttributeError, TypeError):
                return None
    return obj


def _parameters(obj):
    """Named parameters in order (no ``self``, no ``*args``/``**kwargs``, no private ``_x``), or None where
    ``inspect`` cannot read the signature (PyTorch's C functions) or it is only ``*args, **kwargs``."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    if any(p.kind in variadic for p in sig.parameters.values()) and all(
        p.kind in variadic or p.name == "self" for p in sig.parameters.values()
    ):
        return None
    return [p.name for p in sig.parameters.values() if p.kind not in variadic and p.name != "self"
            and not p.name.startswith("_")]  # fmt: skip


# -- calls as the series makes them, for names without a readable signature on one side ----------------------

_X = [[0.5, -1.25, 2.0], [3.0, 0.25, -0.75]]


def _x(m, **kw):
    return m.tensor(_X, **kw)


SMOKE = {
    "torch.Tensor": lambda m: m.Tensor([-4.0]).double(),
    "torch.tensor": lambda m: m.tensor([1, 2, 3], dtype=m.long),
    "torch.Generator": lambda m: m.rand(4, generator=m.Generator().manual_seed(2147483647)),
    "torch.zeros": lambda m: m.zeros((27, 27), dtype=m.int32),
    "torch.ones": lambda m: m.ones(4, 5),
    "torch.rand": lambda m: m.rand(3).shape,
    "torch.randn": lambda m: m.randn((27, 27), requires_grad=True).shape,
    "torch.randint": lambda m: m.randint(0, 10, (32,)).shape,
    "torch.randperm": lambda m: sorted(m.randperm(10).tolist()),
    "torch.multinomial": lambda m: m.multinomial(m.tensor([0.0, 1.0, 0.0]), num_samples=3, replacement=True),
    "torch.arange": lambda m: m.arange(0, 7, dtype=m.long),
    "torch.linspace": lambda m: m.linspace(-3, 0, 5),
    "torch.zeros_like": lambda m: m.zeros_like(_x(m)),
    "torch.ones_like": lambda m: m.ones_like(_x(m)),
    "torch.cat": lambda m: m.cat([_x(m), _x(m)], dim=1),
    "torch.stack": lambda m: m.stack([_x(m), _x(m)]),
    "torch.unbind": lambda m: m.unbind(_x(m), 1)[2],
    "torch.tril": lambda m: m.tril(m.ones(3, 3)),
    "torch.tanh": lambda m: m.tanh(_x(m)),
    "torch.log": lambda m: m.log(_x(m).abs()),
    "torch.sqrt": lambda m: m.sqrt(_x(m).abs() + 1e-5),
    "torch.all": lambda m: m.all(_x(m) == _x(m)),
    "torch.sigmoid": lambda m: m.sigmoid(_x(m)),
    "torch.pow": lambda m: m.pow(_x(m), 3.0),
    "torch.allclose": lambda m: m.allclose(_x(m), _x(m) + 1e-9),
    "torch.topk": lambda m: m.topk(_x(m), 2).values,
    "torch.histogram": lambda m: m.histogram(_x(m).view(-1), bins=4, density=True).hist,
    "torch.from_numpy": lambda m: m.from_numpy(np.arange(4, dtype=np.int64)),
    "torch.manual_seed": lambda m: (m.manual_seed(1337), m.randn(2).shape)[1],
    "torch.cuda.manual_seed": lambda m: m.cuda.manual_seed(1337),
    "torch.cuda.manual_seed_all": lambda m: m.cuda.manual_seed_all(1337),
    "torch.cuda.is_available": lambda m: isinstance(m.cuda.is_available(), bool),
    "torch.cuda.is_bf16_supported": lambda m: isinstance(m.cuda.is_bf16_supported(), bool),
    "torch.nn.functional.one_hot": lambda m: _resolve(m, "torch.nn.functional.one_hot")(m.tensor([0, 2]), 3),
    "torch.nn.functional.gelu": lambda m: _resolve(m, "torch.nn.functional.gelu")(_x(m)),
    "torch.nn.functional.scaled_dot_product_attention": lambda m: _resolve(
        m, "torch.nn.functional.scaled_dot_product_attention")(_x(m)[None], _x(m)[None], _x(m)[None], is_causal=True),
    "torch.no_grad": lambda m: m.no_grad()(lambda: (_x(m, requires_grad=True) * 2).requires_grad)(),
    "torch.inference_mode": lambda m: m.inference_mode()(lambda: (_x(m, requires_grad=True) * 2).requires_grad)(),
    "torch.compile": lambda m: m.compile(m.nn.Tanh())(_x(m)),
    "torch.set_float32_matmul_precision": lambda m: m.set_float32_matmul_precision("highest"),
    "torch.cuda.synchronize": lambda m: m.cuda.synchronize() if m.cuda.is_available() else None,
    "torch.backends.cuda.matmul.allow_tf32": lambda m: m.backends.cuda.matmul.allow_tf32,
    "torch.backends.cudnn.allow_tf32": lambda m: m.backends.cudnn.allow_tf32,
    "torch.autocast": lambda m: _autocast_product(m, m.autocast),
    "torch.amp.autocast": lambda m: _autocast_product(m, m.amp.autocast),
    "torch.amp.GradScaler": lambda m: m.amp.GradScaler("cpu", init_scale=8.0).scale(_x(m)),
    "torch.cuda.amp.GradScaler": lambda m: m.cuda.amp.GradScaler(enabled=False).scale(_x(m)),
    "torch.nn.Module": lambda m: m.nn.Module().training,
    "torch.nn.Tanh": lambda m: m.nn.Tanh()(_x(m)),
    "torch.nn.Sequential": lambda m: len(m.nn.Sequential(m.nn.Tanh(), m.nn.ReLU())),
    "torch.nn.Parameter": lambda m: m.nn.Parameter(m.ones(2)).requires_grad,
    "torch.utils.data.Dataset": lambda m: issubclass(m.utils.data.Dataset, object),
    "torch.utils.data.RandomSampler": lambda m: len(m.utils.data.RandomSampler(range(5), replacement=True,
                                                                                 num_samples=7)),
}  # fmt: skip
for _dtype in ("int32", "float32", "float16", "bfloat16", "long"):
    SMOKE[f"torch.{_dtype}"] = lambda m, _d=_dtype: repr(getattr(m, _d)).split(".")[-1]


def _autocast_product(m, autocast):
    with autocast(device_type="cpu", dtype=m.bfloat16):
        out = _x(m) @ _x(m).T
    return out.float()  # bfloat16 in PyTorch, its values in float32 here: compared within bfloat16 rounding


METHOD_SMOKE = {  # Tensor methods and attributes, on a float tensor as the lectures use them
    "double": lambda t: t.double(), "float": lambda t: t.double().float(), "relu": lambda t: t.relu(),
    "tanh": lambda t: t.tanh(), "exp": lambda t: t.exp(), "item": lambda t: t[0, 0].item(),
    "data": lambda t: t.data, "sum": lambda t: t.sum(1, keepdims=True), "mean": lambda t: t.mean(0, keepdim=True),
    "std": lambda t: t.std(0, keepdim=True), "var": lambda t: t.var(0, keepdim=True, unbiased=True),
    "max": lambda t: t.max(1, keepdim=True).values, "log": lambda t: t.abs().log(),
    "log10": lambda t: t.abs().log10(), "pow": lambda t: t.pow(2), "abs": lambda t: t.abs(),
    "view": lambda t: t.view(-1), "shape": lambda t: tuple(t.shape), "nelement": lambda t: t.nelement(),
    "numel": lambda t: t.numel(), "T": lambda t: t.T, "t": lambda t: t.t(), "tolist": lambda t: t.tolist(),
    "squeeze": lambda t: t[None].squeeze(0), "size": lambda t: tuple(t.size()), "dim": lambda t: t.dim(),
    "split": lambda t: t.split(1, dim=1)[1], "transpose": lambda t: t.transpose(0, 1).contiguous(),
    "contiguous": lambda t: t.T.contiguous(), "masked_fill": lambda t: t.masked_fill(t > 1, float("-inf")),
    "to": lambda t: t.to("cpu"), "unsqueeze": lambda t: t.unsqueeze(0), "expand": lambda t: t[:1].expand(3, -1),
    "pin_memory": lambda t: _outcome(t.pin_memory),  # without a GPU, both refuse with PyTorch's message
    "copy_": lambda t: t.clone().copy_(t * 2),
    "grad": lambda t: t.grad, "requires_grad": lambda t: t.requires_grad,
    "clone": lambda t: t.clone(), "detach": lambda t: t.detach(), "ndim": lambda t: t.ndim,
    "dtype": lambda t: str(t.dtype).split(".")[-1],
}  # fmt: skip


def _backward_grad(m):
    x = _x(m, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    return x.grad


def _retained(m):
    x = _x(m, requires_grad=True)
    h = x * 3
    h.retain_grad()
    h.sum().backward()
    return h.grad


METHOD_SMOKE["backward"] = None  # called through _backward_grad
METHOD_SMOKE["retain_grad"] = None  # called through _retained


def _outcome(call):
    """``call()``'s result, or the error it raised, as "ErrorType: message" (so that two refusals compare)."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - the error is the result being compared
        return f"{type(exc).__name__}: {exc}"


def _same(ours, theirs, name):
    """Ours and PyTorch's result agree: values (to float32 rounding, bfloat16's for autocast), dtype, shape."""
    if hasattr(theirs, "detach") and hasattr(theirs, "dtype"):
        dtype = str(theirs.dtype).removeprefix("torch.")
        theirs = theirs.detach().float().numpy() if dtype == "bfloat16" else theirs.detach().numpy()
        assert dtype == "bfloat16" or ours.dtype.name == dtype, name
        ours = ours.detach().numpy()
        rtol = 2.0**-7 if dtype == "bfloat16" else 1e-6
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-7, err_msg=name)
    elif isinstance(theirs, (tuple, list)) and not isinstance(theirs, str):
        theirs = tuple(theirs)
        assert len(tuple(ours)) == len(theirs), name
        for a, b in zip(ours, theirs):
            _same(a, b, name)
    else:
        assert ours == theirs, f"{name}: {ours!r} != {theirs!r}"


def _check(name, torch):
    if name in NOT_PROVIDED:
        call, instead = NOT_PROVIDED[name]
        with pytest.raises(NotImplementedError, match=instead):
            call(tg)
        return
    ours, theirs = _resolve(tg, name), _resolve(torch, name)
    if ours is None and not name.startswith("Tensor.") and name not in SMOKE:
        pytest.fail(f"{name} is missing")
    ours_params, their_params = _parameters(ours), _parameters(theirs)
    if ours_params is not None and their_params is not None:
        missing = [p for p in their_params if p not in ours_params and p not in OMITTED.get(name, ())]
        extra = [p for p in ours_params if p not in their_params]
        assert missing == [] and extra == [], f"{name}: missing {missing}, not PyTorch's {extra}"
        shared = [p for p in their_params if p in ours_params]
        assert shared == [p for p in ours_params if p in shared], f"{name}: parameter order differs"
    elif name.startswith("Tensor."):
        method = name.split(".", 1)[1]
        if method == "backward":
            _same(_backward_grad(tg), _backward_grad(torch), name)
        elif method == "retain_grad":
            _same(_retained(tg), _retained(torch), name)
        else:
            _same(METHOD_SMOKE[method](_x(tg)), METHOD_SMOKE[method](_x(torch)), name)
    else:
        assert name in SMOKE, f"{name}: no readable signature on one side, and no call to compare"
        _same(SMOKE[name](tg), SMOKE[name](torch), name)


def _marks(name):
    if name in BEING_ADDED:
        return [pytest.mark.xfail(strict=False, reason=f"being added: {BEING_ADDED[name]}")]
    return []


@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in ALL_NAMES])
def test_the_series_names_exist_with_pytorchs_signature(name, torch):
    torch.manual_seed(0)
    _check(name, torch)


def test_the_lists_are_consistent():
    assert set(BEING_ADDED) <= set(ALL_NAMES) and set(NOT_PROVIDED) <= set(ALL_NAMES)
    assert not set(BEING_ADDED) & set(NOT_PROVIDED)
    methods = {n.split(".", 1)[1] for n in ALL_NAMES if n.startswith("Tensor.")}
    assert methods <= set(METHOD_SMOKE)
