"""``gpt experiment assistant --quick``: the whole path (pretrain, SFT, DPO, evaluation, exposure) for every row of
the table, at a tiny budget, writing the table and the plot."""

from __future__ import annotations

import importlib.util
import json
import math

from gpt.cli import main
from gpt.experiments import assistant

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def test_assistant_quick_writes_the_whole_table(tmp_path, capsys):
    corpus = tmp_path / "prose.txt"
    corpus.write_text("The library opens at eight, and the students walk to Hale Hall.\n" * 300)
    out = tmp_path / "results"
    assert main(["experiment", "assistant", "--quick", "--seeds", "1", "--corpus", str(corpus),
                 "--out-dir", str(out)]) == 0  # fmt: skip
    result = json.loads((out / "assistant.json").read_text())
    assert result["experiment"] == "assistant" and result["seeds"] == [1]
    names = [name for name, _ in assistant.VARIANTS]
    assert result["variants"] == names
    assert sorted((r["variant"], r["seed"]) for r in result["runs"]) == sorted((n, 1) for n in names)
    for run in result["runs"]:
        for key, _ in assistant.COLUMNS:
            value = run[key]
            assert 0 <= value <= (math.log2(result["candidates"]) if key == "exposure" else 1), (key, value)
    table = (out / "assistant.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(names)
    assert (out / "assistant.png").is_file() == HAS_MATPLOTLIB
    assert (out / "assistant_curves.csv").read_text().count("dpo") == 2  # two DPO steps


def test_assistant_refuses_rows_it_does_not_have(tmp_path, capsys):
    corpus = tmp_path / "prose.txt"
    corpus.write_text("Some prose.\n" * 300)
    assert main(["experiment", "assistant", "--quick", "--variants", "9", "--corpus", str(corpus),
                 "--out-dir", str(tmp_path / "r")]) == 1  # fmt: skip
    assert "--variants are row numbers" in capsys.readouterr().err


def test_the_sft_row_runs_alone_and_seeds_run_apart_combine_into_one_table(tmp_path, capsys):
    corpus = tmp_path / "prose.txt"
    corpus.write_text("Some prose about the college and its library.\n" * 300)
    common = ["experiment", "assistant", "--quick", "--variants", "2", "--corpus", str(corpus)]
    for seed in (1, 2):
        assert main([*common, "--seeds", str(seed), "--out-dir", str(tmp_path / f"seed{seed}")]) == 0
    row = assistant.VARIANTS[1][0]
    assert [r["variant"] for r in json.loads((tmp_path / "seed1" / "assistant.json").read_text())["runs"]] == [row]
    out = tmp_path / "both"
    assert main(["experiment", "assistant", "--combine", str(tmp_path / "seed1"), str(tmp_path / "seed2"),
                 "--out-dir", str(out)]) == 0  # fmt: skip
    both = json.loads((out / "assistant.json").read_text())
    assert both["seeds"] == [1, 2] and [r["seed"] for r in both["runs"]] == [1, 2] and len(both["parts"]) == 2
    assert " ± " in (out / "assistant.md").read_text()
    capsys.readouterr()
    assert main(["experiment", "assistant", "--combine", str(tmp_path / "seed1"), str(tmp_path / "seed1"),
                 "--out-dir", str(tmp_path / "twice")]) == 1  # fmt: skip
    assert "a seed appears twice" in capsys.readouterr().err
