"""Sparse hidden states (SHS): the L1 penalty on the output gate, h-sparsity counts, and the
check that the deployed integer threshold zeroes the same entries as the float model.

* :func:`shs_penalty` — ``Σ_l w_l · Σ σ(a_o)`` over the last forward (every step, sequence and
  unit; ``w_0 = 1`` and ``w_l = layer_factor`` for every upper layer, the reference code's
  doubling at the default 2). The training loop adds ``shs_lambda · penalty / batch`` to the
  per-batch loss, which is the cross-entropy summed over steps and averaged over the batch; so
  a reference ``gate_decay_rate`` ρ (whose loss is the *mean* per-token cross-entropy plus ρ
  times the same sum) corresponds to ``shs_lambda = ρ · batch · bptt``.
* :class:`HZeroCounter` / :func:`count_h_zeros` — the share of exact zeros in every layer's
  ``h`` (all steps) over any number of forwards.
* :func:`zero_pattern_agreement` — float model vs golden model on the same inputs: where the
  output gate is zeroed by each, and how many entries lie within one sigmoid-table step of the
  threshold (the only place the two may disagree).
* :func:`deployed_h_stats` — zeros of ``h`` and mult-adds per step with zero-skipping of an IR
  on given inputs (golden model, the LSTM stack only: an LM's softmax is not run).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import UsageError
from ..nn.lstm import LSTMStack

__all__ = [
    "HZeroCounter",
    "ZeroPattern",
    "count_h_zeros",
    "deployed_h_stats",
    "float_gate_trace",
    "shs_penalty",
    "stack_of",
    "zero_pattern_agreement",
]


def stack_of(model: nn.Module) -> LSTMStack | None:
    """The :class:`~lstmgen.nn.LSTMStack` of an lstmgen model, also through the wrappers the
    training loop uses (DDP's ``module``, QAT's ``base``, the LM's ``inner``); None for a model
    without one."""
    m: object = model
    for _ in range(8):
        if isinstance(m, LSTMStack):
            return m
        lstm = getattr(m, "lstm", None)
        if isinstance(lstm, LSTMStack):
            return lstm
        for name in ("module", "base", "inner"):
            nxt = getattr(m, name, None)
            if isinstance(nxt, nn.Module):
                m = nxt
                break
        else:
            return None
    return None


def shs_penalty(model: nn.Module, layer_factor: float = 2.0) -> torch.Tensor:
    """``Σ_l w_l · o_sums[l]`` of the model's last forward (``w_0 = 1``, ``w_l = layer_factor``
    above). Raises UsageError when the model has no SHS stack or has not run forward."""
    lstm = stack_of(model)
    if lstm is None or lstm.shs_threshold is None:
        raise UsageError("the SHS penalty needs a model trained with an SHS threshold")
    sums = lstm.o_sums
    if not sums:
        raise UsageError("the SHS penalty is taken from the last forward; run the model first")
    total = sums[0]
    for s in sums[1:]:
        total = total + layer_factor * s
    return total


@dataclass
class HZeroCounter:
    """Counts of exact zeros in each layer's ``h`` (device tensors until :meth:`fractions`)."""

    zeros: dict[int, torch.Tensor] = field(default_factory=dict)
    total: dict[int, int] = field(default_factory=dict)

    def add(self, layer: int, h: torch.Tensor) -> None:
        """Add the entries of ``h`` (any shape) of layer ``layer``."""
        z = (h == 0).sum()
        self.zeros[layer] = self.zeros[layer] + z if layer in self.zeros else z
        self.total[layer] = self.total.get(layer, 0) + h.numel()

    def fractions(self) -> list[float]:
        """Share of zeros per layer (layers in order)."""
        return [float(self.zeros[k]) / max(self.total[k], 1) for k in sorted(self.zeros)]

    def mean(self) -> float:
        """Share of zeros over all layers' entries together."""
        n = sum(self.total.values())
        return float(sum(float(v) for v in self.zeros.values())) / n if n else 0.0

    def metrics(self, prefix: str = "") -> dict[str, object]:
        """``{prefix}h_zeros`` (mean) and ``{prefix}h_zeros_per_layer``; empty when nothing was
        counted."""
        if not self.zeros:
            return {}
        return {f"{prefix}h_zeros": round(self.mean(), 6),
                f"{prefix}h_zeros_per_layer": [round(v, 6) for v in self.fractions()]}


@contextlib.contextmanager
def count_h_zeros(model: nn.Module) -> Iterator[HZeroCounter]:
    """Count the zeros of ``h`` in every forward of ``model`` inside the block. A model
    without an lstmgen stack yields a counter that stays empty."""
    counter = HZeroCounter()
    lstm = stack_of(model)
    if lstm is None:
        yield counter
        return
    before = lstm.h_counter
    lstm.h_counter = counter
    try:
        yield counter
    finally:
        lstm.h_counter = before


# ---------------------------------------------------------------------------------------------
# float vs integer zero pattern


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * v))  # as lstmgen.quant.floatref


