"""The run's config, typed end to end: the flags of `gpt train` are derived from the dataclasses' fields (types
from their type hints, defaults and help from the fields), and a RunConfig holds a GPTConfig and a TrainConfig
that a checkpoint's header gives back."""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing

import pytest

from gpt import cli
from gpt.arguments import ArgumentParser, add_flags, field_flags, field_types, given_fields
from gpt.config import PRESETS, RunConfig, TrainConfig, build_config, config_flags, setting
from gpt.model import GPTConfig

FIELDS = [(cls, spec) for cls in (GPTConfig, TrainConfig) for spec in dataclasses.fields(cls)]
FLAGGED = [(cls, spec) for cls, spec in FIELDS if spec.name != "vocab_size"]  # vocab_size: the dataset's
EXAMPLE = {int: ("3", 3), float: ("0.5", 0.5), bool: ("false", False), str: ("word", "word")}


def train_parser() -> argparse.ArgumentParser:
    return next(parser for path, parser in _commands(cli._parser()) if path == ("train",))


def _commands(parser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def the_type(cls, name: str) -> type:
    """The field's type read straight from its type hint (``int | None`` -> int), as the test's own reading."""
    hint = typing.get_type_hints(cls)[name]
    return next(arg for arg in typing.get_args(hint) if arg is not type(None)) if typing.get_args(hint) else hint


@pytest.mark.parametrize("cls, spec", FLAGGED, ids=[f"{c.__name__}.{s.name}" for c, s in FLAGGED])
def test_every_config_field_has_a_flag_of_its_type_and_default(cls, spec):
    kind = the_type(cls, spec.name)
    spellings = {"--" + spec.name, "--" + spec.name.replace("_", "-")}
    (action,) = [a for a in train_parser()._actions if spellings & set(a.option_strings)]
    assert spellings <= set(action.option_strings) and action.dest == spec.name
    assert action.metavar == kind.__name__.upper() and f"default {spec.default!r}" in action.help
    text, value = EXAMPLE[kind]
    for flag in sorted(spellings):
        parsed = getattr(cli._parser().parse_args(["train", flag, text]), spec.name)
        assert type(parsed) is kind and parsed == value
    # the default, written out, reads back as itself; a flag left out leaves the preset's value (no attribute)
    assert action.type(str(spec.default)) == spec.default and type(action.type(str(spec.default))) is type(spec.default)
    assert not hasattr(cli._parser().parse_args(["train"]), spec.name)
    presets = [f"{name} {values[spec.name]!r}" for name, values in sorted(PRESETS.items()) if spec.name in values]
    assert all(p in action.help for p in presets)


def test_the_flags_are_the_fields_and_nothing_else():
    names = [f.name for f in config_flags()]
    assert names == [spec.name for _, spec in FLAGGED]  # in the dataclasses' order, each once
    assert not [a for a in train_parser()._actions if "--vocab-size" in a.option_strings]


def test_a_command_line_overrides_the_preset_with_values_of_their_types():
    args = cli._parser().parse_args(["train", "--preset", "tiny", "--n_layer", "3", "--bias=false", "--min-lr", "0"])
    given = given_fields(args, config_flags())
    assert given == {"n_layer": 3, "bias": False, "min_lr": 0.0}
    run = build_config(args.preset, given)
    assert (run.model.n_layer, run.model.bias, run.model.n_embd, run.train.min_lr) == (3, False, 16, 0.0)
    assert cli._parser().parse_args(["train", "--data-dir", "None"]).data_dir is None  # int | None, str | None


@dataclasses.dataclass
class Throwaway:
    width: int = 3
    rate: float = setting(0.5, "how fast it goes")
    on: bool = True
    name: str | None = None
    label: str = "x"


def test_a_new_field_gets_its_flag_through_the_same_function(capsys):
    parser = ArgumentParser(prog="throwaway")
    flags = add_flags(parser, field_flags(Throwaway))
    args = parser.parse_args(["--width", "5", "--rate=0.25", "--on", "false", "--name", "none"])
    assert given_fields(args, flags) == {"width": 5, "rate": 0.25, "on": False, "name": None}
    assert given_fields(parser.parse_args([]), flags) == {}
    assert "how fast it goes; default 0.5" in " ".join(parser.format_help().split())
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--width", "wide"])
    assert exit_info.value.code == 2 and "argument --width: expects an integer, got 'wide'" in capsys.readouterr().err
    # a field added to TrainConfig itself: its flag is there, with nothing else to edit
    wider = dataclasses.make_dataclass(
        "Wider", [("label_smoothing", float, setting(0.0, "mix the targets with uniform"))], bases=(TrainConfig,)
    )
    (new,) = [f for f in field_flags(wider) if f.name == "label_smoothing"]
    assert (new.flag, new.kind, new.default) == ("--label-smoothing", float, 0.0)
    assert new.help == "mix the targets with uniform; default 0.0"


def test_a_field_no_flag_can_hold_is_named():
    @dataclasses.dataclass
    class Listed:
        sizes: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match=r"Listed.sizes: list\[int\] has no command-line form"):
        field_types(Listed)


def test_a_run_config_round_trips_through_a_checkpoints_saved_dict():
    run = build_config("tiny", {"n_layer": 2, "bias": False, "data_dir": None}).with_vocab_size(65)
    saved = json.loads(json.dumps(run.to_dict()))  # as the checkpoint's header holds it: JSON
    assert set(saved) == {"model_config", "train_config"}
    assert RunConfig.from_dict({**saved, "iter": 20, "tokenizer": {}}) == run  # the header's other keys are ignored
    assert isinstance(RunConfig.from_dict(saved).model, GPTConfig)


def test_a_checkpoint_dict_of_an_older_gpt_still_loads():
    """Headers on disk hold the config as plain dicts; one written before a field existed takes its default."""
    saved = RunConfig().to_dict()
    del saved["train_config"]["on_nonfinite"], saved["model_config"]["tie_weights"]
    saved["train_config"]["learning_rate"] = 1  # an int where a float is meant: JSON keeps no difference
    run = RunConfig.from_dict(saved)
    assert run.train.on_nonfinite == "stop" and run.model.tie_weights is True
    assert type(run.train.learning_rate) is float
