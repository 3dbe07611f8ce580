"""The Cortex-M measurements checked against independent facts.

* The QEMU instruction-count plugin on a hand-written instruction sequence of known length: a
  naked Thumb function calls ``lg_bench_begin``, runs ``N`` ``nop`` s and calls ``lg_bench_end``
  (both markers a single ``bx lr``). A region counts from the first instruction of
  ``lg_bench_begin`` up to the first instruction of ``lg_bench_end``, one end included: the
  ``N`` nops plus exactly 2 (one ``bx lr`` of a marker and the ``bl lg_bench_end``). Checked for
  two values of N, several regions each, so both the difference and the constant are exact.
* The footprint (``flash_bytes``/``ram_bytes``) against ``arm-none-eabi-size -A`` of the model
  object, section by section (``.text*``/``.rodata*`` flash, ``.data*`` flash and RAM,
  ``.bss*`` RAM, less what the linker discarded), plus ``sizeof`` the state and scratch types
  (the ``.bss`` sections of the probe object): for a generated model (const weights) and for a
  hand-written probe with ``.data``, ``.bss`` and ``.rodata`` of known sizes.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from lstmgen.targets.c import CTarget, render
from lstmgen.testing import random_model, require_tool
from lstmgen.verify.qemu import QemuRunner, build_elf, run_elf

pytestmark = pytest.mark.qemu

#: Instructions of a region besides its N nops (see the module docstring).
OVERHEAD = 2
REGIONS = 3

_MAIN = """\
#include <stdint.h>

#include "probe.h"

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

/* N nops between the two marker calls; nothing else executes inside the region. */
void lg_region(void)
{
    __asm__ volatile("push {r4, lr}\\n\\t"
                     "bl lg_bench_begin\\n\\t"
                     ".rept %(nops)d\\n\\t"
                     "nop\\n\\t"
                     ".endr\\n\\t"
                     "bl lg_bench_end\\n\\t"
                     "pop {r4, pc}");
}

int main(void)
{
    int i;
    for (i = 0; i < %(regions)d; ++i) {
        lg_region();
    }
    return probe_touch() == 42 ? 0 : 1;
}
"""

#: A "model" object with sections of known sizes: 24 bytes .data, 64 .bss, 40 .rodata, one
#: function; plus an unreferenced function and constant the linker drops.
_PROBE_H = """\
#ifndef PROBE_H
#define PROBE_H
#include <stdint.h>
typedef struct { int32_t h[5]; } probe_state;   /* 20 bytes */
typedef struct { int16_t acc[7]; } probe_scratch; /* 14 bytes */
int32_t probe_touch(void);
int32_t probe_unused(void);
#endif
"""
_PROBE_C = """\
#include "probe.h"

