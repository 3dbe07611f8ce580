"""The C target: determinism, golden snapshot, options, strict builds (sanitizers, cppcheck,
make), the harness, the CLI (generate / verify and their errors) and a mutation check proving
that ``verify`` can fail."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import require_tool

from lstmgen import golden, ir
from lstmgen.cli import main
from lstmgen.errors import ToolError, UsageError
from lstmgen.ir import Gate, IntTensor
from lstmgen.targets import c as ctarget
from lstmgen.targets.c import CTarget, generate, render
from lstmgen.testing import random_inputs, random_model
from lstmgen.verify import vectors
from lstmgen.verify.base import verify
from lstmgen.verify.cpu import DEFAULT_CFLAGS, CpuRunner, callgrind_instructions, library_size

GOLDEN_DIR = Path(__file__).parent / "golden" / "c_tiny"


def _tiny() -> ir.Model:
    """The snapshot model: one layer of 3 units, int8 weights, SHS, interpolated tables."""
    return random_model(5, hidden=(3,), n_in=2, n_out=2, weight_bits=8, shs=True, interp=True,
                        name="tiny")


def _model(seed: int = 1, **kw) -> ir.Model:
    kw.setdefault("hidden", (6, 5))
    return random_model(seed, **kw)


# --------------------------------------------------------------------------------------------
# Rendering (no compiler needed)


@pytest.mark.unit
def test_generate_twice_is_byte_identical(tmp_path: Path) -> None:
    m = _model(kind="lm")
    assert render(m) == render(m)
    a = generate(m, tmp_path / "a")
    b = generate(m, tmp_path / "b")
    assert [p.name for p in a] == [p.name for p in b]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes()
    names = {str(p.relative_to(tmp_path / "a")) for p in a}
    assert names == {"net.h", "net.c", "lg_fixed.h", "lg_kernels.h", "harness/main.c",
                     "harness/Makefile", "harness/CMakeLists.txt"}


@pytest.mark.unit
def test_every_file_names_model_formats_and_ir_hash() -> None:
    m = _model()
    digest = ir.sha256(m)
    for name, text in render(m).items():
        head = "\n".join(text.splitlines()[:3])
        assert digest in head and m.formats_summary() in head and 'model "net"' in head, name


@pytest.mark.unit
@pytest.mark.parametrize("cpu", ["generic", "cortex-m4"])
def test_golden_snapshot(request: pytest.FixtureRequest, cpu: str) -> None:
    """Generated files of one tiny model, portable and with the DSP weight layout; refresh with
    LSTMGEN_UPDATE_GOLDEN=1 or --update-golden."""
    files = render(_tiny(), CTarget(cpu=cpu))
    d = GOLDEN_DIR if cpu == "generic" else GOLDEN_DIR.with_name(f"c_tiny_{cpu.split('-')[1]}")
    if os.environ.get("LSTMGEN_UPDATE_GOLDEN") == "1" or request.config.getoption("--update-golden"):
        for old in (p for p in d.rglob("*") if p.is_file()) if d.exists() else ():
            old.unlink()
        for name, text in files.items():
            (d / name).parent.mkdir(parents=True, exist_ok=True)
            (d / name).write_text(text, encoding="utf-8")
    stored = {str(p.relative_to(d)): p.read_text(encoding="utf-8")
              for p in sorted(d.rglob("*")) if p.is_file()}
    assert sorted(stored) == sorted(files), "file list changed (refresh the snapshot?)"
    for name, text in files.items():
        assert text == stored[name], f"{name} differs from {d} (refresh?)"


@pytest.mark.unit
def test_block_size_matches_the_kernel_library() -> None:
    lib = ctarget._jinja.read_static("c/lib/lg_kernels.h")
    assert f"#define LG_BLOCK {ctarget.BLOCK} " in lib


@pytest.mark.unit
def test_options_are_validated() -> None:
    with pytest.raises(UsageError, match="--cpu"):
        CTarget(cpu="pentium")
    with pytest.raises(UsageError, match="--prefix"):
        CTarget(prefix="Bad-Name")
    with pytest.raises(UsageError, match="clash"):
        CTarget(prefix="main")
    named_main = random_model(0, hidden=(2,), name="main")
    with pytest.raises(UsageError, match="pass --prefix"):
        render(named_main)
    assert "kws.c" in render(named_main, CTarget(prefix="kws"))


@pytest.mark.unit
def test_prefix_names_api_and_files() -> None:
    files = render(_model(kind="lm"), CTarget(prefix="kws"))
    h = files["kws.h"]
    for decl in ("void kws_reset(kws_state *s);",
                 ("void kws_step(kws_state *s, kws_scratch *w, const int16_t x[KWS_N_IN], "
                  "int16_t y[KWS_N_OUT]);"),
                 ("int32_t kws_step_token(kws_state *s, kws_scratch *w, int32_t token, "
                  "int16_t y[KWS_N_OUT]);"),
                 "#define KWS_SCRATCH_BYTES (sizeof(kws_scratch))",
                 '#ifdef __cplusplus\nextern "C" {',
                 "#define KWS_H1 5"):
        assert decl in h
    # the state holds h and c only; accumulators and nonzero lists are scratch
    state = h[h.index("typedef struct {"):h.index("} kws_state;")]
    assert "acc" not in state and "nz_" not in state
    assert sorted(n for n in files if "/" not in n) == ["kws.c", "kws.h", "lg_fixed.h",
                                                        "lg_kernels.h"]
    assert sorted(n for n in files if "/" in n) == ["harness/CMakeLists.txt", "harness/Makefile",
                                                    "harness/main.c"]


@pytest.mark.unit
def test_dsp_kernels_for_cores_with_the_dsp_extension() -> None:
    for cpu in ("cortex-m4", "cortex-m7"):
        files = render(_model(), CTarget(cpu=cpu))
        assert "lg_dsp.h" in files and "#define LG_DSP" in files["net.c"]
    for cpu in ("generic", "cortex-m3"):
        files = render(_model(), CTarget(cpu=cpu))
        assert "lg_dsp.h" not in files and "#define LG_DSP" not in files["net.c"]


@pytest.mark.unit
def test_generate_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from lstmgen.errors import OutputError

    calls = []
    original = os.replace

    def failing_replace(src, dst, *a, **k):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return original(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OutputError, match="No space left"):
        generate(_model(), tmp_path / "out")
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and ".tmp" in p.name]
    assert leftovers == []


@pytest.mark.unit
def test_generate_keeps_user_files_and_refuses_to_overwrite_them(tmp_path: Path) -> None:
    from lstmgen.errors import OutputError

    out = tmp_path / "proj"
    out.mkdir()
    (out / "app.c").write_text("int app;\n")
    generate(_model(), out)
    assert (out / "app.c").read_text() == "int app;\n" and (out / "net.c").is_file()
    generate(_model(), out)  # its own files: replaced
    (out / "net.c").write_text("/* edited by the user */\n")
    with pytest.raises(OutputError, match="--force"):
        generate(_model(), out)
    assert (out / "net.c").read_text() == "/* edited by the user */\n"
    generate(_model(), out, force=True)
    assert "generated by lstmgen" in (out / "net.c").read_text()


# --------------------------------------------------------------------------------------------
# Builds and runs


@pytest.mark.cc
@pytest.mark.parametrize(
    "kw",
    [
        {"hidden": (7, 1, 4), "weight_bits": 8, "shs": True},
        {"kind": "lm", "hidden": (9,), "shs": True},
        {"hidden": (16,), "n_in": 1, "shs": False},
    ],
)
def test_sanitizers_find_nothing(tmp_path: Path, kw: dict) -> None:
    require_tool("gcc")
    m = _model(11, **kw)
    x = random_inputs(m, 4, 7, seed=3)
    report = verify(m, CpuRunner(sanitize=True), x, tmp_path)
    assert report.passed, report.text()


@pytest.mark.cc
@pytest.mark.parametrize("threshold", [-32768, 0, 32766, 32767])
def test_extreme_shs_thresholds(tmp_path: Path, threshold: int) -> None:
    require_tool("gcc")
    m = _model(4, hidden=(5, 3), shs=True)
    m = dataclasses.replace(
        m, layers=tuple(dataclasses.replace(la, o_threshold=threshold) for la in m.layers)
    )
    report = verify(m, CpuRunner(), random_inputs(m, 3, 5), tmp_path)
    assert report.passed, report.text()


@pytest.mark.cc
@pytest.mark.parametrize("cpu", ["generic", "cortex-m4"])
def test_cppcheck_is_clean(tmp_path: Path, cpu: str) -> None:
    """Also for the DSP output (lg_dsp.h is shipped wherever it is included; cppcheck checks
    the LG_DSP configuration too, with --force over every #if combination)."""
    cppcheck = require_tool("cppcheck")
    for kind in ("classifier", "lm"):
        out = tmp_path / kind
        generate(_model(kind=kind, weight_bits=8), out, CTarget(cpu=cpu))
        proc = subprocess.run(
            [cppcheck, "--error-exitcode=1", "--enable=warning,portability,missingInclude",
             "--std=c99", "--quiet", "--inline-suppr", "--suppress=missingIncludeSystem",
             f"-I{out}", str(out / "net.c"), str(out / "harness" / "main.c")],
            capture_output=True, text=True, check=False,
        )
        assert proc.returncode == 0, proc.stderr


@pytest.mark.cc
def test_makefile_and_cmake_build_the_harness(tmp_path: Path) -> None:
    """The generated build files build the harness as generated, and it runs the vectors."""
    require_tool("gcc")
    make = require_tool("make")
    cmake = require_tool("cmake")
    m = _model(kind="lm")
    generate(m, tmp_path / "g")
    h = tmp_path / "g" / "harness"
    proc = subprocess.run([make, "-s"], cwd=h, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    x = random_inputs(m, 3, 4)
    vectors.write_inputs(h / "in.bin", m, x)
    proc = subprocess.run([make, "-s", "run", "IN=in.bin", "OUT=out.bin"], cwd=h,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(vectors.read_outputs(h / "out.bin", m, 3, 4),
                                  golden.run(m, x).outputs)
    proc = subprocess.run([cmake, "-S", str(h), "-B", str(tmp_path / "b")], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([cmake, "--build", str(tmp_path / "b")], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "b" / "net_main").is_file()


@pytest.mark.cc
def test_cpp_caller_links_and_scratch_is_shared(tmp_path: Path) -> None:
    """A C++ file includes the header and links against the C object (extern "C"); two streams
    share one scratch and each equals golden; a state copy is a snapshot; a bad token id is
    refused without touching the state."""
    require_tool("gcc")
    gxx = require_tool("g++")
    m = _model(5, kind="lm", hidden=(6, 3))
    out = tmp_path / "g"
    generate(m, out)
    x = random_inputs(m, 2, 5, seed=4)
    want = golden.run(m, x).outputs
    rows = ",\n".join("{" + ", ".join(str(int(v)) for v in seq) + "}" for seq in x)
    (out / "app.cpp").write_text(f"""#include <cstdio>
#include <cstring>
#include "net.h"
static const int32_t tokens[2][5] = {{{rows}}};
int main() {{
    static net_state a, b, snap;
    static net_scratch w; /* one scratch, two streams */
    int16_t y[NET_N_OUT];
    net_reset(&a);
    net_reset(&b);
    for (int t = 0; t < 5; ++t) {{
        for (int s = 0; s < 2; ++s) {{
            net_step_token(s ? &b : &a, &w, tokens[s][t], y);
            for (int k = 0; k < NET_N_OUT; ++k) std::printf("%d ", y[k]);
        }}
    }}
    std::memcpy(&snap, &a, sizeof a);
    if (net_step_token(&a, &w, NET_VOCAB, y) != -1 || std::memcmp(&snap, &a, sizeof a) != 0) return 3;
    if (net_step_token(&a, &w, -1, nullptr) != -1) return 4;
    return 0;
}}
""")
    subprocess.run(["gcc", *DEFAULT_CFLAGS, "-c", "-o", "net.o", "net.c"], cwd=out, check=True)
    subprocess.run([gxx, "-std=c++11", "-Wall", "-Wextra", "-Werror", "-I.", "-o", "app",
                    "app.cpp", "net.o"], cwd=out, check=True)
    proc = subprocess.run([str(out / "app")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    got = np.array(proc.stdout.split(), dtype=np.int64).reshape(5, 2, m.n_out).transpose(1, 0, 2)
    np.testing.assert_array_equal(got, want)


@pytest.mark.cc
def test_harness_rejects_bad_files(tmp_path: Path) -> None:
    require_tool("gcc")
    m = _model()
    exe = CpuRunner().build(m, tmp_path) / "harness" / "net_main"
    (tmp_path / "bad.bin").write_bytes(b"nonsense")
    for argv in (["bad.bin", "out.bin"], ["missing.bin", "out.bin"], ["bad.bin"]):
        proc = subprocess.run([str(exe), *argv], cwd=tmp_path, capture_output=True, text=True,
                              check=False)
        assert proc.returncode != 0
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.cc
def test_mutated_weight_is_reported_with_its_location(tmp_path: Path) -> None:
    """Corrupt one weight of a copy of the IR used only for generation: verify must FAIL."""
    require_tool("gcc")
    m = _model(2, hidden=(6, 5), shs=False)
    la = m.layers[0]
    w = la.g.w_ih.values.copy()
    w[4, 1] = la.g.w_ih.fmt.min_code if w[4, 1] >= 0 else la.g.w_ih.fmt.max_code
    bad_gate = Gate(IntTensor(w, la.g.w_ih.fmt), la.g.w_hh, la.g.bias)
    mutant = dataclasses.replace(m, layers=(dataclasses.replace(la, g=bad_gate), m.layers[1]))

    class MutantRunner:
        name = "c"

        def run(self, model, inputs, workdir, *, dump=False):
            return CpuRunner().run(mutant, inputs, workdir, dump=dump)

    report = verify(m, MutantRunner(), random_inputs(m, 10, 8, seed=0), tmp_path)
    assert not report.passed and report.text().startswith("[c] FAIL")
    first = report.first
    assert first is not None and first.want != first.got
    assert (first.layer, first.what, first.unit) == (0, "c", 4)  # located at the corrupted unit


@pytest.mark.cc
def test_tool_errors_are_one_clear_line(tmp_path: Path) -> None:
    m = _model()
    x = random_inputs(m, 1, 2)
    with pytest.raises(ToolError, match="no-such-cc not found on PATH: install a C compiler"):
        CpuRunner(cc="no-such-cc").run(m, x, tmp_path)
    require_tool("gcc")
    with pytest.raises(ToolError, match=r"gcc \(net.c\) failed \(exit status 1\): .*nonexistent_header\.h"):
        CpuRunner(cflags=("-std=c99", "-include", "nonexistent_header.h")).run(m, x, tmp_path)


@pytest.mark.cc
def test_callgrind_and_size(tmp_path: Path) -> None:
    require_tool("gcc")
    require_tool("valgrind")
    m = _model(hidden=(8,))
    x = random_inputs(m, 2, 4)
    counts = callgrind_instructions(m, x, tmp_path)
    assert counts["instructions"] > 0
    assert counts["per_step"] == pytest.approx(counts["instructions"] / 8)
    assert counts["macs_per_step"] == m.macs_per_step()
    size = library_size(m, tmp_path)
    assert size["text"] > 4 * 8 * (4 + 8)  # the int16 weights alone
    assert size["bss"] == 0 and size["data"] == 0  # no mutable globals in the library


# --------------------------------------------------------------------------------------------
# Command line


def _save(tmp_path: Path, m: ir.Model) -> Path:
    return ir.save(m, tmp_path / "model.lstmir")


@pytest.mark.cc
def test_cli_generate_and_verify(tmp_path: Path) -> None:
    require_tool("gcc")
    path = _save(tmp_path, _model(kind="lm"))
    r = CliRunner().invoke(main, ["generate", str(path), "--target", "c", "--out",
                                  str(tmp_path / "gen"), "--prefix", "lm1"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "gen" / "lm1.c").exists()
    r = CliRunner().invoke(main, ["verify", str(path), "--vectors", "12", "--steps", "5"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "[c] PASS 12 vectors, 0 mismatches"
    work = tmp_path / "work"
    r = CliRunner().invoke(main, ["verify", str(path), "--vectors", "3", "--json",
                                  "--workdir", str(work)])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert {"target", "vectors", "mismatches", "max_abs_err_vs_float"} <= doc.keys()
    assert doc["target"] == "c" and doc["vectors"] == 3 and doc["mismatches"] == 0
    assert (work / "c").is_dir()  # --workdir keeps the build


@pytest.mark.cc
def test_cli_verify_inputs_file(tmp_path: Path) -> None:
    require_tool("gcc")
    m = _model()
    path = _save(tmp_path, m)
    codes = random_inputs(m, 4, 3, seed=9)
    np.save(tmp_path / "codes.npy", codes)
    r = CliRunner().invoke(main, ["verify", str(path), "--inputs", str(tmp_path / "codes.npy")])
    assert r.exit_code == 0 and "PASS 4 vectors" in r.stdout, r.output
    # float features: quantized by the contract's rule, error measured against the float model
    floats = m.input_fmt.to_float(codes)
    np.save(tmp_path / "floats.npy", floats.astype(np.float64))
    r = CliRunner().invoke(main, ["verify", str(path), "--inputs", str(tmp_path / "floats.npy"),
                                  "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["vectors"] == 4 and doc["mismatches"] == 0
    from lstmgen.quant.floatref import float_outputs
    y = m.head.out_fmt.to_float(golden.run(m, codes).outputs)
    assert doc["max_abs_err_vs_float"] == pytest.approx(
        float(np.abs(y - float_outputs(m, floats)).max()))
    np.save(tmp_path / "bools.npy", codes > 0)
    r = CliRunner().invoke(main, ["verify", str(path), "--inputs", str(tmp_path / "bools.npy")])
    assert r.exit_code == 2 and "integer codes or float features" in r.stderr
    np.save(tmp_path / "empty.npy", codes[:0])
    r = CliRunner().invoke(main, ["verify", str(path), "--inputs", str(tmp_path / "empty.npy")])
    assert r.exit_code == 2 and "no sequences" in r.stderr


def _wrong_version(src: Path, dst: Path) -> Path:
    with zipfile.ZipFile(src) as zin:
        members = {n: zin.read(n) for n in zin.namelist()}
    doc = json.loads(members["ir.json"])
    doc["version"] = 99
    members["ir.json"] = json.dumps(doc).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zout:
        for n, data in members.items():
            zout.writestr(n, data)
    dst.write_bytes(buf.getvalue())
    return dst


@pytest.mark.unit
def test_cli_bad_inputs_fail_cleanly(tmp_path: Path) -> None:
    good = _save(tmp_path, _model())
    corrupt = tmp_path / "corrupt.lstmir"
    corrupt.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    cases = [
        (["generate", str(corrupt), "--out", str(tmp_path / "o1")], "not an lstmgen IR archive"),
        (["generate", str(_wrong_version(good, tmp_path / "v99.lstmir")), "--out",
          str(tmp_path / "o2")], "version 99"),
        (["verify", str(corrupt)], "not an lstmgen IR archive"),
        (["generate", str(good), "--out", str(tmp_path / "o3"), "--prefix", "Bad"], "--prefix"),
    ]
    for args, msg in cases:
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, (args, r.output)
        assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.lstmir", "model.lstmir",
                                                          "v99.lstmir"]


@pytest.mark.unit
def test_cli_missing_compiler(tmp_path: Path) -> None:
    path = _save(tmp_path, _model())
    r = CliRunner().invoke(main, ["verify", str(path), "--vectors", "2"],
                           env={"CC": "no-such-compiler"})
    assert r.exit_code == 2
    assert r.stderr.strip() == (
        "lstmgen: error: no-such-compiler not found on PATH: install a C compiler "
        "(apt-get install gcc) or pass --cc"
    )


@pytest.mark.cc
def test_relative_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A workdir relative to the current directory (as `lstmgen demo --out DIR` gives) works."""
    require_tool("gcc")
    monkeypatch.chdir(tmp_path)
    model = random_model(3, n_in=3, hidden=(4,))
    report = verify(model, CpuRunner(), random_inputs(model, 3, 4), Path("rel") / "work")
    assert report.passed and report.vectors == 3


@pytest.mark.unit
def test_int32_helpers_only_where_they_provably_fit() -> None:
    """The generator picks the int32 rescale only when the operand plus its rounding addend fits,
    the narrowing one only when the shifted value does; the cell rewrite is the same number."""
    from lstmgen.fixedpoint import rescale
    from lstmgen.plan import Rescale

    def pick(bound: int, s: int, bits: int, width: int) -> str:
        return ctarget._rescale("x", Rescale("site", bound, s, bits), width)

    top = (1 << 31) - 1
    assert pick(top - (1 << 14), 15, 16, 32).startswith("lg_rescale32(")
    assert pick(top - (1 << 14) + 1, 15, 16, 32).startswith("lg_rescale64_32(")
    assert pick(1 << 20, -10, 32, 32).startswith("lg_rescale32(")
    assert pick(1 << 21, -10, 32, 32).startswith("lg_rescale(")
    assert pick((1 << 49) - 1, 19, 16, 64).startswith("lg_rescale64_32(")
    assert pick((1 << 49) - 1, 18, 16, 64).startswith("lg_rescale(")
    # rescale((T1 << k) + T0, s) == rescale(T1 + (T0 >> k), s - k) at the extremes of int16 codes
    ends = np.array([-32768, -32767, -1, 0, 1, 32766, 32767], np.int64)
    t1 = (ends[:, None] * ends[None, :]).ravel()
    t0 = t1[:, None]
    for k in (1, 2, 3):
        for s in range(k + 1, k + 18):
            assert np.array_equal(rescale((t1 << k) + t0, s, 16), rescale(t1 + (t0 >> k), s - k, 16))
