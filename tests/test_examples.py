"""The examples a user copies from must keep running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.cc
def test_quickstart_runs_and_verifies(tmp_path):
    require_tool("gcc")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "PASS 270 vectors, 0 mismatches" in proc.stdout
    assert (tmp_path / "digits.lstmir").is_file() and (tmp_path / "c" / "digits.c").is_file()


@pytest.mark.cc
def test_generate_c_example_runs(tmp_path):
    require_tool("gcc")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "generate_c.py"), "--out", str(tmp_path / "c")],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "PASS" in proc.stdout


@pytest.mark.unit
def test_train_and_prune_example_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(EXAMPLES / "train_and_prune.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.cc
def test_sparse_hidden_states_example_runs(tmp_path):
    """ISS -> SHS -> int8/int8 QAT -> C, bit-exact (about 20 s)."""
    require_tool("gcc")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "sparse_hidden_states.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[c] PASS 270 vectors, 0 mismatches" in proc.stdout
    assert "h zeros per layer" in proc.stdout


@pytest.mark.cc
def test_tlstm_addition_example_runs(tmp_path):
    """tLSTM on 1-digit addition -> C, bit-exact (about 15 s)."""
    require_tool("gcc")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "tlstm_addition.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[c] PASS 200 vectors, 0 mismatches" in proc.stdout
