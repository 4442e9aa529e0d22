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

The page is written atomically (``gpt/files.py``) and replaces only an earlier explorer page, which it knows
by the mark in its ``<head>`` (``files.EXPLORE_MARK``): never a checkpoint, a log, or a page of someone else's.
``--serve`` serves that page alone, from memory, to this machine only (see ``PageHandler``).
"""

from __future__ import annotations

import contextlib
import errno
import html
import http.server
import inspect
import ipaddress
import json
import re
import socket
import sys
import urllib.parse
from pathlib import Path

import numpy as np

import tinygrad_edu as torch

from . import files
from . import model as model_source
from .arguments import ArgumentParser, integer
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
        raise ValueError("the prompt is empty")
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


class InlinePage:
    """The explorer page shown inside a notebook's output: Jupyter (and Colab) call ``_repr_html_`` and get an
    ``<iframe>`` whose ``srcdoc`` is the whole page, so it runs in its own document, as the file would, with no
    server and no file written."""

    def __init__(self, page: str, height: int = 900):
        self.page, self.height = page, height

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html.escape(self.page, quote=True)}" '
            f'style="width: 100%; height: {int(self.height)}px; border: 1px solid #ddd"></iframe>'
        )


def show(model: GPT, tokenizer, prompt: str, steps: int = 8, height: int = 900) -> InlinePage:
    """The explorer for ``prompt`` as a notebook output: ``explore.show(model, tokenizer, "ROMEO:")`` as the last
    line of a cell displays it inline."""
    check_prompt(tokenizer, prompt)
    return InlinePage(render(explore(model, tokenizer, prompt, steps)), height)


# -- writing the page ------------------------------------------------------------------------------------------

PAGE_KIND = "a page made by gpt explore"  # what files.describe calls a file carrying files.EXPLORE_MARK
MAX_STEPS = 100  # every step's numbers are in the page: past this, pages grow to hundreds of MB


def check_page_target(output: Path) -> None:
    """Refuse, before any slow work, to write the page over anything but an earlier explorer page: a checkpoint,
    a log, a folder, someone's own HTML page. Pages from before the mark existed are refused too (they cannot
    be told apart from a user's own page), so the message says what to do about one."""
    if files.describe(output) == "an HTML page":
        raise files.WriteRefused(
            f"refusing to replace {output}: it is an HTML page without gpt explore's mark, so it may be someone's "
            "own page (explorer pages written before the mark existed lack it too): if it is an old explorer page, "
            "delete it and run again; otherwise choose another --output"
        )
    files.check_target(output, (PAGE_KIND,), "the explorer page")


