"""The IR of a quantized tensorized LSTM (tLSTM): frozen, typed, validated on construction.

A :class:`TlstmModel` carries everything a target needs for the integer tLSTM step (the float
equations and every modelling choice are in :mod:`lstmgen.nn.tlstm`; the integer semantics of
these fields are defined by :mod:`lstmgen.golden_tlstm`, the bound and width of every
arithmetic site by :func:`lstmgen.plan.derive_tlstm`, ``TlstmModel.plan``). It shares the LSTM
IR's building blocks (:class:`~lstmgen.ir.QFormat`, :class:`~lstmgen.ir.IntTensor`,
:class:`~lstmgen.ir.ActTable` for sigmoid and tanh, :class:`~lstmgen.ir.Linear` for the head)
and adds two: :class:`ConvGate` (one gate's share of the cross-layer kernel) and
:class:`ExpTable` (the softmax's exponential, sampled like the activation tables).

Fields (``P`` locations of ``M`` channels, kernel size ``K`` with row offsets ``offsets``,
delay ``depth``)::

    classifier: w_x (M, R) in any weight format, b_x (M,) at w_x.frac + in_fmt.frac
    lm:         embedding (vocab, M): row 0 of every token, in top_fmt
    g, i, f, o: ConvGate, weight (K, M, M): weight[k][j][m] multiplies channel m of row
                p + offsets[k] into output channel j; bias (M,) at the gate's accumulator fraction
    q:          ConvGate (K, K, M) of the memory-kernel logits (only with memory_conv)
    top_fmt:    row 0;  h_fmt: H (16-bit);  c_fmt: C (16 or 32-bit)
    sigmoid, tanh: ActTable;  exp: ExpTable (only with memory_conv);  head: Linear on H^P

A tLSTM IR file is a ``.lstmir`` archive like an LSTM's (:mod:`lstmgen.ir.serialize`) with its own
schema: ``"format": "lstmgen-tlstm-ir"``, ``"version": 1``; every field is read and checked
here (:func:`from_doc`); an LSTM IR file is unchanged by its existence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import FormatError, IRError
from .types import (
    ACT_BITS,
    MAX_INTERMEDIATE_BITS,
    WEIGHT_BITS,
    ActTable,
    Func,
    IntTensor,
    Kind,
    Linear,
    QFormat,
    bool_field,
    freeze,
    int_field,
    thaw,
)

if TYPE_CHECKING:
    from ..plan import TlstmPlan

__all__ = [
    "RECIP_SHIFT",
    "TLSTM_FORMAT",
    "TLSTM_GATES",
    "TLSTM_IR_VERSION",
    "W_FRAC",
    "ConvGate",
    "ExpTable",
    "TlstmModel",
    "from_doc",
    "kernel_offsets",
    "max_depth",
    "to_doc",
]

#: The ``format`` field of a tLSTM IR's ``ir.json`` (an LSTM IR's is ``lstmgen-ir``).
TLSTM_FORMAT = "lstmgen-tlstm-ir"
TLSTM_IR_VERSION = 1
#: Gates of the cross-layer convolution in the order of ``W^h``'s output channels.
TLSTM_GATES = ("g", "i", "f", "o")
#: Fraction bits of the memory-kernel weights ``w_k`` (Q.15: 32768 is 1).
W_FRAC = 15
#: The softmax's reciprocal ``r = round(2^RECIP_SHIFT / S)``.
RECIP_SHIFT = 30
_MAX_PK = 4096  # locations, channels and kernel sizes beyond any deployable model


def kernel_offsets(K: int, feedback: bool = True) -> tuple[int, ...]:
    """The row offsets ``k`` of a size-``K`` kernel: centred ``-(K//2) .. (K-1)//2`` with
    feedback, ``-(K-1) .. 0`` without (the choice stated in :mod:`lstmgen.nn.tlstm`).

    >>> kernel_offsets(3), kernel_offsets(3, feedback=False), kernel_offsets(2)
    ((-1, 0, 1), (-2, -1, 0), (-1, 0))
    """
    if isinstance(K, bool) or not isinstance(K, int) or K < 2:
        raise ValueError(f"kernel size K must be an integer >= 2 (row 0 must reach row 1), got {K!r}")
    lo = -(K // 2) if feedback else -(K - 1)
    return tuple(range(lo, lo + K))


def max_depth(P: int, K: int, feedback: bool = True) -> int:
    """The largest causal delay ``L`` (= the smallest at which row ``P`` sees the input of step
    ``t`` at step ``t + L - 1``): ``ceil(P / s)``, information climbing ``s = -min(offsets)``
    rows per step.

    >>> max_depth(1, 3), max_depth(4, 3), max_depth(4, 5), max_depth(4, 3, False)
    (1, 4, 2, 2)
    """
    climb = -min(kernel_offsets(K, feedback))
    return max(1, -(-P // climb))


@dataclass(frozen=True, slots=True, eq=False)
class ExpTable:
    """``exp`` sampled like an :class:`~lstmgen.ir.ActTable` (same fields, same lookup:
    :func:`lstmgen.golden.table_lookup`), over inputs ``<= 0``: the softmax's exponential.

    Required (checked): 16-bit input and output; every entry ``>= 0``; the entry an input of 0
    reaches, ``e0``, is the largest and ``>= 2^14``, so the normalisation's sum is positive and
    every intermediate of the softmax fits in int32 (:func:`lstmgen.golden_tlstm.softmax_weights`).
    """

    in_fmt: QFormat
    lo: int
    shift: int
    values: IntTensor
    interp: bool
    func: ClassVar[str] = "exp"

    def __post_init__(self) -> None:
        w = "table exp"
        if self.in_fmt.bits != 16 or self.values.fmt.bits != 16:
            raise FormatError(f"{w}: input and output must be 16-bit")
        int_field(self.shift, f"{w}.shift", 0, self.in_fmt.bits)
        int_field(self.lo, f"{w}.lo", self.in_fmt.min_code, 0)
        bool_field(self.interp, f"{w}.interp")
        v = self.values.values
        if v.ndim != 1 or not 2 <= v.shape[0] <= 65536:
            raise IRError(f"{w}: needs 2..65536 entries in a 1-D array, got shape {v.shape}")
        if int(v.min()) < 0:
            raise FormatError(f"{w}: entries must be >= 0 (exp is positive)")
        e0 = self.at_zero
        if e0 < (1 << 14) or e0 != int(v.max()):
            raise FormatError(f"{w}: the entry at input 0 ({e0}) must be the largest and >= 16384")

    @property
    def out_fmt(self) -> QFormat:
        return self.values.fmt

    @property
    def n(self) -> int:
        return int(self.values.values.shape[0])

    @property
    def at_zero(self) -> int:
        """The table's value at input code 0, ``e0``."""
        from ..golden import table_lookup

        return int(table_lookup(self, 0))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, eq=False)
