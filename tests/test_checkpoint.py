"""Checkpoint round trip, validation of configs and files, and lstmgen.load for both kinds."""

from __future__ import annotations

import pytest
import torch

import lstmgen
from lstmgen.checkpoint import (
    Checkpoint,
    ModelConfig,
    build_module,
    config_from_state_dict,
    load_checkpoint,
    macs_per_step,
    save_checkpoint,
)
from lstmgen.errors import CheckpointError

pytestmark = pytest.mark.unit

CLS = ModelConfig(kind="classifier", n_in=3, hidden=(4, 2), n_out=5)
LM = ModelConfig(kind="lm", n_in=4, hidden=(3, 4), n_out=9, vocab=9, tied=True)


def _ckpt(cfg: ModelConfig) -> Checkpoint:
    torch.manual_seed(0)
    sd = {k: v.detach().clone() for k, v in build_module(cfg).state_dict().items()}
    return Checkpoint(cfg, sd, {"task": "test", "metrics": {"acc": 0.5}})


@pytest.mark.parametrize("cfg", [CLS, LM])
def test_round_trip_and_load(tmp_path, cfg):
    ckpt = _ckpt(cfg)
    save_checkpoint(ckpt, tmp_path / "m.pt")
    back = load_checkpoint(tmp_path / "m.pt")
    assert back.config == cfg and back.meta == ckpt.meta
    assert all(torch.equal(back.state_dict[k], v) for k, v in ckpt.state_dict.items())
    model = lstmgen.load(tmp_path / "m.pt")
    assert not model.training
    x = torch.randn(2, 6, 3) if cfg.kind == "classifier" else torch.randint(0, 9, (2, 6))
    out = model(x)
    assert isinstance(out, torch.Tensor)
    assert out.shape == ((2, 5) if cfg.kind == "classifier" else (2, 6, 9))


def test_config_validation():
    assert ModelConfig.from_dict(LM.to_dict()) == LM
    bad = [
        {"kind": "gru", "n_in": 1, "hidden": [1], "n_out": 1},
        {"kind": "classifier", "n_in": 1, "hidden": [], "n_out": 1},
        {"kind": "classifier", "n_in": 1, "hidden": [0], "n_out": 1},
        {"kind": "classifier", "n_in": 1, "hidden": [2], "n_out": 1, "dropout": 1.0},
        {"kind": "lm", "n_in": 2, "hidden": [3], "n_out": 4, "vocab": 4, "tied": True},
        {"kind": "lm", "n_in": 2, "hidden": [3], "n_out": 4, "vocab": 5},
        {"kind": "classifier", "n_in": 1, "hidden": [2], "n_out": 1, "colour": 3},
        {"kind": "classifier", "hidden": [2], "n_out": 1},
    ]
    for d in bad:
        with pytest.raises(CheckpointError, match="model config"):
            ModelConfig.from_dict(d)


def _payload(**changes):
    ckpt = _ckpt(CLS)
    payload = {"format": "lstmgen-checkpoint", "version": 1, "config": CLS.to_dict(),
               "meta": "{}", "state_dict": dict(ckpt.state_dict)}
    payload.update(changes)
    return payload


def _with_sd(**sd_changes):
    sd = dict(_ckpt(CLS).state_dict)
    for k, v in sd_changes.items():
        if v is None:
            del sd[k.replace("__", ".")]
        else:
            sd[k.replace("__", ".")] = v
    return _payload(state_dict=sd)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"weights": 1}, "not an lstmgen checkpoint"),
        (_payload(version=2), "version"),
        (_with_sd(head__weight=None), "missing key.*head.weight"),
        (_with_sd(head__extra=torch.zeros(1)), "unexpected key.*head.extra"),
        (_with_sd(head__weight=torch.zeros(5, 3)), "head.weight has shape"),
        (_with_sd(lstm__bias_ih_l1=torch.full((8,), float("nan"))), "lstm.bias_ih_l1.*NaN"),
        (_with_sd(lstm__weight_hh_l0=torch.full((16, 4), float("inf"))), "weight_hh_l0.*Inf"),
    ],
)
def test_bad_files(tmp_path, payload, match):
    path = tmp_path / "bad.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path)
    assert "bad.pt" in str(info.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "absent.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="text.pt: not a readable PyTorch file"):
        load_checkpoint(tmp_path / "text.pt")
    save_checkpoint(_ckpt(CLS), tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt"):
        load_checkpoint(tmp_path / "cut.pt")


def test_save_refuses_bad_state_and_leaves_nothing(tmp_path):
    ckpt = _ckpt(CLS)
    ckpt.state_dict["head.bias"] = torch.tensor([float("nan")] * 5)
    with pytest.raises(CheckpointError, match="head.bias"):
        save_checkpoint(ckpt, tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_infer_config_and_macs():
    sd = _ckpt(CLS).state_dict
    assert config_from_state_dict(sd, "classifier") == CLS
    assert macs_per_step(CLS) == {"lstm": 4 * 4 * (3 + 4) + 4 * 2 * (4 + 2), "head": 10,
                                  "total": 112 + 48 + 10}
    with pytest.raises(CheckpointError, match="no LSTM layers"):
        config_from_state_dict({"head.weight": torch.zeros(1, 1)}, "classifier")


def test_checkpoint_bytes_are_deterministic(tmp_path):
    ckpt = _ckpt(CLS)
    save_checkpoint(ckpt, tmp_path / "a.pt")
    save_checkpoint(ckpt, tmp_path / "sub" / "other_name.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "sub" / "other_name.pt").read_bytes()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda t: t.to_sparse(), "sparse_coo tensor"),
        (lambda t: t.to_sparse_csr(), "sparse_csr tensor"),
        (lambda t: torch.empty(t.shape, device="meta"), "meta tensor"),
        (lambda t: t.to(torch.complex64), "complex64"),
    ],
)
@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_unusual_tensors_are_refused(tmp_path, make, match):
    path = tmp_path / "odd.pt"
    torch.save(_with_sd(head__weight=make(torch.zeros(5, 2))), path)
    with pytest.raises(CheckpointError, match=f"odd.pt: head.weight .*{match}"):
        load_checkpoint(path)


def test_truncated_and_foreign_files_get_clear_messages(tmp_path, capfd):
    import pickle

    save_checkpoint(_ckpt(CLS), tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    for n in (0, 1, 10, 100, len(data) // 2, len(data) - 10):
        (tmp_path / "cut.pt").write_bytes(data[:n])
        with pytest.raises(CheckpointError, match="cut.pt: not a readable PyTorch file") as info:
            load_checkpoint(tmp_path / "cut.pt")
        assert "Invalid argument" not in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "raw.pkl").write_bytes(pickle.dumps({"a": {1, 2}}, protocol=4))
    capfd.readouterr()
    with pytest.raises(CheckpointError, match="raw.pkl: .*Python objects"):
        load_checkpoint(tmp_path / "raw.pkl")
    assert capfd.readouterr() == ("", "")  # torch's warning is silenced
