"""The one command-line style: one argparse tree, ``--help`` on every command, both flag spellings."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from gpt import cli


def commands(parser: argparse.ArgumentParser, path=()):
    """Every (command path, parser) of the tree."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


ALL = list(commands(cli._parser()))


def test_the_tree_has_every_command():
    paths = {" ".join(p) for p, _ in ALL}
    for expected in ("prepare shakespeare", "prepare text", "train", "sample", "attention", "explore", "quantize"):
        assert expected in paths
    assert "bench" not in paths  # the benchmarks are `python -m benchmarks`: gpt imports nothing of theirs
    assert {f"experiment {name}" for name in cli.EXPERIMENTS} <= paths


@pytest.mark.parametrize("path", [p for p, _ in ALL if p], ids=" ".join)
def test_every_command_has_help(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*path, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: gpt {' '.join(path)}")


@pytest.mark.parametrize("argv", [["bench"], ["bench", "--help"], ["bench", "peak", "--quick", "--out", "a b"]])
def test_gpt_bench_is_gone_and_says_what_to_run(argv, capsys):
    """`gpt bench` was the one import from gpt up to benchmarks: it now names the command to run instead."""
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    command = "python -m benchmarks " + (" ".join(argv[1:]).replace("a b", "'a b'") if argv[1:] else "--help")
    assert captured.out == "" and captured.err == f"gpt: error: `gpt bench` is gone: run `{command}` instead\n"


@pytest.mark.parametrize("path, parser", ALL, ids=[" ".join(p) or "gpt" for p, _ in ALL])
def test_every_flag_of_several_words_has_both_spellings(path, parser):
    for action in parser._actions:
        flags = [f for f in action.option_strings if f.startswith("--")]
        for flag in flags:
            if "-" in flag[2:] or "_" in flag[2:]:
                assert {"--" + flag[2:].replace("_", "-"), "--" + flag[2:].replace("-", "_")} <= set(flags), flags


def test_importing_the_cli_does_not_import_the_benchmarks():
    code = "import sys, gpt.cli; print(any(m.split('.')[0] == 'benchmarks' for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
