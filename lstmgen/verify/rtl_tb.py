"""The cocotb testbench of the RTL target: drives generated engines through their AXI4-Stream
ports from vector files and writes what they answer.

This module runs *inside* the HDL simulator (Icarus or Verilator, started by
:mod:`lstmgen.verify.rtl` through ``cocotb_tools.runner``); it is not imported by the rest of
lstmgen. The simulation's top level is the wrapper ``lstmgen_tb`` that the runner generates:
one clock ``aclk``, one reset ``aresetn`` and, per engine ``dN``, its ports renamed
``dN_s_axis_*`` / ``dN_m_axis_*``. A job file (JSON, path in the plusarg ``+lstmgen_job=``)
names, per engine, the ``inputs.bin`` to send, the ``outputs.bin`` and ``stats.json`` to write,
the beat format and the stream driver:

* ``fast``: the source offers every beat as soon as the previous one is taken and the sink is
  always ready; the testbench wakes only on handshakes (not every clock), so long runs are
  cheap, and the accept times give the cycles per step;
* ``axi``: ``cocotbext-axi`` ``AxiStreamSource``/``AxiStreamSink`` with random pauses on both
  sides (``src_pause``/``sink_pause``: probability of a pause cycle), one frame per sequence;
  the sink also checks that no beat arrives beyond the expected ones.

Engines in one simulation run concurrently and independently. ``stats.json`` holds
``cycles_per_step`` (fast driver: mean interval between accepted beats inside a sequence),
``step_intervals`` (per sequence, the cycles of each step but the last), ``cycles_per_sequence``,
``cycles`` (whole run) and the engine's counters ``engine_*``: issue slots of x operands
(``slots_x``, of which ``slots_hx`` read a list of h: upper layers and the head), of h operands
(``slots_h``), of padding (``slots_pad``), ``busy`` cycles and accepted ``steps``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ReadOnly, RisingEdge, Timer, with_timeout

from lstmgen.verify import vectors

__all__ = ["run_job"]

CLOCK_NS = 10


def _job() -> dict[str, Any]:
    path = cocotb.plusargs.get("lstmgen_job")
    if not path:
        raise RuntimeError("the plusarg +lstmgen_job=<job.json> is missing")
    return json.loads(Path(str(path)).read_text())


def _cycles() -> int:
    return int(get_sim_time("ns")) // CLOCK_NS


def _pack(fields, bits: int) -> int:
    mask = (1 << bits) - 1
    word = 0
    for k, v in enumerate(fields):
        word |= (int(v) & mask) << (k * bits)
    return word


def _unpack(word: int, n: int, bits: int) -> list[int]:
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)
    out = []
    for k in range(n):
        v = (word >> (k * bits)) & mask
        out.append(v - (1 << bits) if v & sign else v)
    return out


class _Engine:
    """One engine of the wrapper and its job."""

    def __init__(self, top, spec: dict[str, Any]) -> None:
        self.top = top
        self.spec = spec
        pre = spec["ports"]
        self.name = pre
        self.s_tdata = getattr(top, f"{pre}_s_axis_tdata")
        self.s_tvalid = getattr(top, f"{pre}_s_axis_tvalid")
        self.s_tready = getattr(top, f"{pre}_s_axis_tready")
        self.s_tlast = getattr(top, f"{pre}_s_axis_tlast")
        self.m_tdata = getattr(top, f"{pre}_m_axis_tdata")
        self.m_tvalid = getattr(top, f"{pre}_m_axis_tvalid")
        self.m_tready = getattr(top, f"{pre}_m_axis_tready")
        self.m_tlast = getattr(top, f"{pre}_m_axis_tlast")
        self.inputs = vectors.read_inputs(spec["inputs"])
        self.lm = spec["kind"] == "lm"
        n, t = self.inputs.shape[:2]
        self.n, self.t = n, t
        self.rows = t if self.lm else 1
        self.beats = [[self._beat(v, s) for s in range(t)] for v in range(n)]
        self.accepts: list[int] = []
        self.received: list[tuple[int, bool]] = []  # (tdata, tlast)
        self.out_times: list[int] = []

    def _beat(self, v: int, s: int) -> int:
        if self.lm:
            return int(self.inputs[v, s])
        return _pack(self.inputs[v, s], self.spec["in_field_bits"])

    def idle(self) -> None:
        self.s_tvalid.value = 0
        self.s_tlast.value = 0
        self.s_tdata.value = 0
        self.m_tready.value = 0

    # -- fast driver ---------------------------------------------------------------------

    async def fast_source(self, clk) -> None:
        for v in range(self.n):
            for s in range(self.t):
                self.s_tdata.value = self.beats[v][s]
                self.s_tlast.value = int(s == self.t - 1)
                self.s_tvalid.value = 1
                # tready is a decode of registers: read settled, it holds until the next edge,
                # where the beat is taken; wait for it to rise without waking every cycle
                await ReadOnly()
                while not int(self.s_tready.value):
                    await RisingEdge(self.s_tready)
                    await ReadOnly()
                await RisingEdge(clk)
                self.accepts.append(_cycles())
        self.s_tvalid.value = 0
        self.s_tlast.value = 0

    async def fast_sink(self, clk) -> None:
        self.m_tready.value = 1
        want = self.n * self.rows
        while len(self.received) < want:
            await ReadOnly()
            if not int(self.m_tvalid.value):
                await RisingEdge(self.m_tvalid)
                await ReadOnly()
            self.received.append((int(self.m_tdata.value), bool(int(self.m_tlast.value))))
            await RisingEdge(clk)  # the handshake (tready is always high)
            self.out_times.append(_cycles())

    # -- cocotbext-axi driver ------------------------------------------------------------

    async def axi_run(self, clk, rst) -> None:
        from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

        pre = self.name
        src = AxiStreamSource(AxiStreamBus.from_prefix(self.top, f"{pre}_s_axis"), clk, rst,
                              reset_active_level=False, byte_lanes=1)
        snk = AxiStreamSink(AxiStreamBus.from_prefix(self.top, f"{pre}_m_axis"), clk, rst,
                            reset_active_level=False, byte_lanes=1)
        for bus in (src, snk):
            bus.log.setLevel("WARNING")
        rng = random.Random(self.spec.get("seed", 0))
        sp, kp = float(self.spec.get("src_pause", 0.0)), float(self.spec.get("sink_pause", 0.0))

        def pauses(p: float, r: random.Random):
            while True:
                yield r.random() < p

        src.set_pause_generator(pauses(sp, random.Random(rng.random())))
        snk.set_pause_generator(pauses(kp, random.Random(rng.random())))
        for v in range(self.n):
            await src.send(AxiStreamFrame(list(self.beats[v])))
        for _ in range(self.n):
            frame = await snk.recv()
            data = list(frame.tdata)
            if len(data) != self.rows:
                raise AssertionError(f"{pre}: an output frame of {len(data)} beats, expected "
                                     f"{self.rows}")
            for k, word in enumerate(data):
                self.received.append((int(word), k == len(data) - 1))
        await src.wait()
        # nothing more may come: wait well beyond one more step, then look at the sink
        for _ in range(int(self.spec.get("quiet_cycles", 200))):
            await RisingEdge(clk)
        if not snk.empty():
            raise AssertionError(f"{pre}: the engine sent beats beyond the expected outputs")

    # -- results -------------------------------------------------------------------------

    def outputs(self) -> np.ndarray:
        n_out, bits = self.spec["n_out"], self.spec["out_field_bits"]
        rows = []
        for k, (word, last) in enumerate(self.received):
            want_last = (k % self.rows == self.rows - 1) if self.lm else True
            if last != want_last:
                raise AssertionError(f"{self.name}: beat {k} has tlast={int(last)}, expected "
                                     f"{int(want_last)}")
            rows.append(_unpack(word, n_out, bits))
        return np.asarray(rows, np.int64).reshape(self.n, self.rows, n_out)

    def stats(self, cycles: int) -> dict[str, Any]:
        d: dict[str, Any] = {"cycles": cycles, "vectors": self.n, "steps": self.t}
        if self.accepts and self.spec["driver"] == "fast":
            acc = np.asarray(self.accepts, np.int64).reshape(self.n, self.t)
            if self.t > 1:
                d["step_intervals"] = np.diff(acc, axis=1).tolist()
                d["cycles_per_step"] = float(np.diff(acc, axis=1).mean())
            ends = np.asarray(self.out_times, np.int64).reshape(self.n, self.rows)[:, -1]
            d["cycles_per_sequence"] = float((ends - acc[:, 0]).mean())
            if self.t == 1:
                d["cycles_per_step"] = d["cycles_per_sequence"]
        dut = getattr(self.top, self.name)
        for key in ("slots_x", "slots_hx", "slots_h", "slots_pad", "busy", "steps"):
            handle = getattr(dut, f"stat_{key}", None)
            if handle is not None:
                d[f"engine_{key}"] = int(handle.value)
        return d


@cocotb.test()
async def run_job(top) -> None:
    """Reset, stream every engine's vectors through it, write outputs.bin and stats.json."""
    job = _job()
    engines = [_Engine(top, spec) for spec in job["engines"]]
    clk = top.aclk
    cocotb.start_soon(Clock(clk, CLOCK_NS, unit="ns").start())
    for e in engines:
        e.idle()
    top.aresetn.value = 0
    for _ in range(4):
        await RisingEdge(clk)
    top.aresetn.value = 1
    await RisingEdge(clk)
    start = _cycles()

    async def one(e: _Engine) -> None:
        if e.spec["driver"] == "axi":
            await e.axi_run(clk, top.aresetn)
        else:
            sink = cocotb.start_soon(e.fast_sink(clk))
            await e.fast_source(clk)
            await sink

    tasks = [cocotb.start_soon(one(e)) for e in engines]
    limit = int(job.get("timeout_cycles", 10_000_000))
    for t in tasks:
        await with_timeout(t, max(1, limit - (_cycles() - start)) * CLOCK_NS, "ns")
    cycles = _cycles() - start
    for e in engines:
        vectors.write_outputs(e.spec["outputs"], e.outputs())
        Path(e.spec["stats"]).write_text(json.dumps(e.stats(cycles), sort_keys=True))
    await Timer(CLOCK_NS, "ns")
