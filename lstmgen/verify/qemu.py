"""Cortex-M platforms: cross-build the generated C with ``arm-none-eabi-gcc`` and run it on QEMU.

The C target rendered for the chosen core (:mod:`lstmgen.targets.c`; its harness folder brings
the startup file and the board's linker script, ``templates/c/mcu/``: ``mps2.ld`` for the
mps2 boards, ``mps3_an547.ld`` for the Cortex-M55's mps3-an547) is linked against newlib with
semihosting (``--specs=rdimon.specs``), so the harness's ``fopen``/``fread``/``fwrite`` reach
host files and its exit status reaches the host. The cores, their compiler flags and QEMU
boards are listed once, in :mod:`lstmgen.targets.cpus`.

Besides the outputs a run reports (:class:`~lstmgen.verify.base.Figures`):

* ``flash_bytes`` / ``ram_bytes``: footprint of the model itself, read from the linker map of
  the linked ELF (every input section contributed by ``<prefix>.o``: code, const weights and
  tables count as flash; ``.data`` as flash and RAM; ``.bss`` as RAM) plus ``sizeof`` the state
  and the scratch types, measured by compiling a probe object. The harness, newlib and the
  startup code are excluded. Before building, a model whose weights alone exceed the board's
  flash (or whose state and scratch exceed its RAM) is refused with the sizes.
* with ``count=True``: guest instructions per sequence, counted by a QEMU TCG plugin
  (``files/qemu_insn_count.c``, built with the host ``gcc`` into a cache directory) between the
  harness's ``lg_bench_begin()`` and ``lg_bench_end()`` markers, which enclose the model's own
  work only (a classifier's whole sequence, each step of an LM; never the vector-file I/O),
  and the same instructions by class, from which :func:`estimate_cycles` computes an
  *estimated* cycle count (Cortex-M3/M4 cores only).

Estimated cycles (:data:`M4_CYCLES`). QEMU does not model time, so the plugin counts the executed
instructions by class and each class is weighted with the Cortex-M4 Technical Reference Manual's
instruction timings (ARM DDI 0439, table 3-1; the Cortex-M3's table is the same for these
classes), assuming zero wait states (no flash or bus stalls):

==============================================  =====================================
class                                           cycles
==============================================  =====================================
ALU, moves, compares, extends (SXTB16), IT,      1
not-taken branches, anything else
MUL, MLA, SMLAD, SMLALD, SMULL, SMLAL, ...      1
SDIV, UDIV                                      12 (the TRM gives 2-12; the worst case)
single load/store (LDR, LDRH, STR, ...)         2
... right behind a single load (pipelined)      1
LDRD, STRD                                      3
LDM, STM, PUSH, POP of N registers              1 + N
taken branch (B, BL, BX, CBZ, POP {pc}, ...)    + P = 2 (pipeline refill, on top of the above)
==============================================  =====================================

The pipelining rule is the TRM's note that neighbouring single loads and stores overlap
their address and data phases; a store is never followed by a pipelined access (the M3 TRM's
refinement), and only an access inside the same QEMU translation block counts as neighbouring
(after a branch the previous instruction is the branch). Not modelled: address-dependency
stalls (a load whose address register the previous instruction wrote), LDR-to-PC, unaligned
accesses, wait states, the M7's dual issue and the M55's beat-wise MVE execution (no estimate
is given for those cores). It is an estimate: compare it between kernels, not with a board.
"""

import dataclasses
import hashlib
import importlib.resources
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ToolError, UsageError, VerifyError
from ..ir import Model
from ..targets.c import CTarget
from ..targets.c_tlstm import footprint_any as footprint_estimate  # LSTM or tLSTM IR
from ..targets.c_tlstm import render_any as render
from ..targets.cpus import MCU_CPUS, Cpu, get_cpu
from .base import Figures, ToolRunner, call, find_tool
from .cpu import check_steps

