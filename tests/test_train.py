"""Training: the loss goes down, resume is bit-identical, failures leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lstmgen.checkpoint import load_checkpoint
from lstmgen.errors import CheckpointError, DataError, UsageError
from lstmgen.train import default_config, train

PTB_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb"


pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("torch_one_thread")]


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


def _tiny_cfg(**kw):
    base = {"hidden": (4,), "epochs": 1}
    base.update(kw)
    return default_config("default", **base)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A one-epoch run directory of a 4-unit digits classifier (copy it before changing it)."""
    out = tmp_path_factory.mktemp("runs") / "run"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(_tiny_cfg(), out, progress=False)
    finally:
        torch.set_num_threads(n)
    return out


def _copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_seed_range():
    assert _tiny_cfg(seed=2**32 - 1).seed == 2**32 - 1
    for seed in (-1, 2**32, 2**70):
        with pytest.raises(UsageError, match="--seed must be between 0 and 4294967295"):
            _tiny_cfg(seed=seed)


def test_divergence_names_the_epoch_and_leaves_no_directories(tmp_path):
    with pytest.raises(UsageError, match=r"diverged in epoch 1: .*(NaN|Inf).*lower --lr"):
        train(_tiny_cfg(lr=1e30), tmp_path / "a" / "b" / "run", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_existing_empty_directory_is_used_and_kept(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with pytest.raises(UsageError, match="diverged"):
        train(_tiny_cfg(lr=1e30), out, progress=False)
    assert out.is_dir() and list(out.iterdir()) == []
    train(_tiny_cfg(), out, progress=False)
    assert {p.name for p in out.iterdir()} == {"config.json", "metrics.jsonl", "last.pt", "best.pt",
                                               "state.pt"}
    with pytest.raises(UsageError, match="not empty"):
        train(_tiny_cfg(), out, progress=False)


def test_memory_is_estimated_before_allocating(tmp_path):
    with pytest.raises(UsageError, match=r"--hidden 200000: the model has 160,010,000,010 "
                                         r"parameters; training needs about .* GiB"):
        train(_tiny_cfg(hidden=(200000,)), tmp_path / "run", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_resume_refuses_fewer_epochs_and_reports_a_complete_run(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path / "run")
    before = _files(run)
    with pytest.raises(UsageError, match="--epochs 0 is below the 1 epoch"):
        train(None, run, resume=True, progress=False, epochs=0)
    again = train(None, run, resume=True, progress=False)  # complete: nothing to do
    assert len(again.history) == 1
    assert _files(run) == before


def _edit_state(run: Path, **changes) -> None:
    state = torch.load(run / "state.pt", weights_only=True)
    for key, value in changes.items():
        state[key] = value(state) if callable(value) else value
    torch.save(state, run / "state.pt")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"train_config": lambda s: s["train_config"].replace('"hidden": [4]', '"hidden": [5]')},
         "model weights do not match the run's config"),
        ({"train_config": "{not json"}, "train_config is not a JSON string"),
        ({"train_config": '{"task": "default", "hidden": [4], "colour": 1}'}, "unknown key"),
        ({"train_config": lambda s: s["train_config"].replace('"lr": 0.01', '"lr": "fast"')},
         "lr must be a number"),
        ({"epoch": "one"}, "epoch must be a whole number"),
        ({"epoch": 1.5}, "epoch must be a whole number"),
        ({"epoch": 3}, "history holds 1 epoch"),
        ({"history": "[}"}, "history is not a JSON string"),
        ({"best_score": "x"}, "best_score"),
        ({"rng": torch.zeros(3)}, "rng must be"),
        ({"model": lambda s: {**s["model"], "lstm.weight_hh_l0": torch.zeros(16, 5)}},
         "model weights do not match"),
        ({"model": lambda s: {**s["model"], "head.bias": torch.full((10,), float("nan"))}},
         "NaN"),
        ({"optimizer": lambda s: {**s["optimizer"], "param_groups": []}},
         "optimizer state does not match"),
        ({"format": "other"}, "not an lstmgen training state"),
    ],
)
def test_hand_edited_state_is_refused(tiny_run, tmp_path, changes, match):
    run = _copy_run(tiny_run, tmp_path / "run")
    _edit_state(run, **changes)
    before = _files(run)
    with pytest.raises(CheckpointError, match=match) as info:
        train(None, run, resume=True, progress=False, epochs=2)
    assert "state.pt" in str(info.value) and "\n" not in str(info.value)
    assert _files(run) == before


