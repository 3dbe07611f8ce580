"""Training: the loss goes down, resume is bit-identical, failures leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lstmgen.checkpoint import load_checkpoint
from lstmgen.errors import DataError, UsageError
from lstmgen.train import default_config, train

PTB_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb"


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _lm_cfg(data, **kw):
    base = {"hidden": (8, 6), "embed": 5, "batch": 4, "bptt": 6, "epochs": 3, "dropout": 0.2,
            "decay_after": 1, "lr_decay": 0.5, "iss_lambda": 1e-3, "zero_threshold": 1e-3}
    base.update(kw)
    return default_config("ptb", data=str(data), **base)


def test_lm_training_lowers_loss(tiny_ptb):
    result = train(_lm_cfg(tiny_ptb, dropout=0.0, iss_lambda=0.0), progress=False)
    ppl = [m["train_ppl"] for m in result.history]
    assert ppl[-1] < ppl[0]
    assert result.checkpoint.config.vocab == 13  # 11 words, <unk>, <eos>
    assert result.best.meta["epoch"] == min(result.history, key=lambda m: m["valid_ppl"])["epoch"]


def test_classifier_training_lowers_loss():
    cfg = default_config("default", hidden=(8,), epochs=2, iss_lambda=1e-3)
    result = train(cfg, progress=False)
    assert result.history[1]["train_loss"] < result.history[0]["train_loss"]
    assert result.checkpoint.meta["iss"]["total_units"] == 8


@pytest.mark.parametrize("task", ["lm", "classifier"])
def test_resume_is_bit_identical(tmp_path, tiny_ptb, task):
    if task == "lm":
        cfg = _lm_cfg(tiny_ptb)
    else:
        cfg = default_config("default", hidden=(6, 5), epochs=3, dropout=0.3, iss_lambda=1e-3)
    full = train(cfg, tmp_path / "full", progress=False)
    part = train(cfg, tmp_path / "part", progress=False, epochs=1)
    assert len(part.history) == 1
    resumed = train(None, tmp_path / "part", resume=True, progress=False, epochs=3)
    for k, v in full.checkpoint.state_dict.items():
        assert torch.equal(v, resumed.checkpoint.state_dict[k]), k
    last = load_checkpoint(tmp_path / "part" / "last.pt")
    assert all(torch.equal(v, last.state_dict[k]) for k, v in full.checkpoint.state_dict.items())
    lines = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    full_lines = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(s).items() if k != "seconds"} for s in lines]
    assert strip == [{k: v for k, v in json.loads(s).items() if k != "seconds"} for s in full_lines]
    assert {p.name for p in (tmp_path / "part").iterdir()} == {
        "config.json", "metrics.jsonl", "last.pt", "best.pt", "state.pt"}


def test_failure_in_first_epoch_removes_run_dir(tmp_path, tiny_ptb):
    cfg = _lm_cfg(tiny_ptb, lr=1e30, iss_lambda=0.0, dropout=0.0, clip=0.0)
    with pytest.raises(UsageError, match="diverged"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_bad_configs(tmp_path):
    for kw in ({"epochs": 0}, {"hidden": (0,)}, {"dropout": 1.0}, {"lr": -1.0}, {"batch": 0}):
        with pytest.raises(UsageError):
            default_config("default", **kw)
    with pytest.raises(UsageError, match="--data"):
        default_config("ptb")
    with pytest.raises(DataError, match="does not exist"):
        train(default_config("ptb", data=str(tmp_path / "nope")), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.skipif(not PTB_DIR.is_dir(), reason=f"{PTB_DIR} not present")
def test_ptb_smoke(tmp_path):
    cfg = default_config("ptb", data=str(PTB_DIR), hidden=(32,), embed=32, epochs=1,
                         max_tokens=20000, iss_lambda=1e-3)
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.history[0]["valid_ppl"] < 10000