__all__ = [
    "CLASSES",
    "CYCLE_MODEL_CPUS",
    "INSTALL_HINT",
    "M4_CYCLES",
    "Footprint",
    "InsnCount",
    "McuBuild",
    "QemuRunner",
    "build_elf",
    "disassemble",
    "estimate_cycles",
    "hot_loops",
    "mcu_report",
    "plugin_library",
    "require_tools",
    "run_elf",
]

INSTALL_HINT = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Wconversion", "-Wsign-conversion", "-Werror",
           "-pedantic", "-ffunction-sections", "-fdata-sections")
_STDERR_TAIL = 2000
_PROBE, _PROBE_C = "lg_state_probe", "lg_state_probe.c"


def find_tool_or_none(name: str) -> str | None:
    """Full path of executable ``name``, or None."""
    return shutil.which(name)


def require_tools(*names: str) -> dict[str, str]:
    """Full paths of the named executables; a missing one raises :class:`ToolError` with a hint."""
    return {n: find_tool(n, "apt-get install gcc" if n == "gcc" else f"install with: {INSTALL_HINT}")
            for n in names}


def _call(argv: Sequence[str], cwd: Path, what: str, timeout: float | None = None) -> str:
    return call(argv, cwd, what, timeout=timeout)


# --------------------------------------------------------------------------------------------
# Build


@dataclass(frozen=True, slots=True)
class Footprint:
    """Bytes of the model itself in the linked image (harness, libc and startup excluded)."""

    flash_bytes: int
    ram_bytes: int
    state_bytes: int
    scratch_bytes: int


@dataclass(frozen=True, slots=True)
class McuBuild:
    """A linked program: ``elf`` (in ``builddir``), its core, marker addresses, footprint."""

    builddir: Path
    elf: Path
    cpu: Cpu
    markers: tuple[int, int] | None
    footprint: Footprint | None


