"""The arithmetic plan: every arithmetic site of an IR with its worst-case bound and minimal width.

Derived once from a :class:`~lstmgen.ir.Model` by :func:`derive` and frozen. It is the only
place where lstmgen proves how wide an intermediate can get; back ends compute nothing
numerical of their own and read the plan instead: the C target maps a site to a helper and to
``int32_t``/``int64_t``, HLS to ``ap_int<W>``, RTL to a signal width. A proof copied into a
second back end is where a bit-exactness bug hides.

Sites of layer ``l`` and gate ``G`` (the golden model's names, see :mod:`lstmgen.golden`)::

    mv_x[G]   = W_ih_G · x                       MatVec    (before the alignment shift)
    mv_h[G]   = W_hh_G · h                       MatVec
    acc[G]    = (mv_x << shift_x) + (mv_h << shift_h) + b_G      Accumulator
    pre[G]    = rescale(acc[G], ...)             Rescale   → table input
    gate[G]   = table(pre[G])                    Lookup
    cell      = (f·c << s_fc) + (i·g << s_ig)    CellSite  (with its rescale to c)
    tanh_in   = rescale(c, ...)                  Rescale   → tanh input
    h         = rescale(o · tanh(c), ...)        Rescale   (``h.in_bound`` = the product's bound)

and of the head: ``mv`` (W·h), ``acc`` (+ bias) and ``out`` (rescale to the output format).

Every bound is a worst case over *every* code the inputs' formats admit (not over calibration
data), computed from the stored weights; a width is ``bits_for_bound(bound)``, the narrowest
signed integer holding ``[-bound, bound]``. Tests run the golden model with every intermediate
recorded and check that each observed value lies within its site's bound.

>>> from lstmgen.testing import random_model
>>> p = derive(random_model(0, hidden=(3,)))
>>> p.layers[0].acc_bits == max(s.acc.bits for s in p.layers[0].gates.values())
True
>>> p.layers[0].gates["i"].pre.out_bits
16
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np

from .fixedpoint import bits_for_bound

__all__ = [
    "INT32_MAX",
    "Accumulator",
    "CellSite",
    "FusedCell",
    "GateSites",
    "HeadPlan",
    "LayerPlan",
    "Lookup",
    "MatVec",
    "Plan",
    "Rescale",
    "SoftmaxSites",
    "TlstmGateSites",
    "TlstmPlan",
    "derive",
    "derive_tlstm",
    "fits32",
]

INT32_MAX = (1 << 31) - 1
INT32_MIN = -(1 << 31)


def fits32(bound: int, shift: int) -> bool:
    """True when ``shift_round(x, shift)`` computed in int32 is exact for every ``|x| <= bound``.

    For a right shift (``shift > 0``) the operand and its rounding addend ``2^(shift-1)`` must
    stay within int32 and ``shift <= 31``; for a left shift the shifted value must, with
    ``-shift <= 30`` (``lg_shift_round32``'s precondition).

    >>> fits32(INT32_MAX - (1 << 14), 15), fits32(INT32_MAX - (1 << 14) + 1, 15)
    (True, False)
    >>> fits32(1 << 20, -10), fits32(1 << 21, -10)
    (True, False)
    """
    if bound > INT32_MAX:
        return False
    if shift > 0:
        return shift <= 31 and bound + (1 << (shift - 1)) <= INT32_MAX
    return -shift <= 30 and bound << -shift <= INT32_MAX


def _shifted(bound: int, shift: int) -> tuple[int, int]:
    """``(lo, hi)`` of ``shift_round(x, shift)`` over ``|x| <= bound`` (monotone in x)."""
    if shift > 0:
        half = 1 << (shift - 1)
        return (-bound + half) >> shift, (bound + half) >> shift
    return -bound << -shift, bound << -shift


@dataclass(frozen=True, slots=True)
class MatVec:
    """``Σ_k W[r][k] · v[k]`` for every row ``r``: ``bound`` is the largest ``|value|`` any row
    reaches for any input codes (``max_r Σ_k |W[r][k]| · max|v|``)."""

    name: str
    rows: int
    cols: int
    weight_bits: int
    in_bits: int
    bound: int

    @property
    def bits(self) -> int:
        """Minimal signed width of the sum (and of every partial sum: each is bounded too)."""
        return bits_for_bound(self.bound)

    @property
    def product_bits(self) -> int:
        """Width of one product ``W[r][k] · v[k]``."""
        return bits_for_bound((1 << (self.weight_bits - 1)) * (1 << (self.in_bits - 1)))


@dataclass(frozen=True, slots=True)
class Accumulator:
    """A gate's (or the head's) pre-activation sum ``(mv_x << shift_x) + (mv_h << shift_h) + b``.

    ``bound`` is the largest ``|value|`` over every row, with the bias included; any partial sum
    (in any order of summation) is bounded by it too, since every term's magnitude counts.
    """

    name: str
    bound: int
    shift_x: int = 0
    shift_h: int = 0

    @property
    def bits(self) -> int:
        return bits_for_bound(self.bound)


@dataclass(frozen=True, slots=True)
class Rescale:
    """``rescale(x, shift, out_bits)`` of an operand bounded by ``in_bound``.

    ``shift > 0`` shifts right rounding half up, ``shift <= 0`` left exactly; then saturation
    to ``out_bits``. ``round_bits`` is the width of the operand plus its rounding addend (what
    an exact-width adder needs); ``out_bound`` bounds the result after saturation.
    """

    name: str
    in_bound: int
    shift: int
    out_bits: int

    @property
    def in_bits(self) -> int:
        return bits_for_bound(self.in_bound)

    @property
    def round_bits(self) -> int:
        """Width holding the operand with its rounding addend (or its left-shifted value)."""
        lo, hi = (-self.in_bound, self.in_bound + (1 << (self.shift - 1))) if self.shift > 0 \
            else _shifted(self.in_bound, self.shift)
        return bits_for_bound(max(-lo, hi))

    @property
    def shifted_range(self) -> tuple[int, int]:
        """``(lo, hi)`` of the shifted value before saturation."""
        return _shifted(self.in_bound, self.shift)

    @property
    def out_bound(self) -> int:
        lo, hi = self.shifted_range
        return min(max(-lo, hi), 1 << (self.out_bits - 1))

    @property
    def saturates(self) -> bool:
        """False when saturation provably never clamps (the shifted range fits ``out_bits``)."""
        lo, hi = self.shifted_range
        return lo < -(1 << (self.out_bits - 1)) or hi > (1 << (self.out_bits - 1)) - 1

    @property
    def fits32(self) -> bool:
        """The whole rescale is exact in int32 arithmetic (see :func:`fits32`)."""
        return self.out_bits <= 32 and fits32(self.in_bound, self.shift)

    @property
    def result_fits32(self) -> bool:
        """The shifted value (before saturation) lies in int32 range although the operand may
        not: a wide shift and round, then a 32-bit saturation, is exact."""
        if self.out_bits > 32 or self.shift <= 0:
            return False
        lo, hi = self.shifted_range
        return INT32_MIN <= lo and hi <= INT32_MAX


@dataclass(frozen=True, slots=True)
class Lookup:
    """A table lookup; ``interp_bound`` bounds the interpolation product plus its rounding addend
    ``|t[k+1] - t[k]| · (2^shift - 1) + 2^(shift-1)`` (0 without interpolation)."""

    func: Literal["sigmoid", "tanh"]
    entries: int
    shift: int
    interp: bool
    interp_bound: int
    out_bits: int

    @property
    def interp_bits(self) -> int:
        return bits_for_bound(self.interp_bound)

    @property
    def fits32(self) -> bool:
        """The interpolation is exact in int32 (always true without interpolation)."""
        return self.interp_bound <= INT32_MAX


@dataclass(frozen=True, slots=True)
class FusedCell:
    """An exact narrower form of the cell rescale, for when one product needs no shift.

    With ``k = max(s_fc, s_ig) > 0`` (the other shift is 0) and ``s_c > k``, write the
    unshifted product ``T0 = 2^k·q + r`` (``q = T0 >> k``, an arithmetic shift, ``0 <= r <
    2^k``); then ``floor((2^k·T1 + T0 + 2^(s_c-1)) / 2^s_c) = floor((2^k·(T1 + q +
    2^(s_c-k-1)) + r) / 2^s_c) = shift_round(T1 + q, s_c - k)``. So ``rescale(T1 + (T0 >> k),
    s_c - k, c.bits)`` is the same number with a smaller operand. ``shifted`` names the product
    that carries the shift ``k`` (``"fc"`` or ``"ig"``); ``rescale`` is the narrower rescale.
    (``k = 0`` is the plain sum with both shifts 0.)
    """

    k: int
    shifted: Literal["fc", "ig"]
    rescale: Rescale

    @property
    def fits32(self) -> bool:
        return self.rescale.fits32


@dataclass(frozen=True, slots=True)
class CellSite:
    """``c' = rescale((f·c << s_fc) + (i·g << s_ig), s_c, c.bits)``.

    ``fc_bound``/``ig_bound`` bound the two products (over every code of their formats),
    ``sum_bound`` the aligned sum; ``rescale`` is the rescale of that sum; ``fused`` an exact
    narrower form (or None), see :class:`FusedCell`.
    """

    fc_bound: int
    ig_bound: int
    s_fc: int
    s_ig: int
    rescale: Rescale
    fused: FusedCell | None

    @property
    def sum_bound(self) -> int:
        return self.rescale.in_bound

    @property
    def sum_bits(self) -> int:
        return self.rescale.in_bits

    @property
    def fc_bits(self) -> int:
        return bits_for_bound(self.fc_bound)

    @property
    def ig_bits(self) -> int:
        return bits_for_bound(self.ig_bound)


@dataclass(frozen=True, slots=True)
class GateSites:
    """The sites of one gate of one layer."""

    gate: Literal["i", "f", "g", "o"]
    mv_x: MatVec
    mv_h: MatVec
    acc: Accumulator
    pre: Rescale
    lookup: Lookup


@dataclass(frozen=True, slots=True)
class LayerPlan:
    """Every site of one layer. ``acc_bits`` is the widest gate accumulator (one accumulator
    type per layer is what a C target declares); ``h_product_bound`` bounds ``o · tanh(c)``."""

    index: int
    n_in: int
    n_hidden: int
    gates: Mapping[str, GateSites]
    cell: CellSite
    tanh_in: Rescale
    h: Rescale
    o_threshold: int | None
    o_always_zero: bool

    @property
    def acc_bound(self) -> int:
        return max(s.acc.bound for s in self.gates.values())

    @property
    def acc_bits(self) -> int:
        return bits_for_bound(self.acc_bound)

    @property
    def h_product_bound(self) -> int:
        return self.h.in_bound


@dataclass(frozen=True, slots=True)
class HeadPlan:
    """The head: ``mv`` = W·h, ``acc`` = mv + bias, ``out`` = its rescale to the output format."""

    mv: MatVec
    acc: Accumulator
    out: Rescale


@dataclass(frozen=True, slots=True)
class Plan:
    """The arithmetic plan of a model: one :class:`LayerPlan` per layer and the head."""

    layers: tuple[LayerPlan, ...]
    head: HeadPlan

    def sites(self):
        """Yield ``(name, site)`` for every site (for checks that go over all of them)."""
        for la in self.layers:
            for g, s in la.gates.items():
                yield f"layer {la.index} gate {g} mv_x", s.mv_x
                yield f"layer {la.index} gate {g} mv_h", s.mv_h
                yield f"layer {la.index} gate {g} acc", s.acc
                yield f"layer {la.index} gate {g} pre", s.pre
                yield f"layer {la.index} gate {g} lookup", s.lookup
            yield f"layer {la.index} cell", la.cell
            yield f"layer {la.index} tanh_in", la.tanh_in
            yield f"layer {la.index} h", la.h
        yield "head mv", self.head.mv
        yield "head acc", self.head.acc
        yield "head out", self.head.out


# --------------------------------------------------------------------------------------------
# Derivation


def _row_abs_sum(values: np.ndarray) -> np.ndarray:
    """``Σ_k |W[r][k]|`` per row, as exact Python ints."""
    if values.size == 0:
        return np.zeros(values.shape[0], dtype=object)
    return np.abs(values).astype(object).sum(axis=1)


def _matvec(name: str, w, in_fmt) -> MatVec:
    rows = _row_abs_sum(w.values)
    bound = max((int(r) for r in rows), default=0) * in_fmt.max_abs_code
    return MatVec(name, int(w.values.shape[0]), int(w.values.shape[1]), w.fmt.bits, in_fmt.bits, bound)


def _lookup(table) -> Lookup:
    interp_bound = 0
    if table.interp and table.shift > 0:
        v = table.values.values.astype(np.int64)
        max_diff = int(np.abs(np.diff(v)).max(initial=0))
        interp_bound = max_diff * ((1 << table.shift) - 1) + (1 << (table.shift - 1))
    return Lookup(table.func, table.n, table.shift, bool(table.interp), interp_bound,
                  table.out_fmt.bits)


def _gate(model, la, li: int, name: str) -> GateSites:
    g = getattr(la, name)
    table = model.tanh if name == "g" else model.sigmoid
    w = f"layer {li} gate {name}"
    mv_x = _matvec(f"{w} mv_x", g.w_ih, la.in_fmt)
    mv_h = _matvec(f"{w} mv_h", g.w_hh, la.h_fmt)
    sx, sh = la.shift_x(name), la.shift_h(name)
    rx, rh = _row_abs_sum(g.w_ih.values), _row_abs_sum(g.w_hh.values)
    bound = max(
        ((int(a) * la.in_fmt.max_abs_code << sx) + (int(b) * la.h_fmt.max_abs_code << sh) + abs(int(c))
         for a, b, c in zip(rx, rh, g.bias.values)),
        default=0,
    )
    acc = Accumulator(f"{w} acc", bound, sx, sh)
    pre = Rescale(f"{w} pre", bound, la.acc_frac(name) - table.in_fmt.frac, table.in_fmt.bits)
    return GateSites(name, mv_x, mv_h, acc, pre, _lookup(table))  # type: ignore[arg-type]


def _cell(model, la, li: int) -> CellSite:
    s_fc, s_ig, cell_frac = model.cell_shifts(la)
    s_c = cell_frac - la.c_fmt.frac
    sb, tb = model.sigmoid.out_fmt.bits, model.tanh.out_fmt.bits
    fc = (1 << (sb - 1)) * (1 << (la.c_fmt.bits - 1))
    ig = (1 << (sb - 1)) * (1 << (tb - 1))
    w = f"layer {li} cell"
    rescale = Rescale(w, (fc << s_fc) + (ig << s_ig), s_c, la.c_fmt.bits)
    fused = None
    k = max(s_fc, s_ig)
    if s_c > k:
        shifted: Literal["fc", "ig"] = "fc" if s_fc == k else "ig"
        b1, b0 = (fc, ig) if shifted == "fc" else (ig, fc)
        bound = b1 + (-(-b0 >> k))  # |T0 >> k| <= ceil(b0 / 2^k)
        fused = FusedCell(k, shifted, Rescale(f"{w} (fused)", bound, s_c - k, la.c_fmt.bits))
    return CellSite(fc, ig, s_fc, s_ig, rescale, fused)


def _layer(model, li: int) -> LayerPlan:
    la = model.layers[li]
    gates = {name: _gate(model, la, li, name) for name in ("i", "f", "g", "o")}
    sb, tb = model.sigmoid.out_fmt.bits, model.tanh.out_fmt.bits
    tanh_in = Rescale(f"layer {li} tanh_in", 1 << (la.c_fmt.bits - 1),
                      la.c_fmt.frac - model.tanh.in_fmt.frac, model.tanh.in_fmt.bits)
    h = Rescale(f"layer {li} h", (1 << (sb - 1)) * (1 << (tb - 1)), model.h_shift(la), la.h_fmt.bits)
    thr = la.o_threshold
    return LayerPlan(
        index=li, n_in=la.n_in, n_hidden=la.n_hidden, gates=MappingProxyType(gates),
        cell=_cell(model, la, li), tanh_in=tanh_in, h=h, o_threshold=thr,
        o_always_zero=thr is not None and thr >= model.sigmoid.out_fmt.max_code,
    )


def _head(model) -> HeadPlan:
    hd = model.head
    mv = _matvec("head mv", hd.weight, hd.in_fmt)
    rows = _row_abs_sum(hd.weight.values)
    bound = max((int(r) * hd.in_fmt.max_abs_code + abs(int(b)) for r, b in zip(rows, hd.bias.values)),
                default=0)
    acc = Accumulator("head acc", bound)
    return HeadPlan(mv, acc, Rescale("head out", bound, hd.acc_frac - hd.out_fmt.frac, hd.out_fmt.bits))


def derive(model) -> Plan:
    """The plan of ``model`` (a validated :class:`~lstmgen.ir.Model`); pure and deterministic."""
    return Plan(tuple(_layer(model, li) for li in range(len(model.layers))), _head(model))


# --------------------------------------------------------------------------------------------
# The tensorized LSTM (lstmgen.ir.tlstm.TlstmModel): its own sites, the same site types


@dataclass(frozen=True, slots=True)
class TlstmGateSites:
    """The sites of one gate of the cross-layer convolution, at the location and output channel
    where each bound is largest:

    ``mv_top`` = ``W_k·top`` (the one offset reading row 0; None when no location reads it),
    ``mv_h`` = ``Σ_k W_k·H(p + k)`` over the offsets reading rows 1..P, ``acc`` = ``(mv_top <<
    shift_top) + (mv_h << shift_h) + b`` (``shift_x`` is ``shift_top``), ``pre`` its rescale to
    the table input, ``lookup`` the table (sigmoid, tanh, or exp for ``q``, whose lookup reads
    ``q - max q`` instead, see :class:`SoftmaxSites`)."""

    gate: Literal["g", "i", "f", "o", "q"]
    mv_top: MatVec | None
    mv_h: MatVec
    acc: Accumulator
    pre: Rescale
    lookup: Lookup


@dataclass(frozen=True, slots=True)
class SoftmaxSites:
    """The memory-cell kernel ``w = softmax(q)`` and the memory-cell convolution, per location
    (:func:`lstmgen.golden_tlstm.softmax_weights`)::

        d_k   = saturate(q_k - max_j q_j, 16)           diff   (operand bound 2^16 - 1)
        e_k   = exp_table(d_k)                          exp    (0 <= e_k <= e_max, e at 0 is e0)
        S     = Σ_k e_k                                 e0 <= S <= sum_bound
        r     = (2^30 + (S >> 1)) / S                   1 <= r <= recip_bound (integer division)
        w_k   = shift_round(e_k · r, 15)                weight (0 <= w_k <= weight.out_bound)
        cconv = rescale(Σ_k w_k · C(p + k), 15, c.bits)  cconv  (operand bound weight_sum_bound · max|C|)

    ``weight_sum_bound`` bounds ``Σ_k w_k``: ``w_k <= (e_k·r + 2^14) / 2^15`` and ``r·S <= 2^30 +
    S/2``, so ``Σ_k w_k <= (2^30 + K·e_max/2 + K·2^14) / 2^15``."""

    diff: Rescale
    exp: Lookup
    e0: int
    e_max: int
    sum_bound: int
    recip_bound: int
    weight: Rescale
    weight_sum_bound: int
    cconv: Rescale

    @property
    def sum_bits(self) -> int:
        return bits_for_bound(self.sum_bound)


@dataclass(frozen=True, slots=True)
class TlstmPlan:
    """The arithmetic plan of a tLSTM: the row-0 projection ``top`` (classifier; a
    :class:`HeadPlan`-shaped ``W^x·x + b^x`` and its rescale to the row-0 format), one
    :class:`TlstmGateSites` per gate (g, i, f, o, and q with the memory-cell convolution), the
    softmax, the cell update (an LSTM layer's :class:`CellSite`, with ``C^conv`` in place of
    ``c``), ``tanh_in``, ``h`` and the head. ``acc_bits`` is the widest gate accumulator (one
    accumulator type is what a C target declares)."""

    top: HeadPlan | None
    gates: Mapping[str, TlstmGateSites]
    softmax: SoftmaxSites | None
    cell: CellSite
    tanh_in: Rescale
    h: Rescale
    head: HeadPlan

    @property
    def acc_bound(self) -> int:
        return max(s.acc.bound for s in self.gates.values())

    @property
    def acc_bits(self) -> int:
        return bits_for_bound(self.acc_bound)

    def sites(self):
        """Yield ``(name, site)`` for every site."""
        if self.top is not None:
            yield "top mv", self.top.mv
            yield "top acc", self.top.acc
            yield "top out", self.top.out
        for g, s in self.gates.items():
            if s.mv_top is not None:
                yield f"gate {g} mv_top", s.mv_top
            yield f"gate {g} mv_h", s.mv_h
            yield f"gate {g} acc", s.acc
            yield f"gate {g} pre", s.pre
            yield f"gate {g} lookup", s.lookup
        if self.softmax is not None:
            yield "softmax diff", self.softmax.diff
            yield "softmax exp", self.softmax.exp
            yield "softmax weight", self.softmax.weight
            yield "softmax cconv", self.softmax.cconv
        yield "cell", self.cell
        yield "tanh_in", self.tanh_in
        yield "h", self.h
        yield "head mv", self.head.mv
        yield "head acc", self.head.acc
        yield "head out", self.head.out


def _tlstm_gate(model, name: str) -> TlstmGateSites:
    g = getattr(model, name)
    w = g.weight.values
    rows, M = int(w.shape[1]), int(w.shape[2])
    rowabs = np.abs(w).astype(object).sum(axis=2)  # (K, rows): Σ_m |W[k][j][m]|
    top_max, h_max = model.top_fmt.max_abs_code, model.h_fmt.max_abs_code
    st, sh = model.shift_top(name), model.shift_h(name)
    bias = [abs(int(b)) for b in g.bias.values]
    acc_bound = mv_top = mv_h = 0
    h_cols = 0
    for p in range(1, model.P + 1):
        pairs = model.conv_rows(p)
        top_k = [ki for ki, r in pairs if r == 0]
        h_k = [ki for ki, r in pairs if r >= 1]
        h_cols = max(h_cols, len(h_k) * M)
        for j in range(rows):
            t = sum(int(rowabs[ki][j]) for ki in top_k) * top_max
            h = sum(int(rowabs[ki][j]) for ki in h_k) * h_max
            mv_top, mv_h = max(mv_top, t), max(mv_h, h)
            acc_bound = max(acc_bound, (t << st) + (h << sh) + bias[j])
    wbits, w_ = g.weight.fmt.bits, f"gate {name}"
    reads_top = any(r == 0 for p in range(1, model.P + 1) for _, r in model.conv_rows(p))
    table = model.table_for(name)
    return TlstmGateSites(
        gate=name,  # type: ignore[arg-type]
        mv_top=MatVec(f"{w_} mv_top", rows, M, wbits, model.top_fmt.bits, mv_top) if reads_top
        else None,
        mv_h=MatVec(f"{w_} mv_h", rows, h_cols, wbits, model.h_fmt.bits, mv_h),
        acc=Accumulator(f"{w_} acc", acc_bound, st, sh),
        pre=Rescale(f"{w_} pre", acc_bound, model.acc_frac(name) - table.in_fmt.frac,
                    table.in_fmt.bits),
        lookup=_lookup(table),
    )


def _softmax(model) -> SoftmaxSites:
    from .ir.tlstm import RECIP_SHIFT, W_FRAC

    exp = model.exp
    K = model.K
    e0 = exp.at_zero
    e_max = int(np.max(exp.values.values))
    sum_bound = K * e_max
    recip_bound = ((1 << RECIP_SHIFT) + (e0 >> 1)) // e0  # S >= e0 and r falls with S
    weight = Rescale("softmax weight", e_max * recip_bound, RECIP_SHIFT - W_FRAC, 32)
    half = 1 << (W_FRAC - 1)
    wsum = ((1 << RECIP_SHIFT) + (K * e_max) // 2 + K * half) >> W_FRAC
    wsum = min(wsum, K * weight.out_bound)
    cconv = Rescale("softmax cconv", wsum * model.c_fmt.max_abs_code, W_FRAC, model.c_fmt.bits)
    diff = Rescale("softmax diff", (1 << 16) - 1, 0, 16)
    return SoftmaxSites(diff, _lookup(exp), e0, e_max, sum_bound, recip_bound, weight, wsum, cconv)


def derive_tlstm(model) -> TlstmPlan:
    """The plan of a tLSTM ``model`` (:class:`lstmgen.ir.tlstm.TlstmModel`, its structure
    validated); pure and deterministic."""
    import dataclasses

    top = None
    if model.w_x is not None:
        rows = _row_abs_sum(model.w_x.values)
        mv = _matvec("top mv", model.w_x, model.in_fmt)
        bound = max((int(r) * model.in_fmt.max_abs_code + abs(int(b))
                     for r, b in zip(rows, model.b_x.values)), default=0)
        top = HeadPlan(mv, Accumulator("top acc", bound),
                       Rescale("top out", bound, model.top_acc_frac - model.top_fmt.frac,
                               model.top_fmt.bits))
    names = ("g", "i", "f", "o") + (("q",) if model.q is not None else ())
    gates = {n: _tlstm_gate(model, n) for n in names}
    cell = _cell(model, model, 0)  # the LSTM cell's sites, with C^conv in place of c
    cell = dataclasses.replace(cell, rescale=dataclasses.replace(cell.rescale, name="cell"))
    if cell.fused is not None:
        cell = dataclasses.replace(cell, fused=dataclasses.replace(
            cell.fused, rescale=dataclasses.replace(cell.fused.rescale, name="cell (fused)")))
    sb, tb = model.sigmoid.out_fmt.bits, model.tanh.out_fmt.bits
    tanh_in = Rescale("tanh_in", 1 << (model.c_fmt.bits - 1),
                      model.c_fmt.frac - model.tanh.in_fmt.frac, model.tanh.in_fmt.bits)
    h = Rescale("h", (1 << (sb - 1)) * (1 << (tb - 1)), model.h_shift(), model.h_fmt.bits)
    return TlstmPlan(top, MappingProxyType(gates), _softmax(model) if model.q is not None else None,
                     cell, tanh_in, h, _head(model))
