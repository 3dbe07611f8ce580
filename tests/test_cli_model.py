"""The model commands through the CLI: happy paths and every bad input (one line, exit 2)."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from lstmgen.checkpoint import load_checkpoint
from lstmgen.cli import main

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("torch_one_thread")]


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _fails(result, match):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmgen: error: "), result.stderr
    assert match in lines[0], lines[0]


def _plain_sd(kind="classifier", layers=2, hidden=6):
    torch.manual_seed(0)
    lstm = nn.LSTM(5, hidden, num_layers=layers, batch_first=True)
    sd = {f"lstm.{k}": v for k, v in lstm.state_dict().items()}
    if kind == "classifier":
        sd.update({f"head.{k}": v for k, v in nn.Linear(hidden, 3).state_dict().items()})
    else:
        sd["embedding.weight"] = torch.randn(11, 5)
        sd.update({f"decoder.{k}": v for k, v in nn.Linear(hidden, 11).state_dict().items()})
    return sd


@pytest.mark.parametrize("kind", ["classifier", "lm"])
def test_import_prune_info(tmp_path, kind):
    sd = _plain_sd(kind)
    with torch.no_grad():  # make units 1 and 4 of the top layer removable
        sd["lstm.weight_hh_l1"][:, [1, 4]] = 0
        sd["head.weight" if kind == "classifier" else "decoder.weight"][:, [1, 4]] = 0
    torch.save(sd, tmp_path / "sd.pt")
    res = _run("import", tmp_path / "sd.pt", "--kind", kind, "--out", tmp_path / "m.pt")
    assert res.exit_code == 0, res.output
    res = _run("prune", tmp_path / "m.pt", "--out", tmp_path / "small.pt", "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["hidden_before"] == [6, 6] and rep["hidden_after"] == [6, 4]
    assert rep["macs_after"] < rep["macs_before"] and rep["max_abs_diff"] < 1e-5
    assert load_checkpoint(tmp_path / "small.pt").config.hidden == (6, 4)
    res = _run("prune", tmp_path / "m.pt", "--out", tmp_path / "small2.pt")
    assert res.exit_code == 0 and "layer 1" in res.stdout
    res = _run("info", tmp_path / "m.pt")
    assert res.exit_code == 0 and "2/12 units removable" in res.stdout, res.output
    res = _run("info", tmp_path / "small.pt", "--json")
    d = json.loads(res.stdout)
    assert d["config"]["hidden"] == [6, 4] and d["meta"]["compacted_from"] == [6, 6]


def test_train_cli_and_resume(tmp_path, tiny_ptb):
    out = tmp_path / "run"
    common = ["--task", "ptb", "--data", tiny_ptb, "--hidden", "6", "--layers", "2", "--embed", "4",
              "--batch", "4", "--bptt", "5", "--quiet", "--out", out]
    res = _run("train", *common, "--epochs", "1")
    assert res.exit_code == 0, res.output
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    res = _run("train", "--out", out, "--resume", "--epochs", "2", "--quiet")
    assert res.exit_code == 0, res.output
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    _fails(_run("train", *common, "--epochs", "1"), "already exists")
    _fails(_run("train", "--out", out, "--resume", "--lr", "3"), "--resume")
    _fails(_run("train", "--out", tmp_path / "none", "--resume"), "state.pt not found")
    _fails(_run("train", "--out", out, "--resume", "--precision", "bf16"), "--precision")
    res = _run("train", *common[:-1], tmp_path / "bf16", "--epochs", "1", "--precision", "bf16")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["train"]["precision"] == "bf16"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--epochs", "-1"], "--epochs"),
        (["--hidden", "0"], "--hidden"),
        (["--hidden", "x"], "--hidden"),
        (["--layers", "3", "--hidden", "4,4"], "--layers"),
        (["--dropout", "1"], "--dropout"),
        (["--lr", "0"], "--lr"),
        (["--iss-lambda", "-1"], "--iss-lambda"),
        (["--task", "ptb"], "--data"),
        (["--task", "ptb", "--data", "NOPE"], "does not exist"),
        (["--task", "ptb", "--data", "FILE"], "not a directory"),
        (["--task", "ptb", "--data", "EMPTYDIR"], "missing file(s) ptb.train.txt"),
        (["--task", "ptb", "--data", "EMPTYFILE"], "ptb.valid.txt: file is empty"),
        (["--task", "ptb", "--data", "BINARY"], "not UTF-8"),
        (["--task", "ptb", "--data", "TINY", "--tied", "--hidden", "5", "--embed", "4"], "--tied"),
        (["--precision", "bf16", "--shs-threshold", "0.3"], "not supported with --shs-threshold"),
        (["--precision", "fp16"], "--precision"),
    ],
)
def test_train_bad_input(tmp_path, tiny_ptb, args, match):
    (tmp_path / "FILE").write_text("x")
    (tmp_path / "EMPTYDIR").mkdir()
    for name in ("EMPTYFILE", "BINARY"):
        d = tmp_path / name
        d.mkdir()
        for split in ("train", "valid", "test"):
            (d / f"ptb.{split}.txt").write_bytes((tiny_ptb / f"ptb.{split}.txt").read_bytes())
    (tmp_path / "EMPTYFILE" / "ptb.valid.txt").write_text("\n  \n")
    (tmp_path / "BINARY" / "ptb.test.txt").write_bytes(b"\xff\xfe\x00abc")
    subst = {"NOPE": tmp_path / "nope", "FILE": tmp_path / "FILE", "TINY": tiny_ptb}
    subst.update({k: tmp_path / k for k in ("EMPTYDIR", "EMPTYFILE", "BINARY")})
    args = [subst.get(a, a) for a in args]
    _fails(_run("train", *args, "--quiet", "--out", tmp_path / "run"), match)
    assert not (tmp_path / "run").exists()
    assert not any(p.name.startswith(".run") for p in tmp_path.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_train_cuda_unavailable(tmp_path):
    _fails(_run("train", "--device", "cuda", "--out", tmp_path / "run"), "no CUDA device")
    assert not (tmp_path / "run").exists()


def _bad_state_dicts(tmp_path):
    sd = _plain_sd()
    cases = {}
    cases["missing"] = ({k: v for k, v in sd.items() if k != "head.bias"}, "missing key(s) head.bias")
    cases["extra"] = ({**sd, "lstm.weight_ih_l0_reverse": sd["lstm.weight_ih_l0"]}, "unexpected key")
    cases["shape"] = ({**sd, "head.weight": torch.zeros(3, 7)}, "head.weight has shape")
    cases["nan"] = ({**sd, "lstm.bias_hh_l1": torch.full((24,), float("nan"))}, "NaN")
    cases["nolstm"] = ({"head.weight": torch.zeros(3, 6)}, "no LSTM layers")
    cases["notdict"] = (torch.zeros(3), "not a state dict")
    for name, (obj, _) in cases.items():
        torch.save(obj, tmp_path / f"{name}.pt")
    (tmp_path / "garbage.pt").write_bytes(b"\x00garbage")
    cases["garbage"] = (None, "not a readable PyTorch file")
    return {tmp_path / f"{n}.pt": m for n, (_, m) in cases.items()}


def test_import_bad_input(tmp_path):
    for path, match in _bad_state_dicts(tmp_path).items():
        _fails(_run("import", path, "--kind", "classifier", "--out", tmp_path / "o.pt"), match)
    _fails(_run("import", tmp_path / "absent.pt", "--kind", "lm", "--out", tmp_path / "o.pt"),
           "no such file")
    _fails(_run("import", tmp_path, "--kind", "lm", "--out", tmp_path / "o.pt"), "not a file")
    assert not (tmp_path / "o.pt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.pt")]


def test_prune_and_info_bad_input(tmp_path):
    torch.save({"format": "something-else"}, tmp_path / "foreign.pt")
    (tmp_path / "text.pt").write_text("not torch")
    for cmd in (["prune", "--out", tmp_path / "o.pt"], ["info"]):
        _fails(_run(*cmd[:1], tmp_path / "foreign.pt", *cmd[1:]), "not an lstmgen checkpoint")
        _fails(_run(*cmd[:1], tmp_path / "text.pt", *cmd[1:]), "not a readable PyTorch file")
        _fails(_run(*cmd[:1], tmp_path / "absent.pt", *cmd[1:]), "no such file")
        _fails(_run(*cmd[:1], tmp_path, *cmd[1:]), "not a file")
    assert not (tmp_path / "o.pt").exists()


def test_info_dispatches_ir_files(tmp_path):
    from lstmgen import ir
    from lstmgen.testing import random_model

    ir.save(random_model(0, hidden=(5, 3), name="tiny"), tmp_path / "m.lstmir")
    res = _run("info", tmp_path / "m.lstmir", "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["name"] == "tiny" and info["hidden"] == [5, 3]
    text = _run("info", tmp_path / "m.lstmir")
    assert text.exit_code == 0 and "model 'tiny'" in text.stdout


def _odd_sd(kind):
    sd = _plain_sd()
    if kind == "sparse":
        sd["head.weight"] = sd["head.weight"].to_sparse()
    else:
        sd["head.weight"] = torch.empty(3, 6, device="meta")
    return sd


@pytest.mark.parametrize("kind", ["sparse", "meta"])
def test_sparse_and_meta_tensors(tmp_path, kind):
    from lstmgen.checkpoint import ModelConfig

    torch.save(_odd_sd(kind), tmp_path / "sd.pt")
    cfg = ModelConfig(kind="classifier", n_in=5, hidden=(6, 6), n_out=3)
    torch.save({"format": "lstmgen-checkpoint", "version": 1, "config": cfg.to_dict(),
                "meta": "{}", "state_dict": _odd_sd(kind)}, tmp_path / "ck.pt")
    want = "sparse_coo tensor" if kind == "sparse" else "meta tensor"
    _fails(_run("import", tmp_path / "sd.pt", "--kind", "classifier", "--out", tmp_path / "o.pt"),
           want)
    _fails(_run("info", tmp_path / "ck.pt"), want)
    _fails(_run("prune", tmp_path / "ck.pt", "--out", tmp_path / "o.pt"), want)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt", "sd.pt"]


def test_outputs_never_replace_inputs_or_user_files(tmp_path):
    torch.save(_plain_sd(), tmp_path / "sd.pt")
    assert _run("import", tmp_path / "sd.pt", "--kind", "classifier",
                "--out", tmp_path / "m.pt").exit_code == 0
    (tmp_path / "notes.txt").write_text("mine\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    _fails(_run("import", tmp_path / "sd.pt", "--kind", "classifier", "--out", tmp_path / "sd.pt"),
           "never writes over its own input")
    _fails(_run("prune", tmp_path / "m.pt", "--out", tmp_path / "m.pt"), "own input")
    _fails(_run("prune", tmp_path / "m.pt", "--out", tmp_path / "notes.txt"), "use --force")
    _fails(_run("prune", tmp_path / "m.pt", "--out", tmp_path), "is a directory")
    _fails(_run("prune", tmp_path / "m.pt", "--out", tmp_path / "notes.txt" / "x.pt"),
           "is a file, but a directory")
    _fails(_run("prune", tmp_path / "m.pt", "--out", tmp_path / "o.pt", "--tol", "-1"), "--tol")
    _fails(_run("prune", tmp_path / "m.pt", "--out", tmp_path / "o.pt", "--tol", "nan"), "--tol")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # lstmgen's own checkpoint may be replaced; a user file only with --force
    assert _run("import", tmp_path / "sd.pt", "--kind", "classifier",
                "--out", tmp_path / "m.pt").exit_code == 0
    assert _run("prune", tmp_path / "m.pt", "--out", tmp_path / "notes.txt",
                "--force").exit_code == 0
    assert load_checkpoint(tmp_path / "notes.txt").config.hidden == (6, 6)


def test_info_json_is_strict_json(tmp_path):
    from lstmgen.checkpoint import ModelConfig, build_module

    cfg = ModelConfig(kind="classifier", n_in=5, hidden=(6,), n_out=3)
    sd = build_module(cfg).state_dict()
    torch.save({"format": "lstmgen-checkpoint", "version": 1, "config": cfg.to_dict(),
                "meta": '{"metrics": {"valid_ppl": NaN, "x": Infinity}}', "state_dict": sd},
               tmp_path / "m.pt")
    res = _run("info", tmp_path / "m.pt", "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout, parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert d["meta"]["metrics"] == {"valid_ppl": None, "x": None}


def test_train_resume_messages(tmp_path):
    out = tmp_path / "run"
    assert _run("train", "--hidden", "4", "--epochs", "1", "--quiet", "--out", out).exit_code == 0
    _fails(_run("train", "--out", out, "--resume", "--epochs", "0", "--quiet"), "below the 1 epoch")
    res = _run("train", "--out", out, "--resume", "--quiet")
    assert res.exit_code == 0 and "nothing to do" in res.stdout, res.output
    (out / "best.pt").unlink()
    res = _run("train", "--out", out, "--resume", "--epochs", "2", "--quiet")
    assert res.exit_code == 0, res.output
    if not (out / "best.pt").exists():
        assert "best.pt" not in res.stdout.replace("no best.pt", "")
    else:
        assert f"best: {out / 'best.pt'}" in res.stdout
    _fails(_run("train", "--seed", str(2**70), "--quiet", "--out", tmp_path / "r2"), "--seed")
    _fails(_run("train", "--lr", "1e30", "--hidden", "4", "--quiet",
                "--out", tmp_path / "a" / "b"), "diverged in epoch 1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
