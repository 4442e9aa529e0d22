"""The one command-line style of ``gpt``, its experiments and tools: one ``argparse`` tree, ``--help`` on every
command, and one spelling rule for flags.

The rule: a flag of several words is spelled with hyphens (``--max-new-tokens``), and the same flag with
underscores (``--max_new_tokens``, the spelling of the config fields and of nanoGPT's command lines) is
accepted too. ``ArgumentParser`` below adds the second spelling to every flag, so no command can forget it.
"""

from __future__ import annotations

import argparse
import math


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
