"""The Vitis HLS back end: an IR becomes a C++ project that Vitis HLS synthesises and that g++
C-simulates bit for bit against :mod:`lstmgen.golden`.

``render(model, Options(...))`` returns ``{relative path: text}``, pure and deterministic (the
same IR and options give the same bytes). The files:

* ``<p>.h`` - the API: sizes, the ``ap_int``/``ap_uint`` port types, the state struct, the two
  top functions (``<p>_top`` over a whole sequence, ``<p>_step_top`` one step per call) and
  the building blocks ``<p>_reset`` / ``<p>_step`` / ``<p>_head`` the testbench also uses;
* ``<p>.cpp`` - weights, bias and tables as ``static const`` ROMs in the order the schedule
  reads them, one ``struct`` of plan widths per arithmetic site (``lstmgen.plan``: every
  ``ap_int<W>`` comes from there), and the layer functions with their pragmas;
* ``lg_hls.h`` - the hand-written kernel library from ``templates/hls/lib``;
* ``<p>_tb.cpp`` - the C-simulation testbench: reads the shared vector files
  (:mod:`lstmgen.verify.vectors`), runs both top functions and the per-step state, writes
  outputs (and h/c dumps); without arguments it checks a few embedded golden vectors;
* ``build.tcl`` (``vitis_hls -f build.tcl``: project, C simulation, synthesis, IP export) and a
  ``Makefile`` for the g++ C-simulation.

**Schedule and the reuse factor R.** Every layer step is one pipelined loop of ``R`` iterations
(``PIPELINE II=1``); iteration ``c`` computes all four gates and the cell update of the units
``c·U .. c·U+U-1`` where ``U = ceil(H/R)`` (the weight ROMs are padded with zero rows to
``R·U`` units). A unit needs every input and ``h`` column, so the column loops are unrolled and
the ROMs are partitioned along units and columns (``ARRAY_PARTITION complete``) and addressed
by ``c``. Multipliers per layer: ``4·U·(X + H)`` in the products plus ``3·U`` in the cell
update; the head ``ceil(n_out/R)·H`` - in all, **multipliers ≈ mult-adds per step / R**, and a
step takes about ``R`` cycles per layer (plus pipeline depth). ``R`` runs from 1 to the
smallest hidden size (a larger R would leave whole iterations without a unit).

**Zero-skipping** (``zero_skip="shs"``): a product with the ``h`` of a layer that has an SHS
output-gate threshold (its own ``W_hh·h``, the next layer's ``W_ih·h``, the head) runs column by
column and skips the zero entries of ``h``: each nonzero column takes ``R`` pipelined
iterations of ``4·U`` multipliers, so the product costs ``4·U`` multipliers (``K`` times fewer
than the dense schedule) and about ``K + (R + 2)·nnz(h)`` cycles instead of ``R``. It pays when
``h`` is sparse and multipliers matter more than latency; ``lstmgen report --target hls`` prints
both with the ``nnz(h)`` measured in C-simulation. Skipping never changes a result.

**Interfaces** (``interface``): ``axis`` - ``<p>_top(s_axis, m_axis)``, AXI4-Stream in and out
(``#pragma HLS INTERFACE axis``): one input code per beat (``n_in`` beats per step; an LM: one
token id per beat), ``TLAST`` on the last beat of the last step ends the sequence; outputs one
code per beat, ``TLAST`` on the last. ``array`` - ``<p>_top(x, n_steps, y)`` with ``ap_memory``
arrays (``x[MAX_STEPS][n_in]`` or ``tokens[MAX_STEPS]``) and an ``ap_none`` length.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import __version__, golden
from ..errors import UsageError
from ..ir import ActTable, IntTensor, Model, sha256
from ..plan import Accumulator, MatVec, Rescale
from . import _jinja
from .registry import option

__all__ = [
    "DEFAULT_CLOCK_NS",
    "DEFAULT_PART",
    "INTERFACES",
    "SPARSE_COLUMN_OVERHEAD",
    "ZERO_SKIP",
    "LayerSchedule",
    "Options",
    "Product",
    "Schedule",
    "render",
    "schedule",
]

INTERFACES = ("axis", "array")
ZERO_SKIP = ("off", "shs")
#: The FPGA part build.tcl names by default (a Virtex UltraScale+, hls4ml's default too).
DEFAULT_PART = "xcvu13p-flga2577-2-e"
DEFAULT_CLOCK_NS = 5.0
#: Cycles a zero-skipping product spends per nonzero column beyond its R iterations (pipeline
#: fill and drain of the inner loop); an estimate used by the latency figures.
SPARSE_COLUMN_OVERHEAD = 2
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_RESERVED = ("lg_hls",)
_PART_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_MAX_STEPS_LIMIT = 1 << 20
_GATE_LABEL = {"i": "input", "f": "forget", "g": "cell candidate", "o": "output"}
#: Input sequences embedded in the testbench's self-check (run without arguments).
SELFCHECK_VECTORS, SELFCHECK_STEPS = 2, 3


@dataclass(frozen=True)
class Options:
    """Options of the HLS back end; invalid values raise :class:`~lstmgen.errors.UsageError`.

    ``reuse`` (R): cycles per layer step; multipliers ≈ mult-adds per step / R (see the module
    docstring); 1 <= R <= the smallest hidden size (checked against the model by
    :func:`render`). ``interface``: ``axis`` (AXI4-Stream) or ``array`` (``ap_memory`` ports).
    ``zero_skip``: ``shs`` skips zero ``h`` entries of SHS layers column by column, ``off``
    keeps every product dense. ``prefix``: C++ name prefix and file stem (default: the model
    name). ``max_steps``: longest sequence of the ``array`` ports and of the testbench
    buffers. ``part`` / ``clock_ns``: FPGA part and clock period written into ``build.tcl``.
    """

    reuse: int = option(1, "reuse factor R: each layer step takes R pipelined cycles and "
                        "multipliers ≈ mult-adds per step / R (1 .. smallest hidden size)",
                        metavar="R")
    interface: str = option("axis", "top-function ports: AXI4-Stream (axis) or ap_memory "
                            "arrays (array)", choices=INTERFACES)
    zero_skip: str = option("off", "shs: products with the h of an SHS layer skip its zero "
                            "entries column by column (fewer multipliers, latency grows with "
                            "nnz(h)); off: every product dense", choices=ZERO_SKIP)
    prefix: str | None = option(None, "C++ name prefix and file stem (default: the model name)")
    max_steps: int = option(1024, "longest sequence of the array ports and testbench buffers",
                            metavar="N")
    part: str = option(DEFAULT_PART, "FPGA part named in build.tcl", metavar="PART")
    clock_ns: float = option(DEFAULT_CLOCK_NS, "clock period in ns named in build.tcl",
                             metavar="NS")

    def __post_init__(self) -> None:
        if isinstance(self.reuse, bool) or not isinstance(self.reuse, int) or self.reuse < 1:
            raise UsageError(f"--reuse must be a positive integer, got {self.reuse!r}")
        if self.interface not in INTERFACES:
            raise UsageError(f"--interface {self.interface!r}: choose one of {', '.join(INTERFACES)}")
        if self.zero_skip not in ZERO_SKIP:
            raise UsageError(f"--zero-skip {self.zero_skip!r}: choose one of {', '.join(ZERO_SKIP)}")
        if self.prefix is not None:
            _check_prefix(self.prefix, "--prefix")
        if (isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int)
                or not 1 <= self.max_steps <= _MAX_STEPS_LIMIT):
            raise UsageError(f"--max-steps must be an integer in 1..{_MAX_STEPS_LIMIT}, "
                             f"got {self.max_steps!r}")
        if not isinstance(self.part, str) or not _PART_RE.match(self.part):
            raise UsageError(f"--part {self.part!r}: letters, digits, '.', '_' and '-' only")
        if (isinstance(self.clock_ns, bool) or not isinstance(self.clock_ns, (int, float))
                or not math.isfinite(self.clock_ns) or not 0 < self.clock_ns <= 1000):
            raise UsageError(f"--clock-ns must be a period in (0, 1000] ns, got {self.clock_ns!r}")

    def prefix_for(self, model: Model) -> str:
        """The prefix used for ``model``."""
        if self.prefix is not None:
            return self.prefix
        _check_prefix(model.name, f"model name {model.name!r} as prefix (pass --prefix)")
        return model.name


def _check_prefix(prefix: str, what: str) -> None:
    if not isinstance(prefix, str) or not _PREFIX_RE.match(prefix):
        raise UsageError(f"{what}: {prefix!r} must match [a-z][a-z0-9_]{{0,31}}")
    if prefix in _RESERVED:
        raise UsageError(f"{what}: {prefix!r} would clash with a generated file name")


# --------------------------------------------------------------------------------------------
# The schedule: what R and zero-skipping imply (also read by the report)


@dataclass(frozen=True)
class Product:
    """One matrix-vector product of a step: ``rows`` x ``cols`` mult-adds, computed ``per``
    rows per iteration over ``reuse`` iterations, either dense (all columns at once) or
    ``sparse`` (column by column, zero entries of the input skipped)."""

    name: str
    rows: int
    cols: int
    reuse: int
    per: int
    sparse: bool

    @property
    def macs(self) -> int:
        return self.rows * self.cols

    @property
    def multipliers(self) -> int:
        """Multipliers the schedule instantiates for this product."""
        return self.per if self.sparse else self.per * self.cols

    def cycles(self, nnz: float | None = None) -> float:
        """Estimated cycles (pipeline depth excluded): ``reuse`` dense; sparse
        ``cols + (reuse + overhead) * nnz`` with ``nnz`` nonzero inputs (default: all)."""
        if not self.sparse:
            return float(self.reuse)
        n = self.cols if nnz is None else nnz
        return self.cols + (self.reuse + SPARSE_COLUMN_OVERHEAD) * n


@dataclass(frozen=True)
class LayerSchedule:
    """One layer: ``units`` (U) units per iteration over ``reuse`` iterations (``R·U >= H``)."""

    index: int
    n_in: int
    n_hidden: int
    reuse: int
    units: int
    x: Product
    h: Product

    @property
    def padded(self) -> int:
        return self.reuse * self.units

    @property
    def pointwise_multipliers(self) -> int:
        """f·c, i·g and o·tanh(c) for each unit of an iteration."""
        return 3 * self.units


@dataclass(frozen=True)
class Schedule:
    """What ``--reuse R`` and ``--zero-skip`` imply for a model (see the module docstring)."""

    reuse: int
    layers: tuple[LayerSchedule, ...]
    head: Product
    macs_per_step: int
    head_every_step: bool

    @property
    def product_multipliers(self) -> int:
        """Multipliers of the LSTM products and the head."""
        return sum(la.x.multipliers + la.h.multipliers for la in self.layers) + \
            self.head.multipliers

    @property
    def multipliers(self) -> int:
        """Every multiplier: products, head and cell updates."""
        return self.product_multipliers + sum(la.pointwise_multipliers for la in self.layers)

    def cycles_per_step(self, nnz: list[float] | None = None) -> float:
        """Estimated cycles of one step (the head included when it runs every step): each layer
        R cycles plus its zero-skipping products; ``nnz[l]`` is the mean nonzero count of layer
        l's h (default: dense)."""
        def n(li: int) -> float | None:
            return None if nnz is None else nnz[li]
        total = 0.0
        for la in self.layers:
            total += la.reuse
            if la.x.sparse:
                total += la.x.cycles(n(la.index - 1))
            if la.h.sparse:
                total += la.h.cycles(n(la.index))
        if self.head_every_step:
            total += self.head.cycles(n(len(self.layers) - 1))
        return total

    def head_cycles(self, nnz: list[float] | None = None) -> float:
        return self.head.cycles(None if nnz is None else nnz[-1])


