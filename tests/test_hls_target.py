"""The HLS target: rendering (determinism, headers, options, widths from the plan, schedule),
the hand-written kernels against lstmgen.fixedpoint / golden.table_lookup, C-simulation equal to
the golden model bit for bit on random networks and on a trained, compacted, quantized digits
model, the report, bad input (one-line errors, nothing written) and a mutation check proving
that the C-simulation can fail."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tool

from lstmgen import golden, ir
from lstmgen.errors import ToolError, UsageError
from lstmgen.fixedpoint import rescale
from lstmgen.ir import QFormat
from lstmgen.plan import Rescale
from lstmgen.quant.tables import make_table
from lstmgen.targets import _jinja
from lstmgen.targets import hls as hls_target
from lstmgen.targets.hls import Options, render, schedule
from lstmgen.targets.registry import get_platform, get_target, make_options
from lstmgen.testing import random_inputs, random_model
from lstmgen.verify import hls as hls_verify
from lstmgen.verify.base import FIGURE_KEYS, verify
from lstmgen.verify.hls import DEFAULT_CXXFLAGS, HlsRunner, ap_types_dir, hls_report


def _model(seed: int = 1, **kw) -> ir.Model:
    kw.setdefault("hidden", (6, 5))
    return random_model(seed, **kw)


def _need_csim() -> Path:
    """g++ and the ap_types headers of the installed hls4ml (skip outside CI when missing)."""
    require_tool("g++")
    try:
        return ap_types_dir()
    except ToolError as exc:
        import os

        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{exc} (a missing tool is a failure in CI)")
        pytest.skip(str(exc))


def _check_exact(model: ir.Model, opts: Options, inputs: np.ndarray, workdir: Path) -> None:
    """Outputs and the per-step h and c of every layer equal golden's, exactly."""
    report = verify(model, HlsRunner(opts), inputs, workdir)
    assert report.passed, report.text()
    got = HlsRunner(opts).run(model, inputs, workdir, dump=True)
    want = golden.run(model, inputs, dump=True)
    np.testing.assert_array_equal(got.outputs, want.outputs, err_msg="outputs")
    assert got.dump is not None
    for li, (g, w) in enumerate(zip(got.dump, want.layers)):
        np.testing.assert_array_equal(g["h"], w["h"], err_msg=f"layer {li} h")
        np.testing.assert_array_equal(g["c"], w["c"], err_msg=f"layer {li} c")


# --------------------------------------------------------------------------------------------
# Rendering (no compiler needed)


@pytest.mark.unit
@pytest.mark.parametrize("interface", ["axis", "array"])
def test_render_twice_is_identical_and_lists_the_project(interface: str) -> None:
    m = _model(kind="lm", shs=True)
    opts = Options(reuse=2, interface=interface, zero_skip="shs")
    files = render(m, opts)
    assert files == render(m, opts)
    assert sorted(files) == ["Makefile", "build.tcl", "lg_hls.h", "net.cpp", "net.h", "net_tb.cpp"]
    assert "timestamp" not in "".join(files.values()).lower()


@pytest.mark.unit
def test_every_file_names_model_formats_generator_and_hash() -> None:
    m = _model()
    digest = ir.sha256(m)
    for name, text in render(m).items():
        head = "\n".join(text.splitlines()[:3])
        assert digest in head and m.formats_summary() in head and 'model "net"' in head, name
        assert "lstmgen 0.1.0" in head, name


@pytest.mark.unit
def test_options_are_validated() -> None:
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(UsageError, match="--reuse"):
            Options(reuse=bad)
    with pytest.raises(UsageError, match="--interface"):
        Options(interface="pcie")
    with pytest.raises(UsageError, match="--zero-skip"):
        Options(zero_skip="always")
    with pytest.raises(UsageError, match="--prefix"):
        Options(prefix="Bad-Name")
    with pytest.raises(UsageError, match="clash"):
        Options(prefix="lg_hls")
    with pytest.raises(UsageError, match="--max-steps"):
        Options(max_steps=0)
    with pytest.raises(UsageError, match="--part"):
        Options(part="xc7 ; rm -rf")
    with pytest.raises(UsageError, match="--clock-ns"):
        Options(clock_ns=0)
    assert "kws.cpp" in render(random_model(0, hidden=(2,), name="net"), Options(prefix="kws"))


