"""The tier hook of ``tests/conftest.py``: run in a scratch project, a test without a tier marker
fails, a tier whose tool is missing skips outside CI and fails with ``CI=true``, a tier whose
tools are present runs, doctests count as ``unit``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

_TESTS = '''\
import pytest

def test_unmarked():
    pass

@pytest.mark.unit
def test_unit():
    pass

@pytest.mark.cc
def test_cc():
    pass

@pytest.mark.sim
def test_sim():
    pass

@pytest.mark.hls
def test_hls():
    pass

@pytest.mark.qemu
def test_qemu():
    pass
'''
_MARKED_MODULE = '''\
import pytest

pytestmark = pytest.mark.cc

def test_module_marked():
    pass
'''
_DOCTEST = '''\
def double(x):
    """
    >>> double(2)
    4
    """
    return 2 * x
'''


def _outcomes(tmp_path: Path, ci: bool, tools: tuple[str, ...]) -> dict[str, str]:
    proj = tmp_path / ("ci" if ci else "dev")
    proj.mkdir()
    shutil.copy(Path(__file__).with_name("conftest.py"), proj / "conftest.py")
    (proj / "test_tiers.py").write_text(_TESTS)
    (proj / "test_module.py").write_text(_MARKED_MODULE)
    (proj / "helpers.py").write_text(_DOCTEST)
    (proj / "pytest.ini").write_text(
        "[pytest]\naddopts = --doctest-modules -p no:cacheprovider\n"
        "markers =\n" + "".join(f"    {m}: tier\n" for m in ("unit", "cc", "qemu", "sim", "hls", "slow")))
    bin_dir = proj / "bin"  # only ``tools`` are on PATH
    bin_dir.mkdir()
    for name in tools:
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PATH"] = str(bin_dir)
    if ci:
        env["CI"] = "true"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-v", "-rA", str(proj)], cwd=proj,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    got = {}
    for m in re.finditer(r"^\S+::(\S+) (PASSED|FAILED|SKIPPED|ERROR)", proc.stdout, re.MULTILINE):
        got[m[1]] = m[2]
    return got | {"_out": proc.stdout}


def test_tier_hook_outside_ci(tmp_path):
    got = _outcomes(tmp_path, ci=False, tools=("gcc", "iverilog"))
    want = {"test_unmarked": "ERROR", "test_unit": "PASSED", "test_cc": "PASSED",
            "test_sim": "PASSED", "test_hls": "SKIPPED", "test_qemu": "SKIPPED",
            "test_module_marked": "PASSED", "helpers.double": "PASSED"}
    assert {k: got.get(k) for k in want} == want, got["_out"]
    assert "carries no tier marker" in got["_out"]
    assert "g++ not found on PATH" in got["_out"]


def test_tier_hook_in_ci(tmp_path):
    got = _outcomes(tmp_path, ci=True, tools=("gcc", "g++"))
    want = {"test_unmarked": "ERROR", "test_unit": "PASSED", "test_cc": "PASSED",
            "test_sim": "ERROR", "test_hls": "PASSED", "test_qemu": "ERROR",
            "test_module_marked": "PASSED", "helpers.double": "PASSED"}
    assert {k: got.get(k) for k in want} == want, got["_out"]
    assert "a missing tool is a failure in CI" in got["_out"]
    assert "none of iverilog, verilator found on PATH" in got["_out"]
