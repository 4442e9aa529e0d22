"""The calculator experiment (``gpt experiment calculator``): its data format, the schoolbook traces (checked by
reading them back as arithmetic), held-out problems that never reach training, masking, scoring, and an end-to-end
run at the ``--quick`` budget."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_experiments import check_outputs

from gpt.cli import main
from gpt.experiments import calculator as calc

operand = st.integers(0, 999)
divisor = st.integers(1, 999)


def unrev(digits: str) -> int:
    return int(digits[::-1])


def test_documented_examples():
    """The module docstring's examples are what the code writes."""
    examples = [
        ("+", 123, 456, True, "123+456=9750$"),
        ("-", 123, 456, True, "123-456=-333$"),
        ("*", 123, 456, False, "123*456=880650$"),
        ("*", 123, 456, True, "123*456=8370,5160,88860,2940>880650$"),
        ("/", 123, 45, False, "123/045=200r330$"),
        ("/", 123, 45, True, "123/045=1000,0,0000,100,2100,0,0000,210,3210,2,0900,330>200r330$"),
    ]
    for op, a, b, traces, text in examples:
        assert "".join(calc.format_problem(op, a, b, traces)) == text
        assert text in calc.__doc__


@given(operand, operand)
def test_answers_read_back_as_the_right_numbers(a, b):
    assert unrev(calc.answer_of("+", a, b)) == a + b
    diff = calc.answer_of("-", a, b)
    assert diff[0] in "+-" and (-1 if diff[0] == "-" else 1) * unrev(diff[1:]) == a - b
    assert unrev(calc.answer_of("*", a, b)) == a * b
    if b:
        q, r = calc.answer_of("/", a, b).split("r")
        assert (unrev(q), unrev(r)) == divmod(a, b)


@given(operand, operand)
def test_the_multiplication_trace_is_the_schoolbook_algorithm(a, b):
    p0, p1, s1, p2 = calc.trace("*", a, b)
    units, tens, hundreds = (int(d) for d in f"{b:03d}"[::-1])
    assert (unrev(p0), unrev(p1), unrev(p2)) == (a * units, a * tens, a * hundreds)
    assert unrev(s1) == unrev(p0) + 10 * unrev(p1)
    assert unrev(s1) + 100 * unrev(p2) == a * b
    assert [len(x) for x in (p0, p1, s1, p2)] == [4, 4, 5, 4]


@given(operand, divisor)
def test_the_division_trace_is_long_division(a, b):
    steps = calc.trace("/", a, b)
    assert len(steps) == 12
    remainder, quotient = 0, ""
    for k, digit in enumerate(f"{a:03d}"):
        brought_down, q, product, r = steps[4 * k : 4 * k + 4]
        brought_down = unrev(brought_down)
        assert brought_down == 10 * remainder + int(digit)
        assert int(q) == brought_down // b and unrev(product) == int(q) * b
        assert unrev(r) == brought_down - unrev(product) and unrev(r) < b
        remainder, quotient = unrev(r), quotient + q
    assert (int(quotient), remainder) == divmod(a, b)


def test_only_multiplication_and_division_have_traces():
    assert calc.trace("+", 12, 34) == [] and calc.trace("-", 12, 34) == []
    assert calc.format_problem("+", 12, 34, True) == calc.format_problem("+", 12, 34, False)


def test_bad_problems_are_refused():
    with pytest.raises(ValueError, match="divisor at least 1"):
        calc.format_problem("/", 5, 0, True)
    with pytest.raises(ValueError, match="0..999"):
        calc.format_problem("+", 1000, 1, True)
    with pytest.raises(ValueError, match="operation must be one of"):
        calc.format_problem("%", 1, 2, True)


