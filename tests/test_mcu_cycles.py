"""Estimated Cortex-M4 cycles: the QEMU plugin's instruction classes and the TRM-table estimate
(``lstmgen.verify.qemu``), on hand-written instruction encodings and sequences with known
counts.

* The plugin's Thumb decoder (``lg_insn_class``, loaded from the built plugin with ctypes) on
  encodings checked against ``arm-none-eabi-as``: loads, stores, pairs, multiples, multiplies,
  divides, table branches, everything else.
* A naked function between the bench markers runs a fixed sequence (pipelined and
  non-pipelined loads and stores, LDRD, LDM, SMLAD, SMLALD, SDIV, a 3-turn loop): every class
  count, the taken branches and the estimated cycles are exact.
* The figures: verify on Cortex-M4 reports the estimate per step and per mult-add, labelled an
  estimate; on the M55 (beat-wise MVE timing) there is none.
"""

from __future__ import annotations

import ctypes
import json
from pathlib import Path

import pytest

from lstmgen.targets.c import CTarget, render
from lstmgen.testing import random_inputs, random_model
from lstmgen.verify.qemu import CLASSES, M4_CYCLES, estimate_cycles, plugin_library

# lg_insn_class results
_OTHER, _MUL, _DIV, _DUAL, _MULT, _LOAD, _STORE, _TABLE = 0, 1, 2, 5, 6, 100, 101, 102

#: (first halfword, second halfword or 0, class, registers, what) - from arm-none-eabi-as
ENCODINGS = [
    (0x6808, 0, _LOAD, 0, "ldr r0, [r1]"), (0x5888, 0, _LOAD, 0, "ldr r0, [r1, r2]"),
    (0xF851, 0x0B04, _LOAD, 0, "ldr.w r0, [r1], #4"), (0x9802, 0, _LOAD, 0, "ldr r0, [sp, #8]"),
    (0x482D, 0, _LOAD, 0, "ldr r0, [pc, #180]"), (0x7808, 0, _LOAD, 0, "ldrb r0, [r1]"),
    (0xF8B1, 0x07D0, _LOAD, 0, "ldrh.w r0, [r1, #2000]"), (0x5688, 0, _LOAD, 0, "ldrsb r0, [r1, r2]"),
    (0xF931, 0x0902, _LOAD, 0, "ldrsh.w r0, [r1], #-2"), (0xF890, 0xF000, _LOAD, 0, "pld [r0]"),
    (0xE851, 0x0F00, _LOAD, 0, "ldrex r0, [r1]"),
    (0x6008, 0, _STORE, 0, "str r0, [r1]"), (0xF841, 0x0F04, _STORE, 0, "str.w r0, [r1, #4]!"),
    (0x5488, 0, _STORE, 0, "strb r0, [r1, r2]"), (0x8048, 0, _STORE, 0, "strh r0, [r1, #2]"),
    (0x9001, 0, _STORE, 0, "str r0, [sp, #4]"), (0xE841, 0x0200, _STORE, 0, "strex r2, r0, [r1]"),
    (0xE9D2, 0x0100, _DUAL, 0, "ldrd r0, r1, [r2]"), (0xE9E2, 0x0102, _DUAL, 0, "strd r0, r1, [r2, #8]!"),
    (0xC80E, 0, _MULT, 3, "ldmia r0!, {r1, r2, r3}"),
    (0xE8A0, 0x401E, _MULT, 5, "stmia.w r0!, {r1-r4, lr}"), (0xE910, 0x0006, _MULT, 2, "ldmdb r0, {r1, r2}"),
    (0xB530, 0, _MULT, 3, "push {r4, r5, lr}"), (0xBD30, 0, _MULT, 3, "pop {r4, r5, pc}"),
    (0xE92D, 0x4FF0, _MULT, 9, "push.w {r4-r11, lr}"), (0xE8BD, 0x8FF0, _MULT, 9, "pop.w {r4-r11, pc}"),
    (0x4348, 0, _MUL, 0, "muls r0, r1"), (0xFB01, 0x3002, _MUL, 0, "mla r0, r1, r2, r3"),
    (0xFB21, 0x3002, _MUL, 0, "smlad r0, r1, r2, r3"), (0xFB21, 0x3012, _MUL, 0, "smladx"),
    (0xFBC2, 0x01C3, _MUL, 0, "smlald r0, r1, r2, r3"), (0xFB82, 0x0103, _MUL, 0, "smull"),
    (0xFBC2, 0x0103, _MUL, 0, "smlal"), (0xFB11, 0x3002, _MUL, 0, "smlabb"),
    (0xFB51, 0xF002, _MUL, 0, "smmul"),
    (0xFB91, 0xF0F2, _DIV, 0, "sdiv r0, r1, r2"), (0xFBB1, 0xF0F2, _DIV, 0, "udiv r0, r1, r2"),
    (0xE8D0, 0xF001, _TABLE, 0, "tbb [r0, r1]"), (0xE8D0, 0xF011, _TABLE, 0, "tbh [r0, r1, lsl #1]"),
    (0xFA2F, 0xF081, _OTHER, 0, "sxtb16 r0, r1"), (0xFA2F, 0xF091, _OTHER, 0, "sxtb16 r0, r1, ror #8"),
    (0x1888, 0, _OTHER, 0, "adds r0, r1, r2"), (0xEB01, 0x0082, _OTHER, 0, "add.w r0, r1, r2, lsl #2"),
    (0xE7FE, 0, _OTHER, 0, "b.n"), (0xD1FE, 0, _OTHER, 0, "bne.n"), (0xF7FF, 0xFFFE, _OTHER, 0, "bl"),
    (0x4770, 0, _OTHER, 0, "bx lr"), (0xB100, 0, _OTHER, 0, "cbz r0"), (0xBF18, 0, _OTHER, 0, "it ne"),
    (0xF301, 0x000F, _OTHER, 0, "ssat r0, #16, r1"), (0xED90, 0x0A00, _OTHER, 0, "vldr s0, [r0]"),
]


