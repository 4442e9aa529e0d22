"""The registry's sample strategies reach what they promise: every memory layout for every operand, shapes spread
over ranks, and size-1 dims. A strategy that silently stopped drawing a layout would leave every op test green
while testing less; this test fails instead.

Each entry's strategy is drawn many times (derandomized, so the same draws on every run). For a few entries
the distribution is also reported as hypothesis events: ``pytest tests/test_strategy_coverage.py -k
distribution --hypothesis-show-statistics`` prints it (tests/README.md shows it)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, event, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from op_registry import INPUT_LAYOUTS, REGISTRY, TIE_FREE_INPUT_LAYOUTS

DRAWS = 150

# entries whose operands may not take every layout, and why
# PyTorch's view() refuses most non-contiguous inputs: these take the two contiguous layouts
CONTIGUOUS_ONLY = {"view", "view_as"}
TIE_FREE = {  # inputs whose values must stay distinct (ties or zero variance): no broadcast leaf, which repeats
    "std", "max", "min", "max.dim", "min.dim", "amax", "amin", "amax.all", "amax.all_keepdim", "amin.all",
    "argmax", "argmin", "argmax.keepdim", "topk", "F.layer_norm", "F.layer_norm.no_affine", "sort", "argsort",
    "F.batch_norm", "F.batch_norm.eval",  # a batch's variance, as layer norm's row's
}  # fmt: skip
FIXED_RANK = {"T", "F.embedding", "F.cross_entropy", "F.nll_loss", "transpose.0d", "mm", "bmm"}  # the op takes one rank
FIXED_RANK |= {"topk.0d", "bincount.weights"}  # topk of a 0-d tensor; bincount's weights, one per value (1-d)
FIXED_RANK |= {"F.conv1d", "F.conv1d.no_bias", "F.conv2d", "F.conv2d.no_bias"}  # a batch of 1-d or 2-d signals


def expected_layouts(entry, i: int) -> set:
    if entry.name in CONTIGUOUS_ONLY:
        return {"contiguous", "offset"}
    if entry.name in TIE_FREE and i == 0:
        return set(TIE_FREE_INPUT_LAYOUTS)
    return set(INPUT_LAYOUTS)


def draw_many(entry):
    """(layouts seen per input that has dims, ranks seen, whether a size-1 dim was seen) over DRAWS
    derandomized draws. A 0-d input has one layout only, so it does not count."""
    layouts, ranks, size_one = {}, Counter(), [False]

    @settings(
        max_examples=DRAWS, derandomize=True, database=None, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )  # fmt: skip
    @given(data=st.data())
    def draw(data):
        sample = data.draw(entry.samples)
        for i, x in enumerate(sample.inputs):
            if x.ndim:
                layouts.setdefault(i, Counter())[sample.layout(i)] += 1
        if sample.inputs:
            x = sample.inputs[0]
            ranks[x.ndim] += 1
            size_one[0] |= 1 in x.shape

    draw()
    return layouts, ranks, size_one[0]


def reachable(entry, i: int, layout: str) -> bool:
    """Whether the strategy can draw input ``i`` (with dims) in ``layout``: searched for directly, for the
    rare operands (the third tensor of cat, a second operand that is mostly 0-d) that the draws above missed."""
    try:
        find(
            entry.samples,
            lambda s: len(s.inputs) > i and s.inputs[i].ndim > 0 and s.layout(i) == layout,
            settings=settings(max_examples=3000, database=None, derandomize=True, phases=[Phase.generate]),
        )
    except NoSuchExample:
        return False
    return True


# entries whose only inputs are integer arguments (no differentiable tensor to lay out)
WITH_INPUTS = [e for e in REGISTRY if e.name not in ("F.one_hot", "repeat_interleave.counts", "bincount")]


@pytest.mark.parametrize("entry", WITH_INPUTS, ids=lambda e: e.name)
def test_every_operand_draws_every_layout_and_shapes_are_spread(entry):
    layouts, ranks, size_one = draw_many(entry)
    for i, counts in layouts.items():
        seen = set(counts)
        unexpected = seen - expected_layouts(entry, i)
        assert not unexpected, f"{entry.name}: input {i} drawn in {sorted(unexpected)}: update expected_layouts"
        missing = {layout for layout in expected_layouts(entry, i) - seen if not reachable(entry, i, layout)}
        assert not missing, f"{entry.name}: input {i} never drawn in layout(s) {sorted(missing)} in {DRAWS} draws"
    # spread: with k ranks drawn, none takes more than 1/k + 0.35 of the draws (a single rank only where the op
    # takes one); this is what caught expand's source being 0-d in 62% of the draws
    most_common_rank, count = ranks.most_common(1)[0]
    if len(ranks) == 1:
        assert entry.name in FIXED_RANK, f"{entry.name}: every draw has rank {most_common_rank}"
    else:
        share = count / sum(ranks.values())
        assert share <= 1 / len(ranks) + 0.35, f"{entry.name}: {share:.0%} of the draws have rank {most_common_rank}"
    if max(ranks) > 0:
        assert size_one, f"{entry.name}: no size-1 dim in {DRAWS} draws"


def test_the_exceptions_name_registry_entries():
    names = {e.name for e in REGISTRY}
    assert CONTIGUOUS_ONLY <= names and TIE_FREE <= names and FIXED_RANK <= names


SHOWN = ("softmax", "add", "expand", "cat", "F.cross_entropy")


@pytest.mark.parametrize("entry", [e for e in REGISTRY if e.name in SHOWN], ids=lambda e: e.name)
@settings(max_examples=DRAWS, derandomize=True, database=None, deadline=None)
@given(data=st.data())
def test_distribution_of_draws(entry, data):
    """Events only (the assertions are above): what ``--hypothesis-show-statistics`` reports per entry."""
    sample = data.draw(entry.samples)
    assert sample.inputs
    for i, x in enumerate(sample.inputs):
        event(f"input {i}: rank {x.ndim}, {sample.layout(i) if x.ndim else '0-d'}")
    event(f"input 0 has a size-1 dim: {1 in sample.inputs[0].shape}")
