"""Saturation at both ends of every site, and the SHS compare hit with equality, on host C and
Cortex-M4 (QEMU), against golden.

A random network almost never clamps (its pre-activations sit mid-table), so a wrong bound in a
saturation helper survives every bit-exact comparison. The network here is built so that golden
itself clamps *every* rescale site (gate pre-activations, cell, tanh input, h, head output) below
the minimum and above the maximum of its width, and the tests assert that it does, so they
cannot silently stop exercising the helpers:

* weights all at their format's extremes, inputs at the input format's extremes (half the
  vectors; the other half mid-range, so the table interpolation rounds);
* layer 0: int16 weights, 64-bit accumulators, 32-bit cell Q1.31, h Q0.16: gate ``i`` and the
  cell go through the int64 ``lg_rescale`` (``lg_saturate`` to 16 and 32 bits), the other gates
  and the tanh input through ``lg_rescale64_32`` (``lg_saturate32``: ``__ssat(x, 16)`` on M4);
* layer 1: int8 weights, 32-bit accumulators, 16-bit cell, 8-bit h Q0.8; head output 8-bit:
  ``lg_rescale32`` to 16 and to 8 bits (``__ssat(x, 8)`` on M4);
* both tables are 2-entry linear ramps over the whole 16-bit input range (shift 16): their
  interpolation product needs int64 (``lg_table_lookup``), and they pass both signs on, so the
  cell and h are pushed to both ends.

The SHS test sets each layer's output-gate threshold to a code golden's o gate actually takes
(at step 0, where the threshold cannot have changed it yet), and checks that golden with the
threshold one lower differs: the ``<=`` of the C compare is hit with equality.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from lstmgen import fixedpoint, golden
from lstmgen.ir import GATES, ActTable, Gate, IntTensor, Linear, LstmLayer, Model, QFormat
from lstmgen.targets.c import CTarget, render
from lstmgen.testing import random_inputs, random_model
from lstmgen.verify.base import first_mismatch
from lstmgen.verify.cpu import CpuRunner
from lstmgen.verify.qemu import QemuRunner

Q = QFormat

#: The targets every test here runs on: host C and Cortex-M4 (DSP kernels, SSAT) under QEMU.
TARGETS = [
    pytest.param("generic", marks=pytest.mark.cc, id="host"),
    pytest.param("cortex-m4", marks=pytest.mark.qemu, id="cortex-m4"),
]

#: The rescale calls of one golden layer step, in golden's order (see lstmgen.golden).
LAYER_SITES = ("pre i", "pre f", "pre g", "pre o", "cell", "tanh_in", "h")


def _extremes(rng: np.random.Generator, shape: tuple[int, ...], bits: int) -> np.ndarray:
    return rng.choice([-(1 << (bits - 1)), (1 << (bits - 1)) - 1], size=shape).astype(np.int64)


def _ramp(func: str, frac: int) -> ActTable:
    """A linear table over every 16-bit input code: 2 entries, shift 16, interpolated."""
    return ActTable(func=func, in_fmt=Q(16, frac), lo=-32768, shift=16, interp=True,
                    values=IntTensor(np.array([-32768, 32767]), Q(16, 15), name=f"table {func}"))


#: Per layer: weight width, weight fraction per gate, cell and h formats, hidden size.
_LAYERS = (
    {"bits": 16, "frac": {"i": 10, "f": 26, "g": 20, "o": 18}, "c": Q(32, 31), "h": Q(16, 16),
     "hidden": 3},
    {"bits": 8, "frac": {"i": 7, "f": 12, "g": 9, "o": 10}, "c": Q(16, 15), "h": Q(8, 8),
     "hidden": 2},
)


def saturating_model(seed: int = 0) -> Model:
    """The network described in the module docstring (3 inputs, 3 and 2 units, 3 outputs)."""
    rng = np.random.default_rng(seed)
    x_fmt, n_x = Q(16, 15), 3
    layers = []
    for spec in _LAYERS:
        H, bits = spec["hidden"], spec["bits"]
        gates = {}
        for g in GATES:
            w_fmt = Q(bits, spec["frac"][g])
            acc_frac = max(w_fmt.frac + x_fmt.frac, w_fmt.frac + spec["h"].frac)
            gates[g] = Gate(
                IntTensor(_extremes(rng, (H, n_x), bits), w_fmt),
                IntTensor(_extremes(rng, (H, H), bits), w_fmt),
                IntTensor(rng.integers(-(1 << 20), 1 << 20, size=H), Q(32, acc_frac)),
            )
        layers.append(LstmLayer(in_fmt=x_fmt, c_fmt=spec["c"], h_fmt=spec["h"], **gates))
        x_fmt, n_x = spec["h"], H
    head = Linear(IntTensor(_extremes(rng, (3, n_x), 16), Q(16, 14)),
                  IntTensor(rng.integers(-1000, 1000, size=3), Q(32, 14 + x_fmt.frac)),
                  in_fmt=x_fmt, out_fmt=Q(8, 12))
    return Model(name="sat", kind="classifier", layers=tuple(layers), head=head,
                 sigmoid=_ramp("sigmoid", 26), tanh=_ramp("tanh", 28))


def saturating_inputs(model: Model, n: int = 8, steps: int = 5, seed: int = 0) -> np.ndarray:
    """Half the vectors at the input format's extremes, half mid-range."""
    rng = np.random.default_rng(seed)
    f = model.input_fmt
    x = rng.choice([f.min_code, f.max_code], size=(n, steps, model.n_in)).astype(np.float64)
    x[n // 2:] = np.rint(rng.normal(0.0, 2.0 ** (f.bits - 4), size=(n - n // 2, steps, model.n_in)))
    return np.clip(x, f.min_code, f.max_code).astype(np.int64)


def golden_site_ranges(model: Model, inputs: np.ndarray) -> dict[str, tuple[int, int, int]]:
    """``site -> (lowest, highest value before saturation, width)`` over a golden run, recorded
    by wrapping golden's ``rescale`` (its calls per layer step are in :data:`LAYER_SITES`
    order; the head makes one)."""
    seen: dict[str, list[tuple[int, int, int]]] = {}
    frames: list[list[tuple[np.ndarray, int, int]]] = []
    rescale, layer_step, head = golden.rescale, golden.layer_step, golden.head

    def rec_rescale(x, s, bits):
        frames[-1].append((fixedpoint.shift_round(x, s), s, bits))
        return rescale(x, s, bits)

    def collect(names: tuple[str, ...], calls) -> None:
        assert len(calls) == len(names), "golden's rescale sites changed; update LAYER_SITES"
        for name, (v, _, bits) in zip(names, calls):
            seen.setdefault(name, []).append((int(v.min()), int(v.max()), bits))

    def rec_layer_step(m, li, *a, **kw):
        frames.append([])
        try:
            return layer_step(m, li, *a, **kw)
        finally:
            collect(tuple(f"layer {li} {s}" for s in LAYER_SITES), frames.pop())

    def rec_head(*a, **kw):
        frames.append([])
        try:
            return head(*a, **kw)
        finally:
            collect(("head out",), frames.pop())

    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(golden, "rescale", rec_rescale)
        mp.setattr(golden, "layer_step", rec_layer_step)
        mp.setattr(golden, "head", rec_head)
        golden.run(model, inputs)
    finally:
        mp.undo()
    return {k: (min(v[0] for v in vs), max(v[1] for v in vs), vs[0][2]) for k, vs in seen.items()}


def _compare(model: Model, inputs: np.ndarray, cpu: str, workdir: Path) -> None:
    """Run the C target for ``cpu`` with dumps; outputs and every layer's h and c must equal
    golden's (the first mismatch is named)."""
    runner = CpuRunner() if cpu == "generic" else QemuRunner(cpu=cpu)
    got = runner.run(model, inputs, workdir, dump=True)
    want = golden.run(model, inputs, dump=True)
    assert got.dump is not None
    miss = first_mismatch(model, want, got.outputs, got.dump)
    assert miss is None, f"{cpu}: {miss}"
    np.testing.assert_array_equal(got.outputs, want.outputs)


# --------------------------------------------------------------------------------------------
# Saturation


@pytest.mark.unit
def test_golden_clamps_every_site_at_both_ends():
    """The network keeps exercising what it is for: every site clamps below and above in golden,
    and the generated code routes the sites through each saturation helper under test."""
    model = saturating_model()
    ranges = golden_site_ranges(model, saturating_inputs(model))
    want = {f"layer {li} {s}" for li in range(len(model.layers)) for s in LAYER_SITES}
    assert set(ranges) == want | {"head out"}
    for site, (lo, hi, bits) in ranges.items():
        assert lo < fixedpoint.code_min(bits), f"{site}: never below {bits}-bit minimum ({lo})"
        assert hi > fixedpoint.code_max(bits), f"{site}: never above {bits}-bit maximum ({hi})"
    assert {bits for _, _, bits in ranges.values()} == {8, 16, 32}

    # Which C helper (and width) each site uses: the int64 saturation (16 and 32 bits), the
    # int32 one to 16 and 8 bits (SSAT on M4), the int64 interpolated lookup.
    code = render(model, CTarget(cpu="cortex-m4"))["sat.c"]
    calls = set(re.findall(r"\b(lg_rescale(?:64_32|32)?)\(.*?, (-?\d+), (\d+)\)\)?;?$", code,
                           re.MULTILINE))
    helpers = {(h, int(bits)) for h, _, bits in calls}
    assert {("lg_rescale", 16), ("lg_rescale", 32)} <= helpers, helpers
    assert {b for h, b in helpers if h != "lg_rescale"} >= {8, 16}, helpers
    assert "lg_table_lookup(&sat_sigmoid" in code and "lg_table_lookup(&sat_tanh" in code
    assert "lg_table_lookup32" not in code


@pytest.mark.unit
def test_golden_interpolates_with_rounding_on_the_ramp_tables():
    """The int64 interpolation runs between entries with a rounding remainder >= 1/2 (so a
    wrong shift or a truncating shift in ``lg_table_lookup`` changes a result)."""
    model = saturating_model()
    res = golden.run(model, saturating_inputs(model), dump=True)
    pre = np.concatenate([d["pre"].ravel() for d in res.layers])
    r = (pre + 32768) & 0xFFFF
    rem = (65535 * r) & 0xFFFF  # the part shift_round(·, 16) rounds
    assert np.count_nonzero((r > 0) & (rem >= 0x8000)) > 10
    assert np.count_nonzero((r > 0) & (rem < 0x8000)) > 10


@pytest.mark.parametrize("cpu", TARGETS)
def test_saturating_network_is_bit_exact(tmp_path, cpu):
    model = saturating_model()
    _compare(model, saturating_inputs(model), cpu, tmp_path)


# --------------------------------------------------------------------------------------------
# SHS threshold equal to a gate code


def _o_step0(model: Model, inputs: np.ndarray, li: int) -> np.ndarray:
    """Layer ``li``'s o gate codes at step 0 (before any threshold of layer ``li`` acts)."""
    la = model.layers[li]
    free = model.replace(layers=model.layers[:li] + (dataclasses.replace(la, o_threshold=None),)
                         + model.layers[li + 1:])
    return golden.run(free, inputs[:, :1], dump=True).layers[li]["gate"][:, 0, 3, :].ravel()


def _with_threshold(model: Model, li: int, thr: int) -> Model:
    layers = list(model.layers)
    layers[li] = dataclasses.replace(layers[li], o_threshold=thr)
    return model.replace(layers=tuple(layers))


def _dumps_equal(a: golden.RunResult, b: golden.RunResult) -> bool:
    return all(np.array_equal(x[k], y[k]) for x, y in zip(a.layers, b.layers) for k in ("h", "c"))


def shs_model_at_gate_codes() -> tuple[Model, np.ndarray]:
    """A two-layer SHS network whose thresholds are o codes golden produces, each one mattering:
    golden with that threshold and with the threshold one lower differ."""
    model = random_model(61, n_in=5, hidden=(6, 5), weight_bits=16, shs=False, name="shs")
    inputs = random_inputs(model, 6, 5, seed=2)
    for li in range(len(model.layers)):
        codes, counts = np.unique(_o_step0(model, inputs, li), return_counts=True)
        for code in codes[np.argsort(-counts, kind="stable")]:
            at = _with_threshold(model, li, int(code))
            below = _with_threshold(model, li, int(code) - 1)
            if 0 < code and not _dumps_equal(golden.run(at, inputs, dump=True),
                                             golden.run(below, inputs, dump=True)):
                model = at
                break
        else:
            raise AssertionError(f"layer {li}: no o code at step 0 whose threshold matters")
    return model, inputs


@pytest.mark.unit
def test_shs_thresholds_are_gate_codes_golden_produces():
    model, inputs = shs_model_at_gate_codes()
    for li, la in enumerate(model.layers):
        assert la.o_threshold is not None
        assert la.o_threshold in _o_step0(model, inputs, li)  # the compare meets equality
        lower = _with_threshold(model, li, la.o_threshold - 1)
        assert not _dumps_equal(golden.run(model, inputs, dump=True),
                                golden.run(lower, inputs, dump=True))


@pytest.mark.parametrize("cpu", TARGETS)
def test_shs_threshold_at_a_gate_code_is_bit_exact(tmp_path, cpu):
    model, inputs = shs_model_at_gate_codes()
    _compare(model, inputs, cpu, tmp_path)