@pytest.fixture(autouse=True)
def _plugin_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.mark.cc
def test_plugin_decoder_on_known_encodings() -> None:
    lib = ctypes.CDLL(str(plugin_library()))
    decode = lib.lg_insn_class
    decode.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(ctypes.c_int)]
    decode.restype = ctypes.c_int
    for hw1, hw2, want, regs, what in ENCODINGS:
        n = ctypes.c_int(-1)
        assert (decode(hw1, hw2, ctypes.byref(n)), n.value) == (want, regs), what


@pytest.mark.unit
def test_estimate_is_the_documented_table() -> None:
    assert set(M4_CYCLES) == set(CLASSES)
    one = {k: 1 for k in CLASSES}
    assert estimate_cycles(one) == 1 + 1 + 12 + 2 + 1 + 3 + 1 + 1 + 2
    assert estimate_cycles({"ls_mult": 2, "ls_regs": 7}) == 9  # two LDM: 1 + N each
    assert estimate_cycles({}) == 0
    with pytest.raises(ValueError, match="unknown"):
        estimate_cycles({"fpu": 1})


# ---- a hand-written sequence under QEMU -----------------------------------------------------

REGIONS = 2
#: The sequence between the markers; r4 points at 16 bytes of stack. The comment is the class.
_SEQUENCE = """\
ldr r0, [r4]          @ ls (the first of its block: after the return from lg_bench_begin)
ldr r1, [r4, #4]      @ ls_pipe (behind a load)
str r0, [r4, #8]      @ ls_pipe (a store behind a load)
ldr r2, [r4, #8]      @ ls (behind a store: never pipelined)
smlad r3, r0, r1, r3  @ mul
smlald r0, r1, r2, r3 @ mul
ldrd r0, r1, [r4]     @ ls_dual
ldr r2, [r4]          @ ls (behind LDRD)
ldm r4, {r0, r1, r2}  @ ls_mult, 3 registers
sxtb16 r0, r1         @ other
movs r5, #3           @ other
1: subs r5, #1        @ other x3
bne 1b                @ other x3, taken twice
movs r2, #1           @ other
sdiv r0, r1, r2       @ div
"""
#: Per region. Besides the sequence a region holds `bl lg_bench_end` and that marker's first
#: instruction (class other; see test_bite_qemu) and two taken branches: lg_bench_begin's
#: return and the call of lg_bench_end.
EXPECTED = {"other": 2 + 1 + 1 + 3 + 3 + 1, "mul": 2, "div": 1, "ls": 3, "ls_pipe": 2,
            "ls_dual": 1, "ls_mult": 1, "ls_regs": 3, "taken": 2 + 2}