def _symbols(nm: str, obj: Path, cwd: Path) -> dict[str, tuple[int, int]]:
    """``name -> (address, size)`` of the defined symbols of ``obj`` that have a size."""
    out = _call([nm, "--defined-only", "--print-size", str(obj)], cwd, f"nm {obj.name}")
    syms: dict[str, tuple[int, int]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            syms[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
    return syms


_MAP_RE = re.compile(
    r"^ (?P<sec>\.\S+|COMMON)\s*\n?\s+0x(?P<addr>[0-9a-f]+)\s+0x(?P<size>[0-9a-f]+)\s+(?P<obj>\S+)$",
    re.MULTILINE,
)


def _map_footprint(map_text: str, obj_name: str) -> tuple[int, int]:
    """``(flash, ram)`` bytes of the input sections the linker took from ``obj_name``."""
    body = map_text.split("Linker script and memory map", 1)[-1]
    flash = ram = 0
    seen = False
    for m in _MAP_RE.finditer(body):
        if Path(m["obj"]).name != obj_name:
            continue
        size = int(m["size"], 16)
        sec = m["sec"]
        seen = True
        if sec.startswith((".bss", ".sbss")) or sec == "COMMON":
            ram += size
        elif sec.startswith((".data", ".sdata")):
            flash += size
            ram += size
        elif sec.startswith((".text", ".rodata", ".ARM.ex")):
            flash += size
    if not seen:
        raise ToolError(f"linker map lists no section of {obj_name}; cannot measure the footprint")
    return flash, ram


def _sources(files: Mapping[str, str]) -> tuple[str, list[str]]:
    """The model's translation unit (``<prefix>.c``, at the top) and every C file to compile."""
    c_files = sorted(n for n in files if n.endswith(".c"))
    model_c = [n for n in c_files if "/" not in n]
    if "harness/main.c" not in c_files or len(model_c) != 1:
        raise ToolError(f"expected harness/main.c and one <prefix>.c among the C target's files, "
                        f"got {c_files}")
    return model_c[0], c_files


_OVERFLOW_RE = re.compile(r"region [`'](\w+)' overflowed by (\d+) bytes")


def build_elf(files: Mapping[str, str], builddir: Path, cpu: str) -> McuBuild:
    """Write ``files`` (the C target's output for ``cpu``, harness included) to ``builddir``,
    cross-compile and link ``prog.elf``.

    Rebuilds only when the sources, flags or the core changed (a stamp in ``builddir``).
    Footprint and marker addresses are measured from the result when the files hold a model
    (``<prefix>.c`` + ``<prefix>.h``) and a harness with ``lg_bench_begin``/``lg_bench_end``.
    """
    core = get_cpu(cpu)
    if not core.is_mcu:
        raise UsageError(f"--cpu {cpu}: not a Cortex-M core ({', '.join(MCU_CPUS)})")
    tools = require_tools("arm-none-eabi-gcc", "arm-none-eabi-nm")
    gcc, nm = tools["arm-none-eabi-gcc"], tools["arm-none-eabi-nm"]
    ld = f"harness/{core.linker_script}"
    if ld not in files:
        raise ToolError(f"the C target's files hold no {ld} (not rendered for {cpu})")
    model_c, c_files = _sources(files)
    prefix = model_c[:-2]
    has_state = f"{prefix}.h" in files
    stamp = hashlib.sha256(repr((sorted(files.items()), core, _CFLAGS)).encode()).hexdigest()
    builddir.mkdir(parents=True, exist_ok=True)
    elf = builddir / "prog.elf"
    stamp_file = builddir / "build.stamp"
    what = f"arm-none-eabi-gcc ({cpu})"
    if not (elf.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp):
        stamp_file.unlink(missing_ok=True)
        for name, text in files.items():
            (builddir / name).parent.mkdir(parents=True, exist_ok=True)
            (builddir / name).write_text(text)
        cc = [gcc, *core.gcc_flags, *_CFLAGS, "-I."]
        objs = []
        for src in c_files:
            obj = Path(src).stem + ".o"
            _call([*cc, "-c", src, "-o", obj], builddir, f"{what} {src}")
            objs.append(obj)
        try:
            _call([gcc, *core.gcc_flags, "--specs=rdimon.specs", "-T", ld,
                   "-Wl,--gc-sections", "-Wl,-Map=prog.map", *objs, "-o", elf.name],
                  builddir, f"{what} link")
        except ToolError as exc:
            m = _OVERFLOW_RE.search(getattr(exc, "output", ""))
            if m is None:
                raise
            region, over = m.group(1), int(m.group(2))
            size = core.flash_bytes if region == "FLASH" else core.ram_bytes
            raise ToolError(
                f"{cpu} ({core.board}): the program needs {size + over} bytes of {region}, the "
                f"board has {size}; use int8 weights (lstmgen quantize --weights 8) or a "
                "compacted model (lstmgen prune)"
            ) from None
        if has_state:  # sizeof state and scratch, measured on a compiled probe (padding included)
            (builddir / _PROBE_C).write_text(
                f'#include "{prefix}.h"\n{prefix}_state {_PROBE}_state;\n'
                f"{prefix}_scratch {_PROBE}_scratch;\n")
            _call([*cc, "-c", _PROBE_C, "-o", _PROBE_C[:-2] + ".o"], builddir, f"{what} state probe")
        stamp_file.write_text(stamp)
    syms = _symbols(nm, elf, builddir)
    markers = None
    if "lg_bench_begin" in syms and "lg_bench_end" in syms:
        markers = (syms["lg_bench_begin"][0], syms["lg_bench_end"][0])
    footprint = None
    if has_state:
        probe = _symbols(nm, builddir / (_PROBE_C[:-2] + ".o"), builddir)
        if f"{_PROBE}_state" not in probe or f"{_PROBE}_scratch" not in probe:
            raise ToolError("the state probe object defines no state/scratch variables")
        state, scratch = probe[f"{_PROBE}_state"][1], probe[f"{_PROBE}_scratch"][1]
        flash, ram = _map_footprint((builddir / "prog.map").read_text(), prefix + ".o")
        footprint = Footprint(flash_bytes=flash, ram_bytes=ram + state + scratch,
                              state_bytes=state, scratch_bytes=scratch)
    return McuBuild(builddir=builddir, elf=elf, cpu=core, markers=markers, footprint=footprint)


# --------------------------------------------------------------------------------------------
# Hot loops in a disassembly

_MAC = re.compile(r"\b(smlad|smlald|vmlava|vmladava|vmlalva|vmlaldava)\S*\s", re.IGNORECASE)
_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(?:[0-9a-f]{4}\s?){1,2}\s+(\S+)\s*(.*)$")
_BACK = re.compile(r"^(b(eq|ne|cs|cc|mi|pl|hi|ls|ge|lt|gt|le)|le)(\.[nw])?$")


def _functions(dump: str) -> dict[str, list[tuple[int, str, str]]]:
    """``objdump -d`` text -> {function: [(address, mnemonic, operands)]}."""
    funcs: dict[str, list[tuple[int, str, str]]] = {}
    current = None
    for line in dump.splitlines():
        head = re.match(r"^[0-9a-f]+ <(\S+)>:$", line)
        if head:
            current = funcs.setdefault(head[1], [])
            continue
        m = _INSN.match(line)
        if m and current is not None:
            current.append((int(m[1], 16), m[2], m[3]))
    return funcs


def hot_loops(dump: str) -> list[tuple[str, list[tuple[int, str, str]]]]:
    """The innermost multiply-accumulate loops of an ``objdump -d`` listing, as (function,
    [(address, mnemonic, operands)]): a loop is a conditional backward branch (or LE) and its
    target with no other such loop inside; it is hot when it holds an SMLAD/SMLALD/VMLADAVA/
    VMLALDAVA. (Unconditional backward jumps are left out: the compiler also uses them to reach
    code it placed after a function's return.)"""
    loops = []
    for name, insns in _functions(dump).items():
        spans = []
        for addr, mnem, ops in insns:
            if _BACK.match(mnem):
                t = re.match(r"^(?:lr,\s*)?([0-9a-f]+)\b", ops)
                if t and int(t[1], 16) < addr:
                    spans.append((int(t[1], 16), addr))
        for lo, hi in spans:
            if any(lo <= a and b <= hi and (a, b) != (lo, hi) for a, b in spans):
                continue  # not innermost
            body = [i for i in insns if lo <= i[0] <= hi]
            if any(_MAC.search(f"{m} ") for _, m, _ in body):
                loops.append((name, body))
    return loops


def disassemble(obj: Path, cpu: str) -> str:
    """``arm-none-eabi-objdump -d`` of ``obj`` built for ``cpu`` (MVE mnemonics on Helium
    cores)."""
    objdump = require_tools("arm-none-eabi-objdump")["arm-none-eabi-objdump"]
    arch = ["-m", "armv8.1-m.main"] if get_cpu(cpu).mve else []
    return _call([objdump, "-d", *arch, obj.name], obj.parent, f"objdump {obj.name}")


# --------------------------------------------------------------------------------------------
# Run and count


#: The plugin's instruction classes (see ``files/qemu_insn_count.c``), in its output order.
CLASSES = ("other", "mul", "div", "ls", "ls_pipe", "ls_dual", "ls_mult", "ls_regs", "taken")
#: Cycles per event of each class on a Cortex-M4 with zero wait states (the module's table):
#: ``ls_mult`` is the 1 of ``1 + N``, ``ls_regs`` the N; ``taken`` the pipeline refill P.
M4_CYCLES: Mapping[str, int] = {"other": 1, "mul": 1, "div": 12, "ls": 2, "ls_pipe": 1,
                                "ls_dual": 3, "ls_mult": 1, "ls_regs": 1, "taken": 2}
#: Cores whose estimated cycles :func:`estimate_cycles` gives (their timing is the M4 table's).
CYCLE_MODEL_CPUS = ("cortex-m3", "cortex-m4")


def estimate_cycles(classes: Mapping[str, float]) -> float:
    """Estimated Cortex-M4 cycles of the instructions counted by class (``classes``: the
    plugin's counters, see :data:`M4_CYCLES`): an estimate, not a measurement.

    >>> estimate_cycles({"ls": 1, "ls_pipe": 3, "mul": 4, "other": 2, "taken": 1})
    13
    """
    unknown = set(classes) - set(M4_CYCLES)
    if unknown:
        raise ValueError(f"unknown instruction classes {sorted(unknown)}")
    return sum(M4_CYCLES[k] * n for k, n in classes.items())


@dataclass(frozen=True, slots=True)
class InsnCount:
    """Plugin result: ``insns`` executed inside ``regions`` measured regions (and over the run);
    ``classes`` the same instructions by class (:data:`CLASSES`; ``ls_regs`` counts registers
    and ``taken`` taken branches, not instructions)."""

    regions: int
    insns: int
    min_region: int
    max_region: int
    all_insns: int
    classes: Mapping[str, int] = dataclasses.field(default_factory=dict)

    @property
    def estimated_cycles(self) -> int:
        """:func:`estimate_cycles` of the regions' instructions."""
        return estimate_cycles(self.classes)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lstmgen"


def plugin_library(cache_dir: Path | None = None) -> Path:
    """The instruction-count plugin, compiled with the host ``gcc`` once per source version."""
    source = importlib.resources.files("lstmgen.verify").joinpath("files/qemu_insn_count.c")
    text = source.read_text()
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    cache = cache_dir if cache_dir is not None else _cache_dir()
    lib = cache / f"qemu_insn_count-{digest}.so"
    if lib.is_file():
        return lib
    gcc = require_tools("gcc")["gcc"]
    cache.mkdir(parents=True, exist_ok=True)
    src = cache / f"qemu_insn_count-{digest}.c"
    src.write_text(text)
    tmp = lib.with_name(f"{lib.name}.{os.getpid()}.tmp")
    _call([gcc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden",
           src.name, "-o", tmp.name], cache, "gcc (QEMU plugin)")
    tmp.replace(lib)  # atomic: concurrent builders never see a half-written library
    return lib


def _parse_count(path: Path) -> InsnCount:
    if not path.is_file():
        raise ToolError("the QEMU instruction-count plugin wrote no result")
    fields = dict(line.split() for line in path.read_text().splitlines() if line.strip())
    try:
        return InsnCount(
            regions=int(fields["regions"]), insns=int(fields["insns"]),
            min_region=int(fields["min"]), max_region=int(fields["max"]),
            all_insns=int(fields["all"]), classes={k: int(fields[k]) for k in CLASSES},
        )
    except (KeyError, ValueError):
        raise ToolError(f"unreadable plugin result {path}: {path.read_text()!r}") from None


def run_elf(
    build: McuBuild,
    args: Sequence[str],
    *,
    timeout: float = 120.0,
    count: bool = False,
) -> InsnCount | None:
    """Run ``build.elf`` under QEMU with ``argv = [prog, *args]`` and cwd = ``build.builddir``.

    A non-zero exit status, a timeout or a missing tool raises :class:`ToolError` (with the tail
    of the program's output). With ``count`` the plugin's result is returned.
    """
    qemu = require_tools("qemu-system-arm")["qemu-system-arm"]
    for a in args:
        if "," in a or not a:
            raise UsageError(f"semihosting argument {a!r} must be non-empty and comma-free")
    cmdline = ",".join(f"arg={a}" for a in ("prog", *args))
    argv = [
        qemu, "-M", build.cpu.board, "-nographic", "-monitor", "none", "-serial", "none",
        "-semihosting-config", f"enable=on,target=native,{cmdline}",
        "-kernel", build.elf.name,
    ]
    result = build.builddir / "insn_count.txt"
    if count:
        if build.markers is None:
            raise ToolError("the program has no lg_bench_begin/lg_bench_end markers to count between")
        result.unlink(missing_ok=True)
        lib = plugin_library()
        begin, end = build.markers
        argv += ["-plugin", f"{lib},begin={begin:#x},end={end:#x},out={result.name}"]
    _call(argv, build.builddir, f"qemu-system-arm -M {build.cpu.board} ({build.cpu.name})",
          timeout=timeout)
    return _parse_count(result) if count else None


class QemuRunner(ToolRunner):
    """Runner of the Cortex-M platforms (``cortex-m3`` / ``m4`` / ``m7`` / ``m55``): the C
    target rendered for ``options.cpu`` (or ``cpu``) under QEMU.

    ``count=True`` adds instruction counts to the figures (``instructions_per_sequence``,
    ``instructions_per_mac`` over dense MACs, and in ``extra`` ``instructions_per_step``,
    ``macs_per_step``, the instruction classes and, on Cortex-M3/M4, the estimated cycles);
    ``count=None`` (what ``lstmgen verify`` uses) counts whenever it can (the host ``gcc``
    builds the plugin, the run writes no dump, the harness marks the regions) and otherwise
    leaves the figures out; ``timeout`` bounds one QEMU run in seconds.
    """

    families = ("lstm", "tlstm")

    def __init__(self, options: CTarget | None = None, *, cpu: str | None = None,
                 count: bool | None = False, timeout: float = 120.0) -> None:
        if options is None:
            options = CTarget(cpu=cpu or "cortex-m4")
        elif cpu is not None and cpu != options.cpu:
            raise UsageError(f"cpu {cpu!r} contradicts the options' cpu {options.cpu!r}")
        if not options.core.is_mcu:
            raise UsageError(f"--cpu {options.cpu!r}: choose one of {', '.join(MCU_CPUS)}")
        if timeout <= 0:
            raise UsageError(f"timeout must be positive, got {timeout}")
        self.options = options
        self.cpu = options.cpu
        self.count = count
        self.timeout = timeout
        self.name = options.cpu

    def build(self, model: Model, workdir: Path) -> Path:
        self._build = self.build_elf(model, workdir)
        return self._build.builddir

    def build_elf(self, model: Model, workdir: Path) -> McuBuild:
        """Render the C target for this core and cross-build it in ``workdir/<cpu>``; a model
        that cannot fit the board is refused before anything is built."""
        core = self.options.core
        est = footprint_estimate(model, self.options)
        for what, need, have in (("flash", est["flash_bytes"], core.flash_bytes),
                                 ("RAM", est["ram_bytes"], core.ram_bytes)):
            if have is not None and need > have:
                raise UsageError(
                    f"{self.cpu} ({core.board}): the model needs at least {need} bytes of {what} "
                    f"(weights, tables{' and state + scratch' if what == 'RAM' else ''}), the board "
                    f"has {have}; use int8 weights (lstmgen quantize --weights 8) or a compacted "
                    "model (lstmgen prune)"
                )
        return build_elf(render(model, self.options), Path(workdir).resolve() / self.cpu, self.cpu)

    def execute(self, model: Model, rundir: Path, *, dump: bool, n_vectors: int,
                n_steps: int) -> Figures:
        check_steps(n_steps)
        build = self._build
        args = ["inputs.bin", "outputs.bin", *(["dump.bin"] if dump else [])]
        count = self.count
        if count is None:  # count when it can
            count = not dump and build.markers is not None and find_tool_or_none("gcc")
        counted = run_elf(build, args, timeout=self.timeout, count=bool(count))
        fig = Figures(extra={"cpu": self.cpu, "board": build.cpu.board})
        if build.footprint is not None:
            fig.flash_bytes = build.footprint.flash_bytes
            fig.ram_bytes = build.footprint.ram_bytes
            fig.extra["state_bytes"] = build.footprint.state_bytes
            fig.extra["scratch_bytes"] = build.footprint.scratch_bytes
        if counted is not None:
            try:
                _count_figures(fig, model, counted, n_vectors, n_steps, self.cpu)
            except ToolError:
                if self.count is not None:
                    raise
        return fig


def _count_figures(fig: Figures, model: Model, c: InsnCount, n: int, steps: int,
                   cpu: str) -> None:
    """Instruction figures from the plugin's count: one region per sequence of a classifier,
    one per step of an LM (the harness's markers). For the cores of
    :data:`CYCLE_MODEL_CPUS` also the estimated cycles (``estimated_cycles_per_step``,
    ``estimated_cycles_per_mac``, ``cycle_model``); the classes in ``instruction_classes``."""
    regions = n * steps if model.is_lm else n
    if c.regions != regions:
        raise ToolError(f"plugin measured {c.regions} regions, expected {regions}")
    per_seq = c.insns / n
    macs = model.macs_per_step()
    fig.instructions_per_sequence = per_seq
    fig.instructions_per_mac = per_seq / steps / macs
    fig.extra.update({"instructions_per_step": per_seq / steps, "macs_per_step": macs,
                      "instructions_total": c.insns,
                      "instruction_classes": {k: c.classes[k] / (n * steps) for k in CLASSES}})
    if cpu in CYCLE_MODEL_CPUS:
        cycles = c.estimated_cycles / (n * steps)
        fig.extra.update({"estimated_cycles_per_step": cycles,
                          "estimated_cycles_per_mac": cycles / macs,
                          "cycle_model": "Cortex-M4 TRM instruction timings, zero wait states "
                                         "(an estimate)"})


def mcu_report(model: Model, options: CTarget, *, steps: int, seed: int, workdir: Path,
               count: bool | None = None) -> tuple[dict[str, Any], str]:
    """``lstmgen report --target cortex-m*``: build, run and count ``model`` over one
    ``steps``-step sequence (outputs checked against golden first). Everything is measured:
    flash and RAM from the linked ELF, instructions by the QEMU plugin (always counted:
    ``count``, the platform's runner setting, is not used)."""
    from ..passes import executed_macs_per_step
    from ..testing import random_inputs

    inputs = random_inputs(model, 1, steps, seed=seed)
    run = QemuRunner(options, count=True).run(model, inputs, workdir)
    from .base import golden_of  # an LSTM's or a tLSTM's golden model

    if not np.array_equal(golden_of(model).run(model, inputs).outputs, run.outputs):
        raise VerifyError(f"{options.cpu}: outputs differ from the golden model; run lstmgen verify")
    f = run.figures
    r = {
        "model": model.name, "cpu": options.cpu, "board": f.extra["board"], "steps": steps,
        "flash_bytes": f.flash_bytes, "ram_bytes": f.ram_bytes,
        "state_bytes": f.extra["state_bytes"], "scratch_bytes": f.extra["scratch_bytes"],
        "instructions_per_step": f.extra["instructions_per_step"],
        "instructions_per_sequence": f.instructions_per_sequence,
        "macs_per_step": f.extra["macs_per_step"],
        "effective_macs_per_step": (model.macs_per_step() if getattr(model, "family", "") == "tlstm"
                                    else executed_macs_per_step(model, inputs)),
        "instructions_per_mac": f.instructions_per_mac,
        "estimated_cycles_per_step": f.extra.get("estimated_cycles_per_step"),
        "estimated_cycles_per_mac": f.extra.get("estimated_cycles_per_mac"),
    }
    lines = [
        f"model {r['model']!r} on {r['cpu']} (QEMU {r['board']}), {r['steps']} steps, state carried",
        f"  flash (code + const weights + tables): {r['flash_bytes']} bytes",
        (f"  RAM (state {r['state_bytes']} + scratch {r['scratch_bytes']} + static data): "
         f"{r['ram_bytes']} bytes"),
        (f"  instructions per step:                 {r['instructions_per_step']:.1f}"
         "  (the model's own work; no I/O)"),
        (f"  dense MACs per step:                   {r['macs_per_step']}"
         f"  (with zero h entries skipped: {r['effective_macs_per_step']:.1f})"),
        f"  instructions per dense MAC:            {r['instructions_per_mac']:.3f}",
    ]
    if r["estimated_cycles_per_step"] is not None:
        lines += [
            (f"  estimated cycles per step:             {r['estimated_cycles_per_step']:.1f}"
             "  (an estimate: instruction classes x Cortex-M4 TRM timings, zero wait states)"),
            f"  estimated cycles per dense MAC:        {r['estimated_cycles_per_mac']:.3f}",
        ]
    return r, "\n".join(lines)
