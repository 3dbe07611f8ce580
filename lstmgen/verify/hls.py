"""HLS C-simulation: compile the generated Vitis HLS project with g++ and run its testbench.

:class:`HlsRunner` is the runner of the ``hls`` platform. It renders :mod:`lstmgen.targets.hls`
into ``workdir/hls``, compiles design and testbench with ``g++ -std=c++14 -O2 -Wall -Wextra
-Werror -Wno-unknown-pragmas`` (g++ does not know ``#pragma HLS``) against the ``ap_types``
headers found inside the installed ``hls4ml`` package (:func:`ap_types_dir`; lstmgen does not
copy them), and runs the testbench on the shared vector files. The testbench runs every
sequence through both top functions and the state-level step and fails when they disagree, so
a PASS covers ``<p>_top`` and ``<p>_step_top`` alike.

:func:`hls_report` is ``lstmgen report MODEL --target hls``: it checks a C-simulation against
the golden model, then prints what the options imply (multipliers from the reuse factor, a
latency estimate from the schedule with the ``nnz(h)`` measured in that C-simulation, ROM and
state bits).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ToolError, UsageError, VerifyError
from ..ir import Model
from ..targets.hls import Options, Schedule, render, schedule
from .base import Figures, ToolRunner, call, find_tool, tool_message

__all__ = ["DEFAULT_CXXFLAGS", "HlsRunner", "ap_types_dir", "hls_report", "rom_bits", "state_bits"]

DEFAULT_CXXFLAGS = ("-std=c++14", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas")
_STAMP = ".lg_build"
_STATS_RE = re.compile(r"^lg_stats vectors=(\d+) steps=(\d+) nnz=([\d,]+)$", re.MULTILINE)
_HINT = "pip install hls4ml==1.3.0"


def ap_types_dir() -> Path:
    """The ``ap_types`` folder (``ap_int.h``, ``hls_stream.h``) inside the installed hls4ml.

    The package is located without importing it. A missing hls4ml, or one without the headers,
    raises :class:`ToolError` in one line.
    """
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise ToolError("hls4ml is not installed: HLS C-simulation compiles against the ap_types "
                        f"headers it ships ({_HINT})")
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "templates" / "vivado" / "ap_types"
        if (d / "ap_int.h").is_file() and (d / "hls_stream.h").is_file():
            return d
    raise ToolError(f"hls4ml at {next(iter(spec.submodule_search_locations))} has no "
                    f"templates/vivado/ap_types/ap_int.h ({_HINT})")


def _compile(cxx: str, flags: list[str], ap: Path, src: Path, units: list[str], exe: str,
             timeout: float) -> None:
    """Compile ``units`` to objects in parallel, then link ``exe``; one-line ToolError on failure."""
    objs = [u.rsplit(".", 1)[0] + ".o" for u in units]
    procs = []
    try:
        for unit, obj in zip(units, objs):
            procs.append(subprocess.Popen(
                [cxx, *flags, "-isystem", str(ap), "-c", "-o", obj, unit], cwd=src,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"))
    except OSError as exc:
        for p in procs:
            p.kill()
        raise ToolError(f"{cxx}: cannot run: {exc.strerror or exc}") from None
    failed = None
    for p in procs:
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            failed = failed or f"{cxx}: no result within {timeout:g} s"
            continue
        if p.returncode != 0 and failed is None:
            failed = f"{cxx} failed compiling the HLS C-simulation: {tool_message(out)}"
    if failed:
        raise ToolError(failed)
    call([cxx, *flags, "-o", exe, *objs], src, f"{cxx} linking the HLS C-simulation",
         timeout=timeout)


class HlsRunner(ToolRunner):
    """Runner of the ``hls`` platform: render with ``options``, compile the C-simulation with
    ``cxx``, run the testbench. ``ap_types`` overrides the header folder (default: the one in
    the installed hls4ml). The build in ``workdir/hls`` is reused while sources and flags are
    unchanged. Figures (``extra``): ``reuse``, ``interface``, ``zero_skip``, ``multipliers``,
    ``macs_per_step``, ``mean_nnz_h`` (per layer, measured), ``cycles_per_step_estimate``.
    """

    name = "hls"

    def __init__(self, options: Options | None = None, *, cxx: str = "g++",
                 cxxflags: tuple[str, ...] = DEFAULT_CXXFLAGS, ap_types: str | Path | None = None,
                 timeout: float = 600.0) -> None:
        if timeout <= 0:
            raise UsageError(f"timeout must be positive, got {timeout}")
        self.options = Options() if options is None else options
        self.cxx = cxx
        self.cxxflags = tuple(cxxflags)
        self.ap_types = None if ap_types is None else Path(ap_types)
        self.timeout = timeout
        self._exe: Path | None = None

    def _headers(self) -> Path:
        if self.ap_types is None:
            return ap_types_dir()
        if not (self.ap_types / "ap_int.h").is_file():
            raise ToolError(f"{self.ap_types}: no ap_int.h there")
        return self.ap_types

    def build(self, model: Model, workdir: Path) -> Path:
        """Render into ``workdir/hls`` and compile ``<p>_csim``; returns that folder."""
        files = render(model, self.options)  # option errors before any tool look-up
        ap = self._headers()
        cxx = find_tool(self.cxx, "install a C++ compiler (apt-get install g++)")
        src = Path(workdir).resolve() / "hls"
        src.mkdir(parents=True, exist_ok=True)
        changed = False
        for name, text in files.items():
            f = src / name
            if not f.is_file() or f.read_text(encoding="utf-8") != text:
                f.write_text(text, encoding="utf-8")
                changed = True
        p = self.options.prefix_for(model)
        exe = src / f"{p}_csim"
        stamp = f"{cxx}\n{' '.join(self.cxxflags)}\n{ap}\n"
        stamp_file = src / _STAMP
        if changed or not exe.is_file() or not stamp_file.is_file() \
                or stamp_file.read_text(encoding="utf-8") != stamp:
            stamp_file.unlink(missing_ok=True)
            _compile(cxx, list(self.cxxflags), ap, src, [f"{p}_tb.cpp", f"{p}.cpp"], exe.name,
                     self.timeout)
            stamp_file.write_text(stamp, encoding="utf-8")
        self._exe = exe
        return src

    def execute(self, model: Model, rundir: Path, *, dump: bool, n_vectors: int,
                n_steps: int) -> Figures:
        if n_steps > self.options.max_steps:
            raise UsageError(f"{n_steps} steps per sequence exceed --max-steps "
                             f"{self.options.max_steps} of the HLS testbench")
        assert self._exe is not None, "build() first"
        argv = [str(self._exe), "inputs.bin", "outputs.bin", *(["dump.bin"] if dump else [])]
        out = call(argv, rundir, "HLS C-simulation", timeout=self.timeout)
        m = _STATS_RE.search(out)
        if m is None:
            raise ToolError("HLS C-simulation printed no statistics line")
        nnz = [int(v) / max(1, n_vectors * n_steps) for v in m.group(3).split(",")]
        sch = schedule(model, self.options)
        return Figures(extra={
            "reuse": self.options.reuse,
            "interface": self.options.interface,
            "zero_skip": self.options.zero_skip,
            "multipliers": sch.multipliers,
            "macs_per_step": sch.macs_per_step,
            "mean_nnz_h": nnz,
            "cycles_per_step_estimate": sch.cycles_per_step(nnz),
        })


# --------------------------------------------------------------------------------------------
# The report


def rom_bits(model: Model, sch: Schedule) -> int:
    """Bits of every constant the design stores: weights and bias padded as the schedule lays
    them out, the two tables and the embedding, each entry at its format's width."""
    total = 0
    for la, ls in zip(model.layers, sch.layers):
        for _, g in la.gates():
            total += ls.padded * (la.n_in * g.w_ih.fmt.bits + la.n_hidden * g.w_hh.fmt.bits
                                  + g.bias.fmt.bits)
    hd = model.head
    rows = sch.head.reuse * sch.head.per
    total += rows * (hd.n_in * hd.weight.fmt.bits + hd.bias.fmt.bits)
    total += sum(t.n * t.out_fmt.bits for t in (model.sigmoid, model.tanh))
    if model.embedding is not None:
        total += model.embedding.values.size * model.embedding.fmt.bits
    return total


