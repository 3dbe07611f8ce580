"""The golden model: numpy integer arithmetic of an IR. THE SPEC every target must equal.

Only :mod:`lstmgen.fixedpoint` primitives and int64 numpy arithmetic are used (the IR's bounds
guarantee no intermediate exceeds 62 bits). Inputs may carry a batch dimension; every vector is
independent.

One time step of layer ``l`` (``x`` input codes, ``h``/``c`` previous state; tables from the IR)::

    for G in i, f, g, o:
        acc_G  = (W_ih_G·x << shift_x) + (W_hh_G·h << shift_h) + b_G
        pre_G  = rescale(acc_G, acc_frac - table.in.frac, table.in.bits)
        gate_G = table(pre_G)            # tanh table for g, sigmoid table otherwise
    o      = o if o > o_threshold else 0 # SHS, only when the layer has a threshold
    c'     = rescale((f·c << shift_fc) + (i·g << shift_ig), cell_frac - c.frac, c.bits)
    h'     = rescale(o · tanh(rescale(c', c.frac - tanh.in.frac, 16)), h_shift, h.bits)

Head: ``y = rescale(W·h + b, acc_frac - out.frac, out.bits)`` on the top layer's ``h`` (the
last step for a classifier, every step for an LM). With ``skip_zeros=True`` every product with
``h`` (recurrent, next layer, head) visits only the nonzero entries; the result is identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import DataError
from .fixedpoint import rescale, shift_round
from .ir import GATES, ActTable, Linear, Model

__all__ = [
    "LayerState",
    "RunResult",
    "check_inputs",
    "head",
    "initial_state",
    "layer_step",
    "run",
    "step",
    "table_lookup",
]


def table_lookup(table: ActTable, codes) -> np.ndarray:
    """Apply ``table`` to input codes (any shape); out-of-range inputs clamp to the end entries."""
    p = np.asarray(codes, dtype=np.int64)
    vals = table.values.values
    n = table.n
    d = p - np.int64(table.lo)
    idx = d >> np.int64(table.shift)
    idx_c = np.clip(idx, 0, n - 1)
    y = vals[idx_c]
    if table.interp and table.shift > 0:
        inner = (d >= 0) & (idx < n - 1)
        nxt = vals[np.minimum(idx_c + 1, n - 1)]
        r = d & np.int64((1 << table.shift) - 1)
        y = np.where(inner, y + shift_round((nxt - y) * r, table.shift), y)
    return y


def _matvec(w: np.ndarray, v: np.ndarray, skip_zeros: bool) -> np.ndarray:
    """``v @ w.T`` for a batch ``v`` (B, K); with ``skip_zeros`` only nonzero columns are read."""
    if not skip_zeros:
        return v @ w.T
    out = np.zeros((v.shape[0], w.shape[0]), dtype=np.int64)
    for b in range(v.shape[0]):
        nz = np.flatnonzero(v[b])
        if nz.size:
            out[b] = w[:, nz] @ v[b, nz]
    return out


@dataclass
class LayerState:
    """``h`` and ``c`` codes of one layer, shape (batch, hidden), int64."""

    h: np.ndarray
    c: np.ndarray


def initial_state(model: Model, batch: int = 1) -> list[LayerState]:
    """All-zero state (what ``<name>_reset`` sets in every target)."""
    return [
        LayerState(np.zeros((batch, la.n_hidden), np.int64), np.zeros((batch, la.n_hidden), np.int64))
        for la in model.layers
    ]


def layer_step(
    model: Model,
    li: int,
    x: np.ndarray,
    state: LayerState,
    *,
    skip_zeros: bool = False,
    x_is_hidden: bool = False,
    dump: dict[str, np.ndarray] | None = None,
    trace: dict[str, np.ndarray] | None = None,
) -> LayerState:
    """One time step of layer ``li`` on a batch ``x`` (B, n_in); returns the new state.

    ``x_is_hidden`` marks ``x`` as the previous layer's ``h`` (so zero-skipping applies to it).
    With ``dump`` given, the pre-activations and gate values (B, 4, H) are stored in it. With
    ``trace`` given, every intermediate is stored under its :mod:`lstmgen.plan` site name:
    ``mv_x/<G>``, ``mv_h/<G>``, ``acc/<G>`` (B, H), ``cell`` (the aligned sum before its
    rescale), ``tanh_in`` (c before its rescale), ``h`` (o·tanh(c) before its rescale).
    """
    la = model.layers[li]
    pre, gate = {}, {}
    for name, g in la.gates():
        table = model.tanh if name == "g" else model.sigmoid
        mv_x = _matvec(g.w_ih.values, x, skip_zeros and x_is_hidden)
        mv_h = _matvec(g.w_hh.values, state.h, skip_zeros)
        acc = shift_round(mv_x, -la.shift_x(name)) + shift_round(mv_h, -la.shift_h(name)) + g.bias.values
        pre[name] = rescale(acc, la.acc_frac(name) - table.in_fmt.frac, table.in_fmt.bits)
        gate[name] = table_lookup(table, pre[name])
        if trace is not None:
            trace[f"mv_x/{name}"], trace[f"mv_h/{name}"], trace[f"acc/{name}"] = mv_x, mv_h, acc
    o = gate["o"]
    if la.o_threshold is not None:
        o = np.where(o > la.o_threshold, o, 0)
        gate["o"] = o
    s_fc, s_ig, cell_frac = model.cell_shifts(la)
    cell = shift_round(gate["f"] * state.c, -s_fc) + shift_round(gate["i"] * gate["g"], -s_ig)
    c = rescale(cell, cell_frac - la.c_fmt.frac, la.c_fmt.bits)
    tc = table_lookup(
        model.tanh, rescale(c, la.c_fmt.frac - model.tanh.in_fmt.frac, model.tanh.in_fmt.bits)
    )
    h_prod = o * tc
    h = rescale(h_prod, model.h_shift(la), la.h_fmt.bits)
    if trace is not None:
        trace["cell"], trace["tanh_in"], trace["h"] = cell, c, h_prod
    if dump is not None:
        dump["pre"] = np.stack([pre[n] for n in GATES], axis=1)
        dump["gate"] = np.stack([gate[n] for n in GATES], axis=1)
    return LayerState(h, c)


def head(lin: Linear, h: np.ndarray, *, skip_zeros: bool = False,
         trace: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The output layer on a batch of top-layer ``h`` codes (B, H) → (B, n_out); ``trace`` as in
    :func:`layer_step` (``mv``, ``acc``)."""
    mv = _matvec(lin.weight.values, h, skip_zeros)
    acc = mv + lin.bias.values
    if trace is not None:
        trace["mv"], trace["acc"] = mv, acc
    return rescale(acc, lin.acc_frac - lin.out_fmt.frac, lin.out_fmt.bits)


