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
    for expected in ("prepare shakespeare", "prepare text", "train", "sample", "attention", "bench"):
        assert expected in paths
    assert {f"experiment {name}" for name in cli.EXPERIMENTS} <= paths


@pytest.mark.parametrize("path", [p for p, _ in ALL if p and p[0] != "bench"], ids=" ".join)
def test_every_command_has_help(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*path, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: gpt {' '.join(path)}")


def test_gpt_bench_help_is_the_benchmarks_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench", "--help"])
    assert exit_info.value.code == 0 and "python -m benchmarks" in capsys.readouterr().out


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
