"""Quantize a float checkpoint into the IR: power-of-two formats from weights and calibration.

Choices (all stored in the IR, so every target inherits them):

* weights: per gate and per matrix, int8 or int16, the smallest integer part that holds the
  largest magnitude (so nothing saturates);
* inputs, cell state, head outputs: int16 (cell optionally int32) sized from the calibration
  ranges with 2× headroom for cell and outputs (they grow on longer sequences);
* h and the gates: Q1.15 (``|h| < 1``, sigmoid/tanh outputs in [-1, 1]);
* with ``act_bits=8`` (``--acts 8``): inputs (or the embedding) and h in 8 bits (h Q1.7), the
  input format again the finest that holds the range; gates, tables and cell as above;
* a QAT checkpoint fixes the calibration-derived formats (input, cell, head output) it was
  trained with (:class:`ActFormats`), so its IR computes what QAT computed;
* gate pre-activations: Q4.12, the input format of both tables (sigmoid over ±8, tanh over ±4;
  beyond that the functions are flat to 3e-4 and the lookup clamps);
* biases: at each gate's accumulator fraction, so they add exactly;
* with ``acc_bits=32`` (``--acc 32``): weight formats coarsened until every accumulator fits
  int32 (:func:`fit_accumulators`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import FormatError, UsageError
from ..fixedpoint import bits_for_bound
from ..fixedpoint import quantize as quantize_codes
from ..fixedpoint import rescale as rescale_codes
from ..fixedpoint import shift_round as shift_round_codes
from ..ir import GATES, Gate, IntTensor, Linear, LstmLayer, Model, QFormat
from .floatref import FloatNet, RangeStats, forward
from .tables import make_table

__all__ = ["ActFormats", "QuantOptions", "fit_accumulators", "format_for", "h_format",
           "input_format", "quantize_inputs", "quantize_net", "weight_format"]


@dataclass(frozen=True, slots=True)
class QuantOptions:
    """How to quantize. Impossible values raise :class:`UsageError`."""

    weight_bits: int = 16
    cell_bits: int = 16
    table_log2_entries: int = 8
    interp: bool = True
    sigmoid_range: float = 8.0
    tanh_range: float = 4.0
    act_bits: int = 16
    #: ``--acc 32``: coarsen weight formats until every accumulator fits int32 (None: the
    #: widths the formats need; see :func:`fit_accumulators`).
    acc_bits: int | None = None

    def __post_init__(self) -> None:
        if self.acc_bits not in (None, 32):
            raise UsageError(f"--acc must be 32 (or left out), got {self.acc_bits}")
        if self.weight_bits not in (8, 16):
            raise UsageError(f"--weights must be 8 or 16, got {self.weight_bits}")
        if self.act_bits not in (8, 16):
            raise UsageError(f"--acts must be 8 or 16, got {self.act_bits}")
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


@dataclass(frozen=True, slots=True)
class ActFormats:
    """Formats fixed in advance instead of taken from calibration ranges (a QAT checkpoint's):
    the classifier input (None for an LM, whose input format follows its embedding), each
    layer's cell state and the head output."""

    input_fmt: QFormat | None
    c_fmts: tuple[QFormat, ...]
    out_fmt: QFormat


def weight_format(max_abs: float, bits: int, name: str) -> QFormat:
    """Format of a weight matrix whose largest magnitude is ``max_abs`` (nothing saturates)."""
    return _format_of(name, max_abs, bits)


def input_format(max_abs: float, bits: int, name: str) -> QFormat:
    """Format of the inputs (or an LM's embedding) whose largest magnitude is ``max_abs``."""
    return _format_of(name, max_abs, bits)


def h_format(act_bits: int) -> QFormat:
    """Format of h (and of the layers' inputs above layer 0): ``|h| < 1``, Q1.(bits-1)."""
    return UNIT_FMT if act_bits == 16 else QFormat(act_bits, act_bits - 1)


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
    return _tensor(w, weight_format(float(np.abs(w).max(initial=0.0)), bits, name), name)


def quantize_net(
    net: FloatNet,
    calib: np.ndarray,
    opts: QuantOptions = QuantOptions(),
    *,
    name: str = "model",
    meta: dict | None = None,
    act_formats: ActFormats | None = None,
) -> Model:
    """Quantize ``net`` using the ranges it shows on ``calib`` (float features or token ids);
    ``act_formats`` replaces the calibration-derived input, cell and output formats."""
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
    x_fmt = input_format(float(np.abs(np.asarray(src, np.float64)).max(initial=0.0)),
                         opts.act_bits,
                         "embedding" if net.kind == "lm" else "input (calibration data)")
    if act_formats is not None:
        if len(act_formats.c_fmts) != len(net.layers):
            raise UsageError(f"fixed formats name {len(act_formats.c_fmts)} cell formats for "
                             f"{len(net.layers)} layers")
        if net.kind != "lm" and act_formats.input_fmt is not None:
            x_fmt = act_formats.input_fmt
    in_fmt = x_fmt
    layers = []
    for li, la in enumerate(net.layers):
        H = la.n_hidden
        c_fmt = _format_of(f"layer {li} cell state", stats.c[li], opts.cell_bits, headroom=2.0,
                           min_int_bits=2) if act_formats is None else act_formats.c_fmts[li]
        h_fmt = h_format(opts.act_bits)
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
        out_fmt=_format_of("head output", stats.out, 16, headroom=2.0) if act_formats is None
        else act_formats.out_fmt,
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
    model = Model(name=name, kind=net.kind, layers=tuple(layers), head=head, sigmoid=sigmoid,
                  tanh=tanh, embedding=embedding, meta=info)
    if opts.acc_bits == 32:
        model = fit_accumulators(model, net)
    return model


#: Fraction bits :func:`fit_accumulators` may drop from one weight matrix before giving up.
MAX_WEIGHT_CUT = 24


def _acc32_ok(site) -> bool:
    """An accumulator site (a gate's ``pre`` or the head's ``out`` rescale) is int32-exact: its
    worst-case bound and its rounding addend fit int32 (``plan.Rescale.fits32``)."""
    return site.fits32 and site.in_bits <= 32


def fit_accumulators(model: Model, net: FloatNet | None = None) -> Model:
    """``--acc 32``: ``model`` with weight formats coarsened until every accumulator's
    worst-case bound (:mod:`lstmgen.plan`: each gate's ``acc`` and the head's, over every code
    the input formats admit), with the rounding addend of its rescale, fits int32; so C
    accumulates in int32 (SMLAD instead of SMLALD on Cortex-M4, VMLADAVA on Helium).

    Greedy, one fraction bit at a time: for every accumulator that does not fit, the weight
    matrices whose product sets the accumulator's fraction (the finer of ``W_ih·x`` and
    ``W_hh·h``, both when tied; the head's weight) lose one fraction bit (codes halve, the
    format's step doubles), which halves the accumulator's step and so its whole bound (cutting
    the coarser product alone would only raise its alignment shift); biases follow their
    accumulator's fraction. Activation formats are kept (a bound depends on their widths, not
    their fractions). Weights are re-quantized from ``net``'s floats when given (the quantizer), else by
    a round-half-up shift of the stored codes. A model that already fits is returned as is.
    Raises :class:`FormatError` when a matrix would lose more than :data:`MAX_WEIGHT_CUT` bits.
    """
    cuts: dict[tuple, int] = {}
    for _ in range(MAX_WEIGHT_CUT * (8 * len(model.layers) + 1) + 1):
        fitted = _cut_weights(model, net, cuts) if cuts else model
        plan = fitted.plan
        more = False
        for li, lp in enumerate(plan.layers):
            for gname, site in lp.gates.items():
                if _acc32_ok(site.pre):
                    continue
                for which, shift in (("w_ih", site.acc.shift_x), ("w_hh", site.acc.shift_h)):
                    if shift == 0:  # this product's fraction is the accumulator's
                        key = (li, gname, which)
                        cuts[key] = cuts.get(key, 0) + 1
                more = True
        if not _acc32_ok(plan.head.out):
            cuts[("head",)] = cuts.get(("head",), 0) + 1
            more = True
        if not more:
            return fitted
        worst = max(cuts.values())
        if worst > MAX_WEIGHT_CUT:
            key = max(cuts, key=cuts.__getitem__)
            where = "head weight" if key == ("head",) else f"layer {key[0]} gate {key[1]} {key[2]}"
            raise FormatError(f"--acc 32: {where} would lose more than {MAX_WEIGHT_CUT} fraction "
                              "bits; this model cannot accumulate in 32 bits")
    raise FormatError("--acc 32: no int32 accumulator formats found")  # pragma: no cover


def _requantized(t: IntTensor, cut: int, src: np.ndarray | None) -> IntTensor:
    """``t`` with ``cut`` fraction bits fewer: from the float weights ``src`` when given, else
    by a round-half-up shift of the codes (both saturate to the width)."""
    fmt = QFormat(t.fmt.bits, t.fmt.frac - cut)
    if src is not None:
        return _tensor(src, fmt, t.name or "weight")
    codes = rescale_codes(np.asarray(t.values, np.int64), cut, fmt.bits)
    return IntTensor(codes, fmt, name=t.name)


def _rebias(b: IntTensor, frac: int, src: np.ndarray | None, name: str) -> IntTensor:
    """A bias at the accumulator fraction ``frac`` (<= its old one)."""
    if b.fmt.frac == frac:
        return b
    if src is not None:
        return _bias(src, frac, name)
    codes = shift_round_codes(np.asarray(b.values, np.int64), b.fmt.frac - frac)
    bits = max(16, bits_for_bound(int(np.abs(codes).max(initial=0))))
    return IntTensor(codes, QFormat(bits, frac), name=name)


def _cut_weights(model: Model, net: FloatNet | None, cuts: dict[tuple, int]) -> Model:
    """``model`` with the weight matrices named in ``cuts`` (``(layer, gate, "w_ih"|"w_hh")``
    or ``("head",)``) coarsened by that many fraction bits, biases re-aligned."""
    layers = []
    for li, la in enumerate(model.layers):
        H = la.n_hidden
        gates = {}
        for k, (gname, g) in enumerate(la.gates()):
            rows = slice(k * H, (k + 1) * H)
            fl = None if net is None else net.layers[li]
            w_ih = _requantized(g.w_ih, cuts.get((li, gname, "w_ih"), 0),
                                None if fl is None else fl.w_ih[rows]) \
                if cuts.get((li, gname, "w_ih")) else g.w_ih
            w_hh = _requantized(g.w_hh, cuts.get((li, gname, "w_hh"), 0),
                                None if fl is None else fl.w_hh[rows]) \
                if cuts.get((li, gname, "w_hh")) else g.w_hh
            acc_frac = max(w_ih.fmt.frac + la.in_fmt.frac, w_hh.fmt.frac + la.h_fmt.frac)
            bias = _rebias(g.bias, acc_frac, None if fl is None else fl.bias[rows],
                           f"layer {li} gate {gname} bias")
            gates[gname] = Gate(w_ih, w_hh, bias)
        layers.append(dataclasses.replace(la, **gates))
    hd = model.head
    head = hd
    if cuts.get(("head",)):
        w = _requantized(hd.weight, cuts[("head",)], None if net is None else net.head_w)
        head = dataclasses.replace(hd, weight=w, bias=_rebias(
            hd.bias, w.fmt.frac + hd.in_fmt.frac, None if net is None else net.head_b, "head bias"))
    return model.replace(layers=tuple(layers), head=head)


def quantize_inputs(model: Model, x: np.ndarray) -> np.ndarray:
    """Float features → input codes (round half up, saturate); token ids pass through."""
    if model.is_lm:
        return np.asarray(x, np.int64)
    return quantize_codes(x, model.input_fmt.bits, model.input_fmt.frac)