def _embed(model: Model, tokens: np.ndarray) -> np.ndarray:
    assert model.embedding is not None
    return model.embedding.values[tokens]


def step(
    model: Model,
    state: list[LayerState],
    x: np.ndarray,
    *,
    skip_zeros: bool = False,
    with_head: bool = True,
    dumps: list[dict[str, np.ndarray]] | None = None,
) -> tuple[list[LayerState], np.ndarray | None]:
    """One time step of the whole stack: ``x`` is (B, n_in) codes, or (B,) token ids for an LM.

    Returns the new state and the head output (B, n_out) (``None`` without ``with_head``).
    """
    v = _embed(model, np.asarray(x)) if model.is_lm else np.asarray(x, np.int64)
    new = []
    for li in range(len(model.layers)):
        d = None if dumps is None else dumps[li]
        st = layer_step(model, li, v, state[li], skip_zeros=skip_zeros, x_is_hidden=li > 0, dump=d)
        new.append(st)
        v = st.h
    y = head(model.head, v, skip_zeros=skip_zeros) if with_head else None
    return new, y


@dataclass
class RunResult:
    """Outputs of :func:`run`.

    ``outputs``: classifier (B, n_out) at the last step; LM (B, T, n_out) at every step.
    ``layers``: with ``dump=True``, per layer a dict of arrays ``pre``/``gate`` (B, T, 4, H) and
    ``c``/``h`` (B, T, H).
    """

    outputs: np.ndarray
    layers: list[dict[str, np.ndarray]] = field(default_factory=list)


def check_inputs(model: Model, inputs) -> np.ndarray:
    """Validate a batch of input sequences: (B, T, n_in) codes, or (B, T) token ids for an LM."""
    arr = np.asarray(inputs)
    if arr.dtype.kind not in "iu":
        raise DataError(f"inputs must be integer codes, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise DataError("input codes exceed the int64 range")
    arr = arr.astype(np.int64)
    if model.is_lm:
        if arr.ndim != 2:
            raise DataError(f"LM inputs must be (batch, time) token ids, got shape {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() >= model.vocab):
            raise DataError(f"token ids must be in 0..{model.vocab - 1}")
    else:
        if arr.ndim != 3 or arr.shape[2] != model.n_in:
            raise DataError(
                f"classifier inputs must be (batch, time, {model.n_in}) codes, got shape {arr.shape}"
            )
        f = model.input_fmt
        if arr.size and (arr.min() < f.min_code or arr.max() > f.max_code):
            raise DataError(f"input codes out of range for {f.bits}-bit input format")
    if arr.shape[1] < 1:
        raise DataError("sequences need at least one time step")
    return arr


def run(model: Model, inputs, *, skip_zeros: bool = False, dump: bool = False) -> RunResult:
    """Run whole sequences from the reset state; see :class:`RunResult` for the outputs."""
    arr = check_inputs(model, inputs)
    B, T = arr.shape[:2]
    state = initial_state(model, B)
    per_step: list[list[dict[str, np.ndarray]]] = []
    outs = []
    for t in range(T):
        dumps = [{} for _ in model.layers] if dump else None
        last = t == T - 1
        state, y = step(
            model, state, arr[:, t], skip_zeros=skip_zeros,
            with_head=model.is_lm or last, dumps=dumps,
        )
        if dumps is not None:
            for d, st in zip(dumps, state):
                d["c"], d["h"] = st.c, st.h
            per_step.append(dumps)
        if model.is_lm or last:
            outs.append(y)
    outputs = np.stack(outs, axis=1) if model.is_lm else outs[-1]
    layers = []
    if dump:
        for li in range(len(model.layers)):
            layers.append({k: np.stack([s[li][k] for s in per_step], axis=1) for k in per_step[0][li]})
    return RunResult(outputs=outputs, layers=layers)
