"""IR → IR transforms and measurements: what benchmarks, tests and studies do to a model.

Every transform returns a new, validated :class:`~lstmgen.ir.Model` and leaves its input
unchanged. The numbers of the units that stay are not changed (no re-quantization).

* :func:`select_units` keeps given units of each layer (rows of the four gates, their columns
  of ``W_hh`` and of the consumer: the next layer's ``W_ih`` or the head) - what compaction of a
  trained model does, applied to an IR;
* :func:`keep_fraction` keeps a share of every layer's units (the first ones, or a random draw);
* :func:`with_thresholds` sets each layer's SHS output-gate threshold;
* :func:`sparsify` picks thresholds so that a target share of ``h`` is zero on given inputs;
* :func:`h_zero_fractions` / :func:`h_zero_fraction` measure the zeros of ``h`` (golden model);
* :func:`executed_macs_per_step` the mult-adds per step when zero entries of ``h`` are skipped.

>>> from lstmgen.testing import random_model
>>> m = random_model(0, hidden=(8, 6))
>>> keep_fraction(m, 0.5).hidden
(4, 3)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from . import golden
from .errors import UsageError
from .ir import Gate, IntTensor, Model

__all__ = [
    "executed_macs_per_step",
    "h_zero_fraction",
    "h_zero_fractions",
    "keep_fraction",
    "select_units",
    "sparsify",
    "with_thresholds",
]


def _take(t: IntTensor, rows: np.ndarray | None, cols: np.ndarray | None) -> IntTensor:
    v = t.values
    if rows is not None:
        v = v[rows]
    if cols is not None:
        v = v[:, cols]
    return IntTensor(v, t.fmt, name=t.name)


def select_units(model: Model, kept: Sequence[Sequence[int]]) -> Model:
    """``model`` with only the units ``kept[l]`` (ascending indices, at least one) of each layer.

    Removes each dropped unit's rows in the four gates (and biases), its column of ``W_hh`` and
    its column of the consumer. Equal outputs are not promised: that holds only when a dropped
    unit's outgoing weights are zero (see :mod:`lstmgen.sparsity` for the checked compaction).
    """
    if len(kept) != len(model.layers):
        raise UsageError(f"select_units: {len(kept)} unit lists for {len(model.layers)} layers")
    idx = []
    for li, (k, H) in enumerate(zip(kept, model.hidden)):
        a = np.asarray(k, dtype=np.int64)
        if a.ndim != 1 or a.size < 1 or np.any(np.diff(a) <= 0) or a[0] < 0 or a[-1] >= H:
            raise UsageError(f"select_units: layer {li} needs ascending unit indices in 0..{H - 1}")
        idx.append(a)
    layers = []
    cols: np.ndarray | None = None  # kept inputs of the current layer (all of layer 0's)
    for la, rows in zip(model.layers, idx):
        gates = {n: Gate(_take(g.w_ih, rows, cols), _take(g.w_hh, rows, rows), _take(g.bias, rows, None))
                 for n, g in la.gates()}
        layers.append(dataclasses.replace(la, **gates))
        cols = rows
    head = dataclasses.replace(model.head, weight=_take(model.head.weight, None, cols))
    return model.replace(layers=tuple(layers), head=head)


def keep_fraction(model: Model, keep: float, *, seed: int | None = None) -> Model:
    """Keep ``round(keep · H)`` (at least one) units of every layer: the first ones, or with a
    ``seed`` a random draw (sorted)."""
    if not 0.0 < keep <= 1.0:
        raise UsageError(f"keep must be in (0, 1], got {keep}")
    rng = None if seed is None else np.random.default_rng(seed)
    kept = []
    for H in model.hidden:
        n = max(1, round(keep * H))
        kept.append(np.arange(n) if rng is None else np.sort(rng.choice(H, n, replace=False)))
    return select_units(model, kept)


def with_thresholds(model: Model, thresholds: Sequence[int | None]) -> Model:
    """``model`` with layer ``l``'s SHS output-gate threshold set to ``thresholds[l]``."""
    if len(thresholds) != len(model.layers):
        raise UsageError(f"{len(thresholds)} thresholds for {len(model.layers)} layers")
    layers = tuple(dataclasses.replace(la, o_threshold=None if t is None else int(t))
                   for la, t in zip(model.layers, thresholds))
    return model.replace(layers=layers)


def h_zero_fractions(model: Model, inputs: np.ndarray) -> list[float]:
    """Share of exact zeros in each layer's ``h`` over all vectors and steps (golden)."""
    return [float(np.mean(d["h"] == 0)) for d in golden.run(model, inputs, dump=True).layers]


def h_zero_fraction(model: Model, inputs: np.ndarray) -> float:
    """Share of exact zeros over every layer's ``h`` together (weighted by layer size)."""
    res = golden.run(model, inputs, dump=True)
    hs = [d["h"] for d in res.layers]
    return float(sum(int((h == 0).sum()) for h in hs) / sum(h.size for h in hs))


def sparsify(model: Model, inputs: np.ndarray, target: float) -> Model:
    """``model`` with SHS thresholds chosen so that at least ``target`` of each layer's ``h`` is
    zero on ``inputs``: per layer (bottom up, the layers below already thresholded) the
    smallest output-gate code that reaches the target, found by bisection on the golden model."""
    if not 0.0 <= target <= 1.0:
        raise UsageError(f"target zero fraction must be in [0, 1], got {target}")
    top = model.sigmoid.out_fmt.max_code
    thr: list[int | None] = [la.o_threshold for la in model.layers]
    for li in range(len(model.layers)):
        lo, hi = model.sigmoid.out_fmt.min_code - 1, top
        while hi - lo > 1:
            mid = (lo + hi) // 2
            trial = thr[:li] + [mid] + thr[li + 1:]
            if h_zero_fractions(with_thresholds(model, trial), inputs)[li] >= target:
                hi = mid
            else:
                lo = mid
        thr[li] = hi
    return with_thresholds(model, thr)


def executed_macs_per_step(model: Model, inputs: np.ndarray) -> float:
    """Mean mult-adds per step of the LSTM stack when zero entries of ``h`` are skipped
    (measured on golden's ``h``): per layer ``4·H·(X' + nnz(h_prev))``, ``X'`` the input width
    of layer 0 and the nonzeros of the layer below's new ``h`` above it. Equals
    :meth:`Model.macs_per_step` when no entry of ``h`` is zero."""
    res = golden.run(model, inputs, dump=True)
    total = 0.0
    for li, la in enumerate(model.layers):
        h = res.layers[li]["h"]  # (B, T, H) after each step
        prev = np.concatenate([np.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
        steps = h.shape[0] * h.shape[1]
        nnz_h = float(np.count_nonzero(prev)) / steps
        x_cols = float(la.n_in) if li == 0 else float(np.count_nonzero(res.layers[li - 1]["h"])) / steps
        total += 4 * la.n_hidden * (x_cols + nnz_h)
    return total
