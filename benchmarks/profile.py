"""Where the time of one training step goes: per op class, forward and backward, the optimizer, and the rest.

How: for the profiled steps only, this module

* observes every op's forward and backward through the engine's op observers
  (``tinygrad_edu.autograd.graph.observe_ops``; nothing is monkeypatched). Forward times are *exclusive*: an op
  whose forward calls other ops (a ``Function``) is charged only for its own time. They include the op's graph
  bookkeeping (wrapping outputs, recording inputs), because that is part of what an op costs here. Ops that a
  backward itself calls are charged to that backward;

and times the phases of the step with a clock around each: forward (``model(x, y)``), backward, gradient
clipping, ``AdamW.step()``, ``zero_grad()``. The rows are then:

* ``forward: <Op>`` and ``backward: <Op>``: time inside that op class's forward / backward, per step;
* ``forward: Python outside ops``: forward time not inside any op (module calls, reshapes' argument handling,
  dropout and embedding wrappers' Python ...);
* ``backward: engine``: backward time not inside any op's backward (topological sort, gradient accumulation,
  version checks, freeing the graph);
* ``clip_grad_norm_``, ``AdamW.step``, ``zero_grad``, ``loss.item``: the rest of the step.

The wrappers add a few microseconds per op call; the table gives the step time with and without them. PyTorch's
step is timed by the same phases (no per-op breakdown: its ops do not map one to one onto ours), which gives the
ratio at phase level.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from . import common, models

PHASES = ("forward", "backward", "clip_grad_norm_", "optimizer.step", "zero_grad", "loss.item")


class OpProfiler:
    """Context manager that records exclusive time and calls per op class, forward and backward.

    ``sync`` waits for the device (``tinygrad_edu.cuda.synchronize`` on a GPU): called before and after each
    op, so that an op is charged for its own kernels, not for the queue it found or left behind."""

    def __init__(self, sync=lambda: None):
        self.sync = sync
        self.forward = defaultdict(lambda: [0.0, 0])  # op name -> [seconds, calls]
        self.backward = defaultdict(lambda: [0.0, 0])
        self._stack: list[float] = []
        self._in_backward = False
        self.phase = "forward"  # set by phased_step: op calls outside forward belong to their phase's row

    def __enter__(self):
        from tinygrad_edu.autograd import graph

        prof = self

        def forward(op_class, run):
            if prof._in_backward or prof.phase != "forward":
                return run()
            prof._stack.append(0.0)
            prof.sync()
            t0 = time.perf_counter()
            try:
                return run()
            finally:
                prof.sync()
                elapsed = time.perf_counter() - t0
                children = prof._stack.pop()
                entry = prof.forward[op_class.__name__]
                entry[0] += elapsed - children
                entry[1] += 1
                if prof._stack:
                    prof._stack[-1] += elapsed

        def backward(op, grad_outputs, run):
            outer = prof._in_backward
            prof._in_backward = True
            prof.sync()
            t0 = time.perf_counter()
            try:
                return run()
            finally:
                prof.sync()
                elapsed = time.perf_counter() - t0
                prof._in_backward = outer
                if not outer:
                    reference = getattr(type(op), "reference", type(op))  # a fast path counts as its op
                    entry = prof.backward[reference.__name__]
                    entry[0] += elapsed
                    entry[1] += 1

        self._observing = graph.observe_ops(forward=forward, backward=backward)
        self._observing.__enter__()
        return self

    def __exit__(self, *exc):
        self._observing.__exit__(None, None, None)
        return False


def phased_step(step, sync, profiler: OpProfiler | None = None) -> dict:
    """Run one training step of an ``OursStep`` / ``TorchStep`` with a clock around each phase (seconds);
    ``profiler`` is told the phase, so op calls are charged to forward only while the model runs forward."""
    x, y = step.batches[step.i % len(step.batches)]
    step.i += 1
    clip = step._lib.nn.utils.clip_grad_norm_
    out = {}
    t = time.perf_counter()

    def lap(name):
        nonlocal t
        sync()
        now = time.perf_counter()
        out[name] = now - t
        t = now
        if profiler is not None:
            profiler.phase = f"after {name}"  # only the forward phase charges op calls to forward rows

    if profiler is not None:
        profiler.phase = "forward"

    _, loss = step.model(x, y)
    lap("forward")
    loss.backward()
    lap("backward")
    if step.clip:
        clip(step.model.parameters(), step.clip)
    lap("clip_grad_norm_")
    step.optimizer.step()
    lap("optimizer.step")
    step.optimizer.zero_grad(set_to_none=True)
    lap("zero_grad")
    step.losses.append(loss.item())
    lap("loss.item")
    return out


def _median_phases(samples: list[dict]) -> dict:
    import statistics

    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def profile_preset(preset: str, setup: dict, args, torch_ok: bool) -> dict:
    warmup = 1 if args.warmup is None else args.warmup
    n = args.steps or args.repeats or (2 if args.quick or preset == "lecture" else 5)
    print(f"profile {preset} ({models.describe(setup)}, {args.device}): {warmup} warm-up + {n} steps")
    steps = models.make_steps(setup, args.device, torch_ok)
    syncs = {impl: common.synchronizer(impl, args.device) for impl in steps}
    for _ in range(warmup):
        for step in steps.values():
            step()
    plain = defaultdict(list)
    for _ in range(n):  # unprofiled phase times, interleaved with PyTorch's
        for impl, step in steps.items():
            plain[impl].append(phased_step(step, syncs[impl]))
    profiled = []
    with OpProfiler(sync=syncs["ours"]) as prof:
        for _ in range(n):
            profiled.append(phased_step(steps["ours"], syncs["ours"], prof))
    phases = {impl: _median_phases(s) for impl, s in plain.items()}
    prof_phases = {k: sum(s[k] for s in profiled) / n for k in PHASES}  # means: per-op sums are totals over n

    rows = []
    for name, (secs, calls) in prof.forward.items():
        rows.append({"phase": "forward", "op": name, "seconds": secs / n, "calls": calls / n})
    fwd_ops = sum(secs for secs, _ in prof.forward.values()) / n
    rows.append(
        {"phase": "forward", "op": "Python outside ops", "seconds": prof_phases["forward"] - fwd_ops, "calls": None}
    )
    for name, (secs, calls) in prof.backward.items():
        rows.append({"phase": "backward", "op": name, "seconds": secs / n, "calls": calls / n})
    bwd_ops = sum(secs for secs, _ in prof.backward.values()) / n
    rows.append(
        {
            "phase": "backward",
            "op": "engine (graph walk, accumulation)",
            "seconds": prof_phases["backward"] - bwd_ops,
            "calls": None,
        }
    )
    for phase in PHASES[2:]:
        rows.append(
            {
                "phase": "optimizer" if phase != "loss.item" else "other",
                "op": phase,
                "seconds": prof_phases[phase],
                "calls": 1,
            }
        )
    total = sum(prof_phases.values())
    for r in rows:
        r["percent"] = 100 * r["seconds"] / total
    rows.sort(key=lambda r: -r["seconds"])
    summary = {
        "forward ops": fwd_ops,
        "backward ops": bwd_ops,
        "optimizer (clip, step, zero_grad)": sum(
            prof_phases[p] for p in ("clip_grad_norm_", "optimizer.step", "zero_grad")
        ),
        "Python / engine overhead (outside ops)": prof_phases["forward"]
        - fwd_ops
        + prof_phases["backward"]
        - bwd_ops
        + prof_phases["loss.item"],
    }
    return {
        "preset": preset,
        "config": models.describe(setup),
        "steps": n,
        "warmup": warmup,
        "rows": rows,
        "summary_seconds": summary,
        "profiled_step_seconds": total,
        "phases_seconds": phases,
    }


def run(args, torch) -> int:
    torch_ok = common.torch_on(torch, args.device)
    presets = ["tiny"] if args.quick else args.presets
    results = []
    for preset in presets:
        results.append(profile_preset(preset, models.setup_for(preset, quick=args.quick), args, torch_ok))

    parts = [f"## Where the time of a training step goes ({args.device}, float32)\n"]
    for r in results:
        ours, theirs = r["phases_seconds"]["ours"], r["phases_seconds"].get("torch")
        plain_total = sum(ours.values())
        phase_rows = [
            [
                p,
                1e3 * ours[p],
                1e3 * theirs[p] if theirs else None,
                common.ratio(ours[p], theirs[p] if theirs else None),
            ]
            for p in PHASES
        ]
        phase_rows.append(
            [
                "whole step",
                1e3 * plain_total,
                1e3 * sum(theirs.values()) if theirs else None,
                common.ratio(plain_total, sum(theirs.values()) if theirs else None),
            ]
        )
        parts += [
            f"### {r['preset']} ({r['config']}): by phase, unprofiled, median of {r['steps']} steps\n",
            common.markdown_table(["phase", "ours ms", "torch ms", "ratio ours/torch"], phase_rows),
            "",
            f"### {r['preset']}: by op (tinygrad_edu), mean of {r['steps']} profiled steps "
            f"({1e3 * r['profiled_step_seconds']:.1f} ms/step with the wrappers, {1e3 * plain_total:.1f} without)\n",
            common.markdown_table(
                ["phase", "op", "ms/step", "% of step", "calls/step", "µs/call"],
                [
                    [
                        x["phase"],
                        x["op"],
                        1e3 * x["seconds"],
                        x["percent"],
                        x["calls"],
                        1e6 * x["seconds"] / x["calls"] if x["calls"] else None,
                    ]
                    for x in r["rows"]
                ],
            ),
            "",
            "Summary: "
            + ", ".join(f"{k} {100 * v / r['profiled_step_seconds']:.0f}%" for k, v in r["summary_seconds"].items()),
            "",
        ]
    parts.append(
        "Per-op rows have no PyTorch column: PyTorch's ops do not map one to one onto ours; the phase "
        "table gives the ratio. See `benchmarks/profile.py` for what each row contains."
    )
    md = "\n".join(parts) + "\n"
    for r in results:
        print(f"  {r['preset']}: top ops")
        for x in r["rows"][:12]:
            print(f"    {x['phase']:>9} {x['op']:<36} {1e3 * x['seconds']:9.2f} ms  {x['percent']:5.1f}%")

    def plot(plt, path):
        fig, axes = plt.subplots(1, len(results), figsize=(7 * len(results), 6), squeeze=False)
        for ax, r in zip(axes[0], results):
            top = r["rows"][:15]
            ax.barh(
                range(len(top)),
                [x["percent"] for x in top],
                color=[
                    "tab:blue" if x["phase"] == "forward" else "tab:orange" if x["phase"] == "backward" else "tab:green"
                    for x in top
                ],
            )
            ax.set_yticks(range(len(top)), [f"{x['phase']}: {x['op']}" for x in top], fontsize=8)
            ax.invert_yaxis()
            ax.set_xlabel("% of step (blue forward, orange backward, green optimizer/other)")
            ax.set_title(f"{r['preset']} ({r['config']})")
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    payload = common.payload("profile", args, {"presets": presets, "quick": args.quick}, results=results)
    common.write_results(
        Path(args.out), "profile" if args.device == "cpu" else f"profile-{args.device}", payload, md, plot
    )
    return 0
