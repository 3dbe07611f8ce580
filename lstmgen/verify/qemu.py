"""Cortex-M target: cross-build the generated C with ``arm-none-eabi-gcc`` and run it on QEMU.

The C target (:mod:`lstmgen.targets.c`, rendered for the chosen ``--cpu``) is linked with a
minimal startup file and linker script (``templates/c/mcu/``) against newlib with semihosting
(``--specs=rdimon.specs``), so the harness's ``fopen``/``fread``/``fwrite`` reach host files
and its exit status reaches the host. QEMU boards (their RAM maps are in ``mps2.ld``)::

    cortex-m3  mps2-an385   soft float
    cortex-m4  mps2-an386   FPv4-SP, hard-float ABI
    cortex-m7  mps2-an500   FPv5-D16, hard-float ABI

Besides the outputs a run reports, in :attr:`TargetRun.extra`:

* ``flash_bytes`` / ``ram_bytes``: footprint of the model itself, read from the linker map of
  the linked ELF (every input section contributed by ``<prefix>.o``: code, const weights and
  tables count as flash; ``.data`` as flash and RAM; ``.bss`` as RAM) plus ``sizeof`` the
  state type, measured by compiling a probe object. The harness, newlib and the startup code
  are excluded.
* with ``count=True``: guest instructions per sequence and per time step, counted by a QEMU TCG
  plugin (``files/qemu_insn_count.c``, built with the host ``gcc`` into a cache directory)
  between the harness's ``lg_bench_begin()`` and ``lg_bench_end()`` markers.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ToolError, UsageError
from ..ir import Model
from . import vectors
from .base import TargetRun

__all__ = [
    "CPUS",
    "INSTALL_HINT",
    "Footprint",
    "InsnCount",
    "McuBuild",
    "McuCpu",
    "QemuRunner",
    "build_elf",
    "plugin_library",
    "require_tools",
    "run_elf",
]

INSTALL_HINT = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic",
           "-ffunction-sections", "-fdata-sections")
_STDERR_TAIL = 2000
_PROBE, _PROBE_C = "lg_state_probe", "lg_state_probe.c"


@dataclass(frozen=True, slots=True)
class McuCpu:
    """A supported core: its QEMU board and the compiler flags selecting core and float ABI."""

    name: str
    board: str
    flags: tuple[str, ...]


CPUS: Mapping[str, McuCpu] = {
    c.name: c
    for c in (
        McuCpu("cortex-m3", "mps2-an385", ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft")),
        McuCpu("cortex-m4", "mps2-an386",
               ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")),
        McuCpu("cortex-m7", "mps2-an500",
               ("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard")),
    )
}


def require_tools(*names: str) -> dict[str, str]:
    """Full paths of the named executables; a missing one raises :class:`ToolError` with a hint."""
    found = {n: shutil.which(n) for n in names}
    missing = [n for n, p in found.items() if p is None]
    if missing:
        hint = "apt-get install gcc" if missing == ["gcc"] else INSTALL_HINT
        raise ToolError(f"{', '.join(missing)} not found on PATH; install with: {hint}")
    return {n: str(p) for n, p in found.items()}


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _STDERR_TAIL else "…" + text[-_STDERR_TAIL:]


def _call(argv: Sequence[str], cwd: Path, what: str, timeout: float | None = None) -> str:
    """Run a tool; a non-zero exit or a timeout raises :class:`ToolError` naming ``what``."""
    try:
        proc = subprocess.run(
            list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        # TimeoutExpired carries bytes (or nothing) even in text mode
        out = "".join(
            s.decode(errors="replace") if isinstance(s, bytes) else (s or "")
            for s in (exc.stderr, exc.stdout)
        )
        raise ToolError(
            f"{what}: timed out after {timeout:g} s (a guest fault spins until the timeout)"
            + (f": {_tail(out)}" if out.strip() else "")
        ) from None
    if proc.returncode != 0:
        msg = _tail(proc.stderr + proc.stdout)
        raise ToolError(f"{what}: exit status {proc.returncode}: {msg}")
    return proc.stdout


# --------------------------------------------------------------------------------------------
# Build


@dataclass(frozen=True, slots=True)
class Footprint:
    """Bytes of the model itself in the linked image (harness, libc and startup excluded)."""

    flash_bytes: int
    ram_bytes: int
    state_bytes: int


@dataclass(frozen=True, slots=True)
class McuBuild:
    """A linked program: ``elf`` (in ``builddir``), its core, marker addresses, footprint."""

    builddir: Path
    elf: Path
    cpu: McuCpu
    markers: tuple[int, int] | None
    footprint: Footprint | None


def _mcu_file(name: str) -> str:
    return importlib.resources.files("lstmgen.templates").joinpath(f"c/mcu/{name}").read_text()


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
    """The model's translation unit name (``<prefix>.c``) and every C file to compile."""
    c_files = sorted(n for n in files if n.endswith(".c"))
    model_c = [n for n in c_files if n != "main.c"]
    if "main.c" not in c_files or len(model_c) != 1:
        raise ToolError(f"expected main.c and one <prefix>.c among the C target's files, got {c_files}")
    return model_c[0], c_files


