"""The lecture's ladder (``gpt.lecture.RUNGS`` and ``gpt experiment lecture-ladder``): each rung is built the way
the lecture builds it, runs on PyTorch from the same file with the same numbers, and the experiment writes its
table with the lecture's figures beside both libraries'."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from test_experiments import check_outputs

import tinygrad_edu as tg
from gpt.cli import main
from gpt.experiments import lecture_ladder
from gpt.lecture import RUNGS, FeedForward, LadderLM, ladder_model
from gpt.library import module_on


@pytest.fixture
def data_args(prepared_shakespeare):
    data_dir, source = prepared_shakespeare
    return ["--data-dir", str(data_dir), "--shakespeare", str(source)]


def lecture_params(rung: str, V: int = 65, C: int = 32, T: int = 8, layers: int = 3) -> int:
    """Parameter counts written out from the lecture's code, to check the rungs are built as it builds them."""
    frame = V * C + T * C + C * V + V  # token table, position table, lm_head with bias
    heads = 3 * C * C  # key, query, value of all heads together (no bias), any number of heads
    counts = {
        "bigram": V * V,
        "single head": frame + heads,
        "multi-head": frame + heads,
        "+ feed-forward": frame + heads + C * C + C,
        "3 blocks": frame + layers * (heads + C * C + C),
        "+ residual": frame + layers * (heads + C * C + C + C * 4 * C + 4 * C + 4 * C * C + C),
    }
    counts["+ LayerNorm"] = counts["+ residual"] + layers * 4 * C + 2 * C  # ln1, ln2 per block, ln_f
    return counts[rung]


@pytest.mark.parametrize("rung", RUNGS)
def test_each_rung_has_the_lectures_parameters(rung):
    model = ladder_model(rung, 65, n_embd=32, n_head=4, n_layer=3, block_size=8)
    assert sum(p.numel() for p in model.parameters()) == lecture_params(rung)
    idx = tg.tensor(np.random.default_rng(0).integers(0, 65, (2, 8)))
    logits, loss = model(idx, idx)
    assert tuple(logits.shape) == (2, 8, 65) and np.isfinite(loss.item())


@pytest.mark.parametrize("rung", RUNGS)
def test_each_rung_on_pytorch_computes_the_same_loss_and_gradients(torch, rung):
    """gpt/lecture.py run on PyTorch (``module_on``) with our weights gives our loss and gradients."""
    ours = ladder_model(rung, 65, n_embd=16, n_head=4, n_layer=2, block_size=8).double()
    theirs = module_on("torch", "gpt.lecture").ladder_model(rung, 65, n_embd=16, n_head=4, n_layer=2, block_size=8)
    theirs = theirs.double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()}, strict=True)
    rng = np.random.default_rng(3)
    idx, targets = rng.integers(0, 65, (3, 8)), rng.integers(0, 65, (3, 8))
    _, loss = ours(tg.tensor(idx), tg.tensor(targets))
    _, t_loss = theirs(torch.tensor(idx), torch.tensor(targets))
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-10)
    loss.backward()
    t_loss.backward()
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=name)


def test_pytorch_default_initialisation_statistics(torch):
    """The ladder relies on PyTorch's default init (no GPT-2 re-initialisation): Linear weights and biases are
    U(±1/sqrt(fan_in)), Embedding N(0, 1); ours and PyTorch's draw from the same distributions."""
    tg.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = tg.nn.Linear(400, 300), torch.nn.Linear(400, 300)
    bound = 1 / 400**0.5
    for a, b in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
        a, b = a.detach().numpy(), b.detach().numpy()
        assert np.abs(a).max() <= bound and np.abs(b).max() <= bound
        assert a.std() == pytest.approx(bound / 3**0.5, rel=0.05)  # the std of U(-bound, bound)
        assert b.std() == pytest.approx(bound / 3**0.5, rel=0.05)
    emb, t_emb = tg.nn.Embedding(300, 200).weight.detach().numpy(), torch.nn.Embedding(300, 200).weight.detach()
    assert emb.std() == pytest.approx(1.0, rel=0.02) and t_emb.std().item() == pytest.approx(1.0, rel=0.02)


