"""The IR's types: a small, frozen, typed description of a quantized LSTM network.

The IR carries everything a target needs (integer weights with their formats, activation
tables, cell/hidden formats, the SHS threshold, the head); targets compute nothing numerical
of their own. The integer semantics of these fields are defined by :mod:`lstmgen.golden`; the
bound and width of every arithmetic site by :mod:`lstmgen.plan` (``Model.plan``).

Per layer and gate ``G`` in (i, f, g, o), with ``x`` in ``in_fmt`` and ``h`` in ``h_fmt``::

    acc   = (W_ih·x << shift_x) + (W_hh·h << shift_h) + bias    # bias.frac == acc_frac
    pre   = rescale(acc, acc_frac - table.in_fmt.frac, table.in_fmt.bits)
    gate  = table(pre)          # sigmoid for i, f, o; tanh for g

See :func:`lstmgen.golden.layer_step` for the cell update and the head.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FormatError, IRError
from ..fixedpoint import code_max, code_min

if TYPE_CHECKING:
    from ..plan import Plan

__all__ = [
    "ACT_BITS",
    "GATES",
    "MAX_INTERMEDIATE_BITS",
    "WEIGHT_BITS",
    "ActTable",
    "Func",
    "Gate",
    "IntTensor",
    "Kind",
    "Linear",
    "LstmLayer",
    "Model",
    "QFormat",
    "bool_field",
    "freeze",
    "int_field",
    "thaw",
]

GATES = ("i", "f", "g", "o")
#: Widest intermediate any target must hold; the golden model computes in int64.
MAX_INTERMEDIATE_BITS = 62
#: Widths of activations, gates, h, table values and outputs (stored as int16 codes).
ACT_BITS = (8, 16)
#: Widths of weights.
WEIGHT_BITS = (8, 16)


class Kind(str, enum.Enum):
    """What a model computes: a classifier (vectors in, one output per sequence) or a language
    model (token ids in through an embedding, one output per step)."""

    CLASSIFIER = "classifier"
    LM = "lm"

    def __str__(self) -> str:
        return self.value


class Func(str, enum.Enum):
    """The activation an :class:`ActTable` samples."""

    SIGMOID = "sigmoid"
    TANH = "tanh"

    def __str__(self) -> str:
        return self.value


def freeze(obj: Any) -> Any:
    """A read-only deep copy of JSON-like data: dicts become mappings that refuse assignment,
    lists become tuples."""
    if isinstance(obj, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in obj.items()})
    if isinstance(obj, (list, tuple)):
        return tuple(freeze(v) for v in obj)
    return obj


def thaw(obj: Any) -> Any:
    """The inverse of :func:`freeze`: plain dicts and lists (for JSON)."""
    if isinstance(obj, Mapping):
        return {k: thaw(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [thaw(v) for v in obj]
    return obj


# --------------------------------------------------------------------------------------------
# Formats and tensors


@dataclass(frozen=True, slots=True)
class QFormat:
    """Signed power-of-two fixed point: ``value = code * 2**-frac`` in a ``bits``-wide integer."""

    bits: int
    frac: int

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or not isinstance(self.frac, int):
            raise FormatError(f"format fields must be integers, got {self!r}")
        if not 2 <= self.bits <= 64:
            raise FormatError(f"format width {self.bits} out of range 2..64")
        if not -64 <= self.frac <= 64:
            raise FormatError(f"format fraction {self.frac} out of range -64..64")

    @property
    def min_code(self) -> int:
        return code_min(self.bits)

    @property
    def max_code(self) -> int:
        return code_max(self.bits)

    @property
    def max_abs_code(self) -> int:
        """Largest magnitude of any code (that of the minimum)."""
        return 1 << (self.bits - 1)

    def to_float(self, codes) -> np.ndarray:
        """Codes → float64 values."""
        return np.ldexp(np.asarray(codes, dtype=np.float64), -self.frac)

    def __str__(self) -> str:  # Q notation: integer bits (incl. sign) . fraction bits
        return f"Q{self.bits - self.frac}.{self.frac}"

    def to_json(self) -> list[int]:
        return [self.bits, self.frac]

    @classmethod
    def from_json(cls, obj: Any, where: str) -> QFormat:
        if not (isinstance(obj, list) and len(obj) == 2 and all(type(v) is int for v in obj)):
            raise IRError(f"{where}: format must be [bits, frac], got {obj!r}")
        try:
            return cls(obj[0], obj[1])
        except FormatError as exc:
            raise FormatError(f"{where}: {exc}") from None


def _readonly_int64(values: Any, where: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise IRError(f"{where}: integer codes expected, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise IRError(f"{where}: codes exceed the int64 range")
    arr = np.array(arr, dtype=np.int64, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, slots=True, eq=False)
class IntTensor:
    """An integer array together with its fixed-point format; every code is in range."""

    values: np.ndarray
    fmt: QFormat
    name: str = "tensor"

    def __post_init__(self) -> None:
        arr = _readonly_int64(self.values, self.name)
        object.__setattr__(self, "values", arr)
        if arr.size and (arr.min() < self.fmt.min_code or arr.max() > self.fmt.max_code):
            raise FormatError(
                f"{self.name}: codes [{arr.min()}, {arr.max()}] do not fit {self.fmt.bits}-bit format"
            )

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    def to_float(self) -> np.ndarray:
        return self.fmt.to_float(self.values)


def bool_field(value: Any, where: str) -> bool:
    if type(value) is not bool:
        raise IRError(f"{where}: true or false expected, got {value!r}")
    return value


def int_field(value: Any, where: str, lo: int | None = None, hi: int | None = None) -> int:
    if type(value) is not int:
        raise IRError(f"{where}: integer expected, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise IRError(f"{where}: {value} out of range {lo}..{hi}")
    return value


# --------------------------------------------------------------------------------------------
# Activation tables


@dataclass(frozen=True, slots=True, eq=False)
class ActTable:
    """A sampled activation function, applied to ``in_fmt`` codes.

    Entry ``k`` belongs to input code ``lo + k * 2**shift``. For an input code ``p``:
    ``d = p - lo``; ``d < 0`` gives entry 0; ``idx = d >> shift``; ``idx >= n-1`` gives the last
    entry; otherwise, without interpolation, entry ``idx``; with interpolation
    ``t[idx] + shift_round((t[idx+1] - t[idx]) * (d & (2**shift - 1)), shift)``.
    """

    func: Func
    in_fmt: QFormat
    lo: int
    shift: int
    values: IntTensor
    interp: bool

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "func", Func(self.func))
        except ValueError:
            raise IRError(f"table: unknown function {self.func!r}") from None
        w = f"table {self.func}"
        if self.in_fmt.bits not in ACT_BITS:
            raise FormatError(f"{w}: input width {self.in_fmt.bits} not in {ACT_BITS}")
        if self.values.fmt.bits not in ACT_BITS:
            raise FormatError(f"{w}: output width {self.values.fmt.bits} not in {ACT_BITS}")
        int_field(self.shift, f"{w}.shift", 0, self.in_fmt.bits)
        int_field(self.lo, f"{w}.lo", self.in_fmt.min_code, self.in_fmt.max_code)
        n = self.values.values.shape
        if len(n) != 1 or not 2 <= n[0] <= 65536:
            raise IRError(f"{w}: needs 2..65536 entries in a 1-D array, got shape {n}")

    @property
    def out_fmt(self) -> QFormat:
        return self.values.fmt

    @property
    def n(self) -> int:
        return int(self.values.values.shape[0])


# --------------------------------------------------------------------------------------------
# Layers


@dataclass(frozen=True, slots=True, eq=False)
class Gate:
    """One gate's weights: ``w_ih`` (H, X), ``w_hh`` (H, H), ``bias`` (H,) at the accumulator fraction."""

    w_ih: IntTensor
    w_hh: IntTensor
    bias: IntTensor


