"""Export to hls4ml: a single-layer classifier is converted, compiled by hls4ml (its own
C-simulation) and agrees with the float model within hls4ml's precision; the written project
builds and predicts again through hls4ml; a mis-transposed head is caught; what hls4ml cannot
express is refused in one line with nothing written."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import require_tool

import lstmgen.commands.export  # noqa: F401  (registers export-hls4ml on the CLI)
from lstmgen import hls4ml_export
from lstmgen.checkpoint import Checkpoint, ModelConfig, build_module, save_checkpoint
from lstmgen.cli import main
from lstmgen.errors import ToolError, UsageError, VerifyError
from lstmgen.hls4ml_export import (
    check_exportable,
    export_hls4ml,
    parse_precision,
    tolerances,
    valid_reuse_factors,
)

pytestmark = pytest.mark.hls


def _ckpt(hidden=(12,), n_in=6, n_out=4, kind="classifier", seed=0, **meta) -> Checkpoint:
    vocab = n_out if kind == "lm" else 0
    cfg = ModelConfig(kind, n_in, tuple(hidden), n_out, vocab=vocab)
    torch.manual_seed(seed)
    m = build_module(cfg)
    return Checkpoint(cfg, {k: v.detach().clone() for k, v in m.state_dict().items()}, dict(meta))


def _need_hls4ml() -> None:
    require_tool("g++")
    pytest.importorskip("hls4ml")


def _float(ckpt: Checkpoint, x: np.ndarray) -> np.ndarray:
    m = build_module(ckpt.config)
    m.load_state_dict(ckpt.state_dict)
    with torch.no_grad():
        return m.double().eval()(torch.from_numpy(x)).numpy()


def test_single_layer_classifier_agrees_with_float(tmp_path: Path) -> None:
    """hls4ml's C-simulation (compile + predict) of the exported project agrees with the float
    model within the precision-derived tolerance; the project is an ordinary hls4ml project."""
    _need_hls4ml()
    import hls4ml

    ckpt = _ckpt(hidden=(12,), n_in=6, n_out=4)
    steps = 5
    x = np.random.default_rng(1).standard_normal((40, steps, 6))
    out = tmp_path / "prj"
    res = export_hls4ml(ckpt, out, steps=steps, check_inputs=x, reuse=2, name="clf")
    f = res.figures
    assert f["max_abs_err_h"] <= f["tolerance_h"]
    assert f["max_abs_err_dense"] <= f["tolerance_dense"]
    assert f["max_abs_err_out"] <= f["tolerance_out"]
    for name in ("firmware/clf.cpp", "build_prj.tcl", "hls4ml_config.yml", "lstmgen_export.json",
                 "tb_data/tb_input_features.dat"):
        assert (out / name).is_file(), name
    assert json.loads((out / "lstmgen_export.json").read_text())["reuse"] == 2
    assert "lstmgen-hls4ml" not in (out / "hls4ml_config.yml").read_text()  # no temp paths
    # build the written project again with hls4ml and predict
    with contextlib.redirect_stdout(io.StringIO()):
        linked = hls4ml.converters.link_existing_project(str(out))
        linked.compile()
    y = np.asarray(linked.predict(np.ascontiguousarray(x.astype(np.float32))), np.float64)
    y = y.reshape(len(x), 4)
    err = float(np.abs(y - _float(ckpt, x)).max())
    assert err <= f["tolerance_out"] and err == pytest.approx(f["max_abs_err_out"], abs=1e-6)
    # the precision the tolerance is derived from: errors are far inside it, but not zero
    assert 0 < err < 0.5 * f["tolerance_out"]


def test_untransposed_head_is_caught_and_nothing_written(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation check: without lstmgen's transpose hls4ml mis-reads the Linear weight; the
    Dense check refuses it."""
    _need_hls4ml()
    original = hls4ml_export.hls4ml_module

    def untransposed(ckpt):
        m = original(ckpt)
        m.fc.weight.data = ckpt.state_dict["head.weight"].detach().clone().float()
        return m

    monkeypatch.setattr(hls4ml_export, "hls4ml_module", untransposed)
    with pytest.raises(VerifyError) as exc:
        export_hls4ml(_ckpt(hidden=(8,), n_in=3, n_out=5), tmp_path / "prj", steps=4)
    assert "\n" not in str(exc.value) and "nothing written" in str(exc.value)
    assert not (tmp_path / "prj").exists()


