"""A training run's folder is owned by one process at a time.

``RunFolder.claim()`` takes an OS lock (``flock``) on ``OUT_DIR/.lock`` for as long as the run trains: the
kernel releases it when the process ends, however it ends (``kill -9`` included), so a lock is never stale. A
second process that tries the same folder is refused, naming the process that holds it. Under MPI rank 0
holds it for the whole run.

Starting a run in a folder that already holds one (a checkpoint or a log) is refused unless the run is
resumed (``--resume``) or the user says the old run may go (``--replace-run``): its files are then moved aside
into ``OUT_DIR/replaced-<time>/``, never deleted.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from . import files

LOCK_NAME = ".lock"
RUN_FILES = ("ckpt.npz", "log.jsonl")  # what makes a folder hold a run


class RunFolderError(RuntimeError):
    """The folder cannot be used for this run: it is busy, it holds another run, or it is not a folder."""


class RunFolder:
    def __init__(self, path: str | os.PathLike):
        if str(path).strip() == "":
            raise RunFolderError("--out_dir is empty: name the folder the run writes to (e.g. --out_dir out/baby)")
        self.path = Path(path)
        self._lock_file = None

    def claim(self) -> RunFolder:
        """Create the folder if needed and lock it for this process; refuse if another process holds it."""
        for folder in (self.path, *self.path.parents):  # the first that exists must be a folder
            if folder.exists():
                if not folder.is_dir():
                    raise RunFolderError(
                        f"cannot use --out_dir {self.path}: {folder} is {files.describe(folder)}, not a folder"
                    )
                break
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            lock_file = open(self.path / LOCK_NAME, "a+")  # noqa: SIM115 - held open for the run's life
        except OSError as exc:
            raise RunFolderError(f"cannot use --out_dir {self.path}: {files.os_error_message(exc)}") from None
        try:
            _lock(lock_file)
        except BlockingIOError:
            lock_file.seek(0)
            holder = _describe_holder(lock_file.read())
            lock_file.close()
            raise RunFolderError(
                f"{self.path} is in use by {holder}: wait for that run to finish, or train in another --out_dir"
            ) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                    "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                }
            )
            + "\n"
        )
        lock_file.flush()
        self._lock_file = lock_file
        return self

    def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file releases the lock
            self._lock_file = None

    def __enter__(self) -> RunFolder:
        return self.claim()

    def __exit__(self, *exc) -> None:
        self.release()

    def run_files(self) -> list[Path]:
        return [self.path / name for name in RUN_FILES if (self.path / name).exists()]

    def move_aside(self) -> Path:
        """Move everything of the old run (all but the lock and earlier moved-aside runs) into a new
        ``replaced-<time>`` folder; returns it."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path / f"replaced-{stamp}"
        n = 1
        while aside.exists():
            n += 1
            aside = self.path / f"replaced-{stamp}-{n}"
        aside.mkdir()
        for entry in sorted(self.path.iterdir()):
            if entry.name != LOCK_NAME and not entry.name.startswith("replaced-") and entry != aside:
                entry.rename(aside / entry.name)
        return aside


def _lock(lock_file) -> None:
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no OS lock to take, so no protection against a second process
        return
    fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _describe_holder(text: str) -> str:
    try:
        info = json.loads(text)
        return f"process {info['pid']} on {info['host']} (`{info['command']}`, since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "another process"