class ConvGate:
    """One gate's share of the cross-layer kernel: ``weight`` (K, rows, M) and ``bias`` (rows,)
    at the gate's accumulator fraction (``rows`` = M for g, i, f, o; K for q)."""

    weight: IntTensor
    bias: IntTensor


@dataclass(frozen=True, slots=True, eq=False)
class TlstmModel:
    """A quantized tLSTM: row-0 projection (classifier) or row-0 embedding (LM) → P x M tensor
    recurrence → head on the last row. See the module docstring for the fields.

    ``offsets`` are the kernel's row offsets (:func:`lstmgen.nn.tlstm.kernel_offsets`), ``depth``
    the delay ``L``: a classifier's output is the head after ``T + L - 1`` steps (the last
    ``L - 1`` read a zero input vector); an LM's output at step ``t`` belongs to the token of
    step ``t - (L - 1)``.
    """

    name: str
    kind: Kind
    P: int
    K: int
    offsets: tuple[int, ...]
    depth: int
    in_fmt: QFormat
    top_fmt: QFormat
    h_fmt: QFormat
    c_fmt: QFormat
    g: ConvGate
    i: ConvGate
    f: ConvGate
    o: ConvGate
    sigmoid: ActTable
    tanh: ActTable
    head: Linear
    q: ConvGate | None = None
    exp: ExpTable | None = None
    w_x: IntTensor | None = None
    b_x: IntTensor | None = None
    embedding: IntTensor | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    #: The arithmetic plan (:func:`lstmgen.plan.derive_tlstm`), derived and checked on construction.
    plan: TlstmPlan = field(init=False, repr=False)
    #: What the back ends dispatch on (an LSTM :class:`~lstmgen.ir.Model` has none: ``lstm``).
    family: ClassVar[str] = "tlstm"

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", Kind(self.kind))
        except ValueError:
            raise IRError(f"model: unknown kind {self.kind!r} (classifier or lm)") from None
        object.__setattr__(self, "offsets", tuple(self.offsets))
        if not isinstance(self.meta, Mapping):
            raise IRError("meta must be an object")
        object.__setattr__(self, "meta", freeze(self.meta))
        _structure(self)
        from ..plan import derive_tlstm

        plan = derive_tlstm(self)
        _widths(plan)
        object.__setattr__(self, "plan", plan)

    # -- sizes and formats -------------------------------------------------------------------

    @property
    def M(self) -> int:
        return int(self.g.weight.shape[1])

    @property
    def is_lm(self) -> bool:
        return self.kind is Kind.LM

    @property
    def memory_conv(self) -> bool:
        return self.q is not None

    @property
    def feedback(self) -> bool:
        """True for the centred kernel (offsets above 0)."""
        return self.offsets[-1] > 0

    @property
    def input_fmt(self) -> QFormat:
        """Format of a classifier's input codes (an LM's row 0 for an LM)."""
        return self.in_fmt

    @property
    def n_in(self) -> int:
        """Input features per step (a classifier's R; M for an LM)."""
        return self.M if self.w_x is None else int(self.w_x.shape[1])

    @property
    def n_out(self) -> int:
        return self.head.n_out

    @property
    def vocab(self) -> int:
        return 0 if self.embedding is None else int(self.embedding.shape[0])

    @property
    def hidden(self) -> tuple[int, ...]:
        """``M`` per location: the per-step dump records (``dump.bin``) hold one "layer" per
        location ``p = 1..P`` (layer index ``p - 1``)."""
        return (self.M,) * self.P

    def gates(self) -> list[tuple[str, ConvGate]]:
        """``(name, gate)`` in kernel order g, i, f, o, then q with memory-cell convolution."""
        out = [(n, getattr(self, n)) for n in TLSTM_GATES]
        if self.q is not None:
            out.append(("q", self.q))
        return out

    def acc_frac(self, gate: str) -> int:
        """Fraction of gate ``gate``'s accumulator: the larger of the two product fractions."""
        wf = getattr(self, gate).weight.fmt.frac
        return wf + max(self.top_fmt.frac, self.h_fmt.frac)

    def shift_top(self, gate: str) -> int:
        """Left shift aligning the products with row 0 to the accumulator fraction."""
        return self.acc_frac(gate) - getattr(self, gate).weight.fmt.frac - self.top_fmt.frac

    def shift_h(self, gate: str) -> int:
        """Left shift aligning the products with rows 1..P to the accumulator fraction."""
        return self.acc_frac(gate) - getattr(self, gate).weight.fmt.frac - self.h_fmt.frac

    @property
    def top_acc_frac(self) -> int:
        """Fraction of a classifier's row-0 accumulator ``W^x·x + b^x``."""
        assert self.w_x is not None
        return self.w_x.fmt.frac + self.in_fmt.frac

    def table_for(self, gate: str) -> ActTable | ExpTable:
        """The table of ``gate``'s pre-activation: tanh for g, sigmoid for i/f/o, exp for q."""
        if gate == "q":
            assert self.exp is not None
            return self.exp
        return self.tanh if gate == "g" else self.sigmoid

    def cell_shifts(self, layer: Any = None) -> tuple[int, int, int]:
        """``(shift_fc, shift_ig, cell_frac)`` of ``C_t = rescale((F·Cconv << shift_fc) +
        (I·G << shift_ig), cell_frac - c_fmt.frac, c_fmt.bits)`` (as an LSTM layer's cell;
        ``layer`` is ignored, for the shared plan code)."""
        fc_frac = self.sigmoid.out_fmt.frac + self.c_fmt.frac
        ig_frac = self.sigmoid.out_fmt.frac + self.tanh.out_fmt.frac
        cell_frac = max(fc_frac, ig_frac)
        return cell_frac - fc_frac, cell_frac - ig_frac, cell_frac

    def h_shift(self, layer: Any = None) -> int:
        """Right shift of ``O·tanh(C)`` to the h fraction."""
        return self.sigmoid.out_fmt.frac + self.tanh.out_fmt.frac - self.h_fmt.frac

    def conv_rows(self, p: int) -> list[tuple[int, int]]:
        """``(kernel index, row)`` pairs location ``p`` (1..P) reads: rows in 0..P only."""
        return [(ki, p + k) for ki, k in enumerate(self.offsets) if 0 <= p + k <= self.P]

    def macs_per_step(self) -> int:
        """Mult-adds of one step, head excluded (:func:`lstmgen.nn.tlstm.tlstm_macs`'s
        ``tlstm``): row-0 projection, convolution, memory-cell convolution."""
        M = self.M
        rows = 4 * M + (self.K if self.q is not None else 0)
        conv = sum(len(self.conv_rows(p)) for p in range(1, self.P + 1)) * M * rows
        cell = 0
        if self.q is not None:
            cell = sum(1 for p in range(1, self.P + 1) for _, r in self.conv_rows(p) if r >= 1) * M
        top = 0 if self.w_x is None else M * self.n_in
        return top + conv + cell

    def n_params(self) -> int:
        """Distinct weights and biases (tables and formats excluded)."""
        ts = [t for _, g in self.gates() for t in (g.weight, g.bias)]
        ts += [self.head.weight, self.head.bias]
        ts += [t for t in (self.w_x, self.b_x, self.embedding) if t is not None]
        return int(sum(t.values.size for t in ts))

    def replace(self, **changes: Any) -> TlstmModel:
        """A new model with ``changes`` applied (validated again); this one is unchanged."""
        names = ("name", "kind", "P", "K", "offsets", "depth", "in_fmt", "top_fmt", "h_fmt",
                 "c_fmt", "g", "i", "f", "o", "sigmoid", "tanh", "head", "q", "exp", "w_x", "b_x",
                 "embedding", "meta")
        fields = {k: getattr(self, k) for k in names}
        fields.update(changes)
        return TlstmModel(**fields)

    def formats_summary(self) -> str:
        """One line naming the formats, for generated-file headers."""
        wbits = sorted({g.weight.fmt.bits for _, g in self.gates()})
        first = f"input {self.in_fmt} int16" if not self.is_lm else f"row0 {self.top_fmt}"
        return (
            f"tLSTM P={self.P} M={self.M} K={self.K} L={self.depth} | {first}"
            f" | weights int{'/'.join(map(str, wbits))} | cell {self.c_fmt} | h {self.h_fmt}"
            f" | sigmoid {self.sigmoid.in_fmt}->{self.sigmoid.out_fmt}"
            f" | tanh {self.tanh.in_fmt}->{self.tanh.out_fmt}"
            + (f" | exp {self.exp.in_fmt}->{self.exp.out_fmt}" if self.exp is not None else "")
            + f" | out {self.head.out_fmt} | round half-up, saturate"
        )


