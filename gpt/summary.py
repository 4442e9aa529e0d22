"""A model summary: every module with its type, output shape and parameter count, and the totals.

Like the tables of Keras' ``model.summary()`` or ``torchinfo``: run one forward pass on an example input and
note what each module returns, with a forward hook on every module (``register_forward_hook``, as one would
in PyTorch), removed afterwards.

Parameters are counted where they are defined, not in the parents (so a Block's row counts nothing; its
LayerNorms and Linears do), and a parameter shared by two modules (GPT's tied embedding and output matrix) is
counted once, at its first owner: the total is the number of distinct numbers the optimizer updates.

``python -m gpt.summary`` prints the summary of the default GPT, or of a checkpoint with ``--out-dir``.
"""

from __future__ import annotations

import sys

import tinygrad_edu as torch


def _shape_of(out) -> str:
    if hasattr(out, "shape"):
        return str(list(out.shape))
    if isinstance(out, (tuple, list)):
        return ", ".join(_shape_of(o) for o in out if o is not None)
    return "-"


def summary_rows(model, input_example) -> list[dict]:
    """The rows of ``summary``: path, type, output shape, own parameter count (and whether shared), depth."""
    outputs: dict = {}
    calls: dict = {}

    def note(name):
        def hook(module, args, out):
            outputs.setdefault(name, _shape_of(out))  # the first call's output; a module may run twice
            calls[name] = calls.get(name, 0) + 1

        return hook

    handles = [module.register_forward_hook(note(name)) for name, module in model.named_modules()]
    args = input_example if isinstance(input_example, tuple) else (input_example,)
    try:
        with torch.no_grad():
            model(*args)
    finally:
        for handle in handles:
            handle.remove()

    seen: dict = {}  # id(parameter) -> the name it was first counted under
    rows = []
    for name, module in model.named_modules():
        own, trainable, shared = 0, 0, []
        for pname, p in module._parameters.items():
            if p is None:
                continue
            full = f"{name}.{pname}" if name else pname
            if id(p) in seen:
                shared.append(f"{pname} = {seen[id(p)]}")
                continue
            seen[id(p)] = full
            own += p.numel()
            trainable += p.numel() if p.requires_grad else 0
        rows.append(
            {
                "name": name or "(model)",
                "type": type(module).__name__,
                "output": outputs.get(name, "-"),
                "calls": calls.get(name, 0),
                "params": own,
                "trainable": trainable,
                "shared": shared,
                "depth": name.count(".") + 1 if name else 0,
            }
        )
    return rows


def summary(model, input_example) -> str:
    """The summary table of ``model`` for one forward pass on ``input_example`` (a tensor, or a tuple of args)."""
    rows = summary_rows(model, input_example)
    header = ("module", "type", "output shape", "params")
    body = []
    for r in rows:
        name = "  " * max(r["depth"] - 1, 0) + r["name"]  # indent by nesting, so the tree reads at a glance
        params = f"{r['params']:,}" if r["params"] or not r["shared"] else "0"
        if r["shared"]:
            params += f" (shared: {', '.join(r['shared'])})"
        output = r["output"] + (f" x{r['calls']}" if r["calls"] > 1 else "")
        body.append((name, r["type"], output, params))
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.rjust(w) if i == 3 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "=" * len(line(header))
    total = sum(r["params"] for r in rows)
    trainable = sum(r["trainable"] for r in rows)
    out = [rule, line(header), "-" * len(rule)] + [line(b) for b in body] + [rule]
    out += [
        f"total parameters:         {total:,}",
        f"trainable parameters:     {trainable:,}",
        f"non-trainable parameters: {total - trainable:,}",
        rule,
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from .model import GPT, GPTConfig

    parser = argparse.ArgumentParser(prog="python -m gpt.summary", description="Print a GPT's model summary.")
    parser.add_argument("--out-dir", help="a training run's directory (default: a fresh GPT of the default config)")
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args(argv)
    if args.out_dir:
        from .sample import load_model

        model, _, _ = load_model(args.out_dir)
    else:
        model = GPT(GPTConfig())
    T = model.config.block_size
    print(summary(model, torch.zeros(args.batch, T, dtype=torch.long)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