def build_elf(files: Mapping[str, str], builddir: Path, cpu: str) -> McuBuild:
    """Write ``files`` (the C target's output) to ``builddir``, cross-compile and link ``prog.elf``.

    Rebuilds only when the sources, flags or startup files changed (a stamp in ``builddir``).
    Footprint and marker addresses are measured from the result when the files hold a model
    (``<prefix>.c`` + ``<prefix>.h``) and a harness with ``lg_bench_begin``/``lg_bench_end``.
    """
    core = CPUS.get(cpu)
    if core is None:
        raise UsageError(f"unknown MCU cpu {cpu!r}; choose one of {', '.join(CPUS)}")
    tools = require_tools("arm-none-eabi-gcc", "arm-none-eabi-nm")
    gcc, nm = tools["arm-none-eabi-gcc"], tools["arm-none-eabi-nm"]
    all_files = dict(files)
    all_files["lg_startup.c"] = _mcu_file("startup.c")
    all_files["mps2.ld"] = _mcu_file("mps2.ld")
    model_c, c_files = _sources(files)
    c_files.append("lg_startup.c")
    prefix = model_c[:-2]
    has_state = f"{prefix}.h" in files
    stamp = hashlib.sha256(
        repr((sorted(all_files.items()), core, _CFLAGS)).encode()
    ).hexdigest()
    builddir.mkdir(parents=True, exist_ok=True)
    elf = builddir / "prog.elf"
    stamp_file = builddir / "build.stamp"
    if not (elf.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp):
        stamp_file.unlink(missing_ok=True)
        for name, text in all_files.items():
            (builddir / name).write_text(text)
        cc = [gcc, *core.flags, *_CFLAGS, "-I."]
        objs = []
        for src in c_files:
            obj = src[:-2] + ".o"
            _call([*cc, "-c", src, "-o", obj], builddir, f"arm-none-eabi-gcc ({cpu}) {src}")
            objs.append(obj)
        _call(
            [gcc, *core.flags, "--specs=rdimon.specs", "-T", "mps2.ld", "-Wl,--gc-sections",
             "-Wl,-Map=prog.map", *objs, "-o", elf.name],
            builddir, f"arm-none-eabi-gcc ({cpu}) link",
        )
        if has_state:  # sizeof(<prefix>_state), measured on a compiled probe (padding included)
            (builddir / _PROBE_C).write_text(f'#include "{prefix}.h"\n{prefix}_state {_PROBE};\n')
            _call([*cc, "-c", _PROBE_C, "-o", _PROBE_C[:-2] + ".o"], builddir,
                  f"arm-none-eabi-gcc ({cpu}) state probe")
        stamp_file.write_text(stamp)
    syms = _symbols(nm, elf, builddir)
    markers = None
    if "lg_bench_begin" in syms and "lg_bench_end" in syms:
        markers = (syms["lg_bench_begin"][0], syms["lg_bench_end"][0])
    footprint = None
    if has_state:
        probe = _symbols(nm, builddir / (_PROBE_C[:-2] + ".o"), builddir)
        if _PROBE not in probe:
            raise ToolError(f"the state probe object defines no {_PROBE}")
        state = probe[_PROBE][1]
        flash, ram = _map_footprint((builddir / "prog.map").read_text(), prefix + ".o")
        footprint = Footprint(flash_bytes=flash, ram_bytes=ram + state, state_bytes=state)
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