# --------------------------------------------------------------------------------------------
# Validation


def _fail(where: str, msg: str) -> None:
    raise IRError(f"{where}: {msg}")


def _structure(m: TlstmModel) -> None:
    """Names, kinds, sizes, formats and shapes (everything but the widths)."""
    from .validate import check_name

    check_name(m.name)
    int_field(m.P, "model.P", 1, _MAX_PK)
    int_field(m.K, "model.K", 2, _MAX_PK)
    int_field(m.depth, "model.depth", 1, _MAX_PK)
    legal = {kernel_offsets(m.K, fb): fb for fb in (True, False)}
    if m.offsets not in legal:
        _fail("model", f"offsets {m.offsets} are neither the centred {kernel_offsets(m.K)} nor the "
                       f"causal {kernel_offsets(m.K, False)} kernel of size {m.K}")
    top_depth = max_depth(m.P, m.K, legal[m.offsets])
    if m.depth > top_depth:
        _fail("model", f"depth {m.depth} exceeds {top_depth}, the largest causal delay for P={m.P} "
                       f"and offsets {m.offsets}")
    if m.sigmoid.func is not Func.SIGMOID or m.tanh.func is not Func.TANH:
        _fail("model", "tables must be (sigmoid, tanh)")
    for t in (m.sigmoid, m.tanh):
        if t.out_fmt.bits != 16 or t.in_fmt.bits != 16:
            raise FormatError(f"table {t.func}: input and output must be 16-bit")
    for name in ("in_fmt", "top_fmt", "h_fmt"):
        if getattr(m, name).bits != 16:
            raise FormatError(f"model: {name} must be 16-bit (a tLSTM has 16-bit activations)")
    if m.c_fmt.bits not in (16, 32):
        raise FormatError(f"model: cell width {m.c_fmt.bits} must be 16 or 32")
    wg = m.g.weight.values
    if wg.ndim != 3:
        _fail("gate g", f"weight must be (K, M, M), got shape {m.g.weight.shape}")
    M = int(wg.shape[1])
    if not 1 <= M <= _MAX_PK:
        _fail("model", f"channels M must be in 1..{_MAX_PK}, got {M}")
    if (m.q is None) != (m.exp is None):
        _fail("model", "the memory-cell convolution needs both q and the exp table (or neither)")
    for name, g in m.gates():
        rows = m.K if name == "q" else M
        w = f"gate {name}"
        if g.weight.shape != (m.K, rows, M):
            _fail(w, f"weight shape {g.weight.shape} != {(m.K, rows, M)}")
        if g.bias.shape != (rows,):
            _fail(w, f"bias shape {g.bias.shape} != {(rows,)}")
        if g.weight.fmt.bits not in WEIGHT_BITS:
            raise FormatError(f"{w}: weight width {g.weight.fmt.bits} not in {WEIGHT_BITS}")
        for what, s in (("row 0", m.shift_top(name)), ("rows 1..P", m.shift_h(name))):
            if s > MAX_INTERMEDIATE_BITS:
                raise FormatError(f"{w}: aligning the products with {what} needs a left shift of {s}")
        if g.bias.fmt.frac != m.acc_frac(name):
            raise FormatError(f"{w}: bias fraction {g.bias.fmt.frac} != accumulator fraction "
                              f"{m.acc_frac(name)}")
    if m.kind is Kind.LM:
        if m.embedding is None or m.w_x is not None or m.b_x is not None:
            _fail("model", "an lm has an embedding (row 0 of every token) and no w_x, b_x")
        assert m.embedding is not None
        e = m.embedding
        if e.values.ndim != 2 or e.shape[1] != M or e.shape[0] < 1 or e.fmt != m.top_fmt:
            _fail("embedding", f"must be (vocab >= 1, {M}) in the row-0 format {m.top_fmt}, got "
                               f"{e.shape} in {e.fmt}")
        if m.in_fmt != m.top_fmt:
            _fail("model", "an lm's in_fmt must equal its row-0 format")
    else:
        if m.embedding is not None or m.w_x is None or m.b_x is None:
            _fail("model", "a classifier has w_x and b_x and no embedding")
        assert m.w_x is not None and m.b_x is not None
        if m.w_x.values.ndim != 2 or m.w_x.shape[0] != M or m.w_x.shape[1] < 1:
            _fail("w_x", f"shape {m.w_x.shape} != ({M}, inputs >= 1)")
        if m.w_x.fmt.bits not in WEIGHT_BITS:
            raise FormatError(f"w_x: weight width {m.w_x.fmt.bits} not in {WEIGHT_BITS}")
        if m.b_x.shape != (M,):
            _fail("b_x", f"shape {m.b_x.shape} != {(M,)}")
        if m.b_x.fmt.frac != m.top_acc_frac:
            raise FormatError(f"b_x: fraction {m.b_x.fmt.frac} != accumulator fraction "
                              f"{m.top_acc_frac}")
    hd = m.head
    if hd.weight.values.ndim != 2 or hd.n_in != M or hd.n_out < 1:
        _fail("head", f"weight shape {hd.weight.shape} != (outputs >= 1, {M})")
    if hd.in_fmt != m.h_fmt:
        _fail("head", f"input format {hd.in_fmt} differs from the h format {m.h_fmt}")
    if hd.bias.shape != (hd.n_out,):
        _fail("head", f"bias shape {hd.bias.shape} != {(hd.n_out,)}")
    if hd.weight.fmt.bits not in WEIGHT_BITS:
        raise FormatError(f"head: weight width {hd.weight.fmt.bits} not in {WEIGHT_BITS}")
    if hd.bias.fmt.frac != hd.acc_frac:
        raise FormatError("head: bias fraction must equal the accumulator fraction")
    if hd.out_fmt.bits not in ACT_BITS:
        raise FormatError(f"head: output width must be one of {ACT_BITS}")