@pytest.mark.unit
def test_stacked_and_lm_are_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as exc:
        export_hls4ml(_ckpt(hidden=(8, 6)), tmp_path / "a", steps=4)
    msg = str(exc.value)
    assert "\n" not in msg and "2 stacked LSTM layers (8x6)" in msg and "--target hls" in msg
    with pytest.raises(UsageError, match="language model"):
        check_exportable(_ckpt(kind="lm", n_out=9).config)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.unit
def test_missing_hls4ml_is_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hls4ml", None)
    with pytest.raises(ToolError) as exc:
        export_hls4ml(_ckpt(), tmp_path / "a", steps=4)
    assert "\n" not in str(exc.value) and "hls4ml is not installed" in str(exc.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.unit
def test_bad_options(tmp_path: Path) -> None:
    for bad in ("ap_int<16>", "fixed<16,6>", "ap_fixed<16>", "ap_fixed<80,6>"):
        with pytest.raises(UsageError, match="--precision"):
            parse_precision(bad)
    assert parse_precision("ap_fixed<18, 8, AP_RND, AP_SAT>").lsb == 2.0 ** -10
    with pytest.raises(UsageError, match="--reuse"):
        export_hls4ml(_ckpt(), tmp_path / "a", steps=4, reuse=0)
    with pytest.raises(UsageError, match="--steps"):
        export_hls4ml(_ckpt(), tmp_path / "a", steps=0)
    assert list(tmp_path.iterdir()) == []


def test_resource_strategy_needs_a_reuse_factor_hls4ml_accepts(tmp_path: Path) -> None:
    _need_hls4ml()
    ckpt = _ckpt(hidden=(12,), n_in=6, n_out=4)
    valid = valid_reuse_factors(ckpt.config)
    assert 1 in valid and 7 not in valid
    with pytest.raises(UsageError) as exc:
        export_hls4ml(ckpt, tmp_path / "a", steps=4, reuse=7, strategy="resource")
    assert "\n" not in str(exc.value) and "silently" in str(exc.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.unit
def test_tolerance_grows_with_steps_and_shrinks_with_precision() -> None:
    w = np.ones((2, 3))
    a = tolerances(parse_precision("ap_fixed<16,6>"), 4, w)
    b = tolerances(parse_precision("ap_fixed<24,8>"), 4, w)
    c = tolerances(parse_precision("ap_fixed<16,6>"), 8, w)
    assert b["h"] < a["h"] < c["h"] and a["out"] == pytest.approx(3 * a["h"])


def test_cli(tmp_path: Path) -> None:
    _need_hls4ml()
    path = tmp_path / "clf.pt"
    save_checkpoint(_ckpt(hidden=(5,), n_in=3, n_out=2), path)
    runner = CliRunner()
    res = runner.invoke(main, ["export-hls4ml", str(path), "--out", str(tmp_path / "o"),
                               "--steps", "3", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["steps"] == 3 and d["max_abs_err_out"] <= d["tolerance_out"]
    assert (tmp_path / "o" / "firmware" / "clf.cpp").is_file()


@pytest.mark.unit
def test_cli_refusals_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    stacked = tmp_path / "stacked.pt"
    save_checkpoint(_ckpt(hidden=(4, 4)), stacked)
    single = tmp_path / "single.pt"
    save_checkpoint(_ckpt(hidden=(4,)), single)
    runner = CliRunner()
    for argv, text in (
        ([str(stacked), "--steps", "3"], "stacked"),
        ([str(single)], "--steps T"),
        ([str(single), "--steps", "3", "--precision", "float"], "--precision"),
    ):
        res = runner.invoke(main, ["export-hls4ml", *argv, "--out", str(tmp_path / "o")])
        assert res.exit_code == 2, res.output
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lstmgen: error:") and text in lines[0]
        assert not (tmp_path / "o").exists()