_MAIN = """\
void lg_bench_begin(void) __attribute__((naked, noinline));
void lg_bench_end(void) __attribute__((naked, noinline));
void lg_region(void) __attribute__((naked, noinline));

void lg_bench_begin(void)
{
    __asm__ volatile("bx lr");
}

void lg_bench_end(void)
{
    __asm__ volatile("bx lr");
}

void lg_region(void)
{
    __asm__ volatile("push {r4, r5, r6, lr}\\n\\t"
                     "sub sp, #16\\n\\t"
                     "mov r4, sp\\n\\t"
                     "movs r0, #0\\n\\t"
                     "str r0, [r4]\\n\\t"
                     "str r0, [r4, #4]\\n\\t"
                     "bl lg_bench_begin\\n\\t"
                     %(sequence)s
                     "bl lg_bench_end\\n\\t"
                     "add sp, #16\\n\\t"
                     "pop {r4, r5, r6, pc}");
}

int main(void)
{
    int i;
    for (i = 0; i < %(regions)d; ++i) {
        lg_region();
    }
    return 0;
}
"""


def _program() -> dict[str, str]:
    lines = [ln.split("@")[0].strip() for ln in _SEQUENCE.splitlines() if ln.strip()]
    seq = "\n                     ".join(f'"{ln}\\n\\t"' for ln in lines)
    mcu = render(random_model(1, hidden=(2,)), CTarget(cpu="cortex-m4"))
    return {"harness/main.c": _MAIN % {"sequence": seq, "regions": REGIONS},
            "harness/mps2.ld": mcu["harness/mps2.ld"],
            "harness/lg_startup.c": mcu["harness/lg_startup.c"],
            "probe.c": "int lg_probe;\n"}


@pytest.mark.qemu
def test_known_sequence_classes_and_cycles(tmp_path: Path) -> None:
    from lstmgen.verify.qemu import build_elf, run_elf

    build = build_elf(_program(), tmp_path, "cortex-m4")
    c = run_elf(build, [], count=True)
    assert c is not None and c.regions == REGIONS
    assert dict(c.classes) == {k: REGIONS * n for k, n in EXPECTED.items()}
    per_region = sum(n for k, n in EXPECTED.items() if k not in ("ls_regs", "taken"))
    assert c.insns == REGIONS * per_region == REGIONS * c.min_region
    # 11 other + 2 mul + 12 div + 3 x 2 + 2 x 1 + 3 (LDRD) + 1 + 3 (LDM) + 4 taken x 2
    assert c.estimated_cycles == REGIONS * 48


@pytest.mark.qemu
def test_verify_figures_carry_the_estimate(tmp_path: Path) -> None:
    from lstmgen.verify.qemu import QemuRunner

    model = random_model(4, n_in=6, hidden=(8,), weight_bits=16, shs=False)
    inputs = random_inputs(model, 1, 4, seed=2)
    m4 = QemuRunner(cpu="cortex-m4", count=True).run(model, inputs, tmp_path / "m4").figures
    d = json.loads(json.dumps(m4.to_dict()))
    cycles = d["estimated_cycles_per_step"]
    classes = d["instruction_classes"]
    assert cycles == pytest.approx(estimate_cycles(classes))
    assert d["estimated_cycles_per_mac"] == pytest.approx(cycles / model.macs_per_step())
    assert "estimate" in d["cycle_model"]
    assert sum(v for k, v in classes.items() if k not in ("ls_regs", "taken")) == \
        pytest.approx(d["instructions_per_step"])
    m55 = QemuRunner(cpu="cortex-m55", count=True).run(model, inputs, tmp_path / "m55").figures
    assert "estimated_cycles_per_step" not in m55.extra and m55.instructions_per_mac > 0


@pytest.mark.qemu
def test_cli_verify_json_and_report_show_the_estimate(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lstmgen import ir
    from lstmgen.cli import main

    path = ir.save(random_model(6, n_in=5, hidden=(6,), weight_bits=8, shs=True), tmp_path / "m.lstmir")
    r = CliRunner().invoke(main, ["verify", str(path), "--target", "cortex-m4", "--vectors", "2",
                                  "--json", "--workdir", str(tmp_path / "w")])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["mismatches"] == 0 and doc["estimated_cycles_per_mac"] > 0
    assert doc["estimated_cycles_per_step"] == pytest.approx(
        estimate_cycles(doc["instruction_classes"]))
    r = CliRunner().invoke(main, ["report", str(path), "--target", "cortex-m4", "--steps", "3",
                                  "--workdir", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    assert "estimated cycles per dense MAC" in r.output and "an estimate" in r.output
