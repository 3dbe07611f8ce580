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

from lstmgen import ir
from lstmgen.cli import main
from lstmgen.errors import ToolError, UsageError
from lstmgen.ir import Gate, IntTensor
from lstmgen.targets import c as ctarget
from lstmgen.targets.c import CTarget, generate, render
from lstmgen.testing import random_inputs, random_model
from lstmgen.verify.base import verify
from lstmgen.verify.cpu import CpuRunner, callgrind_instructions, library_size

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
    names = {p.name for p in a}
    assert names == {"net.h", "net.c", "lg_fixed.h", "lg_kernels.h", "main.c", "Makefile",
                     "CMakeLists.txt"}


@pytest.mark.unit
def test_every_file_names_model_formats_and_ir_hash() -> None:
    m = _model()
    digest = ir.sha256(m)
    for name, text in render(m).items():
        head = "\n".join(text.splitlines()[:3])
        assert digest in head and m.formats_summary() in head and 'model "net"' in head, name


@pytest.mark.unit
def test_golden_snapshot(request: pytest.FixtureRequest) -> None:
    """Generated files of one tiny model; refresh with LSTMGEN_UPDATE_GOLDEN=1 or --update-golden."""
    files = render(_tiny())
    if os.environ.get("LSTMGEN_UPDATE_GOLDEN") == "1" or request.config.getoption("--update-golden"):
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        for old in GOLDEN_DIR.iterdir():
            old.unlink()
        for name, text in files.items():
            (GOLDEN_DIR / name).write_text(text, encoding="utf-8")
    stored = {p.name: p.read_text(encoding="utf-8") for p in sorted(GOLDEN_DIR.iterdir())}
    assert sorted(stored) == sorted(files), "file list changed (refresh the snapshot?)"
    for name, text in files.items():
        assert text == stored[name], f"{name} differs from tests/golden/c_tiny (refresh?)"


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
                 "void kws_step(kws_state *s, const int16_t x[KWS_N_IN], int16_t y[KWS_N_OUT]);",
                 "void kws_step_token(kws_state *s, int32_t token, int16_t y[KWS_N_OUT]);",
                 "#define KWS_H1 5"):
        assert decl in h


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
    calls = []

    def failing_write(self: Path, *a, **k):
        calls.append(self)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(self, *a, **k)

    original = Path.write_text
    monkeypatch.setattr(Path, "write_text", failing_write)
    with pytest.raises(OSError):
        generate(_model(), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


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
def test_cppcheck_is_clean(tmp_path: Path) -> None:
    cppcheck = require_tool("cppcheck")
    for kind in ("classifier", "lm"):
        out = tmp_path / kind
        generate(_model(kind=kind, weight_bits=8), out)
        proc = subprocess.run(
            [cppcheck, "--error-exitcode=1", "--enable=warning,portability", "--std=c99",
             "--quiet", "--inline-suppr", f"-I{out}", str(out / "net.c"), str(out / "main.c")],
            capture_output=True, text=True, check=False,
        )
        assert proc.returncode == 0, proc.stderr


@pytest.mark.cc
def test_makefile_builds_the_harness(tmp_path: Path) -> None:
    require_tool("gcc")
    make = require_tool("make")
    generate(_model(), tmp_path)
    proc = subprocess.run([make, "-s", "CC=gcc"], cwd=tmp_path, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "net_main").exists() and (tmp_path / "net.o").exists()


@pytest.mark.cc
def test_harness_rejects_bad_files(tmp_path: Path) -> None:
    require_tool("gcc")
    m = _model()
    exe = CpuRunner().build(m, tmp_path)
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
    with pytest.raises(ToolError, match="no-such-cc not found: install a C compiler"):
        CpuRunner(cc="no-such-cc").run(m, x, tmp_path)
    require_tool("gcc")
    with pytest.raises(ToolError, match=r"gcc failed: .*nonexistent_header\.h"):
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
    np.save(tmp_path / "floats.npy", codes.astype(np.float32) / 100)
    r = CliRunner().invoke(main, ["verify", str(path), "--inputs", str(tmp_path / "floats.npy")])
    assert r.exit_code == 2 and "integer codes" in r.stderr


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
        "lstmgen: error: no-such-compiler not found: install a C compiler (apt-get install gcc)"
    )


@pytest.mark.cc
def test_relative_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A workdir relative to the current directory (as `lstmgen demo --out DIR` gives) works."""
    require_tool("gcc")
    monkeypatch.chdir(tmp_path)
    model = random_model(3, n_in=3, hidden=(4,))
    report = verify(model, CpuRunner(), random_inputs(model, 3, 4), Path("rel") / "work")
    assert report.passed and report.vectors == 3


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