class QemuRunner:
    """Runner for ``cortex-m3`` / ``cortex-m4`` / ``cortex-m7``: the C target under QEMU.

    ``count=True`` adds instruction counts to :attr:`TargetRun.extra` (``insns_per_sequence``,
    ``insns_per_step``, ``insns_per_mac`` over dense MACs, ``macs_per_step``); ``timeout`` bounds
    one QEMU run in seconds.
    """

    def __init__(self, cpu: str = "cortex-m4", *, count: bool = False, timeout: float = 120.0,
                 prefix: str | None = None) -> None:
        if cpu not in CPUS:
            raise UsageError(f"unknown MCU cpu {cpu!r}; choose one of {', '.join(CPUS)}")
        if timeout <= 0:
            raise UsageError(f"timeout must be positive, got {timeout}")
        self.cpu = cpu
        self.count = count
        self.timeout = timeout
        self.prefix = prefix
        self.name = cpu

    def build(self, model: Model, workdir: Path) -> McuBuild:
        """Render the C target for this core and cross-build it in ``workdir/<cpu>``."""
        from ..targets.c import CTarget, render

        files = render(model, CTarget(prefix=self.prefix, cpu=self.cpu))
        return build_elf(files, Path(workdir).resolve() / self.cpu, self.cpu)

    def run(self, model: Model, inputs: np.ndarray, workdir: Path, *, dump: bool = False) -> TargetRun:
        """Build (once per ``workdir``) and run the target on ``inputs`` under QEMU."""
        from .. import golden

        arr = golden.check_inputs(model, inputs)
        n, steps = int(arr.shape[0]), int(arr.shape[1])
        build = self.build(model, workdir)
        d = build.builddir
        vectors.write_inputs(d / "inputs.bin", model, arr)
        for name in ("outputs.bin", "dump.bin"):
            (d / name).unlink(missing_ok=True)
        args = ["inputs.bin", "outputs.bin", *(["dump.bin"] if dump else [])]
        counted = run_elf(build, args, timeout=self.timeout, count=self.count)
        outputs = vectors.read_outputs(d / "outputs.bin", model, n, steps)
        extra: dict[str, Any] = {"cpu": self.cpu, "board": build.cpu.board}
        if build.footprint is not None:
            extra["flash_bytes"] = build.footprint.flash_bytes
            extra["ram_bytes"] = build.footprint.ram_bytes
        if counted is not None:
            extra.update(_count_figures(model, counted, n, steps))
        return TargetRun(
            outputs=outputs,
            dump=vectors.read_dump(d / "dump.bin", model) if dump else None,
            extra=extra,
        )


def _count_figures(model: Model, c: InsnCount, n: int, steps: int) -> dict[str, Any]:
    if c.regions != n:
        raise ToolError(f"plugin measured {c.regions} regions, expected one per vector ({n})")
    per_seq = c.insns / n
    macs = model.macs_per_step()
    return {
        "insns_total": c.insns,
        "insns_per_sequence": per_seq,
        "insns_per_step": per_seq / steps,
        "macs_per_step": macs,
        "insns_per_mac": per_seq / steps / macs,
    }
