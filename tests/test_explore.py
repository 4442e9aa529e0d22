"""``gpt explore``: what the page records (through hooks, without changing the model's outputs) is the forward
pass's own numbers; every panel's code link points at the line that computes it; and in a real headless
Chromium (Debian's ``chromium``, driven by Playwright) the page loads without errors or network requests, shows
the model's numbers, and its "next" and head buttons work."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import tinygrad_edu as torch
from gpt import checkpoint as ckpt
from gpt import explore, files
from gpt.cli import main
from gpt.data import CharTokenizer
from gpt.model import GPT, GPTConfig

TEXT = "hello world\nhow are you"
REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def tiny(**overrides) -> GPT:
    torch.manual_seed(0)
    config = dict(vocab_size=len(set(TEXT)), block_size=16, n_layer=2, n_head=2, n_embd=8, dropout=0.0)
    return GPT(GPTConfig(**{**config, **overrides}))


def tokenizer() -> CharTokenizer:
    return CharTokenizer.from_text(TEXT)


def saved_run(directory: Path, model: GPT) -> Path:
    tok = tokenizer()
    meta = {
        "iter": 0,
        "model_config": model.config.to_dict(),
        "train_config": {"dtype": "float32"},
        "vocab": tok.chars,
        "tokenizer": tok.to_dict() if hasattr(tok, "to_dict") else {"type": "char", "chars": tok.chars},
    }
    ckpt.save_checkpoint(directory / ckpt.FILENAME, model=model, meta=meta)
    return directory


@pytest.mark.parametrize("overrides", [{}, {"position_embedding": "rope", "mlp": "swiglu"}, {"mlp": "none"}])
def test_recording_is_the_forward_pass_and_changes_nothing(overrides):
    model = tiny(**overrides)
    ids = tokenizer().encode("how are")
    idx = torch.tensor([ids])
    before = model(idx)[0].detach().numpy()
    record = explore.record_pass(model, ids)
    np.testing.assert_array_equal(model(idx)[0].detach().numpy(), before)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())  # hooks removed

    maps = [m[0].numpy() for m in model.attention_maps(idx)]
    blocks = record["blocks"]
    for i, block in enumerate(blocks):
        np.testing.assert_allclose(block["attention"], maps[i], rtol=1e-6)
        # the pattern is softmax(q k^T / sqrt(hs)) under the causal mask, from the recorded q and k (no RoPE)
        if not overrides:
            scores = block["q"] @ block["k"].transpose(0, 2, 1) / np.sqrt(model.config.head_size)
            scores[:, np.triu(np.ones((len(ids),) * 2, dtype=bool), k=1)] = -np.inf
            softmax = np.exp(scores - scores.max(-1, keepdims=True))
            np.testing.assert_allclose(softmax / softmax.sum(-1, keepdims=True), block["attention"], atol=1e-6)
        if "mlp" in block:
            np.testing.assert_allclose(block["resid_mid"], block["resid_in"] + block["attn_out"], atol=1e-6)
            np.testing.assert_allclose(block["resid_out"], block["resid_mid"] + block["mlp"], atol=1e-6)
        if i + 1 < len(blocks):
            np.testing.assert_array_equal(blocks[i + 1]["resid_in"], block["resid_out"])
    np.testing.assert_allclose(record["logits"], before[0, -1], rtol=1e-6)
    top = explore.top_next(record["probs"], tokenizer())
    assert top[0]["id"] == int(before[0, -1].argmax()) and len(top) == 10
    assert [t["prob"] for t in top] == sorted((t["prob"] for t in top), reverse=True)
    assert ("pos_emb" in record) == ("position_embedding" not in overrides)


def test_every_code_link_points_at_the_line_that_computes_it():
    lines = (REPO / "gpt" / "model.py").read_text(encoding="utf-8").splitlines()
    links = explore.code_links(tiny())
    swiglu = explore.code_links(tiny(mlp="swiglu"))["mlp"]
    assert (links["mlp"]["class"], swiglu["class"]) == ("MLP", "SwiGLU")
    assert lines[swiglu["line"] - 1].strip() == swiglu["code"]
    assert {"tokens", "ln_1", "qkv", "attention", "attn_out", "resid_mid", "mlp", "resid_out", "logits"} <= set(links)
    for kind, link in links.items():
        assert lines[link["line"] - 1].strip() == link["code"], kind
    assert links["attention"]["class"] == "CausalSelfAttention" and "softmax" in links["attention"]["code"]
    assert (links["resid_mid"]["class"], links["resid_mid"]["method"]) == ("Block", "forward")


def test_each_next_step_appends_the_likeliest_character_and_crops_to_the_context():
    model, tok = tiny(), tokenizer()
    data = explore.explore(model, tok, "hello world\nhow", steps=3)  # 15 characters, block size 16
    passes = data["passes"]
    assert len(passes) == 4 and passes[0]["tokens"] == list("hello world\nhow")
    for previous, current in zip(passes, passes[1:]):
        assert current["tokens"][-1] == previous["top_next"][0]["char"]
        assert len(current["tokens"]) == min(16, len(previous["tokens"]) + 1)
    assert passes[-1]["tokens"][:-3] == list("llo world\nhow")  # slid: the first characters fell out
    assert data["source"] == (REPO / "gpt" / "model.py").read_text(encoding="utf-8").splitlines()
    with pytest.raises(ValueError, match="the prompt is empty"):
        explore.explore(model, tok, "", steps=1)


def test_the_page_is_self_contained_and_its_data_cannot_close_the_script():
    data = explore.explore(tiny(), tokenizer(), "how", steps=1)
    data["prompt"] = "</script><script>alert(1)</script>"
    page = explore.render(data)
    assert "__DATA__" not in page and "__TITLE__" not in page
    assert page.count("</script>") == 2  # the data block's and the code's own
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from anywhere
    blob = page.split('type="application/json">', 1)[1].split("</script>", 1)[0]
    assert json.loads(blob)["prompt"] == data["prompt"]


def test_gpt_explore_writes_the_page_and_refuses_bad_input(tmp_path, capsys):
    run = saved_run(tmp_path, tiny())
    assert main(["explore", "--out-dir", str(run), "--prompt", "how are", "--steps", "2"]) == 0
    page = (run / "explore.html").read_text(encoding="utf-8")
    assert "wrote" in capsys.readouterr().out and page.startswith("<!DOCTYPE html>")
    assert main(["explore", "--out-dir", str(run), "--prompt", "xyz!", "--steps", "1"]) != 0  # '!' not in vocab
    assert main(["explore", "--out-dir", str(tmp_path / "missing")]) != 0
    assert "ckpt.npz" in capsys.readouterr().err


def test_serve_serves_the_page():
    import threading
    import urllib.request

    page = explore.render(explore.explore(tiny(), tokenizer(), "how", steps=1)).encode("utf-8")
    assert files.EXPLORE_MARK in page.decode().split("</head>")[0]  # how gpt explore knows its own pages
    with explore.make_server(page, "explore.html", port=0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            address = explore.page_address(server)
            assert address.startswith("http://127.0.0.1:") and address.endswith("/explore.html")
            with urllib.request.urlopen(address, timeout=30) as response:
                assert response.read() == page
        finally:
            server.shutdown()
            thread.join(timeout=30)


# -- in a real browser -------------------------------------------------------------------------------------------


@pytest.fixture
def browser():
    playwright = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (pip install playwright)"
    )
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def test_the_page_in_chromium_shows_the_models_numbers(browser, tmp_path):
    model = tiny()
    run = saved_run(tmp_path, model)
    prompt = "how are y"
    assert main(["explore", "--out-dir", str(run), "--prompt", prompt, "--steps", "3"]) == 0
    tok = tokenizer()
    ids = tok.encode(prompt)
    logits = model(torch.tensor([ids]))[0].detach().numpy()[0, -1]
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    attention = [m[0].numpy() for m in model.attention_maps(torch.tensor([ids]))]

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    url = (run / "explore.html").resolve().as_uri()
    page.goto(url)
    shown = page.evaluate("window.explorer")
    assert shown["tokens"] == list(prompt) and shown["step"] == 0
    top1_char, top1_prob = page.inner_text("#top1 td.char"), page.inner_text("#top1 td.prob")
    assert top1_char == tok.decode([int(probs.argmax())]).replace(" ", "␣").replace("\n", "⏎")
    assert float(top1_prob) == pytest.approx(float(probs.max()), abs=5e-5)
    np.testing.assert_allclose(shown["attention"][1][0][-1], attention[1][0, -1], atol=1e-4)  # one row
    assert [t["prob"] for t in shown["top_next"]] == sorted((t["prob"] for t in shown["top_next"]), reverse=True)

    page.click("#next")
    after = page.evaluate("window.explorer")
    assert after["step"] == 1 and after["tokens"] == [*prompt, tok.decode([int(probs.argmax())])]
    page.click("button.head-button[data-layer='1'][data-head='1']")
    assert page.evaluate("window.explorer.selected_heads") == [0, 1]
    assert page.get_attribute("canvas.attention-map[data-layer='1']", "data-head") == "1"
    page.click("a.code-link >> nth=0")
    assert page.locator("#source div.hit").count() == 1
    page.hover("canvas.attention-map[data-layer='1']", position={"x": 30, "y": 30})
    assert page.is_visible("#tooltip") and "->" in page.inner_text("#tooltip")
    shot = tmp_path / "explorer.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:4] == b"\x89PNG"
    assert errors == []
    assert requests == [url]  # the page itself, nothing else
