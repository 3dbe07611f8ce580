"""cocotb tests of the generated Verilog engine on Icarus and Verilator: bit-exact with the golden
model, zero entries of h never scheduled, AXI4-Stream back-pressure, sequence boundaries.

The ``@cocotb.test`` coroutine is :func:`lstmgen.verify.rtl_tb.run_job` (shipped inside the
package, it drives the streams with cocotbext-axi or a fast driver); each pytest function here
builds a simulation with ``cocotb_tools.runner`` (through :class:`lstmgen.verify.rtl.Simulation`)
into its own ``tmp_path``. One simulator build holds several engines (different models, one
lane count), so Verilator compiles once per lane count, not once per model.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstmgen import golden
from lstmgen.errors import ToolError
from lstmgen.ir import IntTensor, Model, QFormat
from lstmgen.targets.rtl import Options
from lstmgen.testing import random_inputs, random_model, require_tool
from lstmgen.verify import vectors
from lstmgen.verify.base import first_mismatch
from lstmgen.verify.rtl import EngineSpec, Simulation, verilator_bin

pytestmark = pytest.mark.sim

LANES = (1, 3, 8)
SIMULATORS = ("icarus", "verilator")


def need(simulator: str) -> None:
    """Skip (fail with CI=true) when ``simulator`` is missing."""
    if simulator == "icarus":
        require_tool("iverilog")
        require_tool("vvp")
        return
    require_tool("g++")
    require_tool("make")
    try:
        verilator_bin()
    except ToolError as exc:
        import os

        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{exc} (a missing tool is a failure in CI)")
        pytest.skip(str(exc))


def _zero_h(model: Model, layer: int) -> Model:
    """``model`` with layer ``layer``'s output gate always zero (SHS threshold at the top code):
    its h is all zeros, so its consumers see empty lists."""
    top = model.sigmoid.out_fmt.max_code
    layers = list(model.layers)
    layers[layer] = dataclasses.replace(layers[layer], o_threshold=top)
    return model.replace(layers=tuple(layers))


def _act8(model: Model) -> Model:
    """``model`` with 8-bit activations: input, h and outputs (the IR allows 8 or 16 bits; the
    quantizer writes 16), same fractions, biases moved to the new accumulator fractions."""
    def f8(f: QFormat) -> QFormat:
        return QFormat(8, f.frac - 8)

    layers, prev = [], None
    for la in model.layers:
        la = dataclasses.replace(la, in_fmt=prev or f8(la.in_fmt), h_fmt=f8(la.h_fmt))
        gates = {n: dataclasses.replace(g, bias=IntTensor(g.bias.values, QFormat(
            g.bias.fmt.bits, la.acc_frac(n)), name=g.bias.name)) for n, g in la.gates()}
        layers.append(dataclasses.replace(la, **gates))
        prev = layers[-1].h_fmt
    hd = model.head
    hd = dataclasses.replace(hd, in_fmt=prev, out_fmt=f8(hd.out_fmt), bias=IntTensor(
        hd.bias.values, QFormat(hd.bias.fmt.bits, hd.weight.fmt.frac + prev.frac), name="hb"))
    return model.replace(layers=tuple(layers), head=hd)


def networks() -> list[tuple[str, Model]]:
    """The random networks every lane count runs: 1-2 layers, sizes 1 and odd, int8/int16
    weights, with and without SHS sparsity of h, classifiers and LMs, 16- and 32-bit c,
    tables with and without interpolation, 8-bit activations."""
    return [
        ("one", random_model(101, n_in=1, hidden=(1,), n_out=1, shs=False)),
        ("odd8", random_model(102, n_in=3, hidden=(5, 3), n_out=3, weight_bits=8, shs=True)),
        ("wide", random_model(103, n_in=5, hidden=(7,), n_out=4, shs=True)),
        ("lm8", random_model(104, kind="lm", n_in=3, hidden=(4,), vocab=7, weight_bits=8,
                             shs=False)),
        ("lm2", random_model(105, kind="lm", n_in=4, hidden=(6, 5), vocab=9, shs=True)),
        ("zero", _zero_h(random_model(106, n_in=2, hidden=(3, 2), n_out=2, shs=False), 0)),
        ("act8", _act8(random_model(107, n_in=3, hidden=(5, 3), n_out=3, shs=False))),
    ]


def expected_slots(model: Model, inputs: np.ndarray, lanes: int) -> dict[str, int]:
    """Issue slots the schedule must take on ``inputs``: x-part and h-part operands of every
    group, counted from the golden model's h (zero entries of h are not scheduled)."""
    run = golden.run(model, inputs, dump=True)
    n, t = inputs.shape[:2]
    x = h = 0
    hs = [d["h"] for d in run.layers]
    nq = [-(-la.n_hidden // lanes) for la in model.layers]
    nq_head = -(-model.n_out // lanes)
    for v in range(n):
        for s in range(t):
            for li, la in enumerate(model.layers):
                kx = la.n_in if li == 0 else int(np.count_nonzero(hs[li - 1][v, s]))
                kh = 0 if s == 0 else int(np.count_nonzero(hs[li][v, s - 1]))
                x += 4 * nq[li] * kx
                h += 4 * nq[li] * kh
            if model.is_lm or s == t - 1:
                x += nq_head * int(np.count_nonzero(hs[-1][v, s]))
    return {"x": x, "h": h}


def run_engines(tmp: Path, simulator: str, items: list[tuple[str, Model, int, np.ndarray]],
                job: dict[str, Any]) -> list[dict[str, Any]]:
    """Simulate every (name, model, lanes, inputs) in one build with ``job`` settings; check
    every output against the golden model; return the engines' stats."""
    specs = [EngineSpec(m, Options(lanes=p, prefix=f"{name}_p{p}")) for name, m, p, _ in items]
    sim = Simulation(specs, simulator, tmp / simulator)
    sim.build()
    jobs = []
    for i, (_, m, _, x) in enumerate(items):
        d = tmp / f"e{i}"
        d.mkdir(parents=True, exist_ok=True)
        vectors.write_inputs(d / "inputs.bin", m, x)
        jobs.append({"inputs": d / "inputs.bin", "outputs": d / "outputs.bin",
                     "stats": d / "stats.json", "seed": i, **job})
    stats = sim.run(jobs)
    for (name, m, p, x), j in zip(items, jobs):
        want = golden.run(m, x)
        got = vectors.read_outputs(j["outputs"], m, x.shape[0], x.shape[1])
        miss = first_mismatch(m, want, got, None)
        assert miss is None, f"{name} (P={p}, {simulator}): {miss}"
    return stats


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("lanes", LANES)
def test_random_networks_bit_exact(tmp_path: Path, simulator: str, lanes: int) -> None:
    """Every network x P on both simulators, streams with random pauses on both sides: every
    output equals golden and the schedule takes exactly the nonzero entries of h."""
    need(simulator)
    items = [(name, m, lanes, random_inputs(m, 4, 5, seed=7 + k))
             for k, (name, m) in enumerate(networks())]
    stats = run_engines(tmp_path, simulator, items,
                        {"driver": "axi", "src_pause": 0.2, "sink_pause": 0.3})
    for (name, m, p, x), st in zip(items, stats):
        want = expected_slots(m, x, p)
        got = {"x": st["engine_slots_x"], "h": st["engine_slots_h"]}
        assert got == want, f"{name} (P={p}): issue slots {got}, schedule wants {want}"
        assert st["engine_steps"] == x.shape[0] * x.shape[1]


def test_back_pressure_neither_loses_nor_duplicates(tmp_path: Path) -> None:
    """A sink that pauses most cycles and a source with gaps: every beat arrives once, in
    order, with tlast where it belongs, and nothing follows."""
    need("icarus")
    lm = random_model(111, kind="lm", n_in=3, hidden=(5,), vocab=8, shs=True)
    cl = random_model(112, n_in=2, hidden=(4,), n_out=3)
    items = [("bp_lm", lm, 3, random_inputs(lm, 5, 6, seed=1)),
             ("bp_cl", cl, 2, random_inputs(cl, 6, 3, seed=2))]
    run_engines(tmp_path, "icarus", items, {"driver": "axi", "src_pause": 0.5,
                                            "sink_pause": 0.85, "quiet_cycles": 2000})


def test_sequence_boundary_resets_state(tmp_path: Path) -> None:
    """The step after tlast starts from h = c = 0: a sequence sent again after others gives the
    same outputs, single-step sequences work, and the golden model (which starts every vector
    from reset) agrees."""
    need("icarus")
    m = random_model(125, n_in=3, hidden=(4, 3), n_out=2, shs=False)  # outputs depend on history
    lm = random_model(122, kind="lm", n_in=2, hidden=(3,), vocab=6)
    a, b = random_inputs(m, 2, 4, seed=3)
    xs = np.stack([a, b, a, a])
    toks = random_inputs(lm, 3, 1, seed=4)            # one-step sequences
    toks = np.concatenate([toks, toks[:1]])
    run_engines(tmp_path, "icarus", [("seq_cl", m, 2, xs), ("seq_lm", lm, 1, toks)],
                {"driver": "fast"})
    got = vectors.read_outputs(tmp_path / "e0" / "outputs.bin", m, 4, 4)
    assert (got[0] == got[2]).all() and (got[0] == got[3]).all() and (got[0] != got[1]).any()


@pytest.fixture
def torch_one_thread():
    """Train on one thread: a tiny model trains faster and doesn't fight parallel workers."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_demo_model_bit_exact_on_verilator(tmp_path: Path, torch_one_thread) -> None:
    """The demo's pipeline (digits, ISS, compaction, int8 quantization) on every test vector."""
    need("verilator")
    from lstmgen.commands.quantize import load_task_data, quantize_checkpoint
    from lstmgen.quant import QuantOptions, quantize_inputs
    from lstmgen.sparsity import compact
    from lstmgen.train import train_default
    from lstmgen.verify.base import verify
    from lstmgen.verify.rtl import RtlRunner

    ckpt, _ = train_default(hidden=(16, 12), epochs=12, iss_lambda=0.005, progress=False)
    small = compact(ckpt)
    data = load_task_data("classifier", "default", None, None)
    model, figures = quantize_checkpoint(small, data, QuantOptions(weight_bits=8), "digits")
    codes = quantize_inputs(model, data.eval_x)
    report = verify(model, RtlRunner(Options(lanes=4), simulator="verilator"), codes, tmp_path)
    assert report.passed, report.text()
    assert report.vectors == len(data.eval_y)
    acc = float(np.mean(report.outputs.argmax(axis=1) == data.eval_y))
    assert acc == pytest.approx(figures["golden_accuracy"])
    assert report.figures.cycles_per_step and report.figures.cycles_per_step > 0