def _widths(plan: TlstmPlan) -> None:
    """No site may need more than 62 bits (the golden model computes in int64)."""
    for name, site in plan.sites():
        bits = getattr(site, "bits", None)
        if bits is None:
            bits = getattr(site, "round_bits", None)
        if isinstance(bits, int) and bits > MAX_INTERMEDIATE_BITS:
            raise FormatError(f"{name}: needs {bits} bits (> {MAX_INTERMEDIATE_BITS})")


# --------------------------------------------------------------------------------------------
# Serialization (the archive itself is lstmgen.ir.serialize's)


def to_doc(m: TlstmModel, tensor_json: Any, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The ``ir.json`` document of ``m``; ``tensor_json(t, key, arrays)`` stores an array."""
    from .. import __version__

    def table(t: ActTable | ExpTable, key: str) -> dict[str, Any]:
        return {"func": str(t.func), "in_fmt": t.in_fmt.to_json(), "lo": t.lo, "shift": t.shift,
                "interp": t.interp, "values": tensor_json(t.values, f"tables/{key}", arrays)}

    def opt(t: IntTensor | None, key: str) -> Any:
        return None if t is None else tensor_json(t, key, arrays)

    return {
        "format": TLSTM_FORMAT,
        "version": TLSTM_IR_VERSION,
        "generator": f"lstmgen {__version__}",
        "name": m.name,
        "kind": m.kind.value,
        "P": m.P,
        "K": m.K,
        "offsets": list(m.offsets),
        "depth": m.depth,
        "in_fmt": m.in_fmt.to_json(),
        "top_fmt": m.top_fmt.to_json(),
        "h_fmt": m.h_fmt.to_json(),
        "c_fmt": m.c_fmt.to_json(),
        "w_x": opt(m.w_x, "w_x"),
        "b_x": opt(m.b_x, "b_x"),
        "embedding": opt(m.embedding, "embedding"),
        "gates": {n: {"weight": tensor_json(g.weight, f"gates/{n}/weight", arrays),
                      "bias": tensor_json(g.bias, f"gates/{n}/bias", arrays)}
                  for n, g in m.gates()},
        "tables": {"sigmoid": table(m.sigmoid, "sigmoid"), "tanh": table(m.tanh, "tanh"),
                   "exp": None if m.exp is None else table(m.exp, "exp")},
        "head": {
            "weight": tensor_json(m.head.weight, "head/weight", arrays),
            "bias": tensor_json(m.head.bias, "head/bias", arrays),
            "in_fmt": m.head.in_fmt.to_json(),
            "out_fmt": m.head.out_fmt.to_json(),
        },
        "meta": thaw(m.meta),
    }


_KEYS = {"format", "version", "generator", "name", "kind", "P", "K", "offsets", "depth", "in_fmt",
         "top_fmt", "h_fmt", "c_fmt", "w_x", "b_x", "embedding", "gates", "tables", "head", "meta"}


def _get(d: Any, key: str, where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise IRError(f"{where}: missing field {key!r}")
    return d[key]


def from_doc(doc: dict[str, Any], r: Any, src: str) -> TlstmModel:
    """Build the model of a tLSTM ``ir.json`` document; ``r`` reads array members (the archive
    reader of :mod:`lstmgen.ir.serialize`: shapes are checked from ``.npy`` headers before any
    data is read). Every problem raises :class:`IRError` naming the field."""
    version = doc.get("version")
    if type(version) is not int or version != TLSTM_IR_VERSION:
        raise IRError(f"{src}: tLSTM IR version {version!r} is not supported (this lstmgen reads "
                      f"{TLSTM_IR_VERSION})")
    unknown = sorted(str(k) for k in set(doc) - _KEYS)
    if unknown:
        raise IRError(f"{src}: unknown field(s) {', '.join(unknown)}")
    w = src
    P = int_field(_get(doc, "P", w), f"{w}: P", 1, _MAX_PK)
    K = int_field(_get(doc, "K", w), f"{w}: K", 2, _MAX_PK)
    offsets = _get(doc, "offsets", w)
    if not isinstance(offsets, list) or len(offsets) != K or any(type(v) is not int for v in offsets):
        raise IRError(f"{w}: offsets must be a list of {K} integers, got {offsets!r}")
    fmt = {k: QFormat.from_json(_get(doc, k, w), f"{w}: {k}")
           for k in ("in_fmt", "top_fmt", "h_fmt", "c_fmt")}
    gates_doc = _get(doc, "gates", w)
    if not isinstance(gates_doc, dict):
        raise IRError(f"{w}: gates must be an object")
    unknown = sorted(set(gates_doc) - {*TLSTM_GATES, "q"})
    if unknown:
        raise IRError(f"{w}: unknown gate(s) {', '.join(map(str, unknown))}")
    g_shape = r.shape(_get(_get(gates_doc, "g", w), "weight", w), "gate g weight")
    if len(g_shape) != 3 or g_shape[0] != K or g_shape[1] != g_shape[2] or not g_shape[1]:
        raise IRError(f"{w}: gate g: weight shape {g_shape} != (K={K}, M, M)")
    M = g_shape[1]

    def gate(name: str) -> ConvGate:
        gd = _get(gates_doc, name, w)
        rows = K if name == "q" else M
        return ConvGate(weight=r.tensor(_get(gd, "weight", w), f"gate {name} weight", (K, rows, M)),
                        bias=r.tensor(_get(gd, "bias", w), f"gate {name} bias", (rows,)))

    tables = _get(doc, "tables", w)

    def table(key: str, cls: Any) -> Any:
        t = _get(tables, key, f"{w}: tables")
        tw = f"{w}: tables.{key}"
        if not isinstance(t, dict):
            raise IRError(f"{tw}: must be an object")
        shape = r.shape(_get(t, "values", tw), f"tables.{key}")
        if len(shape) != 1 or not 2 <= shape[0] <= 65536:
            raise IRError(f"{tw}: needs 2..65536 entries in a 1-D array, got shape {shape}")
        if _get(t, "func", tw) != key:
            raise IRError(f"{tw}: func must be {key!r}")
        kw = {"func": key} if cls is ActTable else {}
        return cls(in_fmt=QFormat.from_json(_get(t, "in_fmt", tw), tw),
                   lo=int_field(_get(t, "lo", tw), f"{tw}.lo"),
                   shift=int_field(_get(t, "shift", tw), f"{tw}.shift"),
                   values=r.tensor(_get(t, "values", tw), f"tables.{key}"),
                   interp=bool_field(_get(t, "interp", tw), f"{tw}.interp"), **kw)

    kind = _get(doc, "kind", w)
    emb = _get(doc, "embedding", w)
    wx, bx = _get(doc, "w_x", w), _get(doc, "b_x", w)
    head = _get(doc, "head", w)
    hw = _get(head, "weight", w)
    shape = r.shape(hw, "head weight")
    if len(shape) != 2 or shape[1] != M:
        raise IRError(f"{w}: head: weight shape {shape} != (outputs, {M})")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise IRError(f"{w}: meta must be an object")
    w_x = None
    if wx is not None:
        shape = r.shape(wx, "w_x")
        if len(shape) != 2 or shape[0] != M:
            raise IRError(f"{w}: w_x: shape {shape} != ({M}, inputs)")
        w_x = r.tensor(wx, "w_x")
    if emb is not None:
        shape = r.shape(emb, "embedding")
        if len(shape) != 2 or shape[1] != M:
            raise IRError(f"{w}: embedding: shape {shape} != (vocab, {M})")
    exp_doc = _get(tables, "exp", f"{w}: tables")
    return TlstmModel(
        name=_get(doc, "name", w), kind=kind, P=P, K=K, offsets=tuple(offsets),
        depth=int_field(_get(doc, "depth", w), f"{w}: depth", 1, _MAX_PK),
        g=gate("g"), i=gate("i"), f=gate("f"), o=gate("o"),
        q=gate("q") if "q" in gates_doc else None,
        sigmoid=table("sigmoid", ActTable), tanh=table("tanh", ActTable),
        exp=None if exp_doc is None else table("exp", ExpTable),
        w_x=w_x, b_x=None if bx is None else r.tensor(bx, "b_x", (M,)),
        embedding=None if emb is None else r.tensor(emb, "embedding"),
        head=Linear(weight=r.tensor(hw, "head weight"),
                    bias=r.tensor(_get(head, "bias", w), "head bias", (shape_out(r, hw),)),
                    in_fmt=QFormat.from_json(_get(head, "in_fmt", w), f"{w}: head"),
                    out_fmt=QFormat.from_json(_get(head, "out_fmt", w), f"{w}: head")),
        meta=meta, **fmt,
    )


def shape_out(r: Any, hw: Any) -> int:
    """Rows of the head's weight member (its outputs)."""
    return int(r.shape(hw, "head weight")[0])
