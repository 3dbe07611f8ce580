"""The lstmgen IR: a small, frozen, typed description of a quantized LSTM network.

The IR carries everything a target needs (integer weights with their formats, activation
tables, cell/hidden formats, the SHS threshold, the head); targets compute nothing numerical
of their own. The integer semantics of these fields are defined by :mod:`lstmgen.golden`.

On disk an IR is one deterministic zip archive (``.lstmir``): ``ir.json`` (structure, formats,
scalars, ``"version": 1``) plus one ``.npy`` member per integer array. The same IR always
serialises to the same bytes.

Per layer and gate ``G`` in (i, f, g, o), with ``x`` in ``in_fmt`` and ``h`` in ``h_fmt``::

    acc   = (W_ih·x << shift_x) + (W_hh·h << shift_h) + bias    # bias.frac == acc_frac
    pre   = rescale(acc, acc_frac - table.in_fmt.frac, table.in_fmt.bits)
    gate  = table(pre)          # sigmoid for i, f, o; tanh for g

See :func:`lstmgen.golden.layer_step` for the cell update and the head.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import FormatError, IRError
from .fixedpoint import bits_for_bound, code_max, code_min

__all__ = [
    "GATES",
    "IR_VERSION",
    "ActTable",
    "Gate",
    "IntTensor",
    "Linear",
    "LstmLayer",
    "Model",
    "QFormat",
    "describe_ir",
    "dumps",
    "is_ir_file",
    "load",
    "loads",
    "save",
    "sha256",
]

IR_VERSION = 1
GATES = ("i", "f", "g", "o")
#: Widest intermediate any target must hold; the golden model computes in int64.
MAX_INTERMEDIATE_BITS = 62
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_ACT_BITS = (8, 16)  # activations, gates, h, table values and outputs are stored in int16
_WEIGHT_BITS = (8, 16)


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


def _bool_field(value: Any, where: str) -> bool:
    if type(value) is not bool:
        raise IRError(f"{where}: true or false expected, got {value!r}")
    return value


def _int_field(value: Any, where: str, lo: int | None = None, hi: int | None = None) -> int:
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

    func: str
    in_fmt: QFormat
    lo: int
    shift: int
    values: IntTensor
    interp: bool

    def __post_init__(self) -> None:
        if self.func not in ("sigmoid", "tanh"):
            raise IRError(f"table: unknown function {self.func!r}")
        w = f"table {self.func}"
        if self.in_fmt.bits not in _ACT_BITS:
            raise FormatError(f"{w}: input width {self.in_fmt.bits} not in {_ACT_BITS}")
        if self.values.fmt.bits not in _ACT_BITS:
            raise FormatError(f"{w}: output width {self.values.fmt.bits} not in {_ACT_BITS}")
        _int_field(self.shift, f"{w}.shift", 0, self.in_fmt.bits)
        _int_field(self.lo, f"{w}.lo", self.in_fmt.min_code, self.in_fmt.max_code)
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

    def acc_bound(self, gate: str) -> int:
        """Worst-case ``|acc|`` over every possible input and hidden code, from the stored weights."""
        g = getattr(self, gate)
        sx = np.abs(g.w_ih.values).sum(axis=1) if g.w_ih.values.size else np.zeros(self.n_hidden)
        sh = np.abs(g.w_hh.values).sum(axis=1)
        rows = [
            (int(a) * self.in_fmt.max_abs_code << self.shift_x(gate))
            + (int(b) * self.h_fmt.max_abs_code << self.shift_h(gate))
            + abs(int(c))
            for a, b, c in zip(sx, sh, g.bias.values)
        ]
        return max(rows, default=0)

    @property
    def acc_bits(self) -> int:
        """Accumulator width that makes overflow impossible, over all four gates."""
        return max(bits_for_bound(self.acc_bound(name)) for name in GATES)


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

    @property
    def acc_bound(self) -> int:
        rows = np.abs(self.weight.values).sum(axis=1)
        return max(
            (int(r) * self.in_fmt.max_abs_code + abs(int(b)) for r, b in zip(rows, self.bias.values)),
            default=0,
        )

    @property
    def acc_bits(self) -> int:
        return bits_for_bound(self.acc_bound)


# --------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True, slots=True, eq=False)
class Model:
    """A whole network: optional embedding (LM) → LSTM layers → head.

    ``kind`` is ``"classifier"`` (input: int16 vectors in ``input_fmt``; output: the head applied
    to ``h`` of the last layer) or ``"lm"`` (input: token ids; the embedding row is the layer-0
    input; output: the head at every step).
    """

    name: str
    kind: str
    layers: tuple[LstmLayer, ...]
    head: Linear
    sigmoid: ActTable
    tanh: ActTable
    embedding: IntTensor | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "meta", dict(self.meta))
        _validate(self)

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

    def cell_bits(self, layer: LstmLayer) -> int:
        """Width that holds ``(f·c << shift_fc) + (i·g << shift_ig)`` for every possible code."""
        s_fc, s_ig, _ = self.cell_shifts(layer)
        sb, tb = self.sigmoid.out_fmt.bits, self.tanh.out_fmt.bits
        fc = 1 << (sb - 1 + layer.c_fmt.bits - 1 + s_fc)
        ig = 1 << (sb - 1 + tb - 1 + s_ig)
        return bits_for_bound(fc + ig)

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


def _fail(where: str, msg: str) -> None:
    raise IRError(f"{where}: {msg}")


def _check_site(where: str, operand_bits: int, shift: int) -> None:
    """A rescale site: a left shift of an ``operand_bits``-wide value must stay within 62 bits."""
    if operand_bits + max(0, -shift) > MAX_INTERMEDIATE_BITS or shift > MAX_INTERMEDIATE_BITS:
        raise FormatError(
            f"{where}: rescale by {shift} of a {operand_bits}-bit value exceeds "
            f"{MAX_INTERMEDIATE_BITS} bits"
        )


def _validate(m: Model) -> None:
    if not isinstance(m.name, str) or not _NAME_RE.match(m.name):
        _fail("model", f"name {m.name!r} must be a C identifier: [a-z][a-z0-9_]{{0,31}}")
    if m.kind not in ("classifier", "lm"):
        _fail("model", f"unknown kind {m.kind!r} (classifier or lm)")
    if not m.layers:
        _fail("model", "needs at least one LSTM layer")
    if m.sigmoid.func != "sigmoid" or m.tanh.func != "tanh":
        _fail("model", "tables must be (sigmoid, tanh)")
    for t in (m.sigmoid, m.tanh):
        if t.out_fmt.bits != 16 or t.in_fmt.bits != 16:
            raise FormatError(f"table {t.func}: input and output must be 16-bit")
    for li, la in enumerate(m.layers):
        w = f"layer {li}"
        if li > 0 and la.in_fmt != m.layers[li - 1].h_fmt:
            _fail(w, f"input format {la.in_fmt} differs from layer {li - 1}'s h format")
        for fmt_name in ("in_fmt", "h_fmt"):
            if getattr(la, fmt_name).bits not in _ACT_BITS:
                raise FormatError(f"{w}: {fmt_name} width must be one of {_ACT_BITS}")
        if not 2 <= la.c_fmt.bits <= 32:
            raise FormatError(f"{w}: cell width {la.c_fmt.bits} out of range 2..32")
        if la.i.w_ih.values.ndim != 2:
            _fail(f"{w} gate i", f"w_ih must be 2-D, got shape {la.i.w_ih.shape}")
        H, X = la.n_hidden, la.n_in
        if H < 1 or X < 1:
            _fail(w, f"sizes must be >= 1, got hidden {H}, inputs {X}")
        for gname, g in la.gates():  # every shape before any bound is computed from them
            gw = f"{w} gate {gname}"
            if g.w_ih.shape != (H, X):
                _fail(gw, f"w_ih shape {g.w_ih.shape} != {(H, X)}")
            if g.w_hh.shape != (H, H):
                _fail(gw, f"w_hh shape {g.w_hh.shape} != {(H, H)}")
            if g.bias.shape != (H,):
                _fail(gw, f"bias shape {g.bias.shape} != {(H,)}")
            for t in (g.w_ih, g.w_hh):
                if t.fmt.bits not in _WEIGHT_BITS:
                    raise FormatError(f"{gw}: weight width {t.fmt.bits} not in {_WEIGHT_BITS}")
        if la.acc_bits > MAX_INTERMEDIATE_BITS:
            raise FormatError(f"{w}: accumulator bound needs {la.acc_bits} bits (> 62)")
        for gname, g in la.gates():
            gw = f"{w} gate {gname}"
            for what, shift in (("x", la.shift_x(gname)), ("h", la.shift_h(gname))):
                if shift > MAX_INTERMEDIATE_BITS:
                    raise FormatError(f"{gw}: aligning W·{what} needs a left shift of {shift} (> 62)")
            if g.bias.fmt.frac != la.acc_frac(gname):
                raise FormatError(
                    f"{gw}: bias fraction {g.bias.fmt.frac} != accumulator fraction {la.acc_frac(gname)}"
                )
            table = m.tanh if gname == "g" else m.sigmoid
            _check_site(gw, la.acc_bits, la.acc_frac(gname) - table.in_fmt.frac)
        # cell update: f*c and i*g aligned to the finer fraction, rescaled to c_fmt
        _, _, cell_frac = m.cell_shifts(la)
        _check_site(f"{w} cell", m.cell_bits(la), cell_frac - la.c_fmt.frac)
        _check_site(f"{w} tanh(c)", la.c_fmt.bits, la.c_fmt.frac - m.tanh.in_fmt.frac)
        _check_site(f"{w} h", 32, m.h_shift(la))
        if la.o_threshold is not None:
            s = m.sigmoid.out_fmt
            _int_field(la.o_threshold, f"{w}.o_threshold", s.min_code, s.max_code)
    top = m.layers[-1]
    if m.head.weight.values.ndim != 2:
        _fail("head", f"weight must be 2-D, got shape {m.head.weight.shape}")
    if m.head.in_fmt != top.h_fmt:
        _fail("head", f"input format {m.head.in_fmt} differs from the top layer's h format")
    if m.head.n_in != top.n_hidden:
        _fail("head", f"weight has {m.head.n_in} inputs, top layer has {top.n_hidden} units")
    if m.head.bias.shape != (m.head.n_out,):
        _fail("head", f"bias shape {m.head.bias.shape} != {(m.head.n_out,)}")
    if m.head.weight.fmt.bits not in _WEIGHT_BITS:
        raise FormatError(f"head: weight width {m.head.weight.fmt.bits} not in {_WEIGHT_BITS}")
    if m.head.bias.fmt.frac != m.head.acc_frac:
        raise FormatError("head: bias fraction must equal the accumulator fraction")
    if m.head.out_fmt.bits not in _ACT_BITS:
        raise FormatError(f"head: output width must be one of {_ACT_BITS}")
    if m.head.acc_bits > MAX_INTERMEDIATE_BITS:
        raise FormatError(f"head: accumulator bound needs {m.head.acc_bits} bits (> 62)")
    _check_site("head", m.head.acc_bits, m.head.acc_frac - m.head.out_fmt.frac)
    if m.kind == "lm":
        if m.embedding is None:
            _fail("model", "an lm needs an embedding")
        if m.embedding.fmt != m.input_fmt or m.embedding.shape[1:] != (m.n_in,):
            _fail("embedding", f"must be (vocab, {m.n_in}) in {m.input_fmt}")
        if m.embedding.shape[0] < 1:
            _fail("embedding", "vocabulary is empty")
    elif m.embedding is not None:
        _fail("model", "a classifier has no embedding")


# --------------------------------------------------------------------------------------------
# Serialisation


def _tensor_json(t: IntTensor, key: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    dtype = np.int8 if t.fmt.bits <= 8 else np.int16 if t.fmt.bits <= 16 else np.int32
    if t.fmt.bits > 32:
        dtype = np.int64
    arrays[key] = t.values.astype(dtype)
    return {"array": key, "fmt": t.fmt.to_json()}


def _model_json(m: Model, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    def table(t: ActTable) -> dict[str, Any]:
        return {
            "func": t.func,
            "in_fmt": t.in_fmt.to_json(),
            "lo": t.lo,
            "shift": t.shift,
            "interp": t.interp,
            "values": _tensor_json(t.values, f"tables/{t.func}", arrays),
        }

    layers = []
    for li, la in enumerate(m.layers):
        gates = {}
        for gname, g in la.gates():
            p = f"layers/{li}/{gname}"
            gates[gname] = {
                "w_ih": _tensor_json(g.w_ih, f"{p}/w_ih", arrays),
                "w_hh": _tensor_json(g.w_hh, f"{p}/w_hh", arrays),
                "bias": _tensor_json(g.bias, f"{p}/bias", arrays),
            }
        layers.append(
            {
                "in_fmt": la.in_fmt.to_json(),
                "c_fmt": la.c_fmt.to_json(),
                "h_fmt": la.h_fmt.to_json(),
                "o_threshold": la.o_threshold,
                "gates": gates,
            }
        )
    return {
        "format": "lstmgen-ir",
        "version": IR_VERSION,
        "generator": f"lstmgen {__version__}",
        "name": m.name,
        "kind": m.kind,
        "tables": {"sigmoid": table(m.sigmoid), "tanh": table(m.tanh)},
        "embedding": None if m.embedding is None else _tensor_json(m.embedding, "embedding", arrays),
        "layers": layers,
        "head": {
            "weight": _tensor_json(m.head.weight, "head/weight", arrays),
            "bias": _tensor_json(m.head.bias, "head/bias", arrays),
            "in_fmt": m.head.in_fmt.to_json(),
            "out_fmt": m.head.out_fmt.to_json(),
        },
        "meta": m.meta,
    }


_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
#: What a damaged archive member can raise while being inflated or parsed.
_ARCHIVE_ERRORS = (zlib.error, EOFError, NotImplementedError, ValueError, RuntimeError, OSError)


def dumps(model: Model) -> bytes:
    """Serialise ``model`` to the bytes of a ``.lstmir`` archive (deterministic)."""
    arrays: dict[str, np.ndarray] = {}
    doc = _model_json(model, arrays)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:

        def put(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compresslevel=6)

        put("ir.json", json.dumps(doc, indent=1, sort_keys=True).encode())
        for key in sorted(arrays):
            b = io.BytesIO()
            np.save(b, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            put(f"arrays/{key}.npy", b.getvalue())
    return buf.getvalue()


def save(model: Model, path: str | Path) -> Path:
    """Write ``model`` to ``path`` atomically (nothing is left behind on failure)."""
    from ._io import atomic_file

    path = Path(path)
    data = dumps(model)
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return path


def sha256(model: Model) -> str:
    """Hex SHA-256 of the model's serialised bytes: names the IR in generated files."""
    return hashlib.sha256(dumps(model)).hexdigest()


