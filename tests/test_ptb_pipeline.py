"""Slow: the language-model path end to end on real PTB text (train → prune → quantize → C)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import require_tool

from lstmgen.cli import main

PTB = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb"

pytestmark = [pytest.mark.slow, pytest.mark.cc]


@pytest.mark.skipif(not (PTB / "ptb.train.txt").is_file(), reason=f"PTB not found at {PTB}")
def test_ptb_lm_train_prune_quantize_verify(tmp_path):
    require_tool("gcc")

    def run(*args):
        res = CliRunner().invoke(main, [str(a) for a in args])
        assert res.exit_code == 0, res.output
        return res.output

    run("train", "--task", "ptb", "--data", PTB, "--max-tokens", 30000, "--epochs", 1,
        "--hidden", 32, "--embed", 32, "--iss-lambda", 0.002, "--out", tmp_path / "run", "--quiet")
    pr = json.loads(run("prune", tmp_path / "run" / "last.pt", "--out", tmp_path / "small.pt", "--json"))
    assert pr["max_abs_diff"] < 1e-4
    q = json.loads(run("quantize", tmp_path / "small.pt", "--out", tmp_path / "lm.lstmir", "--task", "ptb",
                       "--data", PTB, "--eval-tokens", 2000, "--json").strip().splitlines()[-1])
    assert abs(q["golden_ppl"] - q["float_ppl"]) / q["float_ppl"] < 0.01
    v = json.loads(run("verify", tmp_path / "lm.lstmir", "--target", "c", "--vectors", 3, "--steps", 6,
                       "--json"))
    assert v["mismatches"] == 0 and v["vectors"] == 3
