"""SHS and QAT under torchrun (DDP, gloo on CPU): the penalty is scaled per shard like the
cross-entropy, so two processes equal one with the same global batch to float round-off."""

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


def _train(args: list[str], out: Path, nproc: int = 1) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if nproc == 1:
        argv = [sys.executable, "-m", "lstmgen", "train", *args, "--out", str(out)]
    else:
        argv = [str(TORCHRUN), f"--nproc_per_node={nproc}", "--standalone", "-m", "lstmgen",
                "train", *args, "--out", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def _max_diff(a: Path, b: Path) -> float:
    wa = torch.load(a, weights_only=True)["state_dict"]
    wb = torch.load(b, weights_only=True)["state_dict"]
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


def _metrics(path: Path) -> list[dict]:
    return [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("task", ["default", "ptb"])
def test_shs_two_processes_equal_one(tmp_path, tiny_ptb, task) -> None:
    shs = ["--shs-threshold", "0.3", "--shs-lambda", "1e-3", "--quiet", "--threads", "1"]
    if task == "default":
        args = ["--task", "default", "--hidden", "8", "--epochs", "2", "--iss-lambda", "1e-3", *shs]
    else:
        args = ["--task", "ptb", "--data", str(tiny_ptb), "--hidden", "6", "--embed", "6",
                "--layers", "2", "--batch", "4", "--bptt", "5", "--epochs", "2", *shs]
    _train(args, tmp_path / "one")
    _train(args, tmp_path / "two", nproc=2)
    assert _max_diff(tmp_path / "one" / "last.pt", tmp_path / "two" / "last.pt") < 1e-5
    m1, m2 = _metrics(tmp_path / "one"), _metrics(tmp_path / "two")
    flat = [[z for m in ms for z in m["h_zeros_per_layer"]] for ms in (m1, m2)]
    assert flat[0] == pytest.approx(flat[1], abs=1e-6)


def test_qat_two_processes_equal_one(tmp_path) -> None:
    _train(["--task", "default", "--hidden", "8", "--epochs", "2", "--shs-threshold", "0.3",
            "--quiet", "--threads", "1"], tmp_path / "float")
    args = ["--task", "default", "--qat", "--from", str(tmp_path / "float" / "last.pt"),
            "--weights", "8", "--acts", "8", "--epochs", "2", "--lr", "1e-3", "--quiet",
            "--threads", "1"]
    _train(args, tmp_path / "one")
    _train(args, tmp_path / "two", nproc=2)
    assert _max_diff(tmp_path / "one" / "last.pt", tmp_path / "two" / "last.pt") < 1e-5
    assert [m["val_acc"] for m in _metrics(tmp_path / "one")] == \
        [m["val_acc"] for m in _metrics(tmp_path / "two")]