def check_run_folder(out_dir: Path) -> None:
    """``--out-dir`` names the run's folder; naming its checkpoint (or any file) instead gets a clear line."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(
            f"--out-dir {out_dir} is {files.describe(out_dir)}, not a folder: give the training run's folder "
            "(the one that holds ckpt.npz)"
        )


def check_prompt(tokenizer, prompt: str) -> list[int]:
    """The prompt's token ids, or one line saying what is wrong with ``--prompt``, in terms of the flag rather
    than of the Python API (also used by ``gpt attention``)."""
    if prompt == "":
        raise ValueError("--prompt is empty: give the text to follow through the network")
    known = getattr(tokenizer, "stoi", None)  # a character tokenizer knows only its training text's characters
    if known is not None:
        unknown = sorted({ch for ch in prompt if ch not in known})
        if unknown:
            shown = ", ".join(repr(ch) for ch in unknown[:10]) + (", ..." if len(unknown) > 10 else "")
            raise ValueError(
                f"--prompt has characters that are not in the model's vocabulary: {shown} (the vocabulary is the "
                f"{len(known)} characters of its training text)"
            )
    try:
        return tokenizer.encode(prompt)
    except ValueError as exc:
        raise ValueError(f"--prompt: {exc}") from None


# -- serving the page ------------------------------------------------------------------------------------------

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


class PageHandler(http.server.BaseHTTPRequestHandler):
    """Answers ``GET`` and ``HEAD`` of one page held in memory, and nothing else.

    Why not ``http.server.SimpleHTTPRequestHandler``: it serves a whole folder. Beside the page sit the
    checkpoint and the training log; it would list them, hand them out, and follow symbolic links out of the
    folder. This handler never touches the file system: ``/`` and ``/<page name>`` get the page's bytes (read
    once, before serving), every other path gets 404.

    It also reads the ``Host`` header. A site on the internet can have its own name resolve to 127.0.0.1 ("DNS
    rebinding"); a browser showing that site then sends requests here, but with the site's name as ``Host``.
    Answering only requests addressed to this machine's own names keeps such a site from reading the page."""

    server: PageServer

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()  # the same headers as GET; _send leaves the body out

    def __getattr__(self, name: str):
        # BaseHTTPRequestHandler calls do_<METHOD>; any method but GET and HEAD (POST, PUT, ...) gets a 405
        # "method not allowed" rather than its default 501 "not implemented"
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _answer(self) -> None:
        if not self._host_allowed():
            return
        if self.path in ("/", "/" + urllib.parse.quote(self.server.name)):
            self._send(200, self.server.page, "text/html; charset=utf-8")
        else:
            self._send(404, b"not found: this server has one page, at /\n")

    def _not_allowed(self) -> None:
        if self._host_allowed():
            self._send(405, b"only GET and HEAD are answered here\n", extra={"Allow": "GET, HEAD"})

    def _host_allowed(self) -> bool:
        """True for a request addressed to one of the server's names; anything else is answered here, with 400
        (no ``Host``, or more than one) or 421 (another name: misdirected), and False returned."""
        given = self.headers.get_all("Host") or []
        if len(given) != 1:
            self._send(400, b"a request needs exactly one Host header\n")
            return False
        if host_name(given[0]) not in self.server.allowed_hosts:
            self._send(421, b"this server answers only requests addressed to this machine\n")
            return False
        return True

    def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8", extra=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")  # the browser takes the type as sent, never guesses
        self.send_header("Cache-Control", "no-store")  # the page holds the model's outputs: keep no copy of it
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass  # one line per request would bury the address printed for the user


def host_name(header: str) -> str | None:
    """The name in a ``Host`` header, lower case, without its port: ``localhost:8000`` -> ``localhost``,
    ``[::1]:8000`` -> ``[::1]``; None for a malformed one."""
    match = re.fullmatch(r"(\[[0-9a-f:.]+\]|[^:\[\]/\s]+)(:\d{1,5})?", header.strip().lower())
    return match.group(1) if match else None


class PageServer(http.server.ThreadingHTTPServer):
    """An HTTP server for one page: ``page`` (bytes) at ``/`` and at ``/<name>``."""

    def __init__(self, page: bytes, name: str, host: str, port: int):
        self.page, self.name = page, name
        # the names a request may be addressed to: this machine's own, and the host the user chose to serve on
        bracketed = f"[{host}]" if ":" in host else host  # an IPv6 address is written in brackets in a Host header
        self.allowed_hosts = {*LOCAL_HOSTS, bracketed.lower()}
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), PageHandler)


def make_server(page: bytes, name: str = "explore.html", host: str = "127.0.0.1", port: int = 8000) -> PageServer:
    """A server for ``page`` on ``host:port`` (port 0: any free one), bound and listening; its address is
    ``page_address(server)``. A port that cannot be had gets one line that names it."""
    try:
        return PageServer(page, name, host, port)
    except OSError as exc:
        raise RuntimeError(_listen_error(exc, host, port)) from None


