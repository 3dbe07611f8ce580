"""Float64 numpy reference of an LSTM network, for calibration and for error figures.

The same forward pass serves two sources: a float checkpoint (calibration: it records the
ranges of inputs, gate pre-activations, cell state, h and outputs) and an IR with its integer
weights dequantized (``float_outputs``: what the quantized weights would give with exact
arithmetic and exact sigmoid/tanh; ``verify`` reports the target's distance from it).
No torch here: targets and verify import this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir import GATES, Model

__all__ = ["FloatLayer", "FloatNet", "RangeStats", "float_outputs", "forward"]


@dataclass(frozen=True)
class FloatLayer:
    """One layer in torch layout: ``w_ih`` (4H, X), ``w_hh`` (4H, H), ``bias`` (4H,) (b_ih + b_hh)."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    bias: np.ndarray
    o_threshold: float | None = None

    @property
    def n_hidden(self) -> int:
        return int(self.w_hh.shape[1])


@dataclass(frozen=True)
class FloatNet:
    """Embedding (LM only) → layers → head; ``kind`` is ``classifier`` or ``lm``."""

    kind: str
    layers: tuple[FloatLayer, ...]
    head_w: np.ndarray
    head_b: np.ndarray
    embedding: np.ndarray | None = None

    @classmethod
    def from_state_dict(cls, kind: str, n_layers: int, sd: dict[str, np.ndarray]) -> FloatNet:
        """Build from a checkpoint state dict (numpy arrays, torch key names)."""
        layers = tuple(
            FloatLayer(
                w_ih=np.asarray(sd[f"lstm.weight_ih_l{k}"], np.float64),
                w_hh=np.asarray(sd[f"lstm.weight_hh_l{k}"], np.float64),
                bias=np.asarray(sd[f"lstm.bias_ih_l{k}"], np.float64)
                + np.asarray(sd[f"lstm.bias_hh_l{k}"], np.float64),
            )
            for k in range(n_layers)
        )
        if kind == "lm":
            return cls(
                kind, layers, np.asarray(sd["decoder.weight"], np.float64),
                np.asarray(sd["decoder.bias"], np.float64),
                np.asarray(sd["embedding.weight"], np.float64),
            )
        return cls(
            kind, layers, np.asarray(sd["head.weight"], np.float64),
            np.asarray(sd["head.bias"], np.float64),
        )

    @classmethod
    def from_ir(cls, model: Model) -> FloatNet:
        """Dequantize an IR's weights (and SHS thresholds) into a float network."""
        layers = []
        for la in model.layers:
            gates = [g for _, g in la.gates()]
            thr = (
                None if la.o_threshold is None
                else float(model.sigmoid.out_fmt.to_float(la.o_threshold))
            )
            layers.append(
                FloatLayer(
                    w_ih=np.concatenate([g.w_ih.to_float() for g in gates]),
                    w_hh=np.concatenate([g.w_hh.to_float() for g in gates]),
                    bias=np.concatenate([g.bias.to_float() for g in gates]),
                    o_threshold=thr,
                )
            )
        emb = None if model.embedding is None else model.embedding.to_float()
        return cls(model.kind, tuple(layers), model.head.weight.to_float(),
                   model.head.bias.to_float(), emb)


@dataclass
class RangeStats:
    """Largest magnitudes seen during a forward pass (calibration)."""

    x: float = 0.0
    pre: list[dict[str, float]] = field(default_factory=list)
    c: list[float] = field(default_factory=list)
    h: list[float] = field(default_factory=list)
    out: float = 0.0


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * v))


def forward(net: FloatNet, inputs: np.ndarray, stats: RangeStats | None = None) -> np.ndarray:
    """Run sequences from a zero state: float features (B, T, F) or token ids (B, T).

    Returns classifier logits (B, n_out) after the last step, or LM logits (B, T, V).
    With ``stats``, the ranges of every intermediate are accumulated into it.
    """
    if net.kind == "lm":
        assert net.embedding is not None
        x_seq = net.embedding[np.asarray(inputs, np.int64)]
    else:
        x_seq = np.asarray(inputs, np.float64)
    B, T = x_seq.shape[:2]
    if stats is not None:
        stats.x = max(stats.x, float(np.abs(x_seq).max(initial=0.0)))
        while len(stats.pre) < len(net.layers):
            stats.pre.append(dict.fromkeys(GATES, 0.0))
            stats.c.append(0.0)
            stats.h.append(0.0)
    hs = [np.zeros((B, la.n_hidden)) for la in net.layers]
    cs = [np.zeros((B, la.n_hidden)) for la in net.layers]
    outs = []
    for t in range(T):
        v = x_seq[:, t]
        for li, la in enumerate(net.layers):
            H = la.n_hidden
            pre = v @ la.w_ih.T + hs[li] @ la.w_hh.T + la.bias
            i, f, g, o = (pre[:, k * H:(k + 1) * H] for k in range(4))
            gi, gf, gg, go = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
            if la.o_threshold is not None:
                go = np.where(go > la.o_threshold, go, 0.0)
            cs[li] = gf * cs[li] + gi * gg
            hs[li] = go * np.tanh(cs[li])
            if stats is not None:
                for name, a in zip(GATES, (i, f, g, o)):
                    stats.pre[li][name] = max(stats.pre[li][name], float(np.abs(a).max(initial=0)))
                stats.c[li] = max(stats.c[li], float(np.abs(cs[li]).max(initial=0)))
                stats.h[li] = max(stats.h[li], float(np.abs(hs[li]).max(initial=0)))
            v = hs[li]
        if net.kind == "lm" or t == T - 1:
            outs.append(v @ net.head_w.T + net.head_b)
    y = np.stack(outs, axis=1) if net.kind == "lm" else outs[-1]
    if stats is not None:
        stats.out = max(stats.out, float(np.abs(y).max(initial=0.0)))
    return y


def float_outputs(model: Model, inputs: np.ndarray) -> np.ndarray:
    """Float outputs of the IR's dequantized weights on ``inputs``: integer codes (dequantized
    with the input format), float features (used as they are) or token ids. A tLSTM IR's
    come from :func:`lstmgen.quant.tlstm.float_outputs`."""
    if getattr(model, "family", "lstm") == "tlstm":
        from .tlstm import float_outputs as tlstm_float_outputs

        return tlstm_float_outputs(model, inputs)  # type: ignore[arg-type]
    arr = np.asarray(inputs)
    x = arr if model.is_lm or arr.dtype.kind == "f" else model.input_fmt.to_float(arr)
    return forward(FloatNet.from_ir(model), x)
