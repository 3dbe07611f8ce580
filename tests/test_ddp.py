"""Multi-process training under torchrun (DDP, gloo on CPU) equals a single-process run with
the same global batch to float round-off; rank 0 alone writes; resume works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.unit

TORCHRUN = Path(sys.executable).with_name("torchrun")


def _train(args: list[str], out: Path, nproc: int = 1) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if nproc == 1:
        argv = [sys.executable, "-m", "lstmgen", "train", *args, "--out", str(out)]
    else:
        argv = [str(TORCHRUN), f"--nproc_per_node={nproc}", "--standalone", "-m", "lstmgen",
                "train", *args, "--out", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def _close(a: Path, b: Path, tol: float) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    diff = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    assert diff < tol, diff


@pytest.mark.parametrize("task", ["default", "ptb"])
def test_two_processes_equal_one_with_the_same_global_batch(tmp_path, tiny_ptb, task) -> None:
    if task == "default":  # 8 units, ISS on (penalty + zero-out on every rank), batch 32
        args = ["--task", "default", "--hidden", "8", "--epochs", "2", "--iss-lambda", "1e-3",
                "--quiet", "--threads", "1"]
    else:  # 4 streams split 2 + 2, hidden state carried per rank
        args = ["--task", "ptb", "--data", str(tiny_ptb), "--hidden", "6", "--embed", "6",
                "--layers", "2", "--batch", "4", "--bptt", "5", "--epochs", "2",
                "--iss-lambda", "1e-3", "--quiet", "--threads", "1"]
    _train(args, tmp_path / "one")
    proc = _train(args, tmp_path / "two", nproc=2)
    assert proc.stdout.count("trained 2 epoch(s)") == 1  # rank 0 reports
    _close(tmp_path / "one" / "last.pt", tmp_path / "two" / "last.pt", 1e-5)
    m1 = [json.loads(x) for x in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    m2 = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    key = "val_acc" if task == "default" else "valid_ppl"
    assert [m[key] for m in m1] == pytest.approx([m[key] for m in m2], rel=1e-5)


def test_resume_under_torchrun_continues_the_run(tmp_path) -> None:
    args = ["--task", "default", "--hidden", "8", "--iss-lambda", "1e-3", "--quiet",
            "--threads", "1"]
    _train([*args, "--epochs", "2"], tmp_path / "one")
    _train([*args, "--epochs", "1"], tmp_path / "two", nproc=2)
    _train(["--resume", "--epochs", "2", "--quiet", "--threads", "1"], tmp_path / "two", nproc=2)
    _close(tmp_path / "one" / "last.pt", tmp_path / "two" / "last.pt", 1e-5)
    assert len((tmp_path / "two" / "metrics.jsonl").read_text().splitlines()) == 2
