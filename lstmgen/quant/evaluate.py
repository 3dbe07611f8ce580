"""Float vs golden figures for a quantized model: accuracy (classifier) or perplexity (LM)."""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import golden
from ..ir import Model
from .floatref import FloatNet, forward
from .quantize import quantize_inputs

__all__ = ["checkpoint_net", "evaluate_algorithmic", "evaluate_classifier", "evaluate_lm"]


def checkpoint_net(ckpt) -> FloatNet:
    """The float network of an :class:`lstmgen.checkpoint.Checkpoint` (numpy float64), with its
    SHS threshold (if any) on every layer."""
    sd = {k: v.detach().cpu().numpy() for k, v in ckpt.state_dict.items()}
    net = FloatNet.from_state_dict(ckpt.config.kind, len(ckpt.config.hidden), sd)
    theta = getattr(ckpt.config, "shs_threshold", None)
    if theta is None:
        return net
    layers = tuple(dataclasses.replace(la, o_threshold=float(theta)) for la in net.layers)
    return dataclasses.replace(net, layers=layers)


def evaluate_classifier(net: FloatNet, model: Model, x: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy of the float net and of the golden model on float features ``x`` (N, T, F)."""
    float_pred = forward(net, x).argmax(axis=1)
    codes = quantize_inputs(model, x)
    gold = golden.run(model, codes).outputs
    gold_pred = gold.argmax(axis=1)
    return {
        "float_accuracy": float(np.mean(float_pred == y)),
        "golden_accuracy": float(np.mean(gold_pred == y)),
        "agreement": float(np.mean(float_pred == gold_pred)),
        "vectors": len(y),
    }


def _ppl(logits: np.ndarray, targets: np.ndarray) -> float:
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    return float(np.exp(nll.mean()))


def evaluate_lm(net: FloatNet, model: Model, ids: np.ndarray, streams: int = 10) -> dict:
    """Perplexity of float net and golden model on a token stream, cut into ``streams`` rows.

    Each row starts from a zero state, so both figures are slightly above a carried-state
    evaluation; they are comparable with each other.
    """
    ids = np.asarray(ids, np.int64)
    T = (len(ids) - 1) // streams
    if T < 1:
        raise ValueError("too few tokens to evaluate")
    x = np.stack([ids[r * T:(r + 1) * T] for r in range(streams)])
    tgt = np.stack([ids[r * T + 1:(r + 1) * T + 1] for r in range(streams)])
    float_logits = forward(net, x)
    gold = golden.run(model, x).outputs
    return {
        "float_ppl": _ppl(float_logits, tgt),
        "golden_ppl": _ppl(model.head.out_fmt.to_float(gold), tgt),
        "tokens": int(tgt.size),
    }


def evaluate_algorithmic(net: FloatNet, model: Model, algo) -> dict:
    """Sequence accuracy (every answer position right) and accuracy per answer position of the
    float net and of the golden model on an algorithmic task's
    :class:`~lstmgen.data.algorithmic.AlgoBatch` (an LSTM LM: outputs aligned with the inputs)."""
    from ..data.algorithmic import score

    fp = forward(net, algo.inputs).argmax(-1)
    gp = golden.run(model, algo.inputs).outputs.argmax(-1)
    sf, sg = score(fp, algo), score(gp, algo)
    same = ((fp == gp) | ~algo.mask).all(axis=1)
    return {"float_accuracy": sf["seq_acc"], "golden_accuracy": sg["seq_acc"],
            "float_token_accuracy": sf["token_acc"], "golden_token_accuracy": sg["token_acc"],
            "agreement": float(same.mean()), "vectors": len(algo.inputs)}
