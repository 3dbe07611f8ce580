"""Quantize a float checkpoint into the IR: power-of-two formats from weights and calibration.

Choices (all stored in the IR, so every target inherits them):

* weights: per gate and per matrix, int8 or int16, the smallest integer part that holds the
  largest magnitude (so nothing saturates);
* inputs, cell state, head outputs: int16 (cell optionally int32) sized from the calibration
  ranges with 2× headroom for cell and outputs (they grow on longer sequences);
* h and the gates: Q1.15 (``|h| < 1``, sigmoid/tanh outputs in [-1, 1]);
* gate pre-activations: Q4.12, the input format of both tables (sigmoid over ±8, tanh over ±4;
  beyond that the functions are flat to 3e-4 and the lookup clamps);
* biases: at each gate's accumulator fraction, so they add exactly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import FormatError, UsageError
from ..fixedpoint import bits_for_bound
from ..fixedpoint import quantize as quantize_codes
from ..ir import GATES, Gate, IntTensor, Linear, LstmLayer, Model, QFormat
from .floatref import FloatNet, RangeStats, forward
from .tables import make_table

__all__ = ["QuantOptions", "format_for", "quantize_inputs", "quantize_net"]


@dataclass(frozen=True, slots=True)
class QuantOptions:
    """How to quantize. Impossible values raise :class:`UsageError`."""

    weight_bits: int = 16
    cell_bits: int = 16
    table_log2_entries: int = 8
    interp: bool = True
    sigmoid_range: float = 8.0
    tanh_range: float = 4.0

    def __post_init__(self) -> None:
        if self.weight_bits not in (8, 16):
            raise UsageError(f"--weights must be 8 or 16, got {self.weight_bits}")
        if self.cell_bits not in (16, 32):
            raise UsageError(f"--cell-bits must be 16 or 32, got {self.cell_bits}")
        if not 2 <= self.table_log2_entries <= 12:
            raise UsageError("table entries must be a power of two between 4 and 4096")


#: Pre-activation format shared by both tables: ±8 in steps of 2^-12.
PRE_FMT = QFormat(16, 12)
#: Gate outputs and h: [-1, 1) in steps of 2^-15.
UNIT_FMT = QFormat(16, 15)


def format_for(max_abs: float, bits: int, headroom: float = 1.0, min_int_bits: int = -8) -> QFormat:
    """The finest ``bits``-wide format whose range holds ``max_abs * headroom``.

    >>> str(format_for(1.0, 16)), str(format_for(0.7, 16)), str(format_for(3.0, 8))
    ('Q2.14', 'Q1.15', 'Q3.5')
    """
    if not math.isfinite(max_abs):
        raise FormatError(f"cannot choose a format for a non-finite range ({max_abs})")
    v = max_abs * headroom
    int_bits = math.floor(math.log2(v)) + 2 if v > 0 else 1
    int_bits = max(int_bits, min_int_bits)
    return QFormat(bits, bits - int_bits)


def _tensor(values: np.ndarray, fmt: QFormat, name: str) -> IntTensor:
    return IntTensor(quantize_codes(values, fmt.bits, fmt.frac), fmt, name=name)


def _bias(values: np.ndarray, frac: int, name: str) -> IntTensor:
    codes = quantize_codes(values, 62, frac)
    bits = max(16, bits_for_bound(int(np.abs(codes).max(initial=0))))
    return IntTensor(codes, QFormat(bits, frac), name=name)


def _format_of(what: str, max_abs: float, bits: int, **kw) -> QFormat:
    """:func:`format_for`, with an error that names the tensor and its range."""
    try:
        return format_for(max_abs, bits, **kw)
    except FormatError as exc:
        raise FormatError(
            f"{what}: no {bits}-bit fixed-point format holds its range (max |value| "
            f"{max_abs:.3g}): {exc}"
        ) from None


def _weights(w: np.ndarray, bits: int, name: str) -> IntTensor:
    return _tensor(w, _format_of(name, float(np.abs(w).max(initial=0.0)), bits), name)


def quantize_net(
    net: FloatNet,
    calib: np.ndarray,
    opts: QuantOptions = QuantOptions(),
    *,
    name: str = "model",
    meta: dict | None = None,
) -> Model:
    """Quantize ``net`` using the ranges it shows on ``calib`` (float features or token ids)."""
    if not re.match(r"^[a-z][a-z0-9_]*$", name):
        raise UsageError(f"model name {name!r} must be a C identifier ([a-z][a-z0-9_]*)")
    if len(name) > 32:
        raise UsageError(f"model name {name!r} has {len(name)} characters; the limit is 32")
    for li, la in enumerate(net.layers):
        for arr, what in ((la.w_ih, "weight_ih"), (la.w_hh, "weight_hh"), (la.bias, "bias")):
            if not np.all(np.isfinite(arr)):
                raise FormatError(f"layer {li} {what}: NaN or Inf weights cannot be quantized")
    if not (np.all(np.isfinite(net.head_w)) and np.all(np.isfinite(net.head_b))):
        raise FormatError("head: NaN or Inf weights cannot be quantized")
    stats = RangeStats()
    forward(net, calib, stats)
    sigmoid = make_table("sigmoid", PRE_FMT, UNIT_FMT, log2_entries=opts.table_log2_entries,
                         in_range=opts.sigmoid_range, interp=opts.interp)
    tanh = make_table("tanh", PRE_FMT, UNIT_FMT, log2_entries=opts.table_log2_entries,
                      in_range=opts.tanh_range, interp=opts.interp)
    src = net.embedding if net.kind == "lm" else calib
    x_fmt = _format_of("embedding" if net.kind == "lm" else "input (calibration data)",
                       float(np.abs(np.asarray(src, np.float64)).max(initial=0.0)), 16)
    in_fmt = x_fmt
    layers = []
    for li, la in enumerate(net.layers):
        H = la.n_hidden
        c_fmt = _format_of(f"layer {li} cell state", stats.c[li], opts.cell_bits, headroom=2.0,
                           min_int_bits=2)
        h_fmt = UNIT_FMT
        gates = {}
        for k, gname in enumerate(GATES):
            rows = slice(k * H, (k + 1) * H)
            w_ih = _weights(la.w_ih[rows], opts.weight_bits, f"layer {li} gate {gname} w_ih")
            w_hh = _weights(la.w_hh[rows], opts.weight_bits, f"layer {li} gate {gname} w_hh")
            acc_frac = max(w_ih.fmt.frac + in_fmt.frac, w_hh.fmt.frac + h_fmt.frac)
            gates[gname] = Gate(w_ih, w_hh, _bias(la.bias[rows], acc_frac, f"layer {li} gate {gname} bias"))
        thr = None
        if la.o_threshold is not None:
            thr = int(quantize_codes(la.o_threshold, UNIT_FMT.bits, UNIT_FMT.frac))
        layers.append(LstmLayer(in_fmt=in_fmt, c_fmt=c_fmt, h_fmt=h_fmt, o_threshold=thr, **gates))
        in_fmt = h_fmt
    head_w = _weights(net.head_w, opts.weight_bits, "head weight")
    head = Linear(
        weight=head_w,
        bias=_bias(net.head_b, head_w.fmt.frac + in_fmt.frac, "head bias"),
        in_fmt=in_fmt,
        out_fmt=_format_of("head output", stats.out, 16, headroom=2.0),
    )
    embedding = None
    if net.kind == "lm":
        assert net.embedding is not None
        embedding = _tensor(net.embedding, x_fmt, "embedding")
    info = dict(meta or {})
    info["calibration"] = {
        "sequences": int(np.asarray(calib).shape[0]),
        "max_abs_input": stats.x,
        "max_abs_c": stats.c,
        "max_abs_out": stats.out,
    }
    return Model(name=name, kind=net.kind, layers=tuple(layers), head=head, sigmoid=sigmoid,
                 tanh=tanh, embedding=embedding, meta=info)


def quantize_inputs(model: Model, x: np.ndarray) -> np.ndarray:
    """Float features → input codes (round half up, saturate); token ids pass through."""
    if model.is_lm:
        return np.asarray(x, np.int64)
    return quantize_codes(x, model.input_fmt.bits, model.input_fmt.frac)
