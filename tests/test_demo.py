"""End to end: the demo pipeline (train with ISS → compact → quantize → C and Cortex-M4 bit-exact)."""

from __future__ import annotations

import json

import pytest
from conftest import require_tool

from lstmgen.commands.demo import run_demo

pytestmark = [pytest.mark.cc, pytest.mark.qemu]


def test_demo_pipeline_is_bit_exact_on_cpu_and_cortex_m4(tmp_path):
    for tool in ("gcc", "valgrind", "arm-none-eabi-gcc", "qemu-system-arm"):
        require_tool(tool)
    out = tmp_path / "demo"
    out.mkdir()
    (out / "notes.txt").write_text("the user's notes\n")  # written beside, never replaced
    summary = run_demo(out, epochs=6, iss_lambda=3e-3, progress=False)
    assert (out / "notes.txt").read_text() == "the user's notes\n"
    assert (out / ".lstmgen-manifest.json").is_file()
    assert summary["ok"]
    assert set(summary["rows"]) == {f"digits_{t}_w{w}" for t in ("dense", "compact") for w in (16, 8)}
    for name, row in summary["rows"].items():
        assert row["mismatches"] == 0 and row["vectors"] == 270, name
        assert row["c_accuracy"] == row["golden_accuracy"], name
        assert row["m4"]["mismatches"] == 0 and row["m4"]["vectors"] == 270, name
        assert row["m4"]["instructions_per_sequence"] > 0 and row["m4"]["flash_bytes"] > 0
        assert row["instructions_per_sequence"] > 0
    assert all(a >= b for a, b in zip(summary["hidden_before"], summary["hidden_after"]))
    assert json.loads((out / "summary.json").read_text())["ok"] is True
    for name in summary["rows"]:
        assert (out / f"{name}.lstmir").is_file() and (out / "c" / name / "harness" / "main.c").is_file()
    assert "C exact" in (out / "summary.txt").read_text()
