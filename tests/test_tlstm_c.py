"""The tLSTM C target: golden vs host C vs Cortex-M4 (QEMU), bit for bit, on random tLSTMs
(P = 1 included, both kernel alignments, with and without the memory-cell convolution, int8
and int16 weights, int16 and int32 cells, int32 and int64 accumulators, classifiers and LMs),
with per-location dumps; the command line; the refusals of the other back ends."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tool

from lstmgen import golden_tlstm, ir
from lstmgen.errors import UsageError
from lstmgen.ir import IntTensor
from lstmgen.quant.tlstm import random_tlstm
from lstmgen.targets.c import CTarget
from lstmgen.targets.c_tlstm import render
from lstmgen.targets.registry import get_target
from lstmgen.testing import random_inputs
from lstmgen.verify.base import verify
from lstmgen.verify.cpu import CpuRunner

# (seed, kind, P, M, K, memory_conv, feedback, weight_bits, c_bits, small weights)
CASES = [
    (10, "classifier", 1, 3, 2, True, True, 16, 16, False),  # P = 1
    (11, "classifier", 1, 5, 3, False, True, 8, 32, False),  # P = 1, an LSTM's shape
    (12, "lm", 3, 5, 3, True, True, 16, 32, False),
    (13, "classifier", 4, 2, 2, True, False, 16, 16, False),  # no feedback
    (14, "lm", 2, 7, 4, False, False, 8, 16, False),
    (15, "classifier", 5, 3, 5, True, True, 8, 32, True),
    (16, "classifier", 3, 6, 3, True, True, 16, 16, True),  # int16 weights, int32 accumulators
    (17, "lm", 2, 9, 3, True, True, 16, 32, True),  # odd M: the DSP kernels' last single product
]


def _small(m):
    """The same model with every kernel and head weight code divided by 256: narrow
    accumulators (int32), so the int32 kernels run too."""
    changes = {}
    for name, g in m.gates():
        w = IntTensor(g.weight.values // 256, g.weight.fmt, name=f"gate {name} weight")
        changes[name] = dataclasses.replace(g, weight=w)
    hd = m.head
    changes["head"] = dataclasses.replace(hd, weight=IntTensor(hd.weight.values // 256, hd.weight.fmt))
    return m.replace(**changes)


def _model(case):
    seed, kind, P, M, K, mc, fb, wb, cb, small = case
    m = random_tlstm(seed, kind=kind, P=P, M=M, K=K, memory_conv=mc, feedback=fb,
                     weight_bits=wb, c_bits=cb, name=f"t{seed}")
    return _small(m) if small else m


@pytest.mark.unit
def test_cases_cover_both_accumulator_widths() -> None:
    widths = {32 if _model(c).plan.acc_bits <= 32 else 64 for c in CASES}
    assert widths == {32, 64}


@pytest.mark.cc
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"s{c[0]}")
def test_host_c_matches_golden(case, tmp_path: Path) -> None:
    m = _model(case)
    x = random_inputs(m, 12, 9, case[0])
    rep = verify(m, CpuRunner(CTarget()), x, tmp_path)
    assert rep.passed, rep.text()
    run = CpuRunner(CTarget()).run(m, x, tmp_path, dump=True)
    want = golden_tlstm.run(m, x, dump=True)
    for p, (w, g) in enumerate(zip(want.layers, run.dump or [])):
        np.testing.assert_array_equal(g["h"], w["h"], err_msg=f"location {p + 1} H")
        np.testing.assert_array_equal(g["c"], w["c"], err_msg=f"location {p + 1} C")


@pytest.mark.cc
@pytest.mark.parametrize("case", [CASES[2], CASES[6]], ids=lambda c: f"s{c[0]}")
def test_host_c_under_sanitizers(case, tmp_path: Path) -> None:
    """AddressSanitizer and UBSan (signed overflow is fatal) on the int32 and int64 paths."""
    m = _model(case)
    x = random_inputs(m, 6, 7, 3)
    rep = verify(m, CpuRunner(CTarget(), sanitize=True), x, tmp_path)
    assert rep.passed, rep.text()


@pytest.mark.qemu
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"s{c[0]}")
def test_cortex_m4_matches_golden(case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-nm", "qemu-system-arm", "gcc"):
        require_tool(tool)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from lstmgen.verify.qemu import QemuRunner

    m = _model(case)
    x = random_inputs(m, 6, 7, case[0])
    rep = verify(m, QemuRunner(CTarget(cpu="cortex-m4"), count=True), x, tmp_path)
    assert rep.passed, rep.text()
    f = rep.figures
    assert f.flash_bytes and f.instructions_per_sequence and f.extra["macs_per_step"] == m.macs_per_step()


@pytest.mark.unit
def test_render_is_deterministic_and_strict_c99() -> None:
    m = _model(CASES[2])
    a, b = render(m), render(m)
    assert a == b
    assert set(a) == {"t12.h", "t12.c", "lg_fixed.h", "lg_tlstm.h", "harness/main.c",
                      "harness/Makefile", "harness/CMakeLists.txt"}
    m4 = render(m, CTarget(cpu="cortex-m4"))
    assert "#define LG_DSP 1" in m4["t12.c"] and "harness/mps2.ld" in m4
    assert get_target("c").render(m, CTarget()) == a


@pytest.mark.unit
def test_other_back_ends_refuse_a_tlstm() -> None:
    m = _model(CASES[0])
    for name in ("hls", "rtl"):
        with pytest.raises(UsageError, match=f"target '{name}' does not generate tlstm models"):
            get_target(name).render(m, get_target(name).options_type()())
    with pytest.raises(UsageError, match="Helium"):
        render(m, CTarget(cpu="cortex-m55"))


@pytest.mark.cc
def test_command_line_generate_and_verify(tmp_path: Path) -> None:
    m = _model(CASES[3])
    path = tmp_path / "t.lstmir"
    ir.save(m, path)
    exe = [sys.executable, "-m", "lstmgen"]
    r = subprocess.run([*exe, "generate", str(path), "--out", str(tmp_path / "c")],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c" / "t13.c").is_file()
    r = subprocess.run([*exe, "verify", str(path), "--target", "c", "--vectors", "20"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0 and "PASS 20 vectors, 0 mismatches" in r.stdout, r.stderr
    r = subprocess.run([*exe, "verify", str(path), "--target", "hls"], capture_output=True, check=False,
                       text=True)
    assert r.returncode == 2 and r.stderr.strip().endswith("does not run tlstm models")
    r = subprocess.run([*exe, "info", str(path)], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and "tLSTM schema" in r.stdout and "P=4 x M=2" in r.stdout, r.stderr
    r = subprocess.run([*exe, "info", str(path), "--json"], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0 and json.loads(r.stdout)["family"] == "tlstm"


@pytest.mark.cc
def test_harness_builds_with_make(tmp_path: Path) -> None:
    require_tool("make")
    m = _model(CASES[4])
    for name, text in render(m).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    r = subprocess.run(["make", "-s"], cwd=tmp_path / "harness", capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    from lstmgen.verify import vectors

    x = random_inputs(m, 3, 5, 0)
    vectors.write_inputs(tmp_path / "harness" / "inputs.bin", m, x)
    r = subprocess.run(["make", "-s", "run"], cwd=tmp_path / "harness", capture_output=True, check=False,
                       text=True)
    assert r.returncode == 0, r.stderr
    got = vectors.read_outputs(tmp_path / "harness" / "outputs.bin", m, 3, 5)
    np.testing.assert_array_equal(got, golden_tlstm.run(m, x).outputs)