# --- bf16 mixed precision -------------------------------------------------------------------


@pytest.mark.parametrize("task", ["lm", "classifier"])
def test_bf16_trains_in_bfloat16_and_keeps_float32_weights(tmp_path, tiny_ptb, task):
    def cfg(precision):
        if task == "lm":
            return _lm_cfg(tiny_ptb, precision=precision, epochs=2)
        return default_config("default", hidden=(8,), epochs=2, iss_lambda=1e-3,
                              precision=precision)

    half = train(cfg("bf16"), tmp_path / "bf16", progress=False)
    full = train(cfg("fp32"), tmp_path / "fp32", progress=False)
    key = "train_ppl" if task == "lm" else "train_loss"
    assert half.history[-1][key] < half.history[0][key]
    diffs = []
    for k, v in half.checkpoint.state_dict.items():
        assert v.dtype == full.checkpoint.state_dict[k].dtype == torch.float32, k
        diffs.append(float((v - full.checkpoint.state_dict[k]).abs().max()))
    # bfloat16 products (8-bit mantissa) move the weights, but only by round-off
    assert 0 < max(diffs) < 0.05
    # the run records its precision; a float32 run's config is that of earlier versions
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["train"]["precision"] == "bf16"
    assert "precision" not in json.loads((tmp_path / "fp32" / "config.json").read_text())["train"]


def test_bf16_resume_is_bit_identical(tmp_path, tiny_ptb):
    cfg = _lm_cfg(tiny_ptb, precision="bf16")
    full = train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "part", progress=False, epochs=1)
    resumed = train(None, tmp_path / "part", resume=True, progress=False, epochs=3)
    stored = json.loads((tmp_path / "part" / "config.json").read_text())["train"]
    assert stored["precision"] == "bf16"
    for k, v in full.checkpoint.state_dict.items():
        assert torch.equal(v, resumed.checkpoint.state_dict[k]), k


@pytest.mark.parametrize(("kw", "match"), [
    ({"precision": "fp16"}, "--precision must be one of fp32, bf16, got 'fp16'"),
    ({"precision": "bf16", "shs_threshold": 0.3}, "--precision bf16 is not supported with --shs"),
    ({"precision": "bf16", "qat": True, "init_from": "x.pt"}, "not supported with --qat"),
    ({"precision": "bf16", "model": "tlstm", "hidden": (4,)}, "not supported with --model tlstm"),
])
def test_bf16_refuses_what_it_does_not_cover(kw, match):
    with pytest.raises(UsageError, match=match):
        default_config("default", **kw)


def test_precision_round_trips_through_the_config_file():
    from lstmgen.train import TrainConfig

    cfg = _tiny_cfg(precision="bf16")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    d = _tiny_cfg().to_dict()
    assert TrainConfig.from_dict(d).precision == "fp32"  # files without the key: float32
    with pytest.raises(CheckpointError, match="precision must be a string"):
        TrainConfig.from_dict({**d, "precision": 16})


def test_a_run_another_process_continues_is_refused(tiny_run, tmp_path):
    """Two processes continuing one run would write its files over each other: the second is
    refused in one line while the first holds the run, and nothing is added to the directory."""
    import fcntl
    import os

    run = _copy_run(tiny_run, tmp_path / "run")
    before = _files(run)
    fd = os.open(run, os.O_RDONLY | os.O_DIRECTORY)  # what a training process holds
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(UsageError, match="another process is training this run"):
            train(None, run, resume=True, progress=False, epochs=2)
    finally:
        os.close(fd)
    assert _files(run) == before
    result = train(None, run, resume=True, progress=False, epochs=2)  # released: it continues
    assert len(result.history) == 2
    train(None, run, resume=True, progress=False, epochs=3)  # and the lock was let go again
