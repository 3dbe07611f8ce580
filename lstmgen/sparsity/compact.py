"""Exact compaction: drop LSTM units whose outgoing weights are all exactly zero.

A unit whose ``weight_hh`` column (all four gates) and consumer column (next layer's
``weight_ih`` or the head/decoder weight) are zero cannot influence any output, so removing
its four gate rows (weights and biases) and those columns gives a smaller dense model whose
outputs equal the original's up to float summation order. Every layer keeps at least one
unit: if all are removable, the lowest-index unit stays (its outgoing weights remain zero).

A tied LM whose top layer shrinks is untied: the embedding keeps all its columns, the decoder
keeps the surviving ones, and the new config has ``tied=False``.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..checkpoint import Checkpoint, validate_state_dict
from ..errors import CheckpointError, UsageError

__all__ = ["compact", "removable_units"]


def _consumer_key(ckpt: Checkpoint, layer: int) -> str:
    if layer + 1 < len(ckpt.config.hidden):
        return f"lstm.weight_ih_l{layer + 1}"
    return "head.weight" if ckpt.config.kind == "classifier" else "decoder.weight"


def _check_lstm(ckpt: Checkpoint) -> None:
    """ISS compaction removes hidden units of an LSTM stack; a tensorized LSTM has none."""
    if getattr(ckpt.config, "tlstm", None) is not None:
        raise UsageError("a tensorized LSTM (tLSTM) checkpoint has no ISS units to remove: "
                         "prune and compaction take LSTM checkpoints; quantize it directly")


def removable_units(ckpt: Checkpoint) -> list[torch.Tensor]:
    """Return per layer a bool (H_l,) mask of units whose outgoing weights are all zero."""
    _check_lstm(ckpt)
    sd = ckpt.state_dict
    masks = []
    for l in range(len(ckpt.config.hidden)):
        w_hh = sd[f"lstm.weight_hh_l{l}"]
        cons = sd[_consumer_key(ckpt, l)]
        masks.append((w_hh == 0).all(dim=0) & (cons == 0).all(dim=0))
    return masks


def compact(ckpt: Checkpoint) -> Checkpoint:
    """Return a new, smaller checkpoint without the removable units; ``ckpt`` is unchanged.

    ``meta`` is copied without its ``iss`` statistics (they describe the old sizes) and with
    ``compacted_from`` (the old hidden sizes) added.
    """
    _check_lstm(ckpt)
    validate_state_dict(ckpt.config, ckpt.state_dict, "compact")
    sd = {k: v.detach().clone() for k, v in ckpt.state_dict.items()}
    keep_per_layer: list[torch.Tensor] = []
    for mask in removable_units(ckpt):
        keep = (~mask).nonzero().flatten()
        if keep.numel() == 0:
            keep = torch.zeros(1, dtype=torch.long)
        keep_per_layer.append(keep)
    for l, keep in enumerate(keep_per_layer):
        h = ckpt.config.hidden[l]
        rows = torch.cat([g * h + keep for g in range(4)])
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            key = f"lstm.{name}_l{l}"
            sd[key] = sd[key][rows]
        key = f"lstm.weight_hh_l{l}"
        sd[key] = sd[key][:, keep]
        cons = _consumer_key(ckpt, l)
        sd[cons] = sd[cons][:, keep]
    hidden = tuple(int(k.numel()) for k in keep_per_layer)
    cfg = ckpt.config
    tied = cfg.tied and hidden[-1] == cfg.hidden[-1]
    try:
        new_cfg = replace(cfg, hidden=hidden, tied=tied)
    except CheckpointError as exc:  # pragma: no cover - shapes derive from a valid config
        raise CheckpointError(f"compaction produced an invalid config: {exc}") from exc
    sd = {k: v.contiguous() for k, v in sd.items()}
    validate_state_dict(new_cfg, sd, "compacted model")
    meta = {k: v for k, v in ckpt.meta.items() if k != "iss"}  # stale after compaction
    meta["compacted_from"] = list(cfg.hidden)
    return Checkpoint(config=new_cfg, state_dict=sd, meta=meta)
