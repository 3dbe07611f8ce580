"""Cortex-M platforms: cross-build the generated C with ``arm-none-eabi-gcc`` and run it on QEMU.

The C target rendered for the chosen core (:mod:`lstmgen.targets.c`; its harness folder brings
the startup file and linker script, ``templates/c/mcu/``) is linked against newlib with
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
  work only (a classifier's whole sequence, each step of an LM; never the vector-file I/O).
"""

import hashlib
import importlib.resources
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ToolError, UsageError, VerifyError
from ..ir import Model
from ..targets.c import CTarget, footprint_estimate, render
from ..targets.cpus import MCU_CPUS, Cpu, get_cpu
from .base import Figures, ToolRunner, call, find_tool
from .cpu import check_steps

__all__ = [
    "INSTALL_HINT",
    "Footprint",
    "InsnCount",
    "McuBuild",
    "QemuRunner",
    "build_elf",
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
    if "harness/mps2.ld" not in files:
        raise ToolError("the C target's files hold no harness/mps2.ld (not rendered for a Cortex-M core)")
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
            _call([gcc, *core.gcc_flags, "--specs=rdimon.specs", "-T", "harness/mps2.ld",
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
# Run and count


@dataclass(frozen=True, slots=True)
class InsnCount:
    """Plugin result: ``insns`` executed inside ``regions`` measured regions (and over the run)."""

    regions: int
    insns: int
    min_region: int
    max_region: int
    all_insns: int


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
            all_insns=int(fields["all"]),
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
    """Runner of the Cortex-M platforms (``cortex-m3`` / ``cortex-m4`` / ``cortex-m7``): the C
    target rendered for ``options.cpu`` (or ``cpu``) under QEMU.

    ``count=True`` adds instruction counts to the figures (``instructions_per_sequence``,
    ``instructions_per_mac`` over dense MACs, and in ``extra`` ``instructions_per_step``,
    ``macs_per_step``); ``timeout`` bounds one QEMU run in seconds.
    """

    def __init__(self, options: CTarget | None = None, *, cpu: str | None = None,
                 count: bool = False, timeout: float = 120.0) -> None:
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
        counted = run_elf(build, args, timeout=self.timeout, count=self.count)
        fig = Figures(extra={"cpu": self.cpu, "board": build.cpu.board})
        if build.footprint is not None:
            fig.flash_bytes = build.footprint.flash_bytes
            fig.ram_bytes = build.footprint.ram_bytes
            fig.extra["state_bytes"] = build.footprint.state_bytes
            fig.extra["scratch_bytes"] = build.footprint.scratch_bytes
        if counted is not None:
            _count_figures(fig, model, counted, n_vectors, n_steps)
        return fig


def _count_figures(fig: Figures, model: Model, c: InsnCount, n: int, steps: int) -> None:
    """Instruction figures from the plugin's count: one region per sequence of a classifier,
    one per step of an LM (the harness's markers)."""
    regions = n * steps if model.is_lm else n
    if c.regions != regions:
        raise ToolError(f"plugin measured {c.regions} regions, expected {regions}")
    per_seq = c.insns / n
    macs = model.macs_per_step()
    fig.instructions_per_sequence = per_seq
    fig.instructions_per_mac = per_seq / steps / macs
    fig.extra.update({"instructions_per_step": per_seq / steps, "macs_per_step": macs,
                      "instructions_total": c.insns})


def mcu_report(model: Model, options: CTarget, *, steps: int, seed: int,
               workdir: Path) -> tuple[dict[str, Any], str]:
    """``lstmgen report --target cortex-m*``: build, run and count ``model`` over one
    ``steps``-step sequence (outputs checked against golden first). Everything is measured:
    flash and RAM from the linked ELF, instructions by the QEMU plugin."""
    from .. import golden
    from ..passes import executed_macs_per_step
    from ..testing import random_inputs

    inputs = random_inputs(model, 1, steps, seed=seed)
    run = QemuRunner(options, count=True).run(model, inputs, workdir)
    if not np.array_equal(golden.run(model, inputs).outputs, run.outputs):
        raise VerifyError(f"{options.cpu}: outputs differ from the golden model; run lstmgen verify")
    f = run.figures
    r = {
        "model": model.name, "cpu": options.cpu, "board": f.extra["board"], "steps": steps,
        "flash_bytes": f.flash_bytes, "ram_bytes": f.ram_bytes,
        "state_bytes": f.extra["state_bytes"], "scratch_bytes": f.extra["scratch_bytes"],
        "instructions_per_step": f.extra["instructions_per_step"],
        "instructions_per_sequence": f.instructions_per_sequence,
        "macs_per_step": f.extra["macs_per_step"],
        "effective_macs_per_step": executed_macs_per_step(model, inputs),
        "instructions_per_mac": f.instructions_per_mac,
    }
    text = "\n".join([
        f"model {r['model']!r} on {r['cpu']} (QEMU {r['board']}), {r['steps']} steps, state carried",
        f"  flash (code + const weights + tables): {r['flash_bytes']} bytes",
        (f"  RAM (state {r['state_bytes']} + scratch {r['scratch_bytes']} + static data): "
         f"{r['ram_bytes']} bytes"),
        (f"  instructions per step:                 {r['instructions_per_step']:.1f}"
         "  (the model's own work; no I/O)"),
        (f"  dense MACs per step:                   {r['macs_per_step']}"
         f"  (with zero h entries skipped: {r['effective_macs_per_step']:.1f})"),
        f"  instructions per dense MAC:            {r['instructions_per_mac']:.3f}",
    ])
    return r, text
