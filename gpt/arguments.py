"""The one command-line style of ``gpt``, its experiments and tools: one ``argparse`` tree, ``--help`` on every
command, and one spelling rule for flags.

The rule: a flag of several words is spelled with hyphens (``--max-new-tokens``), and the same flag with
underscores (``--max_new_tokens``, the spelling of the config fields and of nanoGPT's command lines) is
accepted too. ``ArgumentParser`` below adds the second spelling to every flag, so no command can forget it.

The flags of a config dataclass are derived from its fields (``field_flags``, ``add_flags``): a field's type
hint gives the flag's type, its description and default the help, so a field added to the dataclass is a flag
with nothing else to edit.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose flags answer to both spellings, with descriptions kept as written."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault("allow_abbrev", False)  # --n_lay is a typo, not --n_layer
        super().__init__(*args, **kwargs)

    def add_argument(self, *names, **kwargs):
        return super().add_argument(*_both_spellings(names, kwargs), **kwargs)

    def add_mutually_exclusive_group(self, **kwargs):
        group = super().add_mutually_exclusive_group(**kwargs)
        plain = group.add_argument
        group.add_argument = lambda *names, **kw: plain(*_both_spellings(names, kw), **kw)
        return group

    def add_subparsers(self, **kwargs):
        kwargs.setdefault("parser_class", ArgumentParser)
        return super().add_subparsers(**kwargs)


# -- argparse types: a value outside its domain is a usage error (exit 2) that names the flag and the value ------


def integer(text: str, low: int | None = None, high: int | None = None, why: str = "", kind="an integer") -> int:
    """``text`` as an integer in [low, high]; ``why`` ends the message of a value out of range."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects {kind}, got {text!r}") from None
    if high is None and low is not None and value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}{why}, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"must be from {low} to {high}{why}, got {value}")
    return value


def positive_int(text: str) -> int:
    """A count (steps, samples, batches): an integer, 1 or more."""
    return integer(text, low=1)


def positive_float(text: str) -> float:
    """A learning rate or a temperature: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def seed(text: str) -> int:
    """A seed as ``torch.manual_seed`` takes it: [-2**63, 2**64), a negative one meaning its two's complement."""
    value = integer(text)
    if not -(2**63) <= value < 2**64:
        raise argparse.ArgumentTypeError(f"must be in [-2**63, 2**64) as torch.manual_seed takes, got {value}")
    return value % 2**64


# -- flags derived from a dataclass's fields ----------------------------------------------------------------------

FIELD_TYPES = (int, float, bool, str)  # what a flag can hold: one of these, or one of these or None


def field_types(cls) -> dict[str, tuple[type, bool]]:
    """Each field of the dataclass ``cls`` as (its type, whether it may be None), from its type hints:
    ``int | None`` gives (int, True). A type no flag could hold (a list, a path) is a TypeError."""
    hints = typing.get_type_hints(cls)
    kinds = {}
    for spec in dataclasses.fields(cls):
        hint, optional = hints[spec.name], False
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
            hint, optional = (members[0] if len(members) == 1 else hint), len(members) < len(typing.get_args(hint))
        if hint not in FIELD_TYPES:
            raise TypeError(
                f"{cls.__name__}.{spec.name}: {hints[spec.name]} has no command-line form; a config field is one of "
                f"{', '.join(t.__name__ for t in FIELD_TYPES)}, or one of them | None"
            )
        kinds[spec.name] = (hint, optional)
    return kinds


def field_value(kind: type, optional: bool = False) -> Callable[[str], object]:
    """The argparse type of a field of type ``kind`` (``optional``: 'none' means None); a value it cannot read
    is a usage error that names the flag, as argparse reports its own."""

    def convert(text: str):
        if optional and text.lower() == "none":
            return None
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise argparse.ArgumentTypeError(f"expects true or false, got {text!r}")
        if kind is int:
            return integer(text)
        if kind is float:
            try:
                return float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expects a number, got {text!r}") from None
        return text

    return convert


@dataclasses.dataclass(frozen=True)
class FieldFlag:
    """The flag of one dataclass field: ``--n-layer`` (and ``--n_layer``) sets ``n_layer``."""

    name: str  # the field's name, the flag's dest
    kind: type  # int, float, bool or str
    optional: bool  # whether 'none' stands for None
    default: object  # the dataclass's default (the flag's own default is "not given")
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def metavar(self) -> str:
        return self.kind.__name__.upper()

    @property
    def type(self) -> Callable[[str], object]:
        return field_value(self.kind, self.optional)


def field_flags(cls, *, skip=(), descriptions: Mapping[str, str] | None = None, note=None) -> list[FieldFlag]:
    """The flags of the dataclass ``cls``, one a field (but those in ``skip``), in the fields' order. A field's
    help is its description (``metadata["help"]``, else ``descriptions[name]``), its default, and ``note(name)``."""
    flags, kinds = [], field_types(cls)
    for spec in dataclasses.fields(cls):
        if spec.name in skip:
            continue
        default = spec.default if spec.default is not dataclasses.MISSING else None
        if spec.default_factory is not dataclasses.MISSING:
            default = spec.default_factory()
        words = [spec.metadata.get("help") or (descriptions or {}).get(spec.name), f"default {default!r}"]
        extra = note(spec.name) if note else ""
        help_text = "; ".join(w for w in words if w) + (f" {extra}" if extra else "")
        flags.append(FieldFlag(spec.name, *kinds[spec.name], default, help_text))
    return flags


def add_flags(parser, flags: list[FieldFlag]) -> list[FieldFlag]:
    """Add ``flags`` to ``parser``. A flag left out is not in the parsed namespace at all, so ``given_fields``
    tells what the command line set from what it did not (a preset's value, or a resumed run's, stays)."""
    for f in flags:
        parser.add_argument(f.flag, type=f.type, default=argparse.SUPPRESS, metavar=f.metavar, help=f.help)
    return flags


def given_fields(args: argparse.Namespace, flags: list[FieldFlag]) -> dict:
    """The fields the command line set, already of their types: {name: value}."""
    return {f.name: getattr(args, f.name) for f in flags if hasattr(args, f.name)}


def _both_spellings(names: tuple, kwargs: dict) -> list[str]:
    """``names`` with the other spelling of each long flag added; sets ``dest`` from the first (in ``kwargs``)."""
    spellings = []
    for name in names:
        spellings.append(name)
        if name.startswith("--"):
            for other in ("--" + name[2:].replace("-", "_"), "--" + name[2:].replace("_", "-")):
                if other not in names and other not in spellings:
                    spellings.append(other)
    if names and names[0].startswith("--") and "dest" not in kwargs:
        kwargs["dest"] = names[0][2:].replace("-", "_")
    return spellings


def first_line(doc: str | None) -> str:
    """A module docstring's first line, for a command's one-line help."""
    return (doc or "").strip().splitlines()[0] if doc else ""
