"""Training a tLSTM (lstmgen train --model tlstm) on the default task, PTB and the algorithmic
tasks: resume bit for bit, option checks, the addition task learned on CPU, and the checkpoint
through quantize and verify."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lstmgen.checkpoint import load_checkpoint
from lstmgen.errors import UsageError
from lstmgen.train import default_config, train

pytestmark = pytest.mark.unit

_LSTMGEN = [sys.executable, "-m", "lstmgen"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*_LSTMGEN, *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("task", ["addition", "memorization", "default", "ptb"])
def test_resume_is_bit_identical(tmp_path: Path, tiny_ptb: Path, task: str) -> None:
    kw: dict = {"model": "tlstm", "tensor_size": 3, "hidden": (6,), "epochs": 3}
    if task == "addition":
        kw.update(digits=2, steps_per_epoch=5)
    elif task == "memorization":
        kw.update(length=3, steps_per_epoch=5)
    elif task == "ptb":
        kw.update(data=str(tiny_ptb), batch=4, bptt=7, dropout=0.2)
    cfg = default_config(task, **kw)
    full = train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "part", progress=False, epochs=1)
    resumed = train(None, tmp_path / "part", resume=True, progress=False, epochs=3)
    for k, v in full.checkpoint.state_dict.items():
        assert torch.equal(v, resumed.checkpoint.state_dict[k]), k
    last = load_checkpoint(tmp_path / "part" / "last.pt")
    assert last.config.tlstm is not None and last.config.tlstm.P == 3
    strip = [{k: v for k, v in json.loads(s).items() if k != "seconds"}
             for s in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert strip == [{k: v for k, v in json.loads(s).items() if k != "seconds"}
                     for s in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert "removable_units" not in strip[-1]  # no ISS in a tLSTM


def test_lstm_run_config_is_unchanged() -> None:
    """An LSTM run writes no tLSTM or algorithmic-task key (its files stay as they were)."""
    d = default_config("default").to_dict()
    assert not {"model", "tensor_size", "kernel", "depth", "digits", "steps_per_epoch"} & set(d)
    a = default_config("addition", digits=3).to_dict()
    assert a["digits"] == 3 and "model" not in a
    t = default_config("addition", model="tlstm", tensor_size=2).to_dict()
    assert t["model"] == "tlstm" and t["hidden"] == [64]


@pytest.mark.parametrize("kw,match", [
    ({"model": "tlstm", "hidden": (8, 8)}, "one channel count"),
    ({"model": "tlstm", "tensor_size": 0}, "--tensor-size"),
    ({"model": "tlstm", "tensor_size": 4, "depth": 5}, "--depth must be an integer in 1..4"),
    ({"model": "tlstm", "kernel": 1}, "--kernel"),
    ({"model": "tlstm", "iss_lambda": 1e-3}, "--iss-lambda is not supported"),
    ({"model": "gru"}, "--model must be"),
])
def test_bad_tlstm_configs(kw: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        default_config("default", **kw)


@pytest.mark.parametrize("args,match", [
    (["--tensor-size", "3"], "give --model tlstm"),
    (["--model", "tlstm", "--layers", "2"], "not --layers"),
    (["--model", "tlstm", "--task", "ptb", "--embed", "8"], "do not give --embed"),
    (["--digits", "3"], "--digits is an option of --task addition"),
    (["--task", "addition", "--length", "3"], "--length is an option of --task memorization"),
])
def test_train_command_refuses(tmp_path: Path, args: list[str], match: str) -> None:
    r = _run("train", "--out", str(tmp_path / "r"), *args)
    assert r.returncode == 2 and match in r.stderr and "Traceback" not in r.stderr


def test_addition_is_learned_on_cpu(tmp_path: Path) -> None:
    """1-digit addition (the paper's encoding, 7 tokens per sequence): a tLSTM with P = 2,
    M = 32, K = 3 (13,422 parameters) reaches >= 95% sequence accuracy on the 1000 validation
    sequences within 1000 Adam steps of 32 fresh sequences (about 10 s on one core; it reaches
    100% by step 900 with this seed)."""
    cfg = default_config("addition", model="tlstm", tensor_size=2, hidden=(32,), digits=1,
                         epochs=10, steps_per_epoch=100, lr=0.005)
    result = train(cfg, None, progress=False, threads=1)
    assert max(h["val_acc"] for h in result.history) >= 0.95
    assert result.best.meta["metrics"]["test_acc"] >= 0.95


def test_cli_train_quantize_verify(tmp_path: Path) -> None:
    """train --model tlstm → quantize (task data from the checkpoint) → verify --target c; a
    channel-normalized checkpoint is refused in one line."""
    pytest.importorskip("numpy")
    r = _run("train", "--task", "addition", "--digits", "1", "--model", "tlstm",
             "--tensor-size", "2", "--hidden", "8", "--epochs", "1", "--steps-per-epoch", "3",
             "--out", str(tmp_path / "r"), "--quiet")
    assert r.returncode == 0, r.stderr
    r = _run("info", str(tmp_path / "r" / "last.pt"))
    assert r.returncode == 0 and "tensorized LSTM" in r.stdout and "P 2 locations" in r.stdout
    r = _run("quantize", str(tmp_path / "r" / "last.pt"), "--out", str(tmp_path / "t.lstmir"))
    assert r.returncode == 0, r.stderr
    assert "accuracy on 1000 validation sequences" in r.stdout and "tLSTM P=2" in r.stdout
    r = _run("train", "--model", "tlstm", "--tensor-size", "2", "--hidden", "4",
             "--channel-norm", "--epochs", "1", "--out", str(tmp_path / "cn"), "--quiet")
    assert r.returncode == 0, r.stderr
    r = _run("quantize", str(tmp_path / "cn" / "last.pt"), "--out", str(tmp_path / "cn.lstmir"))
    assert r.returncode == 2 and "channel normalization" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "cn.lstmir").exists()


@pytest.mark.cc
def test_trained_checkpoint_verifies_on_c(tmp_path: Path) -> None:
    r = _run("train", "--model", "tlstm", "--tensor-size", "3", "--hidden", "6", "--epochs", "1",
             "--out", str(tmp_path / "d"), "--quiet")
    assert r.returncode == 0, r.stderr
    r = _run("quantize", str(tmp_path / "d" / "last.pt"), "--out", str(tmp_path / "d.lstmir"),
             "--weights", "8")
    assert r.returncode == 0 and "accuracy on 270 validation sequences" in r.stdout, r.stderr
    r = _run("verify", str(tmp_path / "d.lstmir"), "--target", "c", "--vectors", "30")
    assert r.returncode == 0 and "PASS 30 vectors, 0 mismatches" in r.stdout, r.stderr


def test_lstm_only_commands_refuse_a_tlstm_in_one_line(tmp_path: Path) -> None:
    """prune (ISS compaction), export-hls4ml and train --from take LSTM checkpoints: a tLSTM gets one line,
    exit 2, nothing written; a run report with --deploy notes the tLSTM run instead of failing."""
    run = tmp_path / "run"
    train(default_config("default", model="tlstm", tensor_size=2, hidden=(4,), epochs=1),
          run, progress=False)
    for args, match in ((("prune", str(run / "best.pt"), "--out", str(tmp_path / "p.pt")),
                         "no ISS units to remove"),
                        (("export-hls4ml", str(run / "best.pt"), "--out", str(tmp_path / "h")),
                         "tensorized LSTM \\(tLSTM\\) cannot be expressed in hls4ml"),
                        (("train", "--task", "default", "--qat", "--from", str(run / "best.pt"),
                          "--out", str(tmp_path / "q")), "takes LSTM checkpoints")):
        r = _run(*args)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lstmgen: error:"), r.stderr
        assert re.search(match, lines[0]), lines[0]
    assert not any((tmp_path / n).exists() for n in ("p.pt", "h", "q"))
    r = _run("report", str(run), "--deploy", "--out", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr
    assert "not deployed here (tensorized LSTM): run" in (tmp_path / "rep" / "report.md").read_text()
