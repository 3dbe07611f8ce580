"""The quantizer's promise for the cell state and the head output: on the calibration data, the
chosen format holds the observed maximum with 2x headroom, it is the finest format that does
(above the documented floor of integer bits), and golden run on that data never puts a code at
the saturation limits. A format one bit too small (saturation in deployment) fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from lstmgen import golden
from lstmgen.ir import QFormat
from lstmgen.quant import QuantOptions, quantize_inputs, quantize_net
from lstmgen.quant.floatref import FloatLayer, FloatNet, RangeStats, forward

pytestmark = pytest.mark.unit

HEADROOM = 2.0
#: The quantizer's floors of integer bits (sign included): cell state, head output.
CELL_MIN_INT_BITS, OUT_MIN_INT_BITS = 2, -8


def _net(seed: int, kind: str, n_in: int, hidden: tuple[int, ...], n_out: int,
         out_scale: float) -> FloatNet:
    """Input and forget gates biased open so the cell state grows well past 1 over a sequence."""
    rng = np.random.default_rng(seed)
    layers, n_x = [], n_in
    for H in hidden:
        bias = rng.normal(0.0, 0.3, 4 * H)
        bias[:2 * H] += 4.0  # i, f open
        bias[2 * H:3 * H] += rng.choice([-2.0, 2.0], H)  # g pushed to one sign per unit
        layers.append(FloatLayer(w_ih=rng.normal(0.0, 0.5, (4 * H, n_x)),
                                 w_hh=rng.normal(0.0, 0.3, (4 * H, H)), bias=bias))
        n_x = H
    head_w = rng.normal(0.0, out_scale, (n_out, n_x))
    head_b = rng.normal(0.0, out_scale / 4, n_out)
    emb = rng.normal(0.0, 1.0, (n_out, n_in)) if kind == "lm" else None
    return FloatNet(kind, tuple(layers), head_w, head_b, emb)


def _int_bits(fmt: QFormat) -> int:
    return fmt.bits - fmt.frac


def _check_format(what: str, fmt: QFormat, observed: float, floor: int) -> None:
    need = HEADROOM * observed
    top = 2.0 ** (_int_bits(fmt) - 1)  # the format holds [-top, top)
    assert need < top, f"{what}: {fmt} does not hold {HEADROOM}x the observed {observed:.4g}"
    assert _int_bits(fmt) == floor or need >= top / 2, (
        f"{what}: {fmt} is not the finest format holding {need:.4g}")


CASES = [
    # (seed, kind, n_in, hidden, n_out, out_scale, cell_bits, steps)
    (0, "classifier", 3, (4,), 3, 3.0, 16, 12),
    (1, "classifier", 4, (5, 3), 2, 0.05, 32, 20),
    (2, "lm", 3, (4,), 6, 1.0, 16, 9),
]


@pytest.mark.parametrize("seed,kind,n_in,hidden,n_out,out_scale,cell_bits,steps", CASES,
                         ids=["classifier-cell16", "classifier-2layers-cell32", "lm-cell16"])
def test_cell_and_output_formats_hold_calibration_with_headroom(
        seed, kind, n_in, hidden, n_out, out_scale, cell_bits, steps):
    net = _net(seed, kind, n_in, hidden, n_out, out_scale)
    rng = np.random.default_rng(seed + 100)
    if kind == "lm":
        calib = rng.integers(0, n_out, size=(6, steps))
    else:
        calib = rng.normal(0.5, 1.0, size=(6, steps, n_in))
    model = quantize_net(net, calib, QuantOptions(cell_bits=cell_bits), name="q")
    stats = RangeStats()
    forward(net, calib, stats)  # the observed maxima, measured here independently

    res = golden.run(model, quantize_inputs(model, calib), dump=True)
    for li, la in enumerate(model.layers):
        assert la.c_fmt.bits == cell_bits
        assert stats.c[li] >= 1.0  # above the floor: a format one bit smaller is a real choice
        _check_format(f"layer {li} cell", la.c_fmt, stats.c[li], CELL_MIN_INT_BITS)
        c = res.layers[li]["c"]
        assert la.c_fmt.min_code < c.min() and c.max() < la.c_fmt.max_code, f"layer {li} cell"
    out = model.head.out_fmt
    assert _int_bits(out) > OUT_MIN_INT_BITS
    _check_format("head output", out, stats.out, OUT_MIN_INT_BITS)
    y = res.outputs
    assert out.min_code < y.min() and y.max() < out.max_code, "head output saturates"
