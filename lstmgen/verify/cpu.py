"""Build the generated C with the host compiler and run it on vector files.

:class:`CpuRunner` is the runner of the ``c`` platform. :func:`callgrind_instructions` and
:func:`library_size` measure the same build: instructions per sequence and per step
(``valgrind --tool=callgrind``, counted inside ``<p>_run`` for a classifier and
``<p>_step_token`` for an LM, i.e. the model's own work, no file I/O) and the library's
``text``/``data``/``bss`` bytes (``size`` on ``<p>.o``). :func:`host_report` is what
``lstmgen report --target c`` prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import golden
from ..errors import ToolError, UsageError, VerifyError
from ..ir import Model
from ..targets.c import MAX_STEPS, WARNINGS, CTarget
from ..targets.c_tlstm import render_any as render  # an LSTM or a tLSTM IR
from . import vectors
from .base import Figures, ToolRunner, call, find_tool

__all__ = [
    "DEFAULT_CFLAGS",
    "SANITIZE_FLAGS",
    "CpuRunner",
    "callgrind_instructions",
    "host_report",
    "library_size",
    "write_sources",
]

DEFAULT_CFLAGS = ("-std=c99", "-O2", *WARNINGS.split())
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")
_RUN_TIMEOUT_S = 600
_CC_HINT = "install a C compiler (apt-get install gcc) or pass --cc"


def write_sources(files: dict[str, str], src: Path) -> bool:
    """Write rendered ``files`` into ``src`` (a build directory lstmgen owns); return whether
    anything changed (a build is reused while its sources are unchanged)."""
    changed = False
    for name, text in files.items():
        f = src / name
        if not f.is_file() or f.read_text(encoding="utf-8") != text:
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text, encoding="utf-8")
            changed = True
    return changed


def check_steps(n_steps: int) -> None:
    """The harness's buffers hold :data:`lstmgen.targets.c.MAX_STEPS` steps per sequence."""
    if n_steps > MAX_STEPS:
        raise UsageError(f"sequences of {n_steps} steps: the C harness holds at most {MAX_STEPS} "
                         f"steps per sequence (lstmgen.targets.c.MAX_STEPS)")


@dataclass
class CpuRunner(ToolRunner):
    """Runner of the ``c`` platform: render with ``options``, compile with ``cc``, run the harness.

    ``cflags`` replace the default strict C99 flags; ``sanitize`` adds AddressSanitizer and
    UBSan with every finding fatal. The build lives in ``workdir/c`` and is reused while the
    generated sources are unchanged.
    """

    options: CTarget = field(default_factory=CTarget)
    cc: str = "gcc"
    cflags: tuple[str, ...] = DEFAULT_CFLAGS
    sanitize: bool = False
    name: str = "c"
    families = ("lstm", "tlstm")

    def __post_init__(self) -> None:
        if self.options is None:
            self.options = CTarget()
        if self.options.core.is_mcu:
            raise UsageError(f"--cpu {self.options.cpu} code runs under QEMU: use --target "
                             f"{self.options.cpu}")

    def build(self, model: Model, workdir: Path) -> Path:
        """Generate and compile the harness into ``workdir/c``; returns the source directory."""
        src = Path(workdir).resolve() / "c"
        p = self.options.prefix_for(model)
        exe = src / "harness" / f"{p}_main"
        changed = write_sources(render(model, self.options), src)
        if changed or not exe.is_file():
            cc = find_tool(self.cc, _CC_HINT)
            flags = [*self.cflags, *(SANITIZE_FLAGS if self.sanitize else ())]
            call([cc, *flags, "-I.", "-o", str(exe.relative_to(src)), "harness/main.c", f"{p}.c"],
                 src, f"{self.cc} ({p}.c)")
        return src

    def execute(self, model: Model, rundir: Path, *, dump: bool, n_vectors: int,
                n_steps: int) -> Figures:
        check_steps(n_steps)
        exe = rundir / "harness" / f"{self.options.prefix_for(model)}_main"
        call([str(exe), "inputs.bin", "outputs.bin", *(["dump.bin"] if dump else [])], rundir,
             exe.name, timeout=_RUN_TIMEOUT_S)
        return Figures(extra={"cpu": "host"})


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
    valgrind = find_tool("valgrind", "install valgrind (apt-get install valgrind)")
    inputs = golden.check_inputs(model, inputs)
    runner = CpuRunner(opts, cc=cc, cflags=cflags)
    d = runner.build(model, Path(workdir))
    vectors.write_inputs(d / "inputs.bin", model, inputs)
    p = opts.prefix_for(model)
    fn = f"{p}_step_token" if model.is_lm else f"{p}_run"
    out = d / "callgrind.out"
    call([valgrind, "--tool=callgrind", f"--callgrind-out-file={out.name}", "--collect-atstart=no",
          f"--toggle-collect={fn}", f"harness/{p}_main", "inputs.bin", "outputs.bin"],
         d, "valgrind --tool=callgrind", timeout=_RUN_TIMEOUT_S)
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
    size = find_tool("size", "install binutils (apt-get install binutils)")
    src = Path(workdir).resolve() / "c"
    write_sources(render(model, opts), src)
    p = opts.prefix_for(model)
    call([find_tool(cc, _CC_HINT), *cflags, "-c", "-o", f"{p}.o", f"{p}.c"], src, f"{cc} ({p}.c)")
    lines = call([size, f"{p}.o"], src, "size").splitlines()
    if len(lines) < 2:
        raise ToolError("size printed no figures")
    text, data, bss = (int(v) for v in lines[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


def host_report(model: Model, options: CTarget, *, steps: int, seed: int,
                workdir: Path) -> tuple[dict[str, Any], str]:
    """``lstmgen report --target c``: library bytes and callgrind instructions per step over
    one ``steps``-step sequence (checked against golden first)."""
    from ..testing import random_inputs

    inputs = random_inputs(model, 1, steps, seed=seed)
    got = CpuRunner(options).run(model, inputs, workdir)
    from .base import golden_of  # an LSTM's or a tLSTM's golden model

    if not np.array_equal(golden_of(model).run(model, inputs).outputs, got.outputs):
        raise VerifyError("c: outputs differ from the golden model; run lstmgen verify")
    cg = callgrind_instructions(model, inputs, workdir, options)
    size = library_size(model, workdir, options)
    r = {"model": model.name, "cpu": "host", "steps": steps, "library_bytes": size,
         "instructions_per_step": cg["per_step"], "instructions_per_sequence": cg["per_sequence"],
         "macs_per_step": cg["macs_per_step"], "instructions_per_mac": cg["instructions_per_mac"]}
    text = "\n".join([
        f"model {model.name!r} on the host (gcc -O2, callgrind), {steps} steps, state carried",
        (f"  library bytes (size of {options.prefix_for(model)}.o): text {size['text']}, "
         f"data {size['data']}, bss {size['bss']}"),
        f"  instructions per step:      {cg['per_step']:.1f}",
        f"  dense MACs per step:        {cg['macs_per_step']}",
        f"  instructions per dense MAC: {cg['instructions_per_mac']:.3f}",
    ])
    return r, text
