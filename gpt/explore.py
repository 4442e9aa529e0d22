"""``gpt explore``: one self-contained web page that walks a trained GPT's forward pass for a prompt.

The page shows, in the order the forward pass computes them: the prompt's tokens; the token and position
embeddings; for every block its first LayerNorm, the q/k/v projections, each head's attention pattern (hover a
cell: the two characters and the weight), the attention's output, the residual stream after it, the second
LayerNorm, the MLP and the residual stream after the block; then the final LayerNorm, the logits and the ten
likeliest next characters. "next" appends the likeliest character and shows the pass for the longer prompt
(the steps are computed here, ahead of time, so the page needs no server).

Every panel names the class and method that computed it and links to that line of ``gpt/model.py``, whose source
is in the page: the mapping from picture to code the course asks students to make.

What the page shows is recorded through the modules' hooks (``register_forward_hook`` and
``register_forward_pre_hook``), never by patching methods, in eval mode without a graph: recording leaves the
model's outputs unchanged (tested). Scripts, styles and data are inline, so the file opens without network
access; the page also exposes its data as ``window.explorer`` (``tokens``, ``attention[layer][head]``,
``top_next``) for tests and for the curious at the browser console.
"""

from __future__ import annotations

import html
import inspect
import json
import re
import sys
from pathlib import Path

import numpy as np

import tinygrad_edu as torch

from . import model as model_source
from .arguments import ArgumentParser
from .model import GPT, MLP, Block, CausalSelfAttention, eval_mode

DESCRIPTION = "A web page that walks a trained GPT's forward pass for a prompt, each panel tied to its line of code."
PAGE_TEMPLATE = Path(__file__).with_name("explore_page.html")
TOP_K = 10
DIGITS = 4  # decimals kept in the page: enough for every figure it prints, a quarter of float64's bytes


def source_line(function, pattern: str) -> dict:
    """Where ``pattern`` (a regex) first occurs in ``function``'s source in gpt/model.py: the class and method
    names, the line number and the line itself, for a panel's "computed by" link."""
    lines, start = inspect.getsourcelines(function)
    for i, line in enumerate(lines):
        if re.search(pattern, line):
            owner, name = function.__qualname__.split(".")[-2:]
            return {"class": owner, "method": name, "line": start + i, "code": line.strip()}
    raise LookupError(f"{pattern!r} does not occur in {function.__qualname__}")


def code_links(model: GPT) -> dict:
    """The line of gpt/model.py behind each kind of panel for ``model`` (found by reading the source, so it
    stays right; the MLP panel points at the MLP class the model uses)."""
    mlp = next((type(b.mlp) for b in model.blocks if b.mlp is not None), MLP)
    return {
        "tokens": source_line(GPT._trunk, r"self\.wte\(idx\)"),
        "position": source_line(GPT._trunk, r"self\.wpe\("),
        "block_in": source_line(GPT._trunk, r"x = block\(x"),
        "ln_1": source_line(Block.forward, r"self\.ln_1\(x\)"),
        "qkv": source_line(CausalSelfAttention.forward, r"self\.c_attn\(x\)\.split"),
        "attention": source_line(CausalSelfAttention.forward, r"F\.softmax\(att"),
        "attn_out": source_line(CausalSelfAttention.forward, r"self\.c_proj\(y\)"),
        "resid_mid": source_line(Block.forward, r"x = x \+ a"),
        "ln_2": source_line(Block.forward, r"self\.ln_2\(x\)"),
        "mlp": source_line(mlp.forward, r"return"),
        "resid_out": source_line(Block.forward, r"x = x \+ m"),
        "ln_f": source_line(GPT._trunk, r"return self\.ln_f\(x\)"),
        "logits": source_line(GPT.forward, r"self\.lm_head\("),
    }


def _host(t) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


def record_pass(model: GPT, ids: list[int]) -> dict:
    """Run ``model`` on one sequence of token ids and return what every panel shows, as NumPy arrays: the
    embeddings (T, C), per block the LayerNorm outputs, q/k/v (n_head, T, head_size), attention (n_head, T, T),
    the attention and MLP outputs and the residual stream around them (T, C), then ln_f and the last
    position's next-token probabilities."""
    seen: dict = {}
    handles = []

    def keep(name):
        def hook(module, args, output):
            seen[name] = _host(output[0])

        return hook

    def keep_input(name):
        def hook(module, args):
            seen[name] = _host(args[0][0])

        return hook

    handles.append(model.wte.register_forward_hook(keep("tok_emb")))
    if model.wpe is not None:
        handles.append(model.wpe.register_forward_hook(lambda m, a, out: seen.__setitem__("pos_emb", _host(out))))
    for i, block in enumerate(model.blocks):
        handles.append(block.register_forward_pre_hook(keep_input(f"{i}.resid_in")))
        handles.append(block.register_forward_hook(keep(f"{i}.resid_out")))
        handles.append(block.ln_1.register_forward_hook(keep(f"{i}.ln_1")))
        handles.append(block.attn.c_attn.register_forward_hook(keep(f"{i}.qkv")))
        handles.append(block.attn.attn_dropout.register_forward_pre_hook(keep_input(f"{i}.attention")))
        handles.append(block.attn.register_forward_hook(keep(f"{i}.attn_out")))
        if block.mlp is not None:
            handles.append(block.ln_2.register_forward_pre_hook(keep_input(f"{i}.resid_mid")))
            handles.append(block.ln_2.register_forward_hook(keep(f"{i}.ln_2")))
            handles.append(block.mlp.register_forward_hook(keep(f"{i}.mlp")))
    handles.append(model.ln_f.register_forward_hook(keep("ln_f")))
    handles.append(model.lm_head.register_forward_hook(keep("logits")))
    device = next(model.parameters()).device
    try:
        with torch.no_grad(), eval_mode(model):
            model(torch.tensor([ids], dtype=torch.long, device=device))
    finally:
        for handle in handles:
            handle.remove()

    T, nh, hs = len(ids), model.config.heads, model.config.head_size
    blocks = []
    for i, block in enumerate(model.blocks):
        qkv = seen[f"{i}.qkv"]  # (T, 3C): q, k, v side by side, each C = nh * hs, head h at h*hs..(h+1)*hs
        q, k, v = (qkv[:, j * nh * hs : (j + 1) * nh * hs].reshape(T, nh, hs).transpose(1, 0, 2) for j in range(3))
        entry = {
            "resid_in": seen[f"{i}.resid_in"],
            "ln_1": seen[f"{i}.ln_1"],
            "q": q,
            "k": k,
            "v": v,
            "attention": seen[f"{i}.attention"],
            "attn_out": seen[f"{i}.attn_out"],
            "resid_out": seen[f"{i}.resid_out"],
        }
        if block.mlp is not None:
            entry.update(resid_mid=seen[f"{i}.resid_mid"], ln_2=seen[f"{i}.ln_2"], mlp=seen[f"{i}.mlp"])
        blocks.append(entry)
    logits = seen["logits"][-1]
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    record = {"tok_emb": seen["tok_emb"], "blocks": blocks, "ln_f": seen["ln_f"], "logits": logits, "probs": probs}
    if "pos_emb" in seen:
        record["pos_emb"] = seen["pos_emb"]
    return record


