"""Writing files without losing anyone's data: every command that writes goes through here.

Three rules, for every file ``gpt`` writes (checkpoints, logs, datasets, pages, results):

1. **Atomic, under a name of this process.** The bytes go to ``.NAME.PID-RANDOM.tmp`` beside the target, are
   flushed to disk, then renamed over it: a crash leaves the old file or the new one, never a torn one. A
   process removes only its own temporary files, and those of writers that are no longer running (their PID
   is in the name), so two processes never delete each other's.
2. **Never over what it did not make.** Before replacing a file, the writer says which kinds of file it may
   replace (``replaces``: a checkpoint, an explorer page, ...); anything else there — a checkpoint under an
   HTML name, a user's own file, a folder — is refused with a ``WriteRefused`` naming the path and what it holds.
3. **One clear line for an OS error**, naming the path (``os_error_message``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import zipfile
from pathlib import Path

TEMP_SUFFIX = ".tmp"


class WriteRefused(RuntimeError):
    """A write that would replace a file of another kind, or write where it cannot."""


def describe(path: str | os.PathLike) -> str:
    """What ``path`` holds, in words: the kinds ``gpt`` writes are told apart by their content, not their name."""
    path = Path(path)
    if path.is_symlink():
        return "a symbolic link"
    if path.is_dir():
        return "a folder"
    if not path.exists():
        return "nothing"
    if not path.is_file():
        return "a special file (not a regular file)"
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return "a file that cannot be read"
    if head.startswith(b"PK"):  # token ids can begin with these two bytes too: only a readable archive is one
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
            return "a checkpoint" if "__meta__.npy" in names else "a zip archive"
        except Exception:  # noqa: BLE001 - zipfile raises NotImplementedError, ValueError, ... on odd bytes
            pass
    text = head.lstrip().lower()
    if EXPLORE_MARK.encode() in head:
        return "a page made by gpt explore"
    if text.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    if path.name == "log.jsonl" or (text.startswith(b'{"iter"')):
        return "a training log"
    if path.name in DATASET_FILES:
        return "a dataset file"
    return "a file"


# The marker that makes an explorer page recognisable as one (gpt/explore_page.html carries it).
EXPLORE_MARK = '<meta name="generator" content="gpt explore">'
DATASET_FILES = ("train.bin", "val.bin", "vocab.json", "meta.json")


def check_target(path: str | os.PathLike, replaces: tuple[str, ...], what: str) -> Path:
    """Refuse to write ``what`` at ``path`` unless nothing is there or what is there is one of ``replaces``
    (kinds as ``describe`` names them). Also refuses an empty path and a parent that is not a folder."""
    if str(path) == "":
        raise WriteRefused(f"an empty path was given for {what}")
    path = Path(path)
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise WriteRefused(f"cannot write {what} at {path}: {parent} is {describe(parent)}, not a folder")
            break
    found = describe(path)
    if found != "nothing" and found not in replaces:
        allowed = " or ".join(replaces) if replaces else "nothing"
        raise WriteRefused(
            f"refusing to write {what} at {path}: it holds {found}, and only {allowed} may be replaced there; "
            "choose another path, or move that file away yourself"
        )
    return path


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, replaces: tuple[str, ...], what: str):
    """``with atomic_writer(path, replaces=(...), what="the checkpoint") as f: f.write(...)``: a binary file that
    appears at ``path`` whole, or not at all. The check of what is there is made before and again just before
    the rename (another process may have put something there meanwhile)."""
    path = check_target(path, replaces, what)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        with open(tmp, "xb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # data on disk before the rename makes it visible
        check_target(path, replaces, what)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # ours alone: a failed or refused write leaves nothing behind


def write_bytes(path: str | os.PathLike, data: bytes, *, replaces: tuple[str, ...], what: str) -> Path:
    with atomic_writer(path, replaces=replaces, what=what) as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, *, replaces: tuple[str, ...], what: str) -> Path:
    return write_bytes(path, text.encode("utf-8"), replaces=replaces, what=what)


def remove_stale_temps(path: Path) -> None:
    """Remove temporary files for ``path`` left by writers that were killed (their process is gone)."""
    prefix = f".{path.name}."
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(TEMP_SUFFIX)]
    except OSError:
        return
    for candidate in candidates:
        owner = candidate.name[len(prefix) : -len(TEMP_SUFFIX)].split("-")[0]
        if owner.isdigit() and int(owner) != os.getpid() and not _running(int(owner)):
            candidate.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    except OSError:
        return False
    return True


def os_error_message(exc: OSError) -> str:
    """One line for an OS error: what went wrong and the path (or paths) it happened on."""
    reason = exc.strerror or (errno.errorcode.get(exc.errno, "") if exc.errno else "") or str(exc)
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    return f"{reason}: {' -> '.join(names)}" if names else str(reason)
