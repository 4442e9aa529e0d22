"""The commands that write beside a training run (``gpt explore``, ``gpt quantize``, ``gpt attention``,
``gpt experiment``) never lose it: they write atomically, replace only what they made themselves, leave no
temporary file behind when refused, and ``gpt explore --serve`` hands out the page and nothing else.

The bad command lines that need no setup are cases in tests/bad_inputs_cli_outputs.py; these need some (an
earlier page, a busy port, another run's int8 copy, ...), or check what happens after a success.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import socket
import threading
from pathlib import Path

import pytest

from gpt import checkpoint as ckpt
from gpt import explore, files
from gpt.cli import main
from gpt.experiments import common


@pytest.fixture(scope="session")
def trained_run(prepared_shakespeare, tmp_path_factory):
    """A finished tiny training run (ckpt.npz, log.jsonl), made once; tests use a copy (``run``)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    argv = ["train", "--preset", "tiny", "--max-iters", "4", "--eval-interval", "2", "--eval-iters", "1"]
    data = str(prepared_shakespeare[0])
    assert main([*argv, "--progress", "false", "--sample-chars", "0", "--data-dir", data, "--out-dir", str(run)]) == 0
    return run


@pytest.fixture
def run(trained_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


def everything(folder: Path) -> dict:
    """Every entry under ``folder``, hidden ones (temporary files) included, with the sha256 of each file."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
        for p in sorted(folder.rglob("*"))
        if p.name != ".lock"
    }


def refused(argv: list[str], capsys, code: int = 1) -> str:
    """Run ``gpt argv``, which must fail with ``code`` and one line on stderr (no traceback); that line."""
    assert main(argv) == code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "|" not in lines[0]  # the line is also a cell of the README's table
    return lines[0]


# -- gpt explore: the page -------------------------------------------------------------------------------------


def test_explore_replaces_its_own_page_and_nothing_else(run, tmp_path, capsys):
    page = run / "explore.html"
    assert main(["explore", "--out-dir", str(run), "--prompt", "ROMEO:", "--steps", "1"]) == 0
    assert files.EXPLORE_MARK in page.read_text(encoding="utf-8").split("</head>")[0]
    assert files.describe(page) == "a page made by gpt explore"
    assert main(["explore", "--out-dir", str(run), "--prompt", "JULIET:", "--steps", "1"]) == 0  # its own: replaced
    assert "JULIET" in page.read_text(encoding="utf-8")
    capsys.readouterr()

    # a page without the mark (someone's own, or one from before the mark) is refused, with what to do about it
    page.write_text("<!DOCTYPE html><html><body>my notes</body></html>", encoding="utf-8")
    before = everything(tmp_path)
    line = refused(["explore", "--out-dir", str(run), "--steps", "1"], capsys)
    assert "without gpt explore's mark" in line and "if it is an old explorer page, delete it" in line
    assert everything(tmp_path) == before


@pytest.mark.parametrize("where", ["ckpt.npz", "log.jsonl", ".", "notes.txt", "link.html"])
def test_explore_leaves_a_run_and_no_temporary_file_when_the_output_is_not_a_page(where, run, tmp_path, capsys):
    (run / "notes.txt").write_text("mine\n", encoding="utf-8")
    (run / "link.html").symlink_to(run / "ckpt.npz")  # a link is refused, not followed onto the checkpoint
    before = everything(tmp_path)
    line = refused(["explore", "--out-dir", str(run), "--output", str(run / where), "--steps", "1"], capsys)
    assert "refusing to write the explorer page" in line
    assert everything(tmp_path) == before  # nothing replaced, no .tmp left


def test_explore_names_a_corrupt_checkpoint(run, tmp_path, capsys):
    (run / ckpt.FILENAME).write_bytes(b"PK\x03\x04 not really a zip archive")
    before = everything(tmp_path)
    line = refused(["explore", "--out-dir", str(run)], capsys)
    assert str(run / ckpt.FILENAME) in line
    assert everything(tmp_path) == before


def test_explore_notes_a_prompt_longer_than_the_context(run, capsys):
    assert main(["explore", "--out-dir", str(run), "--prompt", "ROMEO: " * 10, "--steps", "0"]) == 0
    err = capsys.readouterr().err
    assert "the prompt is 70 tokens long and the model's context 16: the page starts from its last 16" in err


# -- gpt explore --serve: the page alone, to this machine alone ------------------------------------------------

PAGE = f"<!DOCTYPE html><html><head>{files.EXPLORE_MARK}</head><body>the page</body></html>".encode()


@pytest.fixture
def served(tmp_path):
    """A page server on a free port (in a thread), in a folder that also holds a checkpoint, a log, a sub-folder
    and a symbolic link out of it: none of them may be served. Yields a function ``get(path, method, host)``
    returning (status, headers, body)."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "ckpt.npz").write_bytes(b"PK weights")
    (folder / "log.jsonl").write_text('{"iter": 0}\n')
    (folder / "attention").mkdir()
    (folder / "attention" / "layer_0.png").write_bytes(b"\x89PNG")
    (tmp_path / "secret.txt").write_text("outside the folder")
    (folder / "link.txt").symlink_to(tmp_path / "secret.txt")
    (folder / "explore.html").write_bytes(PAGE)
    server = explore.make_server((folder / "explore.html").read_bytes(), "explore.html", port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    port = server.server_address[1]

    def get(path: str, method: str = "GET", host: str | None = "127.0.0.1:{port}") -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            # putrequest sends the path exactly as given (no normalising of /../), and the Host header we choose
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            if host is not None:
                connection.putheader("Host", host.replace("{port}", str(port)))
            connection.endheaders()
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    try:
        yield get
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def test_serve_answers_the_page_with_safe_headers(served):
    for path in ("/", "/explore.html"):
        status, headers, body = served(path)
        assert (status, body) == (200, PAGE)
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Cache-Control"] == "no-store"
    status, headers, body = served("/", method="HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", str(len(PAGE)))


@pytest.mark.parametrize(
    "path",
    [
        "/ckpt.npz",
        "/log.jsonl",
        "/../x",
        "/%2e%2e/",
        "/%2e%2e/secret.txt",
        "/link.txt",
        "/?x",
        "/explore.html?download",
        "/attention/",
        "/attention",
        "/attention/layer_0.png",
        "//ckpt.npz",
        "/explore.html/",
    ],
)
def test_serve_answers_nothing_but_the_page(served, path):
    status, _, body = served(path)
    assert status == 404
    assert b"PK" not in body and b"outside" not in body and b"iter" not in body


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST", "127.0.0.1"])
def test_serve_answers_requests_addressed_to_this_machine(served, host):
    assert served("/", host=host)[0] == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example", "", "[::1", "a b", "localhost:x"]
)
def test_serve_refuses_another_host_name(served, host):
    """DNS rebinding: another site's name resolving to 127.0.0.1 still arrives with that name as Host."""
    status, _, body = served("/", host=host)
    assert status in (400, 421) and PAGE not in body


def test_serve_refuses_a_request_without_host(served):
    status, _, body = served("/", host=None)
    assert status == 400 and PAGE not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"])
def test_serve_allows_only_get_and_head(served, method):
    status, headers, body = served("/", method=method)
    assert status == 405 and headers["Allow"] == "GET, HEAD" and PAGE not in body


def test_the_host_given_with_host_is_answered_too():
    assert explore.host_name("Example.ORG:8000") == "example.org" and explore.host_name("[::1]:1") == "[::1]"
    assert explore.host_name("a:b:c") is None and explore.host_name("localhost:") is None
    with explore.make_server(PAGE, "explore.html", host="0.0.0.0", port=0) as server:
        assert server.allowed_hosts == {"127.0.0.1", "localhost", "[::1]", "0.0.0.0"}
    try:
        server = explore.make_server(PAGE, "explore.html", host="::1", port=0)
    except RuntimeError:
        pytest.skip("no IPv6 loopback on this machine")
    with server:
        assert explore.page_address(server).startswith("http://[::1]:")


def test_gpt_explore_serve_listens_on_localhost_and_serves_the_written_page(run, monkeypatch, capsys):
    seen = {}

    def fake_serve(server):  # instead of serving until Ctrl-C: look at the server, fetch the page once
        seen["address"] = server.server_address[0]
        seen["page"] = server.page
        seen["printed"] = explore.page_address(server)

    monkeypatch.setattr(explore, "serve", fake_serve)
    assert main(["explore", "--out-dir", str(run), "--steps", "1", "--serve", "--port", "0"]) == 0
    assert seen["address"] == "127.0.0.1" and seen["page"] == (run / "explore.html").read_bytes()
    assert seen["printed"].startswith("http://127.0.0.1:") and seen["printed"].endswith("/explore.html")
    assert "warning" not in capsys.readouterr().err


def test_gpt_explore_warns_when_the_page_is_exposed_to_a_network(run, monkeypatch, capsys):
    monkeypatch.setattr(explore, "serve", lambda server: None)
    assert main(["explore", "--out-dir", str(run), "--steps", "0", "--serve", "--port", "0", "--host", "0.0.0.0"]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(warning) == 1 and "warning: --host 0.0.0.0 makes the page, with the model's outputs" in warning[0]


def test_ctrl_c_stops_serving_with_one_line_and_exit_0(run, monkeypatch, capsys):
    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(explore.PageServer, "serve_forever", interrupted)
    assert main(["explore", "--out-dir", str(run), "--steps", "0", "--serve", "--port", "0"]) == 0
    captured = capsys.readouterr()
    assert captured.out.rstrip().endswith("stopped serving") and captured.err == ""


def test_a_busy_port_is_named_before_anything_is_written(run, tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        before = everything(tmp_path)
        line = refused(["explore", "--out-dir", str(run), "--serve", "--port", str(port)], capsys)
    assert line.endswith(f"port {port} is in use on 127.0.0.1: choose another --port (0 picks a free one)")
    assert everything(tmp_path) == before  # listened first: no page written


# -- gpt quantize ----------------------------------------------------------------------------------------------


def test_quantize_replaces_only_an_earlier_copy_of_the_same_run(run, tmp_path, capsys):
    quick = ["--eval-iters", "1"]
    assert main(["quantize", "--out-dir", str(run), *quick]) == 0
    copy = tmp_path / "run-q8"
    assert ckpt.read_checkpoint(copy)[0]["quantization"]["source"] == str(run)
    assert main(["quantize", "--out-dir", str(run), "--group-size", "8", *quick]) == 0  # again: replaced
    assert ckpt.read_checkpoint(copy)[0]["quantization"]["group_size"] == 8
    capsys.readouterr()

    # quantizing the copy, or another run into this copy's folder, is refused and changes nothing
    other = tmp_path / "other"
    shutil.copytree(run, other)
    (other / "log.jsonl").unlink()  # only its checkpoint: a float32 run of its own
    (tmp_path / "elsewhere").symlink_to(run)  # another name for the run itself
    before = everything(tmp_path)
    assert "is already quantized: it is an int8 copy of" in refused(["quantize", "--out-dir", str(copy)], capsys)
    line = refused(["quantize", "--out-dir", str(other), "--to", str(copy), *quick], capsys)
    assert f"an int8 copy of another run ({run})" in line
    line = refused(["quantize", "--out-dir", str(run), "--to", str(other), *quick], capsys)
    assert "it holds a checkpoint of float32 weights, a run of its own" in line
    line = refused(["quantize", "--out-dir", str(run), "--to", str(tmp_path / "elsewhere"), *quick], capsys)
    assert "is the run being quantized" in line
    assert everything(tmp_path) == before


def test_quantize_notes_a_group_size_that_does_not_divide_the_rows(run, tmp_path, capsys):
    assert main(["quantize", "--out-dir", str(run), "--group-size", "7", "--eval-iters", "1"]) == 0
    assert "note: a group size of 7 does not divide rows of 16" in capsys.readouterr().out


# -- gpt attention ---------------------------------------------------------------------------------------------


def test_attention_replaces_pictures_and_nothing_else(run, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="gpt attention draws with matplotlib")
    pictures = run / "attention"
    assert main(["attention", "--out-dir", str(run), "--prompt", "ROMEO:"]) == 0
    assert files.describe(pictures / "layer_0.png") == "a PNG image"
    assert main(["attention", "--out-dir", str(run), "--prompt", "JULIET:"]) == 0  # a picture: replaced
    capsys.readouterr()
    for what, make in (("a file", lambda p: p.write_text("notes")), ("a folder", lambda p: p.mkdir())):
        (pictures / "layer_0.png").unlink()
        make(pictures / "layer_0.png")
        before = everything(tmp_path)
        line = refused(["attention", "--out-dir", str(run), "--prompt", "ROMEO:"], capsys)
        assert f"it holds {what}, and only a PNG image may be replaced there" in line
        assert everything(tmp_path) == before


# -- gpt experiment --------------------------------------------------------------------------------------------


def test_an_experiment_replaces_its_own_results_only(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["experiment", "addition", "--quick", "--out-dir", str(out), "--formats", "reversed"]) == 0
    first = everything(out)
    assert json.loads((out / "addition.json").read_text())["experiment"] == "addition"
    assert main(["experiment", "addition", "--quick", "--out-dir", str(out), "--formats", "reversed"]) == 0
    assert set(everything(out)) == set(first)  # the same files again, no temporary ones
    common.check_results(out, "addition")  # its own: fine
    capsys.readouterr()


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("addition.json", None, "it holds a checkpoint"),  # a run's checkpoint under a colliding name
        ("addition.json", '{"experiment": "modern"}', "it does not name the experiment addition"),
        ("addition.json", '{"iter": 0, "loss": 1.0}\n', "it holds a training log"),
        ("addition.md", "# my notes\n", "there is no addition.json beside it"),
        ("addition.csv", "a,b\n1,2\n", "there is no addition.json beside it"),
        ("addition.png", "folder", "it holds a folder"),
    ],
)
def test_an_experiment_refuses_other_files_under_its_names_before_training(
    name, content, message, run, tmp_path, capsys
):
    out = tmp_path / "results"
    out.mkdir()
    if content is None:
        shutil.copy(run / ckpt.FILENAME, out / name)
    elif content == "folder":
        (out / name).mkdir()
    else:
        (out / name).write_text(content)
    before = everything(tmp_path)
    line = refused(["experiment", "addition", "--quick", "--out-dir", str(out)], capsys)
    assert message in line and "choose another" in line
    assert everything(tmp_path) == before
    assert "training" not in capsys.readouterr().out  # refused before any training


def test_experiment_results_are_refused_at_the_end_too(tmp_path):
    """Training may take hours: if someone puts a file under a result's name meanwhile, it is still refused."""
    out = tmp_path / "results"
    results = common.Results("addition", [], out)
    out.mkdir()
    (out / "addition.md").write_text("written meanwhile")
    with pytest.raises(files.WriteRefused, match="there is no addition.json beside it"):
        results.write([{"a": 1}], {}, "| a |\n|---|\n| 1 |\n", None)
    assert sorted(p.name for p in out.iterdir()) == ["addition.md"]