def test_every_problem_fits_the_sequence_length_and_the_vocabulary():
    rng = np.random.default_rng(0)
    for traces in (True, False):
        problems = calc.draw(rng, 500) + [(op, 999, 999) for op in calc.OPERATIONS] + [("/", 0, 1), ("*", 0, 0)]
        for problem in problems:
            text = "".join(calc.format_problem(*problem, traces))
            assert len(text) <= calc.sequence_length(traces)
            assert set(text) <= set(calc.VOCAB)


def test_targets_are_masked_on_the_prompt_and_the_padding():
    problems = [("*", 123, 456), ("+", 1, 2)]
    x, y = calc.encode(problems, traces=True)
    for row, problem in enumerate(problems):
        prompt, completion = calc.format_problem(*problem, True)
        answer_targets = y[row][y[row] >= 0]
        assert calc.TOKENIZER.decode(answer_targets) == completion  # exactly the completion is learned
        assert (y[row, : len(prompt) - 1] == -1).all()
        assert calc.TOKENIZER.decode(x[row, : len(prompt)]) == prompt


def test_draw_spreads_operations_and_sizes():
    problems = calc.draw(np.random.default_rng(1), 12_000)
    ops = [p[0] for p in problems]
    total = sum(calc.OP_WEIGHTS.values())
    for op, weight in calc.OP_WEIGHTS.items():
        assert ops.count(op) == pytest.approx(12_000 * weight / total, rel=0.1)
    sizes = [calc.num_digits(a, b) for _, a, b in problems]
    assert sizes.count(1) == pytest.approx(12_000 / 9, rel=0.15)  # both operands one digit: 1/3 x 1/3
    assert all(b >= 1 for op, _, b in problems if op == "/")


def test_held_out_problems_never_reach_training():
    test = calc.held_out(50, np.random.default_rng(0))
    excluded = {p for cell in test.values() for p in cell}
    assert len(excluded) == sum(map(len, test.values()))  # distinct
    for (op, d), cell in test.items():
        assert all(p[0] == op and calc.num_digits(p[1], p[2]) == d for p in cell)
        assert len(cell) == (50 if d > 1 else min(50, calc._pool(op, 1) // 5))
    rng = np.random.default_rng(2)
    for _ in range(20):
        batch = calc.training_problems(rng, 256, excluded)
        assert len(batch) == 256 and not set(batch) & excluded
    assert calc.training_problems(np.random.default_rng(3), 64, excluded) == calc.training_problems(
        np.random.default_rng(3), 64, excluded
    )


def test_final_answer_and_exact_match_of_a_model_that_knows_the_answers(monkeypatch):
    assert calc.final_answer("8370,5160,88860,2940>880650$ 12") == "880650$"
    assert calc.final_answer("9750$$") == "9750$" and calc.final_answer("9750") is None
    cells = {"a": [("*", 12, 34), ("/", 99, 7)], "b": [("-", 5, 9)], "empty": []}

    def oracle(model, problems, traces, device):
        answers = ["".join(calc.format_problem(*p, traces)[1]) + "junk" for p in problems]
        answers[-1] = "+444$"  # 5 - 9 answered wrongly
        return answers

    monkeypatch.setattr(calc, "solve", oracle)
    scores = calc.exact_match(None, cells, True, "cpu")
    assert scores["a"] == 1.0 and scores["b"] == 0.0 and np.isnan(scores["empty"])


def test_quick_run_through_the_cli(tmp_path):
    assert main(["experiment", "calculator", "--quick", "--out-dir", str(tmp_path)]) == 0
    result, rows = check_outputs(tmp_path, "calculator")
    assert [(r[0], r[1]) for r in rows[1:]] == [
        (fmt, calc.OP_NAMES[op]) for fmt in calc.FORMATS for op in calc.OPERATIONS
    ]
    assert all(cell.endswith("%") for row in rows[1:] for cell in row[2:6])
    assert {r["format"] for r in result["runs"]} == set(calc.FORMATS)
    assert set(result["n_test"]) == {f"{op}{d}" for op in calc.OPERATIONS for d in (1, 2, 3)}
