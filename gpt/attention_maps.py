"""``gpt attention``: heat maps of a trained GPT's attention weights for a prompt, one PNG per layer.

Each layer's picture is a grid with one heat map per head. Row i is the query at token i, column j the key at
token j; the colour is how much of token i's output comes from token j (each row sums to 1). The causal mask
shows as the empty upper triangle: no token can look at the future. Typical patterns to look for: a head that
always looks at the previous character, one that looks at the start of the current word, one that spreads its
attention evenly (an average of the past).

The weights come from ``GPT.attention_maps``, which runs the normal forward with a hook on each layer's attention;
the tests check that asking for the weights does not change the model's outputs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

import tinygrad_edu as torch

from . import files
from .arguments import ArgumentParser

MATPLOTLIB_HINT = 'gpt attention draws with matplotlib: pip install -e ".[plot]" (or pip install matplotlib)'
# characters that would be invisible (or break the line) as tick labels
_VISIBLE = {"\n": "⏎", " ": "␣", "\t": "⇥", "\r": "␍"}


DESCRIPTION = "Heat maps of every layer's and head's attention for a prompt."
# what a heat map may replace: an earlier picture (of this command, or any PNG under its name), nothing else
PICTURE_KINDS = ("a PNG image",)


def token_labels(tokenizer, ids: list[int]) -> list[str]:
    """What each token spells, with whitespace made visible, for the axes of the heat maps."""
    labels = []
    for i in ids:
        text = tokenizer.token_str(i) if hasattr(tokenizer, "token_str") else tokenizer.decode([i])
        labels.append("".join(_VISIBLE.get(ch, ch) for ch in text))
    return labels


def attention_weights(model, tokenizer, prompt: str, device: str = "cpu") -> list[np.ndarray]:
    """One array per layer, (n_head, T, T), of the attention weights after softmax for ``prompt``.

    A prompt longer than the model's context is cut to its last ``block_size`` tokens, as sampling does.
    """
    ids = tokenizer.encode(prompt)
    if not ids:
        raise ValueError("the prompt is empty")
    ids = ids[-model.config.block_size :]
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    maps = model.attention_maps(idx)
    return [np.asarray(m[0].cpu().numpy() if hasattr(m, "cpu") else m[0].numpy(), dtype=np.float64) for m in maps]


def plot_layer(weights: np.ndarray, labels: list[str], title: str, path: str | Path) -> Path:
    """Save one layer's heads, (n_head, T, T), as a grid of heat maps with ``labels`` on both axes."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend needed
    except ImportError:
        raise ImportError(MATPLOTLIB_HINT) from None

    n_head, T, _ = weights.shape
    cols = min(n_head, 4)
    rows = (n_head + cols - 1) // cols
    cell = max(3.0, 0.22 * T + 1.2)  # inches per heat map: big enough that every character stays legible
    fig = Figure(figsize=(cols * cell, rows * cell + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    fontsize = 8 if T <= 40 else 6
    for h in range(rows * cols):
        ax = axes[h // cols][h % cols]
        if h >= n_head:
            ax.axis("off")
            continue
        # mask the future (exactly 0 after softmax) so the causal triangle shows as blank, not as dark blue
        shown = np.ma.masked_where(np.triu(np.ones((T, T), dtype=bool), k=1), weights[h])
        image = ax.imshow(shown, cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_title(f"head {h}", fontsize=10)
        ax.set_xticks(range(T), labels, fontsize=fontsize)
        ax.set_yticks(range(T), labels, fontsize=fontsize)
        ax.set_xlabel("key (attended to)", fontsize=8)
        ax.set_ylabel("query (attending)", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    fig.suptitle(title)
    # atomic, and over nothing but an earlier picture: a checkpoint or a folder under this name is refused
    with files.atomic_writer(path, replaces=PICTURE_KINDS, what="the attention heat map") as f:
        fig.savefig(f, format="png", dpi=110)
    return Path(path)


def picture_paths(model, save_dir: str | Path) -> list[Path]:
    """Where the heat maps go: ``layer_<i>.png`` for every layer, in ``save_dir``."""
    return [Path(save_dir) / f"layer_{layer}.png" for layer in range(model.config.n_layer)]


def check_save_dir(model, save_dir: str | Path) -> None:
    """Refuse now, before any drawing, a ``save_dir`` that is a file, or a picture's name that holds anything but
    a PNG image (a checkpoint, a folder, a text file)."""
    save_dir = Path(save_dir)
    if save_dir.exists() and not save_dir.is_dir():
        raise files.WriteRefused(
            f"--save-dir {save_dir} is {files.describe(save_dir)}, not a folder: name a folder for the heat maps"
        )
    for path in picture_paths(model, save_dir):
        files.check_target(path, PICTURE_KINDS, "the attention heat map")


def save_attention_maps(model, tokenizer, prompt: str, save_dir: str | Path, device: str = "cpu") -> list[Path]:
    """Write ``layer_<i>.png`` for every layer into ``save_dir``; returns the paths."""
    check_save_dir(model, save_dir)
    ids = tokenizer.encode(prompt)[-model.config.block_size :]
    labels = token_labels(tokenizer, ids)
    paths = picture_paths(model, save_dir)
    for layer, weights in enumerate(attention_weights(model, tokenizer, prompt, device)):
        title = f"layer {layer}: attention weights for {tokenizer.decode(ids)!r}"
        plot_layer(weights, labels, title, paths[layer])
    return paths


def add_arguments(parser) -> None:
    """The flags of ``gpt attention`` (also ``python -m gpt.attention_maps``)."""
    parser.add_argument(
        "--allow-unverified",
        action="store_true",
        help="load a checkpoint that carries no sha256 over its header (written by an older gpt)",
    )
    parser.add_argument("--out-dir", default="out/baby", help="the training run (holds ckpt.npz)")
    parser.add_argument("--prompt", default="First Citizen:\nBefore we proceed", help="the text to look at")
    parser.add_argument(
        "--save-dir",
        help="where the PNGs go (default: OUT_DIR/attention); a PNG there under the same name is replaced",
    )
    parser.add_argument("--device", default="cpu")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="gpt attention", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args) -> int:
    from .explore import check_prompt, check_run_folder
    from .sample import load_model

    for flag, value in (("--out-dir", args.out_dir), ("--save-dir", args.save_dir)):
        if value is not None and value.strip() == "":  # Path("") would quietly mean the current folder
            raise ValueError(f"{flag} is empty: name a folder, or leave {flag} out for its default")
    check_run_folder(Path(args.out_dir))
    model, tokenizer, _ = load_model(args.out_dir, args.device, allow_unverified=args.allow_unverified)
    save_dir = Path(args.save_dir) if args.save_dir is not None else Path(args.out_dir) / "attention"
    check_save_dir(model, save_dir)
    ids, block_size = check_prompt(tokenizer, args.prompt), model.config.block_size
    if len(ids) > block_size:
        print(
            f"gpt attention: note: the prompt is {len(ids)} tokens long and the model's context {block_size}: the "
            f"heat maps show its last {block_size}",
            file=sys.stderr,
        )
    if importlib.util.find_spec("matplotlib") is None:  # one line with the remedy, rather than a traceback
        raise RuntimeError(MATPLOTLIB_HINT)
    for path in save_attention_maps(model, tokenizer, args.prompt, save_dir, args.device):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # as `gpt attention ...`: one line for an error, never a traceback
    from .cli import main as gpt_main

    sys.exit(gpt_main(["attention", *sys.argv[1:]]))