def float_gate_trace(net, inputs: np.ndarray) -> list[np.ndarray]:
    """Output-gate pre-activations ``a_o`` (B, T, H) of every layer of a float64
    :class:`~lstmgen.quant.floatref.FloatNet` run on ``inputs`` (features or token ids), with
    its SHS thresholds applied as in :func:`lstmgen.quant.floatref.forward`."""
    if net.kind == "lm":
        x_seq = net.embedding[np.asarray(inputs, np.int64)]
    else:
        x_seq = np.asarray(inputs, np.float64)
    B, T = x_seq.shape[:2]
    hs = [np.zeros((B, la.n_hidden)) for la in net.layers]
    cs = [np.zeros((B, la.n_hidden)) for la in net.layers]
    trace = [np.zeros((B, T, la.n_hidden)) for la in net.layers]
    for t in range(T):
        v = x_seq[:, t]
        for li, la in enumerate(net.layers):
            H = la.n_hidden
            pre = v @ la.w_ih.T + hs[li] @ la.w_hh.T + la.bias
            i, f, g, o = (pre[:, k * H:(k + 1) * H] for k in range(4))
            trace[li][:, t] = o
            go = _sigmoid(o)
            if la.o_threshold is not None:
                go = np.where(go > la.o_threshold, go, 0.0)
            cs[li] = _sigmoid(f) * cs[li] + _sigmoid(i) * np.tanh(g)
            hs[li] = go * np.tanh(cs[li])
            v = hs[li]
    return trace


@dataclass(frozen=True)
class ZeroPattern:
    """Float vs integer output-gate zeros, per layer and in total.

    ``float_zeros``/``int_zeros``: share of entries zeroed by the float threshold
    ``σ(a_o) <= θ`` / by the IR's ``o_code <= threshold``; ``mismatch``: share where the two
    differ; ``near``: share whose float pre-activation lies within one sigmoid-table step of
    ``logit(θ)``; ``mismatch_outside_near``: share that differs although it is not near (0 when
    the deployed zeros are the trained ones); ``table_step``: the table's input step.
    """

    float_zeros: list[float]
    int_zeros: list[float]
    mismatch: list[float]
    near: list[float]
    mismatch_outside_near: list[float]
    entries: int
    table_step: float

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in ("float_zeros", "int_zeros", "mismatch", "near",
                                              "mismatch_outside_near", "entries", "table_step")}


def zero_pattern_agreement(net, model, inputs: np.ndarray, codes: np.ndarray) -> ZeroPattern:
    """Compare the SHS zeros of float ``net`` on ``inputs`` (features or token ids) with those
    of the golden model of IR ``model`` on ``codes`` (the same inputs as codes).

    Every layer must have a threshold in both. The integer zeros are golden's thresholded
    output-gate codes; the float zeros ``σ(a_o) <= θ``. "Near" means
    ``|a_o - logit(θ)| <= step`` with ``step`` the sigmoid table's input step.
    """
    from .. import golden

    if any(la.o_threshold is None for la in net.layers) or any(
            la.o_threshold is None for la in model.layers):
        raise UsageError("zero_pattern_agreement needs an SHS threshold on every layer")
    trace = float_gate_trace(net, inputs)
    res = golden.run(model, codes, dump=True)
    t = model.sigmoid
    step = 2.0 ** (t.shift - t.in_fmt.frac)
    out: dict[str, list[float]] = {k: [] for k in ("f", "i", "m", "n", "o")}
    entries = 0
    for li, (a_o, d) in enumerate(zip(trace, res.layers)):
        theta = net.layers[li].o_threshold
        fz = _sigmoid(a_o) <= theta
        iz = d["gate"][:, :, 3] == 0
        near = np.abs(a_o - math.log(theta / (1.0 - theta))) <= step if theta > 0 else \
            np.zeros_like(fz)
        mis = fz != iz
        out["f"].append(float(fz.mean()))
        out["i"].append(float(iz.mean()))
        out["m"].append(float(mis.mean()))
        out["n"].append(float(near.mean()))
        out["o"].append(float((mis & ~near).mean()))
        entries += fz.size
    return ZeroPattern(out["f"], out["i"], out["m"], out["n"], out["o"], entries, step)


def deployed_h_stats(model, inputs: np.ndarray) -> dict[str, object]:
    """``h`` zeros and mult-adds per step of IR ``model`` on ``inputs`` (codes, or token ids).

    Keys: ``h_zeros_per_layer``, ``h_zeros`` (all layers' entries together), ``macs_per_step``
    (dense), ``executed_macs_per_step`` (zero entries of ``h`` skipped, the formula of
    :func:`lstmgen.passes.executed_macs_per_step`), ``steps`` (sequences × steps measured).
    """
    from .. import golden

    arr = golden.check_inputs(model, inputs)
    B, T = arr.shape[:2]
    state = golden.initial_state(model, B)
    hs: list[list[np.ndarray]] = [[] for _ in model.layers]
    for t in range(T):
        state, _ = golden.step(model, state, arr[:, t], with_head=False)
        for li, st in enumerate(state):
            hs[li].append(st.h)
    h = [np.stack(v, axis=1) for v in hs]  # (B, T, H) per layer
    total = 0.0
    for li, la in enumerate(model.layers):
        prev = np.concatenate([np.zeros_like(h[li][:, :1]), h[li][:, :-1]], axis=1)
        nnz_h = float(np.count_nonzero(prev)) / (B * T)
        x_cols = float(la.n_in) if li == 0 else float(np.count_nonzero(h[li - 1])) / (B * T)
        total += 4 * la.n_hidden * (x_cols + nnz_h)
    zeros = [float(np.mean(v == 0)) for v in h]
    return {
        "h_zeros_per_layer": zeros,
        "h_zeros": float(sum(int((v == 0).sum()) for v in h) / sum(v.size for v in h)),
        "macs_per_step": int(model.macs_per_step()),
        "executed_macs_per_step": total,
        "steps": int(B * T),
    }