@pytest.mark.unit
def test_reuse_above_a_layer_size_is_one_line_error() -> None:
    m = _model(hidden=(6, 3))
    with pytest.raises(UsageError) as exc:
        render(m, Options(reuse=4))
    msg = str(exc.value)
    assert "\n" not in msg and "--reuse 4" in msg and "layer 1" in msg and "1..3" in msg


@pytest.mark.unit
def test_registry_builds_options_and_renders() -> None:
    target = get_target("hls")
    opts = make_options(target, {"reuse": 3, "interface": "array", "prefix": None})
    assert opts == Options(reuse=3, interface="array")
    assert "net.cpp" in target.render(_model(hidden=(6, 3)), opts)
    assert get_platform("hls").runner == "lstmgen.verify.hls:HlsRunner"
    runner = get_platform("hls").make_runner(opts)
    assert isinstance(runner, HlsRunner) and runner.options is opts


@pytest.mark.unit
@pytest.mark.parametrize("reuse", [1, 2, 3, 4, 5])
def test_multipliers_are_mult_adds_over_reuse(reuse: int) -> None:
    """multipliers ≈ mult-adds per step / R; exactly so when R divides every hidden size."""
    m = random_model(2, hidden=(20, 10), n_in=7, n_out=9)
    sch = schedule(m, Options(reuse=reuse))
    lstm = sum(la.x.multipliers + la.h.multipliers for la in sch.layers)
    if all(h % reuse == 0 for h in m.hidden):
        assert lstm * reuse == m.macs_per_step()
    else:
        assert m.macs_per_step() < lstm * reuse < m.macs_per_step() * 1.5
    assert sch.head.multipliers == -(-9 // reuse) * 10
    assert sch.cycles_per_step() == 2 * reuse
    assert sch.multipliers == lstm + sch.head.multipliers + sum(3 * la.units for la in sch.layers)


@pytest.mark.unit
def test_zero_skip_schedule_applies_to_the_h_of_shs_layers_only() -> None:
    m = _model(hidden=(6, 5), shs=True)
    m = m.replace(layers=(dataclasses.replace(m.layers[0], o_threshold=None), m.layers[1]))
    sch = schedule(m, Options(reuse=2, zero_skip="shs"))
    l0, l1 = sch.layers
    assert not l0.x.sparse and not l0.h.sparse  # x is never skipped; layer 0 has no SHS
    assert not l1.x.sparse and l1.h.sparse and sch.head.sparse
    assert l1.h.multipliers == 4 * 3 and sch.head.multipliers == -(-3 // 2)
    assert sch.cycles_per_step([6.0, 0.0]) == 2 + 2 + 5  # layer 1's h all zero: K column checks
    assert not any(p.sparse for la in schedule(m, Options(reuse=2)).layers for p in (la.x, la.h))


@pytest.mark.unit
def test_every_width_comes_from_the_plan() -> None:
    m = _model(hidden=(4, 3), shs=True)
    text = render(m, Options(reuse=2))["net.cpp"]

    def enum(struct: str) -> dict[str, int]:
        body = re.search(rf"struct {struct} \{{\s*enum \{{(.*?)\}};", text, re.DOTALL)
        assert body is not None, struct
        return {k: int(v) for k, v in re.findall(r"(\w+) = (-?\d+)", body.group(1))}

    for lp, la in zip(m.plan.layers, m.layers):
        for g, s in lp.gates.items():
            e = enum(f"net_l{lp.index}_{g}")
            assert (e["MVX_W"], e["MVH_W"], e["ACC_W"]) == (s.mv_x.bits, s.mv_h.bits, s.acc.bits)
            assert (e["SHIFT_X"], e["SHIFT_H"]) == (s.acc.shift_x, s.acc.shift_h)
            assert (e["PRE_SHIFT"], e["PRE_RW"], e["PRE_W"]) == \
                (s.pre.shift, s.pre.round_bits, s.pre.out_bits)
        c = enum(f"net_l{lp.index}_cell")
        cell = lp.cell
        site = cell.fused.rescale if cell.fused else cell.rescale
        assert (c["FC_W"], c["IG_W"], c["C_RW"], c["C_SHIFT"]) == \
            (cell.fc_bits, cell.ig_bits, site.round_bits, site.shift)
        assert (c["TIN_RW"], c["TIN_W"], c["P_W"], c["H_RW"]) == \
            (lp.tanh_in.round_bits, lp.tanh_in.out_bits, lp.h.in_bits, lp.h.round_bits)
        assert c["THRESHOLD"] == la.o_threshold
    head = m.plan.head
    assert f"ap_int<{head.acc.bits}> sum = lg::dot<{head.mv.bits}," in text
    assert f"lg::rescale<{head.out.out_bits}, {head.out.shift}, {head.out.round_bits}>(sum)" in text


@pytest.mark.unit
def test_design_code_stays_in_the_synthesisable_subset() -> None:
    """No dynamic memory, STL, recursion helpers or I/O in the design files (the testbench may)."""
    files = render(_model(kind="lm", shs=True), Options(reuse=2, zero_skip="shs"))
    for name in ("net.cpp", "net.h", "lg_hls.h"):
        code = re.sub(r"//.*|/\*.*?\*/", "", files[name], flags=re.DOTALL)
        for banned in ("new ", "delete ", "malloc", "std::", "printf", "FILE", "#include <vector>"):
            assert banned not in code, (name, banned)
    assert "#pragma HLS INTERFACE axis port=s_axis" in files["net.cpp"]
    assert "#pragma HLS PIPELINE II=1" in files["net.cpp"]
    arr = render(_model(), Options(interface="array"))["net.cpp"]
    assert "#pragma HLS INTERFACE ap_memory port=x" in arr


# --------------------------------------------------------------------------------------------
# The kernels against their Python twins


def _compile_and_run(tmp: Path, code: str, ap: Path) -> list[int]:
    src = tmp / "kernel_test.cpp"
    src.write_text('#include "lg_hls.h"\n#include <cstdio>\n' + code, encoding="utf-8")
    (tmp / "lg_hls.h").write_text(_jinja.read_static("hls/lib/lg_hls.h"), encoding="utf-8")
    exe = tmp / "kernel_test"
    subprocess.run(["g++", *DEFAULT_CXXFLAGS, "-isystem", str(ap), "-o", str(exe), str(src)],
                   check=True, cwd=tmp)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True, cwd=tmp).stdout
    return [int(v) for v in out.split()]


@pytest.mark.hls
def test_rescale_kernel_equals_fixedpoint(tmp_path: Path) -> None:
    """lg::rescale at the plan's rounding width, right and left shifts, with saturation."""
    ap = _need_csim()
    rng = np.random.default_rng(0)
    combos = [(16, 3, 8), (16, 0, 16), (16, -3, 16), (33, 14, 16), (40, 20, 32), (62, 30, 32),
              (20, 1, 16), (10, 12, 8), (48, -2, 32), (17, 15, 16), (2, 1, 2)]
    code, want = [], []
    for n, (w, s, out) in enumerate(combos):
        lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
        vals = np.unique(np.concatenate([
            [lo, lo + 1, -1, 0, 1, hi - 1, hi],
            [(k << max(s, 0)) + d for k in (-3, -1, 1, 3) for d in (-1, 0, 1)
             if lo <= (k << max(s, 0)) + d <= hi] if s > 0 else [],
            rng.integers(lo, hi, size=200, endpoint=True)]).astype(np.int64))
        vals = vals[(vals >= lo) & (vals <= hi)]
        code.append(f"static const long long v{n}[] = {{{', '.join(f'{v}LL' for v in vals)}}};")
        want += rescale(vals, s, out).tolist()
    code.append("int main() {")
    for n, (w, s, out) in enumerate(combos):
        rw = Rescale("t", 1 << (w - 1), s, out).round_bits
        code.append(f"  for (unsigned i = 0; i < sizeof(v{n}) / sizeof(v{n}[0]); ++i) "
                    f"std::printf(\"%lld\\n\", (long long)lg::rescale<{out}, {s}, {rw}>("
                    f"ap_int<{w}>(v{n}[i])).to_int64());")
    code.append("  return 0;\n}")
    assert _compile_and_run(tmp_path, "\n".join(code), ap) == want


@pytest.mark.hls
def test_lookup_kernel_equals_golden_on_every_input_code(tmp_path: Path) -> None:
    ap = _need_csim()
    from lstmgen.plan import _lookup  # the plan's interpolation width

    tables = [
        make_table("sigmoid", QFormat(16, 12), QFormat(16, 15), log2_entries=8, interp=True),
        make_table("tanh", QFormat(16, 12), QFormat(16, 15), log2_entries=6, in_range=4.0,
                   interp=False),
        make_table("sigmoid", QFormat(16, 10), QFormat(16, 15), log2_entries=4, interp=True),
        make_table("tanh", QFormat(8, 4), QFormat(8, 7), log2_entries=3, in_range=4.0,
                   interp=True),
        make_table("tanh", QFormat(16, 11), QFormat(16, 15), log2_entries=12, interp=True),
    ]
    code, want = [], []
    for n, t in enumerate(tables):
        site = _lookup(t)
        code.append(
            f"struct t{n} {{ typedef int16_t entry_t; enum {{ N = {t.n}, LO = {t.lo}, "
            f"SHIFT = {t.shift}, INTERP = {int(t.interp and t.shift > 0)}, IN_W = {t.in_fmt.bits},"
            f" OUT_W = {t.out_fmt.bits}, IP_W = {site.interp_bits} }}; }};\n"
            f"static const int16_t t{n}_v[{t.n}] = {{{', '.join(map(str, t.values.values))}}};")
        codes = np.arange(t.in_fmt.min_code, t.in_fmt.max_code + 1)
        want += golden.table_lookup(t, codes).tolist()
    code.append("int main() {")
    for n, t in enumerate(tables):
        code.append(f"  for (long p = {t.in_fmt.min_code}; p <= {t.in_fmt.max_code}; ++p) "
                    f"std::printf(\"%d\\n\", lg::lookup<t{n}>(t{n}_v, ap_int<{t.in_fmt.bits}>(p))"
                    ".to_int());")
    code.append("  return 0;\n}")
    assert _compile_and_run(tmp_path, "\n".join(code), ap) == want


# --------------------------------------------------------------------------------------------
# C-simulation equals golden

#: (model kwargs, option kwargs): 1-2 layers, sizes incl. 1 and odd, int8/int16 weights,
#: reuse 1 and > 1 (with and without padding), SHS (sparse h) or not, zero-skipping on and
#: off, both interfaces, classifier and LM.
CASES = {
    "clf-1x1-in1-w16-r1": ({"hidden": (1,), "n_in": 1, "n_out": 1, "shs": False}, {}),
    "clf-7x5-w8-r3-shs-skip": ({"hidden": (7, 5), "n_in": 3, "n_out": 4, "weight_bits": 8,
                                "shs": True}, {"reuse": 3, "zero_skip": "shs"}),
    "clf-5x9-w16-r2-array": ({"hidden": (5, 9), "n_in": 6, "n_out": 3}, {"reuse": 2,
                                                                        "interface": "array"}),
    "clf-12-w8-r4-shs-dense": ({"hidden": (12,), "n_in": 5, "n_out": 10, "weight_bits": 8,
                                "shs": True}, {"reuse": 4}),
    "clf-6-w16-r1-skip-array": ({"hidden": (6,), "n_in": 2, "n_out": 2, "shs": True},
                                {"zero_skip": "shs", "interface": "array"}),
    "clf-8x8-w8-r5-skip-array": ({"hidden": (8, 8), "n_in": 16, "n_out": 5, "weight_bits": 8,
                                  "shs": True}, {"reuse": 5, "zero_skip": "shs",
                                                 "interface": "array"}),
    "lm-4-w16-r1": ({"kind": "lm", "hidden": (4,), "n_in": 3, "vocab": 7, "shs": False}, {}),
    "lm-3x5-w8-r2-skip": ({"kind": "lm", "hidden": (3, 5), "n_in": 2, "vocab": 11,
                           "weight_bits": 8, "shs": True}, {"reuse": 2, "zero_skip": "shs"}),
    "lm-9x3-w16-r3-array": ({"kind": "lm", "hidden": (9, 3), "n_in": 4, "vocab": 5},
                            {"reuse": 3, "interface": "array"}),
    "lm-1-in1-w8-array": ({"kind": "lm", "hidden": (1,), "n_in": 1, "vocab": 2,
                           "weight_bits": 8}, {"interface": "array"}),
    # 8-bit activations (quantize --acts 8): int8 input and h codes
    "clf-7x4-w8-a8-r2-skip": ({"hidden": (7, 4), "n_in": 5, "n_out": 3, "weight_bits": 8,
                               "shs": True, "act_bits": 8}, {"reuse": 2, "zero_skip": "shs"}),
    "lm-5-w16-a8-array": ({"kind": "lm", "hidden": (5,), "n_in": 3, "vocab": 6, "act_bits": 8},
                          {"interface": "array"}),
}


@pytest.mark.hls
@pytest.mark.parametrize("case", list(CASES))
def test_csim_equals_golden(tmp_path: Path, case: str) -> None:
    _need_csim()
    model_kw, opt_kw = CASES[case]
    seed = sum(map(ord, case))
    m = random_model(seed, **model_kw)
    x = random_inputs(m, 6, 7, seed=seed)
    _check_exact(m, Options(**opt_kw), x, tmp_path)


@pytest.mark.hls
def test_csim_with_low_thresholds_has_sparse_h_and_stays_exact(tmp_path: Path) -> None:
    """SHS thresholds low enough that h is partly zero: zero-skipping really skips."""
    _need_csim()
    m = random_model(21, hidden=(9, 6), n_in=4, n_out=3, shs=True)
    m = m.replace(layers=tuple(dataclasses.replace(la, o_threshold=16384) for la in m.layers))
    x = random_inputs(m, 6, 8, seed=2)
    nnz = [np.count_nonzero(d["h"]) / d["h"].size for d in golden.run(m, x, dump=True).layers]
    assert all(0.05 < f < 0.95 for f in nnz), nnz
    _check_exact(m, Options(reuse=3, zero_skip="shs"), x, tmp_path)


@pytest.mark.hls
@pytest.mark.parametrize("thresholds", [(-32768, 32767), (0, 32766)])
def test_extreme_shs_thresholds(tmp_path: Path, thresholds: tuple[int, int]) -> None:
    _need_csim()
    m = random_model(4, hidden=(5, 3), shs=True)
    m = m.replace(layers=tuple(dataclasses.replace(la, o_threshold=t)
                               for la, t in zip(m.layers, thresholds)))
    _check_exact(m, Options(reuse=2, zero_skip="shs"), random_inputs(m, 3, 5), tmp_path)


@pytest.mark.hls
def test_cell_without_the_fused_form(tmp_path: Path) -> None:
    """A cell format whose rescale is no wider than the product shift: the plain aligned sum."""
    _need_csim()
    m = random_model(8, hidden=(4,), n_in=3, n_out=2)
    m = m.replace(layers=(dataclasses.replace(m.layers[0], c_fmt=QFormat(32, 31)),))
    assert m.plan.layers[0].cell.fused is None
    _check_exact(m, Options(reuse=2), random_inputs(m, 4, 6, seed=1), tmp_path)


@pytest.mark.hls
def test_broken_kernel_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation check: truncating instead of rounding makes verify fail and name the place."""
    _need_csim()
    original = _jinja.read_static

    def broken(name: str) -> str:
        text = original(name)
        if name == "hls/lib/lg_hls.h":
            text = text.replace("t += ap_int<RW>(1) << (S - 1);", "")
        return text

    monkeypatch.setattr(hls_target._jinja, "read_static", broken)
    m = random_model(3, hidden=(4,), n_in=3, n_out=2)
    report = verify(m, HlsRunner(Options()), random_inputs(m, 4, 5), tmp_path)
    assert not report.passed and report.first is not None
    assert report.first.layer == 0 and report.first.what in ("c", "h")


@pytest.mark.hls
def test_testbench_selfcheck_and_makefile(tmp_path: Path) -> None:
    """The project builds with its own Makefile and its testbench checks embedded golden vectors
    when run without arguments (what build.tcl's csim_design runs)."""
    ap = _need_csim()
    make = require_tool("make")
    for name, text in render(_model(kind="lm", shs=True), Options(reuse=2, zero_skip="shs")).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    proc = subprocess.run([make, "-s", "check", f"AP_TYPES={ap}"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS self-check" in proc.stdout
    tcl = (tmp_path / "build.tcl").read_text()
    for step in ("open_project", "csim_design", "csynth_design", "export_design"):
        assert step in tcl


@pytest.mark.hls
def test_runner_reuses_the_build_and_reports_figures(tmp_path: Path) -> None:
    _need_csim()
    m = _model(hidden=(6,), shs=True)
    opts = Options(reuse=2, zero_skip="shs")
    runner = HlsRunner(opts)
    x = random_inputs(m, 3, 4)
    first = runner.run(m, x, tmp_path)
    exe = tmp_path / "hls" / "net_csim"
    stamp = exe.stat().st_mtime_ns
    again = runner.run(m, x, tmp_path)
    assert exe.stat().st_mtime_ns == stamp  # not rebuilt
    np.testing.assert_array_equal(first.outputs, again.outputs)
    d = first.figures.to_dict()
    assert all(k in d for k in FIGURE_KEYS)
    assert d["reuse"] == 2 and d["multipliers"] == schedule(m, opts).multipliers
    want_nnz = np.count_nonzero(golden.run(m, x, dump=True).layers[0]["h"]) / (3 * 4)
    assert d["mean_nnz_h"] == [pytest.approx(want_nnz)]


@pytest.mark.hls
def test_report(tmp_path: Path) -> None:
    _need_csim()
    m = _model(hidden=(8, 6), shs=True)
    r, text = hls_report(m, Options(reuse=2, zero_skip="shs"), steps=5, seed=1, workdir=tmp_path)
    assert r["exact"] and r["reuse"] == 2 and r["macs_per_step"] == m.macs_per_step()
    assert r["multipliers"] == schedule(m, Options(reuse=2, zero_skip="shs")).multipliers
    assert r["other_zero_skip"]["zero_skip"] == "off"
    assert r["other_zero_skip"]["multipliers"] > r["multipliers"]
    assert r["rom_bits"] > 0
    assert r["state_bits"] == sum(la.n_hidden * (la.h_fmt.bits + la.c_fmt.bits) for la in m.layers)
    assert "multipliers" in text and "cycles per step" in text and "reuse factor R:" in text


# --------------------------------------------------------------------------------------------
# Bad input: one line, nothing written


@pytest.mark.unit
def test_bad_reuse_writes_nothing(tmp_path: Path) -> None:
    m = _model(hidden=(6, 3))
    with pytest.raises(UsageError) as exc:
        HlsRunner(Options(reuse=5)).run(m, random_inputs(m, 1, 2), tmp_path)
    assert "\n" not in str(exc.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.unit
def test_missing_hls4ml_is_one_line_tool_error(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real = hls_verify.importlib.util.find_spec

    def no_hls4ml(name: str, *a, **k):
        return None if name == "hls4ml" else real(name, *a, **k)

    monkeypatch.setattr(hls_verify.importlib.util, "find_spec", no_hls4ml)
    m = _model()
    with pytest.raises(ToolError) as exc:
        HlsRunner().run(m, random_inputs(m, 1, 2), tmp_path)
    msg = str(exc.value)
    assert "\n" not in msg and "hls4ml is not installed" in msg and "pip install" in msg
    assert list(tmp_path.iterdir()) == []


@pytest.mark.unit
def test_missing_compiler_is_one_line_tool_error(tmp_path: Path) -> None:
    m = _model()
    with pytest.raises(ToolError) as exc:
        HlsRunner(cxx="no-such-g++").run(m, random_inputs(m, 1, 2), tmp_path)
    assert "\n" not in str(exc.value) and "no-such-g++" in str(exc.value)


@pytest.mark.hls
def test_too_long_sequence_for_max_steps(tmp_path: Path) -> None:
    _need_csim()
    m = _model(hidden=(3,))
    with pytest.raises(UsageError, match="--max-steps 4"):
        HlsRunner(Options(max_steps=4)).run(m, random_inputs(m, 1, 5), tmp_path)


# --------------------------------------------------------------------------------------------
# The demo-style model: trained with ISS, compacted, quantized


@pytest.mark.hls
def test_trained_compacted_digits_model(tmp_path: Path, torch_one_thread) -> None:
    _need_csim()
    from lstmgen.commands.quantize import load_task_data, quantize_checkpoint
    from lstmgen.quant import QuantOptions, quantize_inputs
    from lstmgen.sparsity import compact
    from lstmgen.train import train_default

    ckpt, _ = train_default(hidden=(16, 12), epochs=30, iss_lambda=0.005, progress=False)
    small = compact(ckpt)
    assert sum(small.config.hidden) < 28, small.config.hidden  # ISS removed units
    data = load_task_data("classifier", "default", None, None)
    model, figures = quantize_checkpoint(small, data, QuantOptions(weight_bits=8), "digits")
    codes = quantize_inputs(model, data.eval_x)
    reuse = 5  # does not divide the compacted sizes: padded units
    report = verify(model, HlsRunner(Options(reuse=reuse)), codes, tmp_path)
    assert report.passed, report.text()
    assert report.vectors == len(data.eval_y)
    acc = float(np.mean(report.outputs.argmax(axis=1) == data.eval_y))
    assert acc == pytest.approx(figures["golden_accuracy"]) and acc > 0.7