@dataclass(frozen=True, slots=True, eq=False)
class LstmLayer:
    """One LSTM layer with named gates; ``o_threshold`` (SHS) zeroes ``o`` codes ``<= threshold``."""

    in_fmt: QFormat
    i: Gate
    f: Gate
    g: Gate
    o: Gate
    c_fmt: QFormat
    h_fmt: QFormat
    o_threshold: int | None = None

    def gates(self) -> Iterator[tuple[str, Gate]]:
        """Yield ``(name, gate)`` in the order i, f, g, o."""
        for name in GATES:
            yield name, getattr(self, name)

    @property
    def n_in(self) -> int:
        return int(self.i.w_ih.shape[1])

    @property
    def n_hidden(self) -> int:
        return int(self.i.w_ih.shape[0])

    def acc_frac(self, gate: str) -> int:
        """Fraction of gate ``gate``'s accumulator: the larger of the two product fractions."""
        g = getattr(self, gate)
        return max(g.w_ih.fmt.frac + self.in_fmt.frac, g.w_hh.fmt.frac + self.h_fmt.frac)

    def shift_x(self, gate: str) -> int:
        """Left shift aligning ``W_ih·x`` to the accumulator fraction."""
        return self.acc_frac(gate) - getattr(self, gate).w_ih.fmt.frac - self.in_fmt.frac

    def shift_h(self, gate: str) -> int:
        """Left shift aligning ``W_hh·h`` to the accumulator fraction."""
        return self.acc_frac(gate) - getattr(self, gate).w_hh.fmt.frac - self.h_fmt.frac