def _listen_error(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is in use on {host}: choose another --port (0 picks a free one)"
    if exc.errno == errno.EACCES:
        return (
            f"port {port} on {host} is not open to this user (below 1024 it usually needs root): choose another --port"
        )
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot serve on --host {host}: it is not an address of this machine ({files.os_error_message(exc)})"
    return f"cannot serve on {host} port {port}: {files.os_error_message(exc)}"


def page_address(server: PageServer) -> str:
    host, port = server.server_address[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/{urllib.parse.quote(server.name)}"


def serve(server: PageServer) -> None:
    """Serve until Ctrl-C, which is how this is meant to end: one line, and the command exits 0."""
    print(
        f"serving {page_address(server)} (Ctrl-C stops; the page also opens from its file, without a server)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped serving", flush=True)


def is_loopback(host: str) -> bool:
    """True for a host only this machine can reach: ``localhost``, 127.x.x.x, ``::1``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- the command line ------------------------------------------------------------------------------------------


def step_count(text: str) -> int:
    """argparse type of ``--steps``: 0 to MAX_STEPS."""
    return integer(text, 0, MAX_STEPS, " (the page holds the numbers of every step)")


def port_number(text: str) -> int:
    """argparse type of ``--port``: 0 to 65535, where 0 asks the system for any free port."""
    return integer(text, 0, 65535, " (0 picks a free one)", kind="a port number")


def add_arguments(parser) -> None:
    """The flags of ``gpt explore`` (also ``python -m gpt.explore``)."""
    parser.add_argument(
        "--allow-unverified",
        action="store_true",
        help="load a checkpoint that carries no sha256 over its header (written by an older gpt)",
    )
    parser.add_argument("--out-dir", default="out/baby", help="the training run (holds ckpt.npz)")
    parser.add_argument("--prompt", default="ROMEO:\nBut soft", help="the text to follow through the network")
    parser.add_argument(
        "--output",
        help="the HTML file to write (default: OUT_DIR/explore.html); it replaces only an earlier explorer page",
    )
    parser.add_argument(
        "--steps", type=step_count, default=8, help=f"how many times 'next' can append a character (0 to {MAX_STEPS})"
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="also serve the page (that page alone) and print its address; Ctrl-C stops it, with exit code 0",
    )
    parser.add_argument("--port", type=port_number, default=8000, help="the port for --serve (0: any free one)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address --serve listens on (default 127.0.0.1: this machine only); another one shows the page, "
        "and the model's outputs in it, to that network",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--meta", help="for a nanoGPT run (its ckpt.pt): the meta.pkl of its dataset, which holds the vocabulary"
    )


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="gpt explore", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args) -> int:
    from .sample import load_model

    # Path("") would quietly mean the current folder, and --host "" every network interface
    for flag, value in (("--out-dir", args.out_dir), ("--output", args.output), ("--host", args.host)):
        if value is not None and value.strip() == "":
            raise ValueError(f"{flag} is empty: name one, or leave {flag} out for its default")
    out_dir = Path(args.out_dir)
    output = Path(args.output) if args.output is not None else out_dir / "explore.html"
    check_run_folder(out_dir)
    check_page_target(output)  # now, not after the slow part
    model, tokenizer, _ = load_model(out_dir, args.device, allow_unverified=args.allow_unverified, meta=args.meta)
    ids, block_size = check_prompt(tokenizer, args.prompt), model.config.block_size
    if len(ids) > block_size:
        print(
            f"gpt explore: note: the prompt is {len(ids)} tokens long and the model's context {block_size}: the "
            f"page starts from its last {block_size}",
            file=sys.stderr,
        )
    server = None
    if args.serve:  # listen before the slow part too: a busy port fails at once, and nothing is written
        server = make_server(b"", output.name, args.host, args.port)
        if not is_loopback(args.host):
            print(
                f"gpt explore: warning: --host {args.host} makes the page, with the model's outputs in it, visible "
                "to every machine that can reach this one on that network",
                file=sys.stderr,
            )
    with server if server is not None else contextlib.nullcontext():
        page = render(explore(model, tokenizer, args.prompt, args.steps)).encode("utf-8")
        files.write_bytes(output, page, replaces=(PAGE_KIND,), what="the explorer page")
        print(f"wrote {output} ({len(page) / 1e6:.1f} MB); open it in a browser")
        if server is not None:
            server.page = page
            serve(server)
    return 0


if __name__ == "__main__":  # as `gpt explore ...`: one line for an error, never a traceback
    from .cli import main as gpt_main

    sys.exit(gpt_main(["explore", *sys.argv[1:]]))