int32_t probe_data[6] = {1, 2, 3, 4, 5, 6};
int32_t probe_bss[16];
static const int32_t probe_rodata[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
const int32_t probe_dropped[100] = {1};

int32_t probe_touch(void)
{
    volatile int32_t k = 3;
    probe_bss[k] = probe_data[k] + probe_rodata[k];
    return probe_bss[k] + 32; /* 4 + 6 + 32 */
}

int32_t probe_unused(void)
{
    return probe_dropped[probe_data[0]];
}
"""


def _program(nops: int) -> dict[str, str]:
    mcu = render(random_model(1, hidden=(2,)), CTarget(cpu="cortex-m4"))
    return {
        "harness/main.c": _MAIN % {"nops": nops, "regions": REGIONS},
        "harness/mps2.ld": mcu["harness/mps2.ld"],
        "harness/lg_startup.c": mcu["harness/lg_startup.c"],
        "probe.h": _PROBE_H,
        "probe.c": _PROBE_C,
    }


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    """The probe program built for two nop counts (the build is shared by the tests here)."""
    root = tmp_path_factory.mktemp("probe")
    return {n: build_elf(_program(n), root / str(n), "cortex-m4") for n in (10, 73)}


@pytest.fixture(autouse=True)
def _plugin_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


def test_plugin_counts_a_known_instruction_sequence_exactly(probes):
    counts = {}
    for n, build in probes.items():
        c = run_elf(build, [], count=True)
        assert c is not None
        assert c.regions == REGIONS
        assert c.min_region == c.max_region == n + OVERHEAD, (n, c)
        assert c.insns == REGIONS * (n + OVERHEAD)
        assert c.all_insns > c.insns
        counts[n] = c
    (n1, c1), (n2, c2) = sorted(counts.items())
    assert c2.max_region - c1.max_region == n2 - n1
    # everything outside the regions is the same program: the difference is all in the nops
    assert c2.all_insns - c1.all_insns == REGIONS * (n2 - n1)


# ---- footprint against arm-none-eabi-size -A --------------------------------------------------


def _size_sections(obj: Path) -> dict[str, int]:
    """``section -> size`` from ``arm-none-eabi-size -A`` (sysv format)."""
    out = subprocess.run([require_tool("arm-none-eabi-size"), "-A", obj.name], cwd=obj.parent,
                         capture_output=True, text=True, check=True).stdout
    sections = {}
    for line in out.splitlines():
        m = re.match(r"^(\.\S+)\s+(\d+)\s+\d+\s*$", line)
        if m:
            sections[m[1]] = int(m[2])
    return sections


def _discarded(map_text: str, obj_name: str) -> set[str]:
    """Sections of ``obj_name`` that the linker dropped (``--gc-sections``), from the map."""
    part = map_text.split("Discarded input sections", 1)[1].split("Memory Configuration", 1)[0]
    dropped = set()
    for m in re.finditer(r"^ (\.\S+)\s*\n?\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+(\S+)$", part, re.MULTILINE):
        if Path(m[2]).name == obj_name:
            dropped.add(m[1])
    return dropped


def _expected(builddir: Path, obj_name: str) -> tuple[int, int, dict[str, int]]:
    """``(flash, ram)`` bytes of the sections of ``obj_name`` the linker kept, by ``size -A``
    (code, constants, unwind tables and initial values of ``.data`` in flash; ``.data`` and
    ``.bss`` in RAM), and the kept sections themselves."""
    sections = _size_sections(builddir / obj_name)
    dropped = _discarded((builddir / "prog.map").read_text(), obj_name)
    kept = {s: n for s, n in sections.items() if s not in dropped and n > 0}
    flash = sum(n for s, n in kept.items()
                if s.startswith((".text", ".rodata", ".data", ".ARM.exidx", ".ARM.extab")))
    ram = sum(n for s, n in kept.items() if s.startswith((".data", ".bss")))
    return flash, ram, kept


def _state_and_scratch(builddir: Path) -> int:
    probe = _size_sections(builddir / "lg_state_probe.o")
    return sum(n for s, n in probe.items() if s.startswith(".bss"))


def test_footprint_of_a_probe_with_data_bss_and_rodata(probes):
    build = probes[10]
    fp = build.footprint
    assert fp is not None
    flash, ram, kept = _expected(build.builddir, "probe.o")
    assert kept.get(".data.probe_data") == 24 and kept.get(".bss.probe_bss") == 64
    assert kept.get(".rodata.probe_rodata") == 40 and ".rodata.probe_dropped" not in kept
    assert (fp.state_bytes, fp.scratch_bytes) == (20, 14)
    assert _state_and_scratch(build.builddir) == 20 + 14
    assert fp.flash_bytes == flash
    assert fp.ram_bytes == ram + fp.state_bytes + fp.scratch_bytes


def test_footprint_of_a_generated_model(tmp_path):
    model = random_model(12, n_in=5, hidden=(6,), weight_bits=8, shs=True, name="fp")
    build = QemuRunner(cpu="cortex-m4").build_elf(model, tmp_path)
    fp = build.footprint
    assert fp is not None
    flash, ram, kept = _expected(build.builddir, "fp.o")
    rodata = sum(n for s, n in kept.items() if s.startswith(".rodata"))
    weights = sum(g.w_ih.values.size + g.w_hh.values.size for _, g in model.layers[0].gates())
    assert rodata >= weights  # the const weights are in .rodata (flash)
    assert fp.flash_bytes == flash
    assert fp.ram_bytes == ram + _state_and_scratch(build.builddir)
    assert fp.state_bytes + fp.scratch_bytes == _state_and_scratch(build.builddir)