class _Reader:
    def __init__(self, zf: zipfile.ZipFile, src: str) -> None:
        self.zf, self.src = zf, src

    def tensor(self, obj: Any, where: str) -> IntTensor:
        if not isinstance(obj, dict) or "array" not in obj or "fmt" not in obj:
            raise IRError(f"{self.src}: {where}: expected {{array, fmt}}")
        member = f"arrays/{obj['array']}.npy"
        try:
            raw = self.zf.read(member)
            arr = np.load(io.BytesIO(raw), allow_pickle=False)
        except KeyError:
            raise IRError(f"{self.src}: {where}: missing array member {member}") from None
        except (zipfile.BadZipFile, *_ARCHIVE_ERRORS) as exc:
            raise IRError(f"{self.src}: {where}: unreadable array ({exc})") from None
        fmt = QFormat.from_json(obj["fmt"], f"{self.src}: {where}")
        try:
            return IntTensor(arr, fmt, name=where)
        except IRError as exc:
            raise type(exc)(f"{self.src}: {exc}") from None


def _get(d: Any, key: str, where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise IRError(f"{where}: missing field {key!r}")
    return d[key]


def loads(data: bytes, src: str = "<bytes>") -> Model:
    """Parse the bytes of a ``.lstmir`` archive; every problem raises :class:`IRError`."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        doc = json.loads(zf.read("ir.json"))
    except zipfile.BadZipFile:
        raise IRError(f"{src}: not an lstmgen IR archive (not a zip file)") from None
    except KeyError:
        raise IRError(f"{src}: not an lstmgen IR archive (no ir.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IRError(f"{src}: ir.json is not valid JSON ({exc})") from None
    except _ARCHIVE_ERRORS as exc:
        raise IRError(f"{src}: corrupted IR archive ({type(exc).__name__}: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != "lstmgen-ir":
        raise IRError(f"{src}: not an lstmgen IR (format field missing)")
    if type(doc.get("version")) is not int or doc.get("version") != IR_VERSION:
        raise IRError(
            f"{src}: IR version {doc.get('version')!r} is not supported (this lstmgen reads {IR_VERSION})"
        )
    r = _Reader(zf, src)
    try:

        def table(key: str) -> ActTable:
            t = _get(_get(doc, "tables", src), key, f"{src}: tables")
            w = f"{src}: tables.{key}"
            return ActTable(
                func=_get(t, "func", w),
                in_fmt=QFormat.from_json(_get(t, "in_fmt", w), w),
                lo=_int_field(_get(t, "lo", w), f"{w}.lo"),
                shift=_int_field(_get(t, "shift", w), f"{w}.shift"),
                values=r.tensor(_get(t, "values", w), f"tables.{key}"),
                interp=_bool_field(_get(t, "interp", w), f"{w}.interp"),
            )

        layers = []
        raw_layers = _get(doc, "layers", src)
        if not isinstance(raw_layers, list):
            raise IRError(f"{src}: layers must be a list")
        for li, la in enumerate(raw_layers):
            w = f"{src}: layer {li}"
            gates = _get(la, "gates", w)
            built = {}
            for gname in GATES:
                g = _get(gates, gname, w)
                built[gname] = Gate(
                    w_ih=r.tensor(_get(g, "w_ih", w), f"layer {li} gate {gname} w_ih"),
                    w_hh=r.tensor(_get(g, "w_hh", w), f"layer {li} gate {gname} w_hh"),
                    bias=r.tensor(_get(g, "bias", w), f"layer {li} gate {gname} bias"),
                )
            thr = _get(la, "o_threshold", w)
            layers.append(
                LstmLayer(
                    in_fmt=QFormat.from_json(_get(la, "in_fmt", w), w),
                    c_fmt=QFormat.from_json(_get(la, "c_fmt", w), w),
                    h_fmt=QFormat.from_json(_get(la, "h_fmt", w), w),
                    o_threshold=None if thr is None else _int_field(thr, f"{w}.o_threshold"),
                    **built,
                )
            )
        head = _get(doc, "head", src)
        emb = doc.get("embedding")
        meta = doc.get("meta", {})
        if not isinstance(meta, dict):
            raise IRError(f"{src}: meta must be an object")
        return Model(
            name=_get(doc, "name", src),
            kind=_get(doc, "kind", src),
            layers=tuple(layers),
            head=Linear(
                weight=r.tensor(_get(head, "weight", src), "head weight"),
                bias=r.tensor(_get(head, "bias", src), "head bias"),
                in_fmt=QFormat.from_json(_get(head, "in_fmt", src), f"{src}: head"),
                out_fmt=QFormat.from_json(_get(head, "out_fmt", src), f"{src}: head"),
            ),
            sigmoid=table("sigmoid"),
            tanh=table("tanh"),
            embedding=None if emb is None else r.tensor(emb, "embedding"),
            meta=meta,
        )
    except IRError as exc:
        msg = str(exc)
        raise type(exc)(msg if msg.startswith(src) else f"{src}: {msg}") from None


def load(path: str | Path) -> Model:
    """Read a ``.lstmir`` file; a missing, corrupted or foreign file raises :class:`IRError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IRError(f"{path}: cannot read IR ({exc.strerror})") from None
    return loads(data, str(path))


def is_ir_file(path: str | Path) -> bool:
    """True when ``path`` is a zip archive holding ``ir.json``."""
    try:
        with zipfile.ZipFile(path) as zf:
            return "ir.json" in zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def describe_ir(path: str | Path, as_json: bool = False) -> str:
    """Text (or one JSON object) describing the IR at ``path``: sizes, formats, bounds, MACs."""
    m = load(path)
    layers = []
    for li, la in enumerate(m.layers):
        layers.append(
            {
                "layer": li,
                "inputs": la.n_in,
                "hidden": la.n_hidden,
                "in_fmt": str(la.in_fmt),
                "weights": {
                    g: [str(gt.w_ih.fmt), str(gt.w_hh.fmt), f"bias {gt.bias.fmt}"]
                    for g, gt in la.gates()
                },
                "c_fmt": str(la.c_fmt),
                "h_fmt": str(la.h_fmt),
                "acc_bits": la.acc_bits,
                "o_threshold": la.o_threshold,
            }
        )
    info = {
        "name": m.name,
        "kind": m.kind,
        "version": IR_VERSION,
        "sha256": sha256(m),
        "input_fmt": str(m.input_fmt),
        "vocab": m.vocab,
        "n_in": m.n_in,
        "hidden": list(m.hidden),
        "n_out": m.n_out,
        "macs_per_step": m.macs_per_step(),
        "layers": layers,
        "head": {
            "weight": str(m.head.weight.fmt),
            "out_fmt": str(m.head.out_fmt),
            "acc_bits": m.head.acc_bits,
        },
        "tables": {
            t.func: {"entries": t.n, "in": str(t.in_fmt), "out": str(t.out_fmt),
                     "step": 2.0 ** (t.shift - t.in_fmt.frac), "interp": t.interp}
            for t in (m.sigmoid, m.tanh)
        },
        "meta": m.meta,
    }
    if as_json:
        return json.dumps(info, sort_keys=True)
    lines = [
        f"IR {path}  (version {IR_VERSION}, sha256 {info['sha256'][:16]}…)",
        f"model {m.name!r}: {m.kind}, input {m.input_fmt}"
        + (f", vocab {m.vocab}" if m.kind == "lm" else f", {m.n_in} features")
        + f", hidden {list(m.hidden)}, {m.n_out} outputs, {m.macs_per_step()} MACs/step",
    ]
    for la in layers:
        w = ", ".join(f"{g}: ih {v[0]} hh {v[1]}" for g, v in la["weights"].items())
        lines.append(
            f"  layer {la['layer']}: {la['inputs']}->{la['hidden']}  x {la['in_fmt']}  c {la['c_fmt']}"
            f"  h {la['h_fmt']}  acc {la['acc_bits']} bits"
            + (f"  SHS o>{la['o_threshold']}" if la["o_threshold"] is not None else "")
        )
        lines.append(f"    weights {w}")
    lines.append(
        f"  head: {m.head.n_in}->{m.n_out} weights {m.head.weight.fmt} out {m.head.out_fmt}"
        f" acc {m.head.acc_bits} bits"
    )
    for name, t in info["tables"].items():
        lines.append(
            f"  table {name}: {t['entries']} entries, {t['in']} -> {t['out']}, step {t['step']:g}"
            + (", interpolated" if t["interp"] else "")
        )
    if m.meta:
        lines.append("  meta: " + json.dumps(m.meta, sort_keys=True))
    return "\n".join(lines)
