"""Signals and pipes: how ``gpt`` ends when it is told to, or when nobody reads its output any more.

- **SIGINT and SIGTERM during training** (Ctrl-C; what schedulers send before a kill): the current step
  finishes, the checkpoint is written, and ``gpt train`` exits with 130 or 143 (128 + the signal) and one line.
  A second signal stops at once; the last checkpoint stays whole, since every write is atomic.
- **Elsewhere**, either signal ends the command with one line and the same exit code, never a traceback.
- **A closed stdout** (``gpt train | head -c 10``) never stops a training run: what it prints then goes
  nowhere, and the checkpoint is written as always. ``gpt sample | head`` stops sampling and exits quietly
  with 141 (128 + SIGPIPE), as Unix tools do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path

EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE's number on Linux and macOS


class TrainingStopped(Exception):
    """A SIGINT or SIGTERM stopped training after a step; the checkpoint holds that step."""

    def __init__(self, signal_number: int, at_iter: int, checkpoint_path: Path | None):
        name = signal.Signals(signal_number).name
        kept = f"checkpoint at iteration {at_iter} in {checkpoint_path}" if checkpoint_path else "no checkpoint"
        resume = "; `--resume` continues it" if checkpoint_path else ""
        super().__init__(f"stopped by {name} after iteration {at_iter - 1}: {kept}{resume}")
        self.exit_code = 128 + signal_number


class StopSignals:
    """While training, SIGINT and SIGTERM ask the loop to stop after the current step (``requested``); a
    second signal raises ``KeyboardInterrupt`` at once. Only the main thread can install handlers: elsewhere
    this does nothing."""

    def __init__(self):
        self.signal_number, self._previous = None, {}

    @property
    def requested(self) -> bool:
        return self.signal_number is not None

    def _handle(self, number, frame):
        if self.signal_number is not None:
            raise KeyboardInterrupt
        self.signal_number = number
        print(f"{signal.Signals(number).name}: stopping after this step (again to stop now)", file=sys.stderr)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


class Terminated(Exception):
    """SIGTERM outside training: the command ends with one line."""

    def __init__(self, signal_number: int):
        super().__init__(signal.Signals(signal_number).name)
        self.exit_code = 128 + signal_number


@contextlib.contextmanager
def one_line_exits():
    """SIGTERM raises ``Terminated`` (SIGINT already raises ``KeyboardInterrupt``), so the command line can end
    with one line and 128 + the signal's number."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(number, frame):
        raise Terminated(number)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class ReaderGone(Exception):
    """stdout's reader has closed the pipe (``gpt sample | head``)."""


class PipeSafeStdout:
    """``sys.stdout`` whose reader may go away: the first broken pipe points the file descriptor at /dev/null
    (so nothing else, the interpreter's last flush included, can fail on it) and every later write is
    dropped. ``reader_gone`` says whether it happened."""

    def __init__(self, stream):
        self.stream, self.reader_gone = stream, False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                self._lost()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._lost()

    def _lost(self) -> None:
        self.reader_gone = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextlib.contextmanager
def pipe_safe_stdout():
    """Run with ``sys.stdout`` wrapped in ``PipeSafeStdout`` (a no-op when it already is)."""
    if isinstance(sys.stdout, PipeSafeStdout) or sys.stdout is None:
        yield sys.stdout
        return
    original = sys.stdout
    sys.stdout = PipeSafeStdout(original)
    try:
        yield sys.stdout
    finally:
        if sys.stdout.__class__ is PipeSafeStdout:
            sys.stdout = original


def stdout_reader_gone() -> bool:
    return isinstance(sys.stdout, PipeSafeStdout) and sys.stdout.reader_gone