def top_next(probs: np.ndarray, tokenizer, k: int = TOP_K) -> list[dict]:
    """The ``k`` likeliest next tokens, descending: ``{"char", "id", "prob"}``."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [{"char": tokenizer.decode([int(i)]), "id": int(i), "prob": float(probs[i])} for i in order]


def _rounded(value):
    """Arrays as nested lists rounded to ``DIGITS`` decimals (the page's numbers), dicts and lists walked."""
    if isinstance(value, np.ndarray):
        return np.round(value, DIGITS).tolist()
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def explore(model: GPT, tokenizer, prompt: str, steps: int = 8) -> dict:
    """The page's data: the forward pass for ``prompt`` and for ``steps`` longer prompts, each one character
    longer than the last (its likeliest next character appended, greedy), every prompt cut to the model's
    context as sampling does."""
    ids = tokenizer.encode(prompt)
    if not ids:
        raise ValueError("gpt explore: the prompt is empty")
    block_size = model.config.block_size
    passes = []
    for _ in range(steps + 1):
        window = ids[-block_size:]
        record = record_pass(model, window)
        nxt = top_next(record.pop("probs"), tokenizer)
        passes.append({"tokens": [tokenizer.decode([i]) for i in window], "top_next": nxt, **_rounded(record)})
        ids = ids + [nxt[0]["id"]]
    config = model.config
    return {
        "prompt": prompt,
        "config": {
            "n_layer": config.n_layer,
            "n_head": config.heads,
            "n_embd": config.n_embd,
            "head_size": config.head_size,
            "block_size": block_size,
            "vocab_size": config.vocab_size,
        },
        "vocab": [tokenizer.decode([i]) for i in range(config.vocab_size)],
        "passes": passes,
        "code": code_links(model),
        "source_file": "gpt/model.py",
        "source": inspect.getsource(model_source).splitlines(),
    }


def render(data: dict) -> str:
    """The self-contained page: the template with the data inlined (``</`` escaped so no string in the data
    can close the script element)."""
    template = PAGE_TEMPLATE.read_text(encoding="utf-8")
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    title = html.escape(f"GPT explorer: {data['prompt'][:40]!r}")
    return template.replace("__TITLE__", title).replace("__DATA__", blob)


def make_server(path: Path, host: str = "127.0.0.1", port: int = 8000):
    """An HTTP server for ``path``'s folder on ``host:port`` (port 0: any free one); its address is
    ``page_address(server, path)``."""
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(path.parent))
    return http.server.ThreadingHTTPServer((host, port), handler)


def page_address(server, path: Path) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/{path.name}"


def serve(path: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``path`` until interrupted, printing its address (the page itself needs no server)."""
    with make_server(path, host, port) as server:
        print(f"serving {page_address(server, path)} (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


def add_arguments(parser) -> None:
    """The flags of ``gpt explore`` (also ``python -m gpt.explore``)."""
    parser.add_argument("--out-dir", default="out/baby", help="the training run (holds ckpt.npz)")
    parser.add_argument("--prompt", default="ROMEO:\nBut soft", help="the text to follow through the network")
    parser.add_argument("--output", help="the HTML file to write (default: OUT_DIR/explore.html)")
    parser.add_argument("--steps", type=int, default=8, help="how many times 'next' can append a character")
    parser.add_argument("--serve", action="store_true", help="serve the page on localhost and print its address")
    parser.add_argument("--port", type=int, default=8000, help="the port for --serve (0: any free one)")
    parser.add_argument("--device", default="cpu")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="gpt explore", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args) -> int:
    from .sample import load_model

    if args.steps < 0:
        raise ValueError(f"gpt explore: --steps must be at least 0, got {args.steps}")
    model, tokenizer, _ = load_model(args.out_dir, args.device)
    output = Path(args.output) if args.output else Path(args.out_dir) / "explore.html"
    output.parent.mkdir(parents=True, exist_ok=True)
    page = render(explore(model, tokenizer, args.prompt, args.steps))
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(output)
    print(f"wrote {output} ({len(page.encode()) / 1e6:.1f} MB); open it in a browser")
    if args.serve:
        serve(output.resolve(), port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
