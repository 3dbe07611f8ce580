"""The matrix-vector kernels on every core, driven directly: portable (host gcc, Cortex-M3),
DSP register blocks (Cortex-M4, M7; ``lg_dsp.h``), Helium (Cortex-M55, ``lg_mve.h``).

One program per core runs every kernel (``lg_mv_*``, ``lg_mv_set_*``, ``lg_mv_nz_*``,
``lg_mv_nz_set_*`` for int16
and int8 weights, int32 and int64 accumulators; on DSP cores also the dual-row int8 kernels
``*_w8r_a32``, with int8 codes at both ends) on weights in the core's stored layout
(:func:`lstmgen.targets.c.weight_layout`) and input vectors chosen to reach every path: dense,
sparse enough for the zero-skipping list (an odd number of listed pairs, more than
``LG_NZ_CHUNK`` of them, the odd last input, MVE's partial last chunk), all zero, one input;
int64 cases whose sums leave int32. Every accumulator is compared with numpy exactly.

Also here: the disassembly of the hot loops (every innermost loop that multiply-accumulates
touches no stack: nothing is spilled), the M55 board support files, and bit-exactness of random
networks (8- and 16-bit activations, both weight widths, SHS sparsity) on M3, M4, M7 and M55.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lstmgen import golden
from lstmgen.targets.c import CTarget, render, weight_layout
from lstmgen.testing import random_inputs, random_model, require_tool
from lstmgen.verify.qemu import hot_loops

#: core -> kernel family
CORES = {"cortex-m3": "portable", "cortex-m4": "dsp", "cortex-m7": "dsp", "cortex-m55": "mve"}
_DEFINE = {"portable": "", "dsp": "#define LG_DSP 1\n", "mve": "#define LG_MVE 1\n"}


def _vectors(rng: np.random.Generator, n: int, big: bool) -> list[np.ndarray]:
    """Input vectors of length n reaching the kernels' paths (see the module docstring)."""
    hi = 32767 if big else 1000
    dense = rng.integers(-hi, hi + 1, size=n)
    dense[dense == 0] = 1
    out = [dense, np.zeros(n, np.int64)]
    sparse = dense.copy()  # about 1 pair in 3 nonzero: the list path, chunked when n is large
    pairs = (n + 1) // 2
    keep = rng.random(pairs) < 0.3
    keep[0] = True
    for c in range(pairs):
        if not keep[c]:
            sparse[2 * c:2 * c + 2] = 0
    out.append(sparse)
    lonely = np.zeros(n, np.int64)  # one nonzero input: the last one (odd n: the padded pair)
    lonely[-1] = -hi
    out.append(lonely)
    chunky = np.zeros(n, np.int64)  # MVE: every other chunk of 8 nonzero, the last one too
    for q in range(0, (n + 7) // 8, 2):
        chunky[8 * q:8 * q + 3] = dense[8 * q:8 * q + 3]
    chunky[-1] = hi
    out.append(chunky)
    return out


#: (weight bits, accumulator bits, rows, inputs, big values)
SHAPES = [(16, 32, 8, 1, False), (16, 32, 16, 7, False), (16, 32, 8, 37, False),
          (16, 32, 8, 200, False), (8, 32, 8, 9, False), (8, 32, 16, 130, False),
          (16, 64, 8, 13, True), (16, 64, 16, 130, True), (8, 64, 8, 3, True),
          (8, 64, 8, 600, True)]


#: every kernel form: dense adding / writing, zero-skipping adding / writing
KINDS = ("", "set_", "nz_", "nz_set_")
#: the DSP dual-row int8 kernels (lg_mv_*_w8r_a32): (rows, inputs)
DUAL_SHAPES = [(8, 9), (16, 130), (8, 1)]


def _cases(kernels: str, seed: int = 0):
    """(kernel name, weight bits, acc bits, m, n, stored weights, W, v, acc in)."""
    rng = np.random.default_rng(seed)
    shapes = [(*s, kernels, "") for s in SHAPES]
    if kernels == "dsp":  # int8 codes at both ends: -128 in an odd row beside a positive one
        shapes += [(8, 32, m, n, True, "dsp8r", "r") for m, n in DUAL_SHAPES]
    for wb, ab, m, n, big, layout, tag in shapes:
        lim = (32767 if wb == 16 else 127) if big else (100 if wb == 16 else 60)
        W = rng.integers(-lim, lim + 1, size=(m, n))
        if big and not tag:  # make the worst case real: one row at full magnitude of one sign
            W[0] = -lim - 1
        if tag:  # odd rows may hold -128 only beside a non-negative even-row weight
            odd = W[1::2]
            odd[(W[0::2] >= 0) & (rng.random(odd.shape) < 0.5)] = -128
            W[0][0], W[1][0] = -128, 127
        stored = weight_layout(W, wb, layout)
        for v in _vectors(rng, n, big and not tag):
            for kind in KINDS:
                acc0 = rng.integers(-1000, 1000, m)  # the set kernels must ignore it
                if kind.endswith("set_"):
                    acc0_want = np.zeros(m, np.int64)
                else:
                    acc0_want = acc0
                yield f"lg_mv_{kind}w{wb}{tag}_a{ab}", wb, ab, m, n, stored, W, v, acc0, acc0_want


def _program(kernels: str) -> tuple[str, list[np.ndarray]]:
    """A C program running every case and writing the accumulators (int64, in order) to the
    file named by argv[1]; and the expected accumulators."""
    decls, body, want = [], [], []
    for i, (kernel, wb, ab, m, n, stored, W, v, acc0, acc0_want) in enumerate(_cases(kernels)):
        wt, at = ("int16_t" if wb == 16 else "int8_t"), f"int{ab}_t"
        decls.append(f"static const {wt} w{i}[{stored.size}] = {{{', '.join(map(str, stored))}}};")
        decls.append(f"static const int16_t v{i}[{n}] = {{{', '.join(map(str, v))}}};")
        decls.append(f"static {at} a{i}[{m}] = {{{', '.join(f'{a}LL' for a in acc0)}}};")
        body.append(f"    {kernel}(a{i}, w{i}, {m}, v{i}, {n});\n"
                    f"    for (r = 0; r < {m}; ++r) {{ out = (int64_t)a{i}[r]; "
                    f"if (fwrite(&out, 8, 1, f) != 1) return 1; }}")
        want.append(acc0_want + W @ v)
        assert ab == 64 or np.abs(want[-1]).max() < 2 ** 31
    text = (_DEFINE[kernels] + '#include <stdint.h>\n#include <stdio.h>\n#include "lg_fixed.h"\n'
            '#include "lg_kernels.h"\n\n' + "\n".join(decls) + "\n\n"
            "int main(int argc, char **argv)\n{\n    int32_t r;\n    int64_t out;\n"
            "    FILE *f = argc > 1 ? fopen(argv[1], \"wb\") : NULL;\n"
            "    if (f == NULL) return 1;\n" + "\n".join(body) +
            "\n    return fclose(f) != 0;\n}\n")
    return text, want


def _library(cpu: str) -> dict[str, str]:
    """The kernel library and board files as rendered for ``cpu``."""
    files = render(random_model(1, hidden=(2,)), CTarget(cpu=cpu))
    keep = ("lg_", "harness/lg_startup.c", "harness/mps")
    return {k: v for k, v in files.items() if k.startswith(keep)}


def _check(got: bytes, want: list[np.ndarray], cpu: str) -> None:
    flat = np.frombuffer(got, "<i8")
    assert flat.size == sum(w.size for w in want), cpu
    cases = list(_cases(CORES.get(cpu, "portable")))
    at = 0
    for (kernel, wb, ab, m, n, *_), w in zip(cases, want):
        np.testing.assert_array_equal(flat[at:at + m], w, err_msg=f"{cpu} {kernel} m={m} n={n}")
        at += m


@pytest.mark.cc
def test_portable_kernels_on_the_host(tmp_path: Path) -> None:
    gcc = require_tool("gcc")
    text, want = _program("portable")
    for name, src in _library("generic").items():
        (tmp_path / name).write_text(src)
    (tmp_path / "main.c").write_text(text)
    subprocess.run([gcc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I.", "main.c",
                    "-o", "kernels"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["./kernels", "out.bin"], cwd=tmp_path, check=True)
    _check((tmp_path / "out.bin").read_bytes(), want, "generic")


@pytest.mark.qemu
@pytest.mark.parametrize("cpu", list(CORES))
def test_kernels_on_each_core(tmp_path: Path, cpu: str) -> None:
    from lstmgen.verify.qemu import build_elf, run_elf

    text, want = _program(CORES[cpu])
    files = {**_library(cpu), "harness/main.c": text, "probe.c": "int lg_probe;\n"}
    build = build_elf(files, tmp_path, cpu)
    run_elf(build, ["out.bin"], timeout=120)
    _check((tmp_path / "out.bin").read_bytes(), want, cpu)


# ---- the hot loops: disassembly -------------------------------------------------------------

def _kernel_object(tmp_path: Path, cpu: str) -> str:
    """Compile every kernel (non-inline wrappers) for ``cpu`` and disassemble it."""
    gcc, objdump = require_tool("arm-none-eabi-gcc"), require_tool("arm-none-eabi-objdump")
    from lstmgen.targets.cpus import get_cpu

    kernels = CORES[cpu]
    wrappers = []
    variants = [(wb, ab) for wb in ("16", "8") for ab in (32, 64)]
    if kernels == "dsp":
        variants.append(("8r", 32))
    for kind in KINDS:
        for wb, ab in variants:
            name = f"lg_mv_{kind}w{wb}_a{ab}"
            wt = "int16_t" if wb == "16" else "int8_t"
            wrappers.append(f"void k_{name}(int{ab}_t *a, const {wt} *w, int32_t m, "
                            f"const int16_t *v, int32_t n) {{ {name}(a, w, m, v, n); }}")
    for name, src in _library(cpu).items():
        if name.startswith("lg_"):
            (tmp_path / name).write_text(src)
    src = _DEFINE[kernels] + '#include <stdint.h>\n#include "lg_kernels.h"\n' + "\n".join(wrappers)
    (tmp_path / "k.c").write_text(src)
    subprocess.run([gcc, *get_cpu(cpu).gcc_flags, "-std=c99", "-O2", "-c", "k.c", "-o", "k.o"],
                   cwd=tmp_path, check=True, capture_output=True)
    arch = ["-m", "armv8.1-m.main"] if kernels == "mve" else []
    return subprocess.run([objdump, "-d", *arch, "k.o"], cwd=tmp_path, check=True,
                          capture_output=True, text=True).stdout


@pytest.mark.qemu
@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m55"])
def test_hot_loops_touch_no_stack(tmp_path: Path, cpu: str) -> None:
    """Every innermost multiply-accumulate loop of every kernel variant keeps all its values in
    registers: no stack access (``sp``) between its label and its branch back."""
    dump = _kernel_object(tmp_path, cpu)
    loops = hot_loops(dump)
    assert len(loops) >= 8, dump[:2000]
    for name, body in loops:
        text = "\n".join(f"{a:x}: {m} {o}" for a, m, o in body)
        assert not any(re.search(r"\bsp\b", o) or m.startswith(("push", "pop"))
                       for _, m, o in body), f"{cpu} {name} spills in its hot loop:\n{text}"


# ---- board support and bit-exact networks ------------------------------------------------------


@pytest.mark.unit
def test_cortex_m55_gets_helium_kernels_and_its_board() -> None:
    files = render(random_model(3, hidden=(5,)), CTarget(cpu="cortex-m55"))
    assert "lg_mve.h" in files and "lg_dsp.h" not in files
    assert "#define LG_MVE 1" in files["net.c"]
    assert "harness/mps3_an547.ld" in files and "harness/mps2.ld" not in files
    assert "mps3-an547" in files["harness/Makefile"] and "-mcpu=cortex-m55" in files["harness/Makefile"]
    assert "0x28000000" in files["harness/mps3_an547.ld"]


#: (seed, kind, n_in, hidden, weight bits, act bits, shs)
NETS = [(1, "classifier", 5, (7,), 16, 16, False), (2, "classifier", 17, (19, 9), 16, 16, True),
        (3, "lm", 6, (8,), 8, 16, True), (4, "classifier", 9, (12, 5), 8, 8, None),
        (5, "lm", 4, (3, 6), 16, 8, True), (6, "classifier", 33, (2,), 8, 16, True)]


@pytest.mark.qemu
@pytest.mark.parametrize("cpu", list(CORES))
def test_random_networks_bit_exact(tmp_path: Path, cpu: str) -> None:
    from lstmgen.verify.qemu import QemuRunner

    for seed, kind, n_in, hidden, wb, ab, shs in NETS:
        model = random_model(seed, kind=kind, n_in=n_in, hidden=hidden, weight_bits=wb,
                             act_bits=ab, shs=shs, vocab=11, name="net")
        inputs = random_inputs(model, 2, 5, seed=seed)
        got = QemuRunner(cpu=cpu).run(model, inputs, tmp_path / str(seed), dump=True)
        want = golden.run(model, inputs, dump=True)
        np.testing.assert_array_equal(got.outputs, want.outputs, err_msg=f"{cpu} net {seed}")
        assert got.dump is not None
        for li, (g, w) in enumerate(zip(got.dump, want.layers)):
            np.testing.assert_array_equal(g["h"], w["h"], err_msg=f"{cpu} net {seed} layer {li} h")
            np.testing.assert_array_equal(g["c"], w["c"], err_msg=f"{cpu} net {seed} layer {li} c")


@pytest.mark.qemu
def test_m55_harness_builds_and_runs_with_its_own_makefile_and_cmake(tmp_path: Path) -> None:
    """The generated Makefile cross-builds for the Cortex-M55 and `make run` runs it on the
    mps3-an547 (its linker script and startup); CMake with the toolchain file builds it too."""
    from lstmgen.targets.c import generate
    from lstmgen.verify import vectors

    make, cmake = require_tool("make"), require_tool("cmake")
    model = random_model(52, kind="lm", n_in=9, hidden=(10,), weight_bits=8, act_bits=8, vocab=9)
    generate(model, tmp_path / "g", CTarget(cpu="cortex-m55"))
    h = tmp_path / "g" / "harness"
    subprocess.run([make, "-s"], cwd=h, check=True, capture_output=True)
    x = random_inputs(model, 2, 3, seed=2)
    vectors.write_inputs(h / "in.bin", model, x)
    subprocess.run([make, "-s", "run", "IN=in.bin", "OUT=out.bin"], cwd=h, check=True,
                   capture_output=True, timeout=120)
    np.testing.assert_array_equal(vectors.read_outputs(h / "out.bin", model, 2, 3),
                                  golden.run(model, x).outputs)
    b = tmp_path / "b"
    subprocess.run([cmake, "-S", str(h), "-B", str(b),
                    f"-DCMAKE_TOOLCHAIN_FILE={h / 'arm-none-eabi.cmake'}"], check=True,
                   capture_output=True)
    subprocess.run([cmake, "--build", str(b)], check=True, capture_output=True)
    assert (b / "net_main.elf").is_file()


# ---- activation tables: the SMLAD interpolation of lg_table_lookup32 on DSP cores ----------

def _table_program(kernels: str) -> tuple[str, np.ndarray]:
    """A program applying lg_table_lookup32 to tables at the extremes (entries alternating
    between int16's ends, every shift from 1 to 15 and 16, the fallback) for the input codes at
    every fraction edge and the last one; and golden's results."""
    from lstmgen.ir import ActTable, IntTensor, QFormat

    rng = np.random.default_rng(5)
    decls, body, want = [], [], []
    for i, shift in enumerate([*range(1, 17)]):
        n = 5 if shift < 13 else 2
        vals = np.array([-32768, 32767, -32768, 32767, 0][:n], dtype=np.int64)
        if shift % 3 == 0:
            vals = rng.integers(-32768, 32768, size=n)
        lo = -32768
        table = ActTable("tanh", QFormat(16, 12), lo, shift, IntTensor(vals, QFormat(16, 15)), True)
        edges = [0, 1, (1 << shift) // 2, (1 << shift) - 1]
        codes = [lo + k * (1 << shift) + e for k in range(n) for e in edges]
        # input codes are 16-bit (the generated code saturates them before a lookup)
        codes = np.unique(np.clip(np.array(codes + [32767], dtype=np.int64), -32768, 32767))
        decls.append(f"static const int16_t tv{i}[{n}] = {{{', '.join(map(str, vals))}}};\n"
                     f"static const lg_table t{i} = {{tv{i}, {n}, {lo}, {shift}, 1}};\n"
                     f"static const int32_t p{i}[{codes.size}] = "
                     f"{{{', '.join(f'(int32_t){c}LL' for c in codes)}}};")
        body.append(f"    for (k = 0; k < {codes.size}; ++k) {{ out = lg_table_lookup32(&t{i}, p{i}[k]); "
                    "if (fwrite(&out, 2, 1, f) != 1) return 1; }")
        want.append(golden.table_lookup(table, codes))
    text = (_DEFINE[kernels] + '#include <stdint.h>\n#include <stdio.h>\n#include "lg_fixed.h"\n\n'
            + "\n".join(decls) + "\n\nint main(int argc, char **argv)\n{\n    int32_t k;\n"
            "    int16_t out;\n    FILE *f = argc > 1 ? fopen(argv[1], \"wb\") : NULL;\n"
            "    if (f == NULL) return 1;\n" + "\n".join(body) +
            "\n    return fclose(f) != 0;\n}\n")
    return text, np.concatenate(want)


@pytest.mark.qemu
@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m55", "cortex-m3"])
def test_table_lookups_at_the_extremes(tmp_path: Path, cpu: str) -> None:
    """lg_table_lookup32 (one SMLAD per interpolation where the core has the DSP extension)
    equals golden.table_lookup at every fraction edge of tables spanning int16's range."""
    from lstmgen.verify.qemu import build_elf, run_elf

    text, want = _table_program(CORES[cpu])
    files = {**_library(cpu), "harness/main.c": text, "probe.c": "int lg_probe;\n"}
    build = build_elf(files, tmp_path, cpu)
    run_elf(build, ["out.bin"], timeout=120)
    np.testing.assert_array_equal(np.frombuffer((tmp_path / "out.bin").read_bytes(), "<i2"), want)


@pytest.mark.unit
def test_random_model_cell_bits_fix_the_width_and_keep_the_weights() -> None:
    """bench/mcu_speed.py compares cell widths on the same weights: ``cell_bits`` changes only
    the cell formats of a seed's model."""
    drawn = random_model(1096, n_in=32, hidden=(64, 8), weight_bits=8, shs=False)
    for bits in (16, 32):
        fixed = random_model(1096, n_in=32, hidden=(64, 8), weight_bits=8, shs=False,
                             cell_bits=bits)
        assert [la.c_fmt.bits for la in fixed.layers] == [bits, bits]
        for a, b in zip(drawn.layers, fixed.layers):
            assert a.h_fmt == b.h_fmt
            for (_, ga), (_, gb) in zip(a.gates(), b.gates()):
                np.testing.assert_array_equal(ga.w_hh.values, gb.w_hh.values)
    with pytest.raises(ValueError, match="cell_bits"):
        random_model(1, cell_bits=8)
