"""ISS groups (Wen et al., ICLR 2018) on lstmgen modules, exactly as ARCHITECTURE §2.

Component ``k`` of layer ``l`` (H = hidden size of the layer, gate order i, f, g, o) is the
*set* of weights: rows k, H+k, 2H+k, 3H+k of ``weight_ih_l`` and ``weight_hh_l`` and the same
entries of both biases; column k of ``weight_hh_l``; column k of the consumer's weight (the
next layer's ``weight_ih`` or, for the top layer, ``head.weight`` / ``decoder.weight``).
Entries of ``weight_hh_l`` on both a row and column k are counted once. The embedding is in no
group.

Tied LM weights are refused (UsageError) by :func:`group_lasso` and :func:`zero_out`: the top
layer's consumer column would be an embedding column, which ISS must not touch. Train ISS
models untied.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import UsageError

__all__ = ["IssComponent", "add_group_lasso_grad", "group_lasso", "group_norms", "iss_groups", "iss_stats", "zero_out"]


@dataclass(frozen=True)
class IssComponent:
    """One ISS component: ``entries`` maps a state-dict key to its sorted index tuples."""

    layer: int
    unit: int
    entries: dict[str, tuple[tuple[int, ...], ...]]


def _lstm(model: nn.Module) -> nn.Module:
    lstm = getattr(model, "lstm", None)
    if lstm is None or not hasattr(lstm, "hidden"):
        raise UsageError(f"ISS needs an lstmgen LSTMClassifier/LSTMLanguageModel, got {type(model).__name__}")
    return lstm


def _consumer_name(model: nn.Module, layer: int) -> str:
    lstm = _lstm(model)
    if layer + 1 < len(lstm.hidden):
        return f"lstm.weight_ih_l{layer + 1}"
    return "head.weight" if hasattr(model, "head") else "decoder.weight"


def _consumer(model: nn.Module, layer: int) -> torch.Tensor:
    name = _consumer_name(model, layer)
    return model.get_parameter(name)


def _refuse_tied(model: nn.Module) -> None:
    if getattr(model, "tied", False):
        raise UsageError(
            "ISS is not supported with tied embedding/decoder weights "
            "(the top layer's consumer column would be an embedding column); train untied"
        )


def iss_groups(model: nn.Module) -> list[IssComponent]:
    """Enumerate every ISS component (layer-major, then unit) with explicit index sets."""
    lstm = _lstm(model)
    out: list[IssComponent] = []
    for l, h in enumerate(lstm.hidden):
        x = lstm.get_parameter(f"weight_ih_l{l}").shape[1]
        n_cons = _consumer(model, l).shape[0]
        for k in range(h):
            rows = [g * h + k for g in range(4)]
            hh = {(r, c) for r in rows for c in range(h)} | {(r, k) for r in range(4 * h)}
            out.append(
                IssComponent(
                    layer=l,
                    unit=k,
                    entries={
                        f"lstm.weight_ih_l{l}": tuple((r, c) for r in rows for c in range(x)),
                        f"lstm.weight_hh_l{l}": tuple(sorted(hh)),
                        f"lstm.bias_ih_l{l}": tuple((r,) for r in rows),
                        f"lstm.bias_hh_l{l}": tuple((r,) for r in rows),
                        _consumer_name(model, l): tuple((r, k) for r in range(n_cons)),
                    },
                )
            )
    return out


def _group_sumsq(model: nn.Module) -> list[torch.Tensor]:
    """Return per layer the (H_l,) sums of squares of every component (vectorised)."""
    lstm = _lstm(model)
    sums = []
    for l, h in enumerate(lstm.hidden):
        w_ih, w_hh, b_ih, b_hh = lstm.layer_params(l)
        sq_hh = w_hh.square()
        rows_hh = sq_hh.view(4, h, h)
        s = w_ih.square().view(4, h, -1).sum(dim=(0, 2))
        s = s + rows_hh.sum(dim=(0, 2)) + sq_hh.sum(dim=0)
        s = s - torch.diagonal(rows_hh, dim1=1, dim2=2).sum(dim=0)  # counted in rows and column
        s = s + b_ih.square().view(4, h).sum(0) + b_hh.square().view(4, h).sum(0)
        s = s + _consumer(model, l).square().sum(dim=0)
        sums.append(s)
    return sums


def group_norms(model: nn.Module, eps: float = 0.0) -> list[torch.Tensor]:
    """Return per layer the (H_l,) tensor ``sqrt(Σ w² + eps)`` of every component."""
    return [torch.sqrt(s + eps) for s in _group_sumsq(model)]


def group_lasso(model: nn.Module, eps: float = 1e-8) -> torch.Tensor:
    """Return the differentiable penalty ``Σ_l Σ_k sqrt(Σ_{w in component} w² + eps)``."""
    _refuse_tied(model)
    return torch.stack([n.sum() for n in group_norms(model, eps)]).sum()


@torch.no_grad()
def add_group_lasso_grad(model: nn.Module, weight: float, eps: float = 1e-8) -> None:
    """Add ``weight · ∂ group_lasso(model, eps) / ∂w`` to the ``.grad`` of every grouped
    parameter: what ``(weight * group_lasso(model, eps)).backward()`` adds, without building
    the penalty's graph (a training step with ISS spends half the time of the penalty's
    autograd on it). A weight in components ``k`` gets ``weight · w / sqrt(s_k + eps)`` per
    component, ``s_k`` its sum of squares: rows get their unit's factor, ``weight_hh`` columns
    and consumer columns theirs, and the entries of ``weight_hh`` on a row and the column of the
    same unit, counted once in ``s_k``, once."""
    _refuse_tied(model)
    lstm = _lstm(model)

    def add(p: torch.Tensor, scale: torch.Tensor) -> None:
        if p.grad is None:
            p.grad = p * scale
        else:
            p.grad.addcmul_(p, scale)

    for l, s in enumerate(_group_sumsq(model)):
        h = lstm.hidden[l]
        unit = weight / torch.sqrt(s + eps)  # (H,): the factor of component k
        rows = unit.repeat(4)                 # (4H,): row r belongs to unit r mod H
        w_ih, w_hh, b_ih, b_hh = lstm.layer_params(l)
        add(w_ih, rows[:, None])
        add(b_ih, rows)
        add(b_hh, rows)
        add(w_hh, rows[:, None])
        assert w_hh.grad is not None
        w_hh.grad.addcmul_(w_hh, unit[None, :])
        # (g·H + k, k) is in component k once: take back the column's share
        torch.diagonal(w_hh.grad.view(4, h, h), dim1=1, dim2=2).sub_(
            torch.diagonal(w_hh.view(4, h, h), dim1=1, dim2=2) * unit)
        add(_consumer(model, l), unit[None, :])


@torch.no_grad()
def zero_out(model: nn.Module, threshold: float) -> None:
    """Set every ISS-grouped weight with ``|w| < threshold`` to 0 (in place, no host sync).

    Covers all LSTM weights and biases and the head/decoder weight (not its bias, not the
    embedding).
    """
    _refuse_tied(model)
    lstm = _lstm(model)
    params = [p for l in range(len(lstm.hidden)) for p in lstm.layer_params(l)]
    params.append(_consumer(model, len(lstm.hidden) - 1))
    below: dict[torch.dtype, float] = {}
    for p in params:
        # |w| < t as masked_fill(p.abs() < t) computes it (t rounded to p's dtype), in one pass
        # instead of three: hardshrink zeroes |w| <= the largest value below t
        if p.dtype not in below:
            t = torch.tensor(threshold, dtype=p.dtype)
            below[p.dtype] = float(torch.nextafter(t, torch.zeros_like(t)))
        torch.hardshrink(p, below[p.dtype], out=p)


@torch.no_grad()
def iss_stats(model: nn.Module) -> dict:
    """Describe the structured sparsity of ``model`` (JSON-able).

    Per layer: ``hidden``, ``outgoing_zero_units`` (units the compaction removes: their
    ``weight_hh`` column and consumer column are all zero), ``zero_components`` (all six parts
    zero, the reference code's count) and ``norm_quantiles`` (min, q25, median, q75, max of the
    component norms). Totals are under ``total_units``, ``outgoing_zero_units``,
    ``zero_components``.
    """
    lstm = _lstm(model)
    layers = []
    for l, s in enumerate(_group_sumsq(model)):
        w_hh = lstm.get_parameter(f"weight_hh_l{l}")
        out_zero = (w_hh == 0).all(dim=0) & (_consumer(model, l) == 0).all(dim=0)
        norms = torch.sqrt(s.detach().double().cpu())
        q = torch.quantile(norms, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64))
        layers.append(
            {
                "layer": l,
                "hidden": int(s.numel()),
                "outgoing_zero_units": int(out_zero.sum()),
                "zero_components": int((s == 0).sum()),
                "norm_quantiles": dict(
                    zip(("min", "q25", "median", "q75", "max"), (round(float(v), 6) for v in q))
                ),
            }
        )
    return {
        "layers": layers,
        "total_units": sum(d["hidden"] for d in layers),
        "outgoing_zero_units": sum(d["outgoing_zero_units"] for d in layers),
        "zero_components": sum(d["zero_components"] for d in layers),
    }
