"""The experiments of ``gpt experiment``: each runs end to end at a tiny budget (``--quick``), and the pieces they
are built from (addition data, corpus character mapping, switch line-finding, tables, verdicts) are unit-tested."""

from __future__ import annotations

import importlib.util
import json
import lzma
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from gpt.experiments import ablation, addition, common, modern, pretrain_finetune
from gpt.train import Batches

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
SHAKESPEARE_VOCAB = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def data_args(prepared_shakespeare):
    """Flags that point an experiment at the tinyshakespeare prepared once for the test session."""
    data_dir, source = prepared_shakespeare
    return ["--data-dir", str(data_dir), "--shakespeare", str(source)]


def table_rows(md: str) -> list[list[str]]:
    """The cells of the first markdown table in ``md``; checks every row has the header's number of cells."""
    lines = [line for line in md.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    assert len(cells) >= 2 and all(set(c) <= {"-", ""} for c in cells[1]), "no header separator"
    assert all(len(row) == len(cells[0]) for row in cells), "rows with a different number of cells"
    return [cells[0]] + cells[2:]


def check_outputs(out: Path, name: str) -> tuple[dict, list[list[str]]]:
    for suffix in (".csv", ".json", ".md"):
        assert (out / f"{name}{suffix}").is_file(), f"{name}{suffix} not written"
    assert (out / f"{name}.png").is_file() == HAS_MATPLOTLIB
    result = json.loads((out / f"{name}.json").read_text())
    assert result["experiment"] == name
    assert result["command"].startswith(f"gpt experiment {name} ")
    assert result["elapsed_s"] >= 0
    return result, table_rows((out / f"{name}.md").read_text())


# -- end to end, at the --quick budget -------------------------------------------------------------------------


def test_ablation_quick(tmp_path, data_args):
    assert ablation.main(["--quick", "--out-dir", str(tmp_path), *data_args]) == 0
    result, rows = check_outputs(tmp_path, "ablation")
    names = [v.name for v in ablation.variants()]
    assert [r[1] for r in rows[1:]] == names  # header + one row per variant
    assert len(result["variants"]) == len(names) and len(result["seeds"]) >= 2
    assert {"bigram", "single head", "multi-head", "+ LayerNorm", "no residual", "no dropout"} <= set(names)
    for row, v in zip(rows[1:], result["variants"]):
        assert np.isfinite(v["val_loss_mean"]) and v["seeds"] == 2
        if v["variant"] != "full model":
            assert re.match(r"gpt/(model|lecture)\.py:\d+ `", row[rows[0].index("switch")])
    assert (tmp_path / "ablation_curves.csv").is_file()


def test_addition_quick(tmp_path):
    assert addition.main(["--quick", "--out-dir", str(tmp_path)]) == 0
    result, rows = check_outputs(tmp_path, "addition")
    assert [r[0] for r in rows[1:]] == ["reversed", "plain"]
    assert rows[0][1:4] == [f"{d}-digit exact match (n={result['n_test'][str(d)]})" for d in (1, 2, 3)]
    assert {r["format"] for r in result["runs"]} == {"reversed", "plain"}
    assert all(0 <= r["acc_3d"] <= 1 for r in result["runs"])
    assert result["format_example"]["reversed"] == "003+459=2640$"


def test_pretrain_finetune_quick(tmp_path, data_args):
    corpus = tmp_path / "corpus.txt.xz"
    text = "“Well,” said _Tom_—the café’s owner—“it is 1850… (or so).”\n" * 400
    with lzma.open(corpus, "wt", encoding="utf-8") as f:
        f.write(text)
    out = tmp_path / "out"
    argv = ["--quick", "--corpus", str(corpus), "--block-size", "16", "--out-dir", str(out), *data_args]
    assert pretrain_finetune.main(argv) == 0
    result, rows = check_outputs(out, "pretrain-finetune")
    assert [r[0] for r in rows[1:]][:3] == ["pretrained only (zero-shot)", "pretrained + fine-tuned", "from scratch"]
    mapping = result["char_mapping"]
    assert mapping["kept_fraction"] + mapping["mapped_fraction"] + mapping["dropped_fraction"] == pytest.approx(1)
    assert mapping["dropped_fraction"] > 0 and mapping["mapped_fraction"] > 0
    run = result["runs"][0]
    assert all(np.isfinite(run[k]) for k in ("zero_shot_val", "finetuned_val", "scratch_val"))
    # the same fixed validation windows everywhere: fine-tuning starts exactly at the zero-shot loss
    start = next(c for c in result["curves"] if c["phase"] == "fine-tuned" and c["step"] == 0)
    assert start["val_loss"] == run["zero_shot_val"]


def test_modern_quick_through_the_cli(tmp_path, data_args):
    from gpt.cli import main

    assert main(["experiment", "modern", "--quick", "--out-dir", str(tmp_path), *data_args]) == 0
    result, rows = check_outputs(tmp_path, "modern")
    assert [r[0] for r in rows[1:]] == list(modern.VARIANTS)
    assert len(result["seeds"]) >= 3
    assert all(v["verdict"] for v in result["variants"][1:])
    # RoPE drops the learned position table; SwiGLU keeps the MLP's parameter count within 1%
    params = {v["variant"]: v["params"] for v in result["variants"]}
    base = params["baseline (learned positions, GELU)"]
    assert params["RoPE"] < base and abs(params["SwiGLU"] - base) / base < 0.01


# -- addition data -------------------------------------------------------------------------------------------


def test_addition_format_reverses_the_answer_and_ends_with_the_delimiter():
    assert addition.format_problem(3, 459, reverse=False) == ("3+459=", "462$")
    assert addition.format_problem(3, 459, reverse=True) == ("3+459=", "264$")
    assert addition.format_problem(3, 459, reverse=True, width=3) == ("003+459=", "2640$")
    assert addition.format_problem(999, 999, reverse=False, width=3) == ("999+999=", "1998$")
    assert len("".join(addition.format_problem(999, 999, True, 3))) == addition.sequence_length(3)


@pytest.mark.parametrize("pad", [True, False])
def test_addition_targets_are_masked_on_the_prompt_and_padding(pad):
    problems = [(3, 459), (12, 7), (999, 999)]
    x, y = addition.encode(problems, reverse=True, max_digits=3, pad=pad)
    assert x.shape == y.shape == (3, addition.sequence_length(3) - 1)
    for row, (a, b) in enumerate(problems):
        prompt, answer = addition.format_problem(a, b, True, 3 if pad else None)
        assert addition.TOKENIZER.decode(x[row, : len(prompt)]) == prompt
        assert (y[row, : len(prompt) - 1] == -1).all()  # no loss on predicting the operands
        kept = y[row][y[row] != -1]
        assert addition.TOKENIZER.decode(kept) == answer  # exactly the answer and its '$' are learned
        assert (y[row, len(prompt) - 1 : len(prompt) - 1 + len(answer)] == kept).all()


def test_addition_train_and_test_problems_are_disjoint():
    train, test = addition.split_problems(3, n_train=3000, n_test=200, rng=np.random.default_rng(0))
    assert len(train) == 3000 and len(set(train)) == len(train)
    assert [len(test[d]) for d in (1, 2, 3)] == [20, 200, 200]  # at most a fifth of the 100 one-digit problems
    held_out = {p for d in test for p in test[d]}
    assert not held_out & set(train)
    for d, problems in test.items():
        assert all(addition.num_digits(a, b) == d for a, b in problems)
    assert sum(addition.num_digits(a, b) == 3 for a, b in train) >= 1500  # the hard problems are at least half


def test_addition_exact_match_needs_the_delimiter():
    answers = ["264$"] * 5
    predicted = ["264$", "264$17", "2640", "26$4$", "264"]
    assert addition.score(predicted, answers).tolist() == [True, True, False, False, False]


def test_addition_accuracy_of_a_model_that_knows_the_answers(monkeypatch):
    """``accuracy`` decodes greedily and scores; an oracle stand-in for the model must score 100%."""
    import tinygrad_edu as torch

    tok = addition.TOKENIZER

    class Oracle:
        def __call__(self, idx):
            rows = []
            for seq in idx.numpy():
                text = tok.decode(seq)
                prompt, done = text.split("=")[0] + "=", text.split("=")[1]
                a, b = (int(v) for v in prompt[:-1].split("+"))
                answer = addition.format_problem(a, b, True, 3)[1]
                nxt = answer[len(done)] if len(done) < len(answer) else "$"
                logits = np.zeros((len(seq), tok.vocab_size), dtype=np.float32)
                logits[-1, tok.stoi[nxt]] = 1.0
                rows.append(logits)
            return torch.tensor(np.stack(rows)), None

    problems = [(3, 459), (12, 7), (999, 999), (5, 5)]
    assert addition.accuracy(Oracle(), problems, reverse=True, max_digits=3, device="cpu") == 1.0
    assert addition.accuracy(Oracle(), problems, reverse=False, max_digits=3, device="cpu") < 1.0


# -- the corpus's characters in tinyshakespeare's vocabulary ---------------------------------------------------


def test_char_map_documented_rules():
    table = pretrain_finetune.char_map(list('"“”‘’_—–é…æ7 3\u00a0€\tÉ(ﬁ'), SHAKESPEARE_VOCAB)
    expected = {'"': "'", "“": "'", "”": "'", "‘": "'", "’": "'", "_": "", "—": "-", "–": "-", "é": "e",
                "…": "...", "æ": "ae", "7": "", "3": "3", "\u00a0": " ", "€": "", "\t": " ", "É": "E", "(": "",
                "ﬁ": "fi", " ": " "}  # fmt: skip
    assert table == expected
    assert all(set(v) <= set(SHAKESPEARE_VOCAB) for v in table.values())


def test_map_corpus_output_is_in_the_vocabulary_and_counts_add_up():
    text = "“Café”—_1850_, said he.\n"
    mapped, stats = pretrain_finetune.map_corpus(text, SHAKESPEARE_VOCAB)
    assert mapped == "'Cafe'-, said he.\n"
    assert set(mapped) <= set(SHAKESPEARE_VOCAB)
    assert stats["chars_in"] == len(text) and stats["chars_out"] == len(mapped)
    assert stats["dropped_fraction"] == pytest.approx(6 / len(text))  # two _ and four digits
    assert stats["mapped_fraction"] == pytest.approx(4 / len(text))  # two quotes, a dash, é
    changes = {c["char"]: c["becomes"] for c in stats["most_frequent_changes"]}
    assert changes["_"] == "" and changes["é"] == "e"


def test_read_corpus_reads_only_a_prefix_of_an_xz_file(tmp_path):
    path = tmp_path / "c.txt.xz"
    with lzma.open(path, "wt", encoding="utf-8") as f:
        f.write("héllo world\n" * 100)
    assert pretrain_finetune.read_corpus(path, 7) == "héllo w"
    assert len(pretrain_finetune.read_corpus(path, None)) == 1200


# -- the ablation's switch lines ---------------------------------------------------------------------------------


def test_switch_lines_point_at_the_branch_in_the_source():
    by_name = {v.name: v for v in ablation.variants()}
    expect = {  # variant: text the found line must contain
        "no residual": "if self.residual",
        "no LayerNorm": "if config.layer_norm",
        "no position embedding": "config.position_embedding",
        "one head": "if self.single_head",
        "no MLP": "config.mlp ==",
        "no attention scaling": "if config.attention_scale",
        "no dropout": "nn.Dropout(config.dropout)",
    }
    for name, fragment in expect.items():
        path, line, text = common.source_line(*by_name[name].switch)
        assert path == "gpt/model.py" and fragment in text
        source = (common.REPO_ROOT / path).read_text().splitlines()
        assert source[line - 1].strip() == text  # the reported number is the real line
        assert ablation.switch_location(by_name[name]) == f"{path}:{line} `{text}`"


def test_source_line_prefers_a_branch_and_reports_missing_patterns():
    def f(config):
        config.flag = bool(config.flag)
        return 1 if config.flag else 0

    path, line, text = common.source_line(f, r"config\.flag")
    assert text == "return 1 if config.flag else 0" and path.endswith("test_experiments.py")
    with pytest.raises(LookupError):
        common.source_line(f, r"config\.missing")


# -- shared helpers ------------------------------------------------------------------------------------------


def test_markdown_table_and_mean_spread():
    rows = table_rows(common.markdown_table(["a", "b"], [["x|y", 1.23456], ["z", float("nan")]]))
    assert rows == [["a", "b"], ["x\\|y", "1.235"], ["z", "nan"]]
    assert common.mean_spread([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert common.mean_spread([5.0]) == (5.0, 0.0)
    assert common.fmt_mean_spread([1.0, 2.0, 3.0]) == "2.000 ± 1.000"


def test_verdict_reports_changes_within_the_seed_spread_as_no_difference():
    base = [2.00, 2.02, 1.98]
    assert modern.verdict(base, [1.90, 1.91, 1.89]) == "better"
    assert modern.verdict(base, [2.10, 2.11, 2.09]) == "worse"
    assert modern.verdict(base, [2.01, 1.99, 2.00]).startswith("no difference")
    assert modern.verdict([2.0], [1.0]).startswith("n/a")


def test_plot_is_skipped_with_a_hint_without_matplotlib(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    assert common.save_plot(tmp_path / "x.png", lambda fig: None) is False
    assert 'pip install -e ".[plot]"' in capsys.readouterr().out
    assert not (tmp_path / "x.png").exists()


def test_seeding_makes_training_repeatable(data_args):
    data = common.load_shakespeare(data_args[1])
    budget = common.Budget(steps=3, batch_size=4, warmup=1, eval_interval=3, eval_iters=1)
    evaluate = common.lm_evaluator({"val": data.val}, 8, 4, 1, "cpu")
    curves = []
    for _ in range(2):
        rng = common.seed_everything(7)
        model = ablation.variants()[-1].build(data.tokenizer.vocab_size)  # "no dropout"
        curves.append(common.train(model, Batches(data.train, 8, 4, "cpu").sample, budget, rng, evaluate))
    assert curves[0] == curves[1]
