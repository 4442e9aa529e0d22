"""Generation speed: tokens per second of ``GPT.generate``, with and without the key/value cache, ours beside
PyTorch running the same model file (``gpt.library``), so the cache method is the same on both sides.

Per preset shape (untrained weights: speed does not depend on them) and per window policy, a 1-token prompt
continued greedily by ``new_tokens`` tokens; interleaved repeats (ours uncached, ours cached, PyTorch uncached,
PyTorch cached); median seconds, tokens/s and the ratio ours / PyTorch of the time. Past block_size, "slide"
moves the window every step, so the cache is refilled every step and gains almost nothing; "shift" cuts the
context to its last half once it is full, so the cache is refilled once every block_size / 2 tokens. Both give
the same tokens with the cache as without (``tests/test_kv_cache.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import common

NEW_TOKENS = {"baby": 500, "lecture": 500}  # the case: 500 tokens, past the lecture's 256-token context
WINDOWS = ("slide", "shift")
NAMES = ("ours", "ours+cache", "torch", "torch+cache")


def _generators(preset: str, new_tokens: int, window: str, device: str, torch) -> dict:
    import tinygrad_edu as tg
    from gpt.library import model_module

    from .models import setup_for, split_setup

    config, _ = split_setup(setup_for(preset))
    tg.manual_seed(0)
    ours = model_module("tinygrad_edu").GPT(config).to(device)
    prompt = tg.tensor([[1]], device=device)
    fns = {
        f"ours{suffix}": (lambda kv=kv: ours.generate(prompt, new_tokens, top_k=1, kv_cache=kv, window=window))
        for kv, suffix in ((False, ""), (True, "+cache"))
    }
    if common.torch_on(torch, device):
        theirs = model_module("torch").GPT(config)
        theirs.load_state_dict(
            {k: torch.from_numpy(np.array(v.detach().cpu().numpy())) for k, v in ours.state_dict().items()}
        )
        theirs.to(device)
        tprompt = torch.tensor([[1]], device=device)
        for kv, suffix in ((False, ""), (True, "+cache")):
            fns[f"torch{suffix}"] = lambda kv=kv: theirs.generate(
                tprompt, new_tokens, top_k=1, kv_cache=kv, window=window
            )
    return fns, config


def run(args, torch) -> int:
    presets = ["baby"] if args.quick else args.presets
    repeats = args.repeats or (1 if args.quick else 3)
    print(f"generate: greedy tokens/s on {args.device}, {repeats} interleaved repeats")
    rows = []
    for preset in presets:
        new_tokens = 8 if args.quick else NEW_TOKENS.get(preset, 200)
        for window in WINDOWS:
            fns, config = _generators(preset, new_tokens, window, args.device, torch)
            syncs = {name: common.synchronizer(name.split("+")[0], args.device) for name in fns}
            timings = common.interleaved(fns, repeats, 0 if args.quick else 1, syncs)
            row = {"preset": preset, "window": window, "block_size": config.block_size, "new_tokens": new_tokens}
            for name, t in timings.items():
                row[name] = t.summary()
                row[f"{name}_tokens_per_s"] = new_tokens / (t.median_ms / 1e3)
            for suffix in ("", "+cache"):
                row[f"ratio{suffix}"] = common.ratio(
                    row[f"ours{suffix}"]["median_ms"], row.get(f"torch{suffix}", {}).get("median_ms")
                )
            row["cache_speedup_ours"] = row["ours"]["median_ms"] / row["ours+cache"]["median_ms"]
            if "torch" in row:
                row["cache_speedup_torch"] = row["torch"]["median_ms"] / row["torch+cache"]["median_ms"]
            rows.append(row)
            print(f"  {preset} ({window}): " + ", ".join(f"{n} {row[f'{n}_tokens_per_s']:.0f} tok/s" for n in timings))
    names = [n for n in NAMES if n in rows[0]]
    headers = ["preset", "window", "new tokens (block)", *[f"{n} tok/s" for n in names], "cache speedup (ours)"]
    headers += ["ratio ours/torch (time)", "ratio with cache"]
    table = [
        [r["preset"], r["window"], f"{r['new_tokens']} ({r['block_size']})", *[r[f"{n}_tokens_per_s"] for n in names],
         r["cache_speedup_ours"], r["ratio"], r["ratio+cache"]]
        for r in rows
    ]  # fmt: skip
    md = (
        "## Generation (greedy, 1-token prompt)\n\n"
        + common.markdown_table(headers, table)
        + "\n\ntok/s = new tokens / median seconds of the whole `generate` call. Both sides run `gpt/model.py`, "
        "so they use the same cache and the same window. Past block_size, `slide` refills the cache every step; "
        "`shift` keeps the last block_size / 2 tokens and refills once every block_size / 2 steps.\n"
    )

    def plot(plt, path):
        fig, ax = plt.subplots(figsize=(7, 4))
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            ax.bar(
                [x + i * width for x in range(len(rows))], [r[f"{name}_tokens_per_s"] for r in rows], width, label=name
            )
        labels = [f"{r['preset']}\n{r['window']}" for r in rows]
        ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(rows))], labels)
        ax.set_ylabel("tokens/s (median)")
        ax.set_title(f"generation speed ({args.device})")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    payload = common.payload("generate", args, {"presets": presets, "repeats": repeats, "quick": args.quick}, rows=rows)
    name = "generate" if args.device == "cpu" else f"generate-{args.device}"
    common.write_results(Path(args.out), name, payload, md, plot)
    return 0