def test_bad_rungs_and_shapes_are_refused():
    with pytest.raises(ValueError, match="rung must be one of"):
        LadderLM(65, "bigram")
    with pytest.raises(ValueError, match="without the projection back"):
        FeedForward(32, expansion=4, projection=False)
    with pytest.raises(ValueError, match="only .* run on both libraries"):
        module_on("torch", "gpt.train")
    with pytest.raises(ValueError, match="block size is only 8"):
        ladder_model("+ LayerNorm", 65)(tg.zeros((1, 9), dtype=tg.int64))


def test_recipes_are_the_lectures_and_flags_override_them():
    def schedule(rung):
        recipe = lecture_ladder.RECIPES[rung]
        return recipe.learning_rate, recipe.max_iters, recipe.eval_interval

    assert schedule("bigram") == (1e-2, 3000, 300)
    assert all(schedule(r) == (1e-3, 5000, 500) for r in RUNGS[1:])
    assert all(
        lecture_ladder.RECIPES[r].batch_size == 32 and lecture_ladder.RECIPES[r].eval_iters == 200 for r in RUNGS
    )
    p = lecture_ladder.common.ArgumentParser()
    lecture_ladder.add_arguments(p)
    recipe = lecture_ladder.recipe_for("single head", p.parse_args(["--quick", "--lr", "0.5"]))
    assert (recipe.learning_rate, recipe.max_iters, recipe.eval_iters) == (0.5, 12, 2)
    with pytest.raises(SystemExit):  # a usage error: argparse names --steps and the value
        p.parse_args(["--steps", "0"])


def test_agreement_is_welchs_t_test():
    delta, margin, agree = lecture_ladder.agreement([2.0, 2.01, 2.02], [2.03, 2.04, 2.05])
    # equal spreads s=0.01, n=3: standard error 0.01*sqrt(2/3), Welch df = 4, t = 2.776
    assert delta == pytest.approx(-0.03) and margin == pytest.approx(2.776 * 0.01 * (2 / 3) ** 0.5)
    assert agree == "no"
    assert lecture_ladder.agreement([2.0, 2.01, 2.02], [2.01, 2.02, 2.03])[2] == "yes"
    assert lecture_ladder.agreement([2.0], [2.1])[2].startswith("n/a")
    assert lecture_ladder.agreement([2.0, 2.0], [2.0, 2.0]) == (0.0, 0.0, "yes")


def test_quick_run_on_both_libraries_through_the_cli(torch, tmp_path, data_args):
    argv = ["experiment", "lecture-ladder", "--quick", "--seeds", "1", "2", "--out-dir", str(tmp_path), *data_args]
    assert main(argv) == 0
    result, rows = check_outputs(tmp_path, "lecture-ladder")
    assert [r[0] for r in rows[1:]] == [*RUNGS, "scaled up"]
    header = rows[0]
    for row in rows[1:-1]:
        cells = dict(zip(header, row))
        assert "±" in cells["tinygrad_edu"] and "±" in cells["PyTorch"] and cells["agree"] in ("yes", "no")
    assert "--device cuda" in rows[-1][header.index("lr × steps")]
    assert result["libraries"] == ["tinygrad_edu", "torch"] and len(result["rungs"]) == len(RUNGS)
    runs = json.loads((tmp_path / "lecture-ladder.json").read_text())["rungs"]
    assert runs[0]["lecture_val"] == 2.49 and len(runs[0]["torch_val"]["runs"]) == 2


def test_without_pytorch_ours_runs_and_the_table_says_pytorch_was_skipped(tmp_path, data_args, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    out = tmp_path / "ladder"
    args = ["--quick", "--seeds", "1", "--rungs", "bigram", "single head", "--out-dir", str(out), *data_args]
    assert lecture_ladder.main(args) == 0
    md = (out / "lecture-ladder.md").read_text()
    assert "PyTorch skipped: not installed" in md
    result, rows = check_outputs(out, "lecture-ladder")
    assert result["libraries"] == ["tinygrad_edu"] and rows[1][3] == "not run"