@dataclass(frozen=True, slots=True, eq=False)
class Linear:
    """The head: ``y = rescale(W·h + bias, acc_frac - out_fmt.frac, out_fmt.bits)``."""

    weight: IntTensor
    bias: IntTensor
    in_fmt: QFormat
    out_fmt: QFormat

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def acc_frac(self) -> int:
        return self.weight.fmt.frac + self.in_fmt.frac


# --------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True, slots=True, eq=False)
class Model:
    """A whole network: optional embedding (LM) → LSTM layers → head.

    ``kind`` is :attr:`Kind.CLASSIFIER` (input: vectors in ``input_fmt``; output: the head
    applied to ``h`` of the last layer after the last step) or :attr:`Kind.LM` (input: token
    ids; the embedding row is the layer-0 input; output: the head at every step). ``meta`` is
    free-form JSON data (read-only); it is not part of the content hash.
    """

    name: str
    kind: Kind
    layers: tuple[LstmLayer, ...]
    head: Linear
    sigmoid: ActTable
    tanh: ActTable
    embedding: IntTensor | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    #: The arithmetic plan (:mod:`lstmgen.plan`), derived and checked on construction.
    plan: Plan = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from .validate import validate

        try:
            object.__setattr__(self, "kind", Kind(self.kind))
        except ValueError:
            raise IRError(f"model: unknown kind {self.kind!r} (classifier or lm)") from None
        object.__setattr__(self, "layers", tuple(self.layers))
        if not isinstance(self.meta, Mapping):
            raise IRError("meta must be an object")
        object.__setattr__(self, "meta", freeze(self.meta))
        object.__setattr__(self, "plan", validate(self))

    @property
    def is_lm(self) -> bool:
        """True for a language model (token ids in, an output every step)."""
        return self.kind is Kind.LM

    @property
    def input_fmt(self) -> QFormat:
        return self.layers[0].in_fmt

    @property
    def n_in(self) -> int:
        """Input features per step (the embedding width for an LM)."""
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.head.n_out

    @property
    def vocab(self) -> int:
        return 0 if self.embedding is None else int(self.embedding.shape[0])

    def replace(self, **changes: Any) -> Model:
        """A new model with ``changes`` applied (validated again); this one is unchanged."""
        fields = {k: getattr(self, k) for k in
                  ("name", "kind", "layers", "head", "sigmoid", "tanh", "embedding", "meta")}
        fields.update(changes)
        return Model(**fields)

    @property
    def hidden(self) -> tuple[int, ...]:
        return tuple(layer.n_hidden for layer in self.layers)

    def cell_shifts(self, layer: LstmLayer) -> tuple[int, int, int]:
        """``(shift_fc, shift_ig, cell_frac)``: ``c' = rescale((f·c << shift_fc) + (i·g << shift_ig),
        cell_frac - c_fmt.frac, c_fmt.bits)``."""
        fc_frac = self.sigmoid.out_fmt.frac + layer.c_fmt.frac
        ig_frac = self.sigmoid.out_fmt.frac + self.tanh.out_fmt.frac
        cell_frac = max(fc_frac, ig_frac)
        return cell_frac - fc_frac, cell_frac - ig_frac, cell_frac

    def h_shift(self, layer: LstmLayer) -> int:
        """Right shift of ``o·tanh(c)`` to the h fraction."""
        return self.sigmoid.out_fmt.frac + self.tanh.out_fmt.frac - layer.h_fmt.frac

    def macs_per_step(self) -> int:
        """Dense multiply-accumulates of the LSTM stack per time step (head excluded)."""
        return sum(4 * la.n_hidden * (la.n_in + la.n_hidden) for la in self.layers)

    def formats_summary(self) -> str:
        """One line naming the formats, for generated-file headers and ``info``."""
        la = self.layers[0]
        wbits = sorted({g.w_ih.fmt.bits for la in self.layers for _, g in la.gates()})
        return (
            f"input {self.input_fmt} int{self.input_fmt.bits} | weights int{'/'.join(map(str, wbits))}"
            f" | cell {la.c_fmt} | h {la.h_fmt} | sigmoid {self.sigmoid.in_fmt}->{self.sigmoid.out_fmt}"
            f" | tanh {self.tanh.in_fmt}->{self.tanh.out_fmt} | out {self.head.out_fmt}"
            " | round half-up, saturate"
        )