def _sparse_h(model: Model, li: int, opts: Options) -> bool:
    """True when products with layer ``li``'s h skip its zero entries."""
    return opts.zero_skip == "shs" and model.layers[li].o_threshold is not None


def schedule(model: Model, opts: Options) -> Schedule:
    """The schedule of ``model`` under ``opts``; an R above some layer's hidden size raises
    :class:`UsageError` naming the layer."""
    R = opts.reuse
    for li, la in enumerate(model.layers):
        if R > la.n_hidden:
            raise UsageError(
                f"--reuse {R} exceeds layer {li}'s {la.n_hidden} units: each of the R cycles "
                f"computes at least one unit; choose R in 1..{min(model.hidden)}")
    layers = []
    for li, la in enumerate(model.layers):
        U = -(-la.n_hidden // R)
        x = Product(f"layer {li} W_ih·{'x' if li == 0 else f'h{li - 1}'}", 4 * la.n_hidden,
                    la.n_in, R, 4 * U, li > 0 and _sparse_h(model, li - 1, opts))
        h = Product(f"layer {li} W_hh·h{li}", 4 * la.n_hidden, la.n_hidden, R, 4 * U,
                    _sparse_h(model, li, opts))
        layers.append(LayerSchedule(li, la.n_in, la.n_hidden, R, U, x, h))
    top = len(model.layers) - 1
    head = Product(f"head W·h{top}", model.n_out, model.layers[top].n_hidden, R,
                   -(-model.n_out // R), _sparse_h(model, top, opts))
    return Schedule(R, tuple(layers), head, model.macs_per_step(), model.is_lm)


# --------------------------------------------------------------------------------------------
# The view: everything the templates print, computed here


def _ctype(bits: int) -> str:
    return "int8_t" if bits <= 8 else "int16_t" if bits <= 16 else "int32_t" if bits <= 32 \
        else "int64_t"


def _word(bits: int) -> int:
    """AXI4-Stream TDATA width: ``bits`` rounded up to whole bytes."""
    return 8 * -(-bits // 8)


def _init(arr: np.ndarray, label=None, indent: int = 4, path: tuple[int, ...] = ()) -> str:
    """A C initializer (nested braces) of an integer array of any rank; ``label(path)`` may
    name a sub-array (a comment after its opening brace, or after a one-line row)."""
    a = np.asarray(arr)
    note = None if label is None or not path else label(path)
    if a.ndim == 1:
        row = "{ " + _jinja.c_array(a.tolist(), per_line=16, indent=indent + 2) + " }"
        return row if note is None else f"{row} /* {note} */"
    pad = " " * indent
    inner = [_init(sub, label, indent + 2, (*path, i)) for i, sub in enumerate(a)]
    head = "{" if note is None else f"{{ // {note}"
    body = []
    for i, s in enumerate(inner):
        comma = "," if i < len(inner) - 1 else ""
        if s.endswith("*/") and comma:  # keep the comma before a row's comment
            k = s.rindex(" /* ")
            s = s[:k] + comma + s[k:]
            comma = ""
        body.append(pad + "  " + s + comma)
    return head + "\n" + "\n".join(body) + "\n" + pad + "}"


def _unit_labels(gates: bool, sparse: bool, U: int, n_units: int, what: str = "unit"):
    """Comments for the weight layouts: ``[gate][iteration][unit][column]`` (dense) or
    ``[gate][column][iteration][unit]`` (sparse); without ``gates`` the gate level is absent."""
    names = "ifgo"

    def label(path: tuple[int, ...]) -> str | None:
        if gates:
            if len(path) == 1:
                return f"gate {names[path[0]]}"
            path = path[1:]
        if sparse:
            return f"column {path[0]}" if len(path) == 1 else f"iteration {path[1]}"
        if len(path) == 1:
            lo = path[0] * U
            return f"iteration {path[0]}: {what}s {lo}..{min(lo + U, n_units) - 1}" \
                if lo < n_units else f"iteration {path[0]}: padding"
        if len(path) == 2:
            u = path[0] * U + path[1]
            return f"{what} {u}" if u < n_units else "padding"
        return None
    return label


def _padded_rows(t: IntTensor, rows: int) -> np.ndarray:
    """The weight matrix (rows = outputs) with zero rows appended up to ``rows``."""
    v = np.asarray(t.values, dtype=np.int64)
    return np.pad(v, ((0, rows - v.shape[0]), (0, 0)))


def _layout(mats: list[np.ndarray], R: int, U: int, sparse: bool) -> np.ndarray:
    """Per-gate matrices (R·U rows, K columns) in the order the schedule reads them: dense
    ``[gate][iteration][unit][column]``, sparse ``[gate][column][iteration][unit]``."""
    stacked = np.stack([m.reshape(R, U, m.shape[1]) for m in mats])  # [g][c][j][k]
    return stacked.transpose(0, 3, 1, 2) if sparse else stacked


def _site(site: Rescale) -> dict[str, int]:
    return {"shift": site.shift, "rw": site.round_bits, "w": site.out_bits}


def _table_view(p: str, t: ActTable, interp_bits: int) -> dict[str, Any]:
    return {
        "name": f"{p}_{t.func}",
        "func": str(t.func),
        "n": t.n,
        "lo": t.lo,
        "shift": t.shift,
        "interp": int(bool(t.interp) and t.shift > 0),
        "in_w": t.in_fmt.bits,
        "out_w": t.out_fmt.bits,
        "ip_w": interp_bits,
        "ctype": _ctype(t.out_fmt.bits),
        "entries": _jinja.c_array(t.values.values.tolist(), per_line=12, indent=4),
        "in_fmt": str(t.in_fmt),
        "out_fmt": str(t.out_fmt),
    }


def _gate_view(model: Model, li: int, name: str) -> dict[str, Any]:
    la, site = model.layers[li], model.plan.layers[li].gates[name]
    g = getattr(la, name)
    mv_x, mv_h, acc = site.mv_x, site.mv_h, site.acc
    assert isinstance(mv_x, MatVec) and isinstance(acc, Accumulator)
    return {
        "name": name,
        "label": _GATE_LABEL[name],
        "table": f"{'tanh' if name == 'g' else 'sigmoid'}",
        "wx_bits": g.w_ih.fmt.bits,
        "wh_bits": g.w_hh.fmt.bits,
        "mvx_w": mv_x.bits,
        "mvh_w": mv_h.bits,
        "acc_w": acc.bits,
        "shift_x": acc.shift_x,
        "shift_h": acc.shift_h,
        "b_w": g.bias.fmt.bits,
        "pre": _site(site.pre),
        "w_ih_fmt": str(g.w_ih.fmt),
        "w_hh_fmt": str(g.w_hh.fmt),
        "bias_fmt": str(g.bias.fmt),
    }


def _cell_view(model: Model, li: int) -> dict[str, Any]:
    la, lp = model.layers[li], model.plan.layers[li]
    cell = lp.cell
    fused = cell.fused
    thr = lp.o_threshold
    return {
        "sig_w": model.sigmoid.out_fmt.bits,
        "tanh_w": model.tanh.out_fmt.bits,
        "c_w": la.c_fmt.bits,
        "h_w": la.h_fmt.bits,
        "fc_w": cell.fc_bits,
        "ig_w": cell.ig_bits,
        "s_fc": cell.s_fc,
        "s_ig": cell.s_ig,
        "fused": int(fused is not None),
        "k": 0 if fused is None else fused.k,
        "shifted_fc": int(fused is not None and fused.shifted == "fc"),
        "sum_w": cell.sum_bits if fused is None else fused.rescale.in_bits,
        "c": _site(cell.rescale if fused is None else fused.rescale),
        "tin": _site(lp.tanh_in),
        "p_w": lp.h.in_bits,
        "h": _site(lp.h),
        "has_threshold": int(thr is not None),
        "threshold": 0 if thr is None else thr,
        "always_zero": int(lp.o_always_zero),
    }


def _layer_view(model: Model, li: int, p: str, sch: LayerSchedule) -> dict[str, Any]:
    la = model.layers[li]
    R, U, HP = sch.reuse, sch.units, sch.padded
    gates = [_gate_view(model, li, name) for name in ("i", "f", "g", "o")]
    w_ih = _layout([_padded_rows(g.w_ih, HP) for _, g in la.gates()], R, U, sch.x.sparse)
    w_hh = _layout([_padded_rows(g.w_hh, HP) for _, g in la.gates()], R, U, sch.h.sparse)
    bias = np.stack([np.pad(g.bias.values, (0, HP - la.n_hidden)).reshape(R, U)
                     for _, g in la.gates()])
    wx_bits = max(g["wx_bits"] for g in gates)
    wh_bits = max(g["wh_bits"] for g in gates)
    b_bits = max(g["b_w"] for g in gates)
    return {
        "index": li,
        "X": la.n_in,
        "H": la.n_hidden,
        "R": R,
        "U": U,
        "HP": HP,
        "padded": HP > la.n_hidden,
        "x_sparse": sch.x.sparse,
        "h_sparse": sch.h.sparse,
        "in_fmt": str(la.in_fmt),
        "h_fmt": str(la.h_fmt),
        "c_fmt": str(la.c_fmt),
        "h_w": la.h_fmt.bits,
        "c_w": la.c_fmt.bits,
        "x_w": la.in_fmt.bits,
        "gates": gates,
        "cell": _cell_view(model, li),
        "w_ih": {"ctype": _ctype(wx_bits), "dims": "".join(
            f"[{d}]" for d in w_ih.shape),
            "init": _init(w_ih, _unit_labels(True, sch.x.sparse, U, la.n_hidden))},
        "w_hh": {"ctype": _ctype(wh_bits), "dims": "".join(
            f"[{d}]" for d in w_hh.shape),
            "init": _init(w_hh, _unit_labels(True, sch.h.sparse, U, la.n_hidden))},
        "bias": {"ctype": _ctype(b_bits),
                 "init": _init(bias, _unit_labels(True, False, U, la.n_hidden))},
        "accx_w": max(g["mvx_w"] for g in gates),
        "acch_w": max(g["mvh_w"] for g in gates),
        "o_threshold": model.plan.layers[li].o_threshold,
        "multipliers": sch.x.multipliers + sch.h.multipliers + sch.pointwise_multipliers,
        "x_mults": sch.x.multipliers,
        "h_mults": sch.h.multipliers,
    }


def _head_view(model: Model, sch: Schedule) -> dict[str, Any]:
    hd, hp = model.head, model.plan.head
    prod = sch.head
    R, UH = prod.reuse, prod.per
    w = _padded_rows(hd.weight, R * UH).reshape(R, UH, hd.n_in)  # [c][j][k]
    if prod.sparse:
        w = w.transpose(2, 0, 1)  # [k][c][j]
    bias = np.pad(hd.bias.values, (0, R * UH - hd.n_out)).reshape(R, UH)
    return {
        "R": R,
        "U": UH,
        "padded": R * UH > hd.n_out,
        "K": hd.n_in,
        "sparse": prod.sparse,
        "wb": hd.weight.fmt.bits,
        "w": {"ctype": _ctype(hd.weight.fmt.bits),
              "init": _init(w, _unit_labels(False, prod.sparse, UH, hd.n_out, "output")),
              "dims": "".join(f"[{d}]" for d in w.shape)},
        "bias": {"ctype": _ctype(hd.bias.fmt.bits),
                 "init": _init(bias, _unit_labels(False, False, UH, hd.n_out, "output"))},
        "b_w": hd.bias.fmt.bits,
        "mv_w": hp.mv.bits,
        "acc_w": hp.acc.bits,
        "out": _site(hp.out),
        "fmt": str(hd.weight.fmt),
        "bias_fmt": str(hd.bias.fmt),
        "out_fmt": str(hd.out_fmt),
        "multipliers": prod.multipliers,
    }


def _selfcheck(model: Model) -> dict[str, Any]:
    """A few input sequences and the golden model's outputs, embedded in the testbench."""
    from ..testing import random_inputs

    x = random_inputs(model, SELFCHECK_VECTORS, SELFCHECK_STEPS, seed=0)
    y = golden.run(model, x).outputs
    return {"n": SELFCHECK_VECTORS, "steps": SELFCHECK_STEPS,
            "inputs": _jinja.c_array(x.reshape(-1).tolist(), per_line=16, indent=4),
            "outputs": _jinja.c_array(y.reshape(-1).tolist(), per_line=16, indent=4)}


def _banner(model: Model, file: str, comment: str = "//") -> dict[str, str]:
    return {
        "file": file,
        "title": f'{file} - generated by lstmgen {__version__} from model "{model.name}" '
        f"(ir sha256 {sha256(model)})",
        "formats": model.formats_summary(),
        "c": comment,
    }


def _view(model: Model, opts: Options) -> dict[str, Any]:
    p = opts.prefix_for(model)
    sch = schedule(model, opts)
    lp0 = model.plan.layers[0]
    vocab = model.vocab
    token_bits = max(1, (vocab - 1).bit_length()) if model.is_lm else 1
    return {
        "p": p,
        "P": p.upper(),
        "model": model.name,
        "kind": str(model.kind),
        "lm": model.is_lm,
        "axis": opts.interface == "axis",
        "interface": opts.interface,
        "zero_skip": opts.zero_skip,
        "reuse": opts.reuse,
        "n_in": model.n_in,
        "n_out": model.n_out,
        "n_layers": len(model.layers),
        "vocab": vocab,
        "hidden": list(model.hidden),
        "in_w": model.input_fmt.bits,
        "in_word": _word(model.input_fmt.bits),
        "token_w": token_bits,
        "token_word": _word(token_bits),
        "out_w": model.head.out_fmt.bits,
        "out_word": _word(model.head.out_fmt.bits),
        "max_steps": opts.max_steps,
        "len_w": opts.max_steps.bit_length(),
        "input_fmt": str(model.input_fmt),
        "in_min": model.input_fmt.min_code,
        "in_max": model.input_fmt.max_code,
        "macs": model.macs_per_step(),
        "multipliers": sch.multipliers,
        "product_multipliers": sch.product_multipliers,
        "cycles_dense": sch.cycles_per_step(),
        "tables": [_table_view(p, model.sigmoid, lp0.gates["i"].lookup.interp_bits),
                   _table_view(p, model.tanh, lp0.gates["g"].lookup.interp_bits)],
        "layers": [_layer_view(model, li, p, sch.layers[li]) for li in range(len(model.layers))],
        "top": len(model.layers) - 1,
        "head": _head_view(model, sch),
        "embedding": None if model.embedding is None else _init(
            model.embedding.values, lambda path: f"token {path[0]}"),
        "emb_ctype": _ctype(model.input_fmt.bits),
        "selfcheck": _selfcheck(model),
        "part": opts.part,
        "clock_ns": f"{float(opts.clock_ns):g}",
    }


_TEMPLATES = {
    "{p}.h": "hls/model.h.j2",
    "{p}.cpp": "hls/model.cpp.j2",
    "{p}_tb.cpp": "hls/tb.cpp.j2",
    "build.tcl": "hls/build.tcl.j2",
    "Makefile": "hls/Makefile.j2",
}
_LIBRARY = ("lg_hls.h",)


def render(model: Model, opts: Options | None = None) -> dict[str, str]:
    """Every generated file as ``{relative path: text}``; the same inputs give the same bytes.

    Raises :class:`UsageError` when the options do not fit the model (prefix, reuse).
    """
    opts = Options() if opts is None else opts
    v = _view(model, opts)
    p = v["p"]
    files = {}
    for name, tpl in _TEMPLATES.items():
        fname = name.format(p=p)
        comment = "#" if fname in ("build.tcl", "Makefile") else "//"
        files[fname] = _jinja.render(tpl, banner=_banner(model, fname, comment), **v)
    for lib in _LIBRARY:
        b = _banner(model, lib)
        files[lib] = (f"// {b['title'].replace('generated', 'copied', 1)}\n// {b['formats']}\n"
                      + _jinja.read_static(f"hls/lib/{lib}"))
    return dict(sorted(files.items()))
