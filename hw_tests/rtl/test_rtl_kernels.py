"""cocotb tests of the hand-written Verilog library (``templates/rtl/lib``) against its Python twins:
``lg_rescale`` = :func:`lstmgen.fixedpoint.rescale`, ``lg_table`` = :func:`lstmgen.golden.table_lookup`,
``lg_mul`` = exact signed multiplication (DSP and LUT-fabric variants).

The pytest function writes a harness ``kt`` holding many instances (parameters drawn to cover
the corners: negative, zero and large shifts, saturation on and off, widths 1 to 48, tables with
and without interpolation and with entries of any spacing), builds it, and runs the
``@cocotb.test`` below, which drives random operands (extremes included) every cycle and
compares every output, after each module's latency, with the twin.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from lstmgen.fixedpoint import rescale
from lstmgen.ir import QFormat
from lstmgen.plan import Rescale
from lstmgen.quant.tables import make_table
from lstmgen.targets import _jinja
from lstmgen.targets.rtl import _hex_words, _table_rows, _uses_interp

pytestmark = pytest.mark.sim

CYCLES = 400


# --------------------------------------------------------------------------------------------
# The cases


def _mul_cases() -> list[dict]:
    out = []
    for aw, bw in ((16, 16), (32, 16), (17, 11), (5, 1), (3, 2), (18, 18), (48, 7)):
        for fabric in (0, 1):
            if fabric == 0 and max(aw, bw) > 18:
                continue
            out.append({"kind": "mul", "aw": aw, "bw": bw, "fabric": fabric,
                        "lat": (bw + 1) // 2 + 2 if fabric else 2})
    return out


def _rescale_cases(rng: random.Random) -> list[dict]:
    out = []
    for shift, bound, out_bits in ((0, 1000, 16), (0, 70000, 16), (1, 5, 8), (3, 2**20, 16),
                                   (15, 2**40, 16), (-4, 3000, 16), (-2, 40000, 16),
                                   (30, 2**45, 32), (1, 1, 16), (12, 2**12, 2)):
        site = Rescale("t", bound, shift, out_bits)
        in_w = site.in_bits + rng.choice([0, 0, 3])          # a wider bus than the site needs
        out.append({"kind": "rescale", "in_w": in_w, "shift": shift, "out_w": out_bits,
                    "rw": max(site.round_bits, 2), "sat": int(site.saturates), "bound": bound,
                    "lat": 0})
    return out


def _table_cases(tmp: Path) -> list[dict]:
    out = []
    specs = [("sigmoid", 11, 15, 6, 8.0, True), ("tanh", 12, 15, 4, 4.0, False),
             ("sigmoid", 10, 15, 10, 8.0, True), ("tanh", 13, 15, 1, 4.0, True),
             ("sigmoid", 12, 15, 12, 1.0, True)]
    for i, (func, fin, fout, log2n, rng_, interp) in enumerate(specs):
        t = make_table(func, QFormat(16, fin), QFormat(16, fout), log2_entries=log2n,
                       in_range=rng_, interp=interp)
        f = tmp / f"table{i}.mem"
        f.write_text(_hex_words(_table_rows(t), 16))
        r_w = max(t.shift, 1) + (2 if i == 0 else 0)          # a wider multiplier than needed
        vals = t.values.values.astype(np.int64)
        ip = 2
        if _uses_interp(t):
            ip = int(np.abs(np.diff(vals)).max(initial=0)) * ((1 << t.shift) - 1) \
                + (1 << (t.shift - 1))
            ip = max(int(ip).bit_length() + 1, 2)
        out.append({"kind": "table", "n": t.n, "aw": max(1, (t.n - 1).bit_length()), "lo": t.lo,
                    "shift": t.shift, "interp": int(t.interp), "r_w": r_w, "ip_w": ip,
                    "file": str(f), "values": vals.tolist(), "lat": (r_w + 2) // 2 + 6})
    return out


def _harness(cases: list[dict]) -> str:
    ports = ["input wire clk"]
    body = []
    for i, c in enumerate(cases):
        if c["kind"] == "mul":
            ports += [f"input wire [{c['aw'] - 1}:0] a{i}", f"input wire [{c['bw'] - 1}:0] b{i}",
                      f"output wire [{c['aw'] + c['bw'] - 1}:0] y{i}"]
            body.append(f"lg_mul #(.AW({c['aw']}), .BW({c['bw']}), .FABRIC({c['fabric']})) "
                        f"u{i} (.clk(clk), .a(a{i}), .b(b{i}), .p(y{i}));")
        elif c["kind"] == "rescale":
            ports += [f"input wire [{c['in_w'] - 1}:0] a{i}", f"output wire [{c['out_w'] - 1}:0] y{i}"]
            body.append(f"lg_rescale #(.IN_W({c['in_w']}), .SHIFT({c['shift']}), "
                        f".OUT_W({c['out_w']}), .RW({c['rw']}), .SAT({c['sat']})) "
                        f"u{i} (.x(a{i}), .y(y{i}));")
        else:
            ports += [f"input wire [15:0] a{i}", f"input wire v{i}",
                      f"output wire [15:0] y{i}", f"output wire w{i}"]
            body.append(f"lg_table #(.IN_W(16), .OUT_W(16), .N({c['n']}), .AW({c['aw']}), "
                        f".LO({c['lo']}), .SHIFT({c['shift']}), .INTERP({c['interp']}), "
                        f".R_W({c['r_w']}), .IP_W({c['ip_w']}), .TAG_W(1), "
                        f".FILE(\"{c['file']}\")) u{i} (.clk(clk), .rst(1'b0), .x(a{i}), "
                        f".tag_i(v{i}), .y(y{i}), .tag_o(w{i}));")
    return ("`timescale 1ns / 1ps\nmodule kt (\n    " + ",\n    ".join(ports) + "\n);\n    "
            + "\n    ".join(body) + "\nendmodule\n")


# --------------------------------------------------------------------------------------------
# The cocotb test (runs inside the simulator)


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _draw(rng: random.Random, lo: int, hi: int) -> int:
    r = rng.random()
    if r < 0.1:
        return lo
    if r < 0.2:
        return hi
    if r < 0.3:
        return rng.randint(max(lo, -3), min(hi, 3))
    return rng.randint(lo, hi)


def _operands(c: dict, rng: random.Random) -> tuple[int, ...]:
    if c["kind"] == "mul":
        return (_draw(rng, -(1 << (c["aw"] - 1)), (1 << (c["aw"] - 1)) - 1),
                _draw(rng, -(1 << (c["bw"] - 1)), (1 << (c["bw"] - 1)) - 1))
    if c["kind"] == "rescale":
        return (_draw(rng, -c["bound"], c["bound"]),)
    return (_draw(rng, -32768, 32767),)


def _want(c: dict, ops: tuple[int, ...]) -> int:
    if c["kind"] == "mul":
        return ops[0] * ops[1]
    if c["kind"] == "rescale":
        return int(rescale(ops[0], c["shift"], c["out_w"]))
    from lstmgen import golden
    from lstmgen.ir import ActTable, Func, IntTensor

    t = ActTable(Func.SIGMOID, QFormat(16, 0), c["lo"], c["shift"],
                 IntTensor(np.asarray(c["values"]), QFormat(16, 15)), bool(c["interp"]))
    return int(golden.table_lookup(t, ops[0]))


try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

    @cocotb.test()
    async def kernels(dut) -> None:
        """Every instance, random operands every cycle, outputs compared after the latency."""
        cases = json.loads(Path(str(cocotb.plusargs["kt_cases"])).read_text())
        rng = random.Random(1)
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        sent: list[list[tuple[int, ...]]] = [[] for _ in cases]
        for n in range(CYCLES):
            await RisingEdge(dut.clk)
            await ReadOnly()
            for i, c in enumerate(cases):
                k = n - c["lat"] if c["lat"] else n - 1
                if k < 0:
                    continue
                ops = sent[i][k]
                bits = c["aw"] + c["bw"] if c["kind"] == "mul" else \
                    (c["out_w"] if c["kind"] == "rescale" else 16)
                got = _signed(int(getattr(dut, f"y{i}").value), bits)
                assert got == _want(c, ops), f"case {i} {c['kind']} {ops}: want {_want(c, ops)}, got {got}"
                if c["kind"] == "table":
                    assert int(getattr(dut, f"w{i}").value) == k % 2, f"case {i}: tag lost"
            await FallingEdge(dut.clk)
            for i, c in enumerate(cases):
                ops = _operands(c, rng)
                sent[i].append(ops)
                getattr(dut, f"a{i}").value = ops[0] & ((1 << (c["aw"] if c["kind"] == "mul" else
                                                               c.get("in_w", 16))) - 1)
                if c["kind"] == "mul":
                    getattr(dut, f"b{i}").value = ops[1] & ((1 << c["bw"]) - 1)
                if c["kind"] == "table":
                    getattr(dut, f"v{i}").value = n % 2
except ImportError:  # cocotb missing: the pytest function below skips
    pass


# --------------------------------------------------------------------------------------------
# The pytest function


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_library_modules_equal_their_python_twins(tmp_path: Path, simulator: str) -> None:
    from test_rtl_engine import need

    need(simulator)
    from cocotb_tools.runner import get_runner

    from lstmgen.verify.rtl import _tool_env

    cases = _mul_cases() + _rescale_cases(random.Random(0)) + _table_cases(tmp_path)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "kt.v").write_text(_harness(cases))
    libs = []
    for name in ("lg_delay.v", "lg_mul.v", "lg_rescale.v", "lg_rom.v", "lg_table.v"):
        (tmp_path / name).write_text(_jinja.read_static(f"rtl/lib/{name}"))
        libs.append(tmp_path / name)
    with _tool_env(simulator):
        runner = get_runner(simulator)
        runner.build(sources=[*libs, tmp_path / "kt.v"], hdl_toplevel="kt",
                     build_dir=tmp_path / "build", timescale=("1ns", "1ps"))
        runner.test(test_module="test_rtl_kernels", hdl_toplevel="kt", hdl_toplevel_lang="verilog",
                    build_dir=tmp_path / "build", test_dir=tmp_path,
                    plusargs=[f"+kt_cases={tmp_path / 'cases.json'}"])
