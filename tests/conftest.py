"""Shared test set-up: hypothesis profiles, the devices to test on, and the optional PyTorch oracle."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

# mutmut runs the tests once in its own process, then forks a child per mutant. GNU OpenMP (PyTorch's, for the
# oracle) is not fork-safe: a child that enters a parallel region its parent had used waits at a barrier for
# threads that the fork did not copy, forever, and mutmut counts the hang as a "timeout", i.e. as a caught
# mutant (seen in gdb: gomp_team_barrier_wait_end under log_softmax). One OpenMP thread means no team to wait
# for. Set before PyTorch is imported, since libgomp reads it when it loads.
if "MUTANT_UNDER_TEST" in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"


def _gpu_present() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


# The `cuda` device runs on a GPU where there is one, and on the strict stand-in elsewhere (simulated CuPy:
# tinygrad_edu/simulated_cuda.py), so that every device test runs on both sides in CI too. Set
# TINYGRAD_EDU_CUDA=off to test the CPU alone; subprocesses inherit the choice.
if "TINYGRAD_EDU_CUDA" not in os.environ and not _gpu_present():
    os.environ["TINYGRAD_EDU_CUDA"] = "sim"
    # the CUDA kernels (tinygrad_edu/kernels/cuda) run in numba's simulator: set before numba is first imported
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import tinygrad_edu  # noqa: E402 - after the device choice above

# `ci`: derandomized, so a CI failure is reproducible; `thorough`: many more examples for long local runs.
# Each profile's parent is hypothesis's own default, not the profile loaded now: a process that runs pytest
# several times (mutmut does) would otherwise chain one profile onto the last, one level deeper each time.
BASE = settings.get_profile("default")
QUIET = [HealthCheck.too_slow]
settings.register_profile("ci", BASE, derandomize=True, max_examples=25, deadline=None, suppress_health_check=QUIET)
settings.register_profile("dev", BASE, max_examples=25, deadline=None, suppress_health_check=QUIET)
settings.register_profile("thorough", BASE, max_examples=500, deadline=None, suppress_health_check=QUIET)
# `mutation` (for `mutmut run`, tests/README.md): a failing example ends the test at once, without shrinking it
# to a minimal one, because mutation testing only asks whether a mutant is caught, and shrinking a failing
# gradcheck over many examples takes longer than mutmut's timeout
settings.register_profile(
    "mutation",
    BASE,
    derandomize=True,
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    database=None,
    suppress_health_check=QUIET,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

CUDA_SKIP_REASON = "CUDA is off (TINYGRAD_EDU_CUDA=off, or no CuPy and no GPU): CUDA tests skipped"
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not tinygrad_edu.cuda.is_available(), reason=CUDA_SKIP_REASON)),
]


@pytest.fixture(params=DEVICES)
def device(request):
    """Run a test once per device: cpu always; cuda on the GPU, or on the stand-in where there is none."""
    return request.param


@pytest.fixture
def torch():
    """PyTorch as a test oracle, or a clean skip when it is not installed."""
    return pytest.importorskip("torch", reason="PyTorch is not installed: oracle comparison skipped")


def tinyshakespeare_path() -> Path | None:
    env = os.environ.get("TINYSHAKESPEARE")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt")
    return next((p for p in candidates if p.is_file()), None)


@pytest.fixture(scope="session")
def prepared_shakespeare(tmp_path_factory):
    """(data directory, source file): tinyshakespeare prepared once for the whole test session."""
    from gpt.data import prepare_shakespeare

    source = tinyshakespeare_path()
    if source is None:
        pytest.skip("tinyshakespeare not found: set TINYSHAKESPEARE to the file's path")
    directory = tmp_path_factory.mktemp("data")
    prepare_shakespeare(input_path=source, data_dir=directory)
    return directory, source


@pytest.fixture
def shakespeare_file():
    path = tinyshakespeare_path()
    if path is None:
        pytest.skip("tinyshakespeare not found: set TINYSHAKESPEARE to the file's path")
    return path


@pytest.fixture(autouse=True)
def _seed_engine():
    tinygrad_edu.manual_seed(0)
    tinygrad_edu.backend._pending_checks.clear()  # a test that left a failed device check does not fail the next


# CI (.ci/run sets TINYGRAD_EDU_ONLY_CUDA_SKIPS=1) fails when anything but a GPU/CUDA test skips: a missing
# package, program or data file would otherwise leave a green run that tested less than it says.
ALLOWED_SKIP = re.compile(r"\b(GPU|CUDA)\b")
_unexpected_skips: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not ALLOWED_SKIP.search(reason):
            _unexpected_skips.append(f"{report.nodeid}: {reason}")


def _only_cuda_skips_allowed() -> bool:
    return os.environ.get("TINYGRAD_EDU_ONLY_CUDA_SKIPS") == "1"


def pytest_terminal_summary(terminalreporter):
    if _only_cuda_skips_allowed() and _unexpected_skips:
        terminalreporter.section("skips that are not GPU/CUDA tests (TINYGRAD_EDU_ONLY_CUDA_SKIPS=1)", red=True)
        for line in _unexpected_skips:
            terminalreporter.line(line)


def pytest_sessionfinish(session, exitstatus):
    if _only_cuda_skips_allowed() and _unexpected_skips and exitstatus == 0:
        session.exitstatus = 1


# hypothesis's pytest plugin wraps a parametrized test's settings in one more layer for every item it runs, on
# the shared function: a function with many items, run twice in a process (mutmut runs the suite several times
# in one), goes ~1000 layers deep and fails with RecursionError. Each item starts again from the settings the
# function was decorated with.
_ORIGINAL_SETTINGS: dict = {}


def pytest_runtest_setup(item):
    fn = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
    if fn is None or not hasattr(fn, "_hypothesis_internal_use_settings"):
        return
    original = _ORIGINAL_SETTINGS.setdefault(fn, fn._hypothesis_internal_use_settings)
    fn._hypothesis_internal_use_settings = original
