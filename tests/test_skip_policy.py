"""CI's skip policy (tests/conftest.py): with TINYGRAD_EDU_ONLY_CUDA_SKIPS=1 a run fails when a test skips for
any reason but a missing GPU/CUDA, and names the test and its reason; without it, skips are only listed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

SKIPPING = """
import pytest

def test_needs_a_package():
    pytest.skip("matplotlib is not installed")

def test_needs_a_gpu():
    pytest.skip("needs a GPU")
"""


def run_with_our_conftest(tmp_path, source: str, policy: bool):
    (tmp_path / "test_skipping.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    env.pop("TINYGRAD_EDU_ONLY_CUDA_SKIPS", None)
    if policy:
        env["TINYGRAD_EDU_ONLY_CUDA_SKIPS"] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest", str(tmp_path)]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("policy", [True, False])
def test_only_gpu_skips_pass_under_the_policy(tmp_path, policy):
    result = run_with_our_conftest(tmp_path, SKIPPING, policy)
    if policy:
        assert result.returncode == 1, result.stdout
        assert "test_needs_a_package: Skipped: matplotlib is not installed" in result.stdout
        assert "test_needs_a_gpu:" not in result.stdout.split("skips that are not GPU/CUDA tests")[1]
    else:
        assert result.returncode == 0, result.stdout
    assert "2 skipped" in result.stdout


def test_a_gpu_skip_alone_passes_under_the_policy(tmp_path):
    source = "import pytest\n\ndef test_needs_a_gpu():\n    pytest.skip('CUDA is off')\n"
    result = run_with_our_conftest(tmp_path, source, policy=True)
    assert result.returncode == 0, result.stdout
