"""``python -m benchmarks compiled``: training steps eager, compiled (``tinygrad_edu.compile``), PyTorch eager and
``torch.compile``, interleaved in one run; and the first compile's time.

Two models: ``gpt/model.py`` at the baby preset (batch 12, block 64) and the public-style GPT of
``benchmarks/public_gpt.py`` (3 layers × 48 wide, block 64, batch 32, GPT-2's hand-written GELU). The step is
forward, loss, backward, AdamW step, ``zero_grad(set_to_none=True)``, and returns the loss detached; the
compiled step is the same function through ``compile``. ``--quick`` shrinks the models (tests). PyTorch runs the
same model code (``gpt.library`` for gpt/model.py; ``model_classes(torch)`` for the public one) from its own
initial weights: the step's arithmetic is the same size, which is what is timed. ``torch.compile`` is measured
where it works here (it needs a C++ compiler); its first call is reported as its compile time.
"""

from __future__ import annotations

import time

import numpy as np

from . import common
from .public_gpt import model_classes


def _setups(quick: bool) -> dict:
    if quick:
        return {
            "baby": dict(n_layer=1, n_head=2, n_embd=16, block_size=16, batch=4),
            "public": dict(n_layer=1, n_head=2, n_embd=16, block_size=16, batch=4),
        }
    return {
        "baby": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch=12),
        "public": dict(n_layer=3, n_head=3, n_embd=48, block_size=64, batch=32),
    }


def _model(lib, kind: str, setup: dict):
    if kind == "public":
        PublicGPT, _ = model_classes(lib)
        return PublicGPT(
            n_layer=setup["n_layer"], n_head=setup["n_head"], n_embd=setup["n_embd"], block_size=setup["block_size"]
        )
    from gpt import library

    module = library.model_module(lib.__name__)
    cfg = {k: setup[k] for k in ("n_layer", "n_head", "n_embd", "block_size")}
    return module.GPT(module.GPTConfig(vocab_size=65, dropout=0.0, **cfg))


def _step(lib, model):
    optimizer = lib.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)

    def step(x, y):
        _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    return step


def _measure(kind: str, setup: dict, args, torch, repeats: int, warmup: int):
    """One model's steps, interleaved: (medians by name, the JSON result)."""
    import tinygrad_edu as tg

    tokens = np.random.default_rng(0).integers(0, 65, (2, setup["batch"], setup["block_size"]))
    device = args.device
    ours_x, ours_y = tg.tensor(tokens[0], device=device), tg.tensor(tokens[1], device=device)
    tg.manual_seed(0)
    eager = _step(tg, _model(tg, kind, setup).to(device))
    tg.manual_seed(0)
    compiled = tg.compile(_step(tg, _model(tg, kind, setup).to(device)))
    start = time.perf_counter()
    compiled(ours_x, ours_y)  # the trace (an eager call)
    compiled(ours_x, ours_y)  # the first replay compiles the generated kernels
    first_compile = time.perf_counter() - start
    fns = {"ours eager": lambda: eager(ours_x, ours_y), "ours compiled": lambda: compiled(ours_x, ours_y)}
    torch_compile_s = None
    syncs = {name: common.synchronizer("ours", device) for name in fns}
    if torch is not None and common.torch_on(torch, device):
        x, y = torch.tensor(tokens[0], device=device), torch.tensor(tokens[1], device=device)
        torch.manual_seed(0)
        torch_eager = _step(torch, _model(torch, kind, setup).to(device))
        syncs["PyTorch eager"] = syncs["torch.compile"] = common.synchronizer("torch", device)
        fns["PyTorch eager"] = lambda: torch_eager(x, y)
    if "PyTorch eager" in fns and not args.quick:  # inductor's first compile takes minutes: not in a smoke run
        try:
            torch.manual_seed(0)
            torch_compiled = torch.compile(_step(torch, _model(torch, kind, setup).to(device)))
            start = time.perf_counter()
            torch_compiled(x, y)
            torch_compile_s = time.perf_counter() - start
            fns["torch.compile"] = lambda: torch_compiled(x, y)
        except Exception as exc:  # no C++ compiler, an unsupported op: reported, not fatal
            print(f"  torch.compile does not work here ({type(exc).__name__}: {str(exc)[:120]})")
    options = common.interleave_options("step", repeats, args.quick)
    timings = common.interleaved(fns, repeats, warmup, syncs=syncs, **options)
    print(f"  {kind}: first compile {first_compile:.2f} s; torch.compile's first call {torch_compile_s} s")
    result = {
        "setup": setup,
        "timings": {name: t.summary() for name, t in timings.items()},
        "first_compile_s": first_compile,
        "torch_compile_first_call_s": torch_compile_s,
        "eager_fallback": compiled.eager_reason,
    }
    return {name: t.median_ms for name, t in timings.items()}, result


def run(args, torch) -> int:
    repeats = args.repeats or (3 if args.quick else 15)
    warmup = 1 if args.quick else 3
    rows, results = [], {}
    for kind, setup in _setups(args.quick).items():
        medians, results[kind] = _measure(kind, setup, args, torch, repeats, warmup)
        base = medians.get("PyTorch eager")
        for name, ms in medians.items():
            rows.append([kind, name, ms, common.ratio(ms, base), common.ratio(ms, medians["ours eager"])])
    markdown = common.markdown_table(["model", "step", "median ms", "/ PyTorch eager", "/ ours eager"], rows)
    print(markdown)
    settings = {"repeats": repeats, "warmup": warmup, "quick": args.quick}
    common.write_results(args.out, "compiled", common.payload("compiled", args, settings, results=results), markdown)
    return 0