def state_bits(model: Model) -> int:
    """Bits of the recurrent state (h and c of every layer)."""
    return sum(la.n_hidden * (la.h_fmt.bits + la.c_fmt.bits) for la in model.layers)


def hls_report(model: Model, options: Options, *, steps: int, seed: int,
               workdir: Path) -> tuple[dict[str, Any], str]:
    """``lstmgen report MODEL --target hls``: C-simulate ``model`` on 8 random ``steps``-step
    sequences (outputs checked against golden first), then report the schedule's figures: the
    multipliers the reuse factor implies, a latency estimate with the measured ``nnz(h)``, ROM
    and state bits. Nothing is synthesised: the cycle figures are estimates from the schedule
    (Vitis's csynth report gives the real ones)."""
    from .. import golden
    from ..testing import random_inputs

    if steps < 1:
        raise UsageError(f"--steps must be at least 1, got {steps}")
    inputs = random_inputs(model, 8, steps, seed=seed)
    run = HlsRunner(options).run(model, inputs, workdir)
    if not np.array_equal(golden.run(model, inputs).outputs, run.outputs):
        raise VerifyError("hls: C-simulation outputs differ from the golden model; run lstmgen "
                          "verify --target hls")
    sch = schedule(model, options)
    nnz = list(run.figures.extra["mean_nnz_h"])
    other_skip = "shs" if options.zero_skip == "off" else "off"
    other = schedule(model, Options(reuse=options.reuse, zero_skip=other_skip))
    per_step = sch.cycles_per_step(nnz)
    head_once = 0.0 if model.is_lm else sch.head_cycles(nnz)
    r: dict[str, Any] = {
        "model": model.name,
        "target": "hls",
        "reuse": options.reuse,
        "interface": options.interface,
        "zero_skip": options.zero_skip,
        "steps": steps,
        "exact": True,
        "macs_per_step": sch.macs_per_step,
        "macs_per_reuse": sch.macs_per_step / options.reuse,
        "multipliers": sch.multipliers,
        "product_multipliers": sch.product_multipliers,
        "pointwise_multipliers": sum(la.pointwise_multipliers for la in sch.layers),
        "head_multipliers": sch.head.multipliers,
        "layers": [{"hidden": la.n_hidden, "units_per_cycle": la.units, "padded": la.padded,
                    "x_multipliers": la.x.multipliers, "h_multipliers": la.h.multipliers,
                    "x_sparse": la.x.sparse, "h_sparse": la.h.sparse,
                    "mean_nnz_h": nnz[la.index]} for la in sch.layers],
        "cycles_per_step_estimate": per_step,
        "cycles_per_step_dense_estimate": sch.cycles_per_step(),
        "cycles_per_sequence_estimate": steps * per_step + head_once,
        "other_zero_skip": {"zero_skip": other_skip, "multipliers": other.multipliers,
                            "cycles_per_step_estimate": other.cycles_per_step(nnz)},
        "rom_bits": rom_bits(model, sch),
        "state_bits": state_bits(model),
    }
    skipping = any(la.x.sparse or la.h.sparse for la in sch.layers) or sch.head.sparse

    def row(label: str, value: str) -> str:
        return f"  {label + ':':<30}{value}"

    lines = [
        (f"model {model.name!r} on hls (C-simulation of 8 sequences of {steps} steps: exact vs "
        "golden)"),
        row("reuse factor R", f"{options.reuse}  ({options.interface} ports, --zero-skip "
                              f"{options.zero_skip})"),
        row("mult-adds per step (dense)", f"{sch.macs_per_step}  (/ R = {r['macs_per_reuse']:.1f})"),
        row("multipliers", f"{sch.multipliers}  (products {sch.product_multipliers} incl. head "
                           f"{sch.head.multipliers}, cell updates {r['pointwise_multipliers']})"),
    ]
    for la in sch.layers:
        pad = f", padded to {la.padded}" if la.padded > la.n_hidden else ""
        lines.append(
            f"    layer {la.index}: {la.n_hidden} units, {la.units} per cycle{pad}; W_ih "
            f"{la.x.multipliers}{' (skips zeros)' if la.x.sparse else ''}, W_hh "
            f"{la.h.multipliers}{' (skips zeros)' if la.h.sparse else ''}, cell "
            f"{la.pointwise_multipliers}; mean nnz(h) {nnz[la.index]:.1f} of {la.n_hidden}")
    lines += [
        row("cycles per step (estimate)",
            f"{per_step:.1f}" + (f"  (dense h: {sch.cycles_per_step():.1f})" if skipping else "")
            + "  + pipeline depth; from the schedule, not synthesis"),
        row("cycles per sequence", f"{r['cycles_per_sequence_estimate']:.1f}"
            + ("" if model.is_lm else f"  (head once: {head_once:.1f})")),
        row(f"with --zero-skip {other_skip}", f"{other.multipliers} multipliers, "
            f"{other.cycles_per_step(nnz):.1f} cycles per step"),
        row("ROM (weights, bias, tables)", f"{r['rom_bits']} bits; state {r['state_bits']} bits"),
    ]
    return r, "\n".join(lines)
