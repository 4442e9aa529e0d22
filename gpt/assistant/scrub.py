"""Removing personal records from the handbook before training, and what the scrub cannot see.

Two rules, each a regular expression:

* a line that holds a student ID (``NNNN-NNNN``) is a personal record: the whole line goes (the name on it too);
* a phone number (``555-NNNN``) that is not one of the college's own (``handbook.directory_phones``) is
  replaced by ``[phone removed]``.

What it would miss, and why a scrub is never the whole answer: a name alone ("ask Mara about it"), an ID or a
number written another way ("two zero four one", "2041 7731", an ID split over two lines), a record in prose
("the student from room 12 with the red bike"), and anything in a format nobody wrote a rule for. The exposure
test (a later step) measures what the model memorised, scrubbed or not.
"""

from __future__ import annotations

import dataclasses
import re

from .handbook import directory_phones

STUDENT_ID = re.compile(r"\b\d{4}-\d{4}\b")
PHONE = re.compile(r"\b555-\d{4}\b")


@dataclasses.dataclass(frozen=True)
class Scrubbed:
    text: str
    removed_lines: tuple[str, ...]
    masked_phones: tuple[str, ...]


def scrub(text: str) -> Scrubbed:
    """``text`` without personal records: the lines holding a student ID, and phone numbers outside the
    college's directory."""
    own = directory_phones()
    kept, removed, masked = [], [], []
    for line in text.splitlines(keepends=True):
        if STUDENT_ID.search(line):
            removed.append(line.rstrip("\n"))
            continue

        def mask(match):
            if match.group(0) in own:
                return match.group(0)
            masked.append(match.group(0))
            return "[phone removed]"

        kept.append(PHONE.sub(mask, line))
    return Scrubbed("".join(kept), tuple(removed), tuple(masked))
