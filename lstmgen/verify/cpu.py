"""Build the generated C with the host compiler and run it on vector files.

:class:`CpuRunner` is the :class:`~lstmgen.verify.base.Runner` of the ``c`` target.
:func:`callgrind_instructions` and :func:`library_size` measure the same build: instructions per
sequence and per step (``valgrind --tool=callgrind``, counted inside ``<p>_run`` for a classifier
and ``<p>_step_token`` for an LM, i.e. between the harness's bench markers) and the library's
``text``/``data``/``bss`` bytes (``size`` on ``<p>.o``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import golden
from ..errors import ToolError
from ..ir import Model
from ..targets.c import CTarget, render
from . import vectors
from .base import TargetRun

__all__ = ["DEFAULT_CFLAGS", "SANITIZE_FLAGS", "CpuRunner", "callgrind_instructions", "library_size"]

DEFAULT_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")
_RUN_TIMEOUT_S = 600


def _tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolError(f"{name} not found: {hint}")
    return path


def _compiler(cc: str) -> str:
    return _tool(cc, "install a C compiler (apt-get install gcc)")


def _first_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if "error" in ln.lower():
            return ln
    return lines[0] if lines else "no message"


def _write_sources(model: Model, src: Path, opts: CTarget) -> tuple[bool, str]:
    """Write the rendered files into ``src``; returns (changed, prefix)."""
    src.mkdir(parents=True, exist_ok=True)
    changed = False
    for name, text in render(model, opts).items():
        f = src / name
        if not f.exists() or f.read_text(encoding="utf-8") != text:
            f.write_text(text, encoding="utf-8")
            changed = True
    return changed, opts.prefix_for(model)


def _compile(cc: str, flags: list[str], args: list[str], cwd: Path) -> None:
    proc = subprocess.run([_compiler(cc), *flags, *args], check=False, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolError(f"{cc} failed: {_first_error(proc.stderr + proc.stdout)}")


@dataclass
class CpuRunner:
    """Runner for the ``c`` target: render with ``opts``, compile with ``cc``, run the harness.

    ``cflags`` replace the default strict C99 flags; ``sanitize`` adds AddressSanitizer and
    UBSan with every finding fatal. The build lives in ``workdir/c`` and is reused while the
    generated sources are unchanged. A missing compiler, a compile error or a failing run raises
    :class:`~lstmgen.errors.ToolError` naming the first error line.
    """

    cc: str = "gcc"
    cflags: tuple[str, ...] = DEFAULT_CFLAGS
    sanitize: bool = False
    opts: CTarget = field(default_factory=CTarget)
    name: str = "c"

    def build(self, model: Model, workdir: Path) -> Path:
        """Generate and compile the harness into ``workdir/c``; returns the executable."""
        src = Path(workdir).resolve() / "c"
        changed, p = _write_sources(model, src, self.opts)
        exe = src / f"{p}_main"
        if changed or not exe.exists():
            flags = list(self.cflags) + (list(SANITIZE_FLAGS) if self.sanitize else [])
            _compile(self.cc, flags, ["-o", exe.name, "main.c", f"{p}.c"], src)
        return exe

    def run(self, model: Model, inputs: np.ndarray, workdir: Path, *, dump: bool = False) -> TargetRun:
        """Build (once per ``workdir``) and run the harness on ``inputs``."""
        inputs = golden.check_inputs(model, inputs)
        exe = self.build(model, workdir)
        d = exe.parent
        vectors.write_inputs(d / "inputs.bin", model, inputs)
        for stale in ("outputs.bin", "dump.bin"):
            (d / stale).unlink(missing_ok=True)
        argv = [str(exe), "inputs.bin", "outputs.bin"] + (["dump.bin"] if dump else [])
        _run(argv, d)
        n, t = inputs.shape[:2]
        return TargetRun(
            outputs=vectors.read_outputs(d / "outputs.bin", model, n, t),
            dump=vectors.read_dump(d / "dump.bin", model) if dump else None,
        )


def _run(argv: list[str], cwd: Path) -> None:
    try:
        proc = subprocess.run(argv, check=False, cwd=cwd, capture_output=True, text=True, timeout=_RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ToolError(f"{Path(argv[0]).name} did not finish within {_RUN_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        raise ToolError(
            f"{Path(argv[0]).name} exited with {proc.returncode}: {_first_error(proc.stderr)}"
        )


def callgrind_instructions(
    model: Model,
    inputs: np.ndarray,
    workdir: Path,
    opts: CTarget | None = None,
    *,
    cc: str = "gcc",
    cflags: tuple[str, ...] = DEFAULT_CFLAGS,
) -> dict[str, float]:
    """Instructions executed by the generated code on ``inputs``, counted by callgrind.

    Counts inside ``<p>_run`` (classifier) or ``<p>_step_token`` (LM) only, so reading and
    writing vector files is excluded. Returns ``instructions`` (total), ``per_sequence``,
    ``per_step``, ``macs_per_step`` (dense) and ``instructions_per_mac``. Raises
    :class:`~lstmgen.errors.ToolError` when valgrind (or the compiler) is missing.
    """
    opts = CTarget() if opts is None else opts
    valgrind = _tool("valgrind", "install valgrind (apt-get install valgrind)")
    inputs = golden.check_inputs(model, inputs)
    exe = CpuRunner(cc=cc, cflags=cflags, opts=opts).build(model, Path(workdir))
    d = exe.parent
    vectors.write_inputs(d / "inputs.bin", model, inputs)
    p = opts.prefix_for(model)
    fn = f"{p}_step_token" if model.is_lm else f"{p}_run"
    out = d / "callgrind.out"
    _run(
        [valgrind, "--tool=callgrind", f"--callgrind-out-file={out.name}", "--collect-atstart=no",
         f"--toggle-collect={fn}", str(exe), "inputs.bin", "outputs.bin"],
        d,
    )
    m = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(), re.MULTILINE)
    if m is None:
        raise ToolError(f"callgrind wrote no instruction count to {out}")
    total = int(m.group(1))
    n, t = inputs.shape[:2]
    macs = model.macs_per_step()
    return {
        "instructions": total,
        "per_sequence": total / n,
        "per_step": total / (n * t),
        "macs_per_step": macs,
        "instructions_per_mac": total / (n * t * macs),
    }


def library_size(
    model: Model,
    workdir: Path,
    opts: CTarget | None = None,
    *,
    cc: str = "gcc",
    cflags: tuple[str, ...] = DEFAULT_CFLAGS,
) -> dict[str, int]:
    """``text``, ``data`` and ``bss`` bytes of the compiled library object ``<p>.o``.

    Weights and tables are ``static const``, so they count in ``text`` (flash on an MCU).
    """
    opts = CTarget() if opts is None else opts
    size = _tool("size", "install binutils (apt-get install binutils)")
    src = Path(workdir).resolve() / "c"
    _, p = _write_sources(model, src, opts)
    _compile(cc, list(cflags), ["-c", "-o", f"{p}.o", f"{p}.c"], src)
    proc = subprocess.run([size, f"{p}.o"], check=False, cwd=src, capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) < 2:
        raise ToolError(f"size failed: {_first_error(proc.stderr)}")
    text, data, bss = (int(v) for v in lines[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}

