"""The text (or JSON) description of an IR file that ``lstmgen info`` prints."""

from __future__ import annotations

import json
import math
from pathlib import Path

from .. import ir
from ..ir.types import thaw

__all__ = ["describe_ir"]


def _finite(obj):
    """JSON-safe copy: NaN and infinities (which JSON cannot carry) become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _measured_sparsity(meta: dict) -> dict | None:
    """The h zeros and executed mult-adds ``quantize`` stored in the IR's meta, if any."""
    ev = meta.get("evaluation") if isinstance(meta, dict) else None
    s = ev.get("sparsity") if isinstance(ev, dict) else None
    keys = ("h_zeros_per_layer", "h_zeros", "macs_per_step", "executed_macs_per_step", "steps")
    if isinstance(s, dict) and all(k in s for k in keys):
        return s
    return None


def describe_ir(path: str | Path, as_json: bool = False) -> str:
    """Text (or one JSON object) describing the IR at ``path``: sizes, formats, bounds, MACs."""
    m = ir.load(path)
    plan = m.plan
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
                "acc_bits": plan.layers[li].acc_bits,
                "o_threshold": la.o_threshold,
            }
        )
    info = {
        "name": m.name,
        "kind": m.kind.value,
        "version": ir.IR_VERSION,
        "sha256": ir.sha256(m),
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
            "acc_bits": plan.head.acc.bits,
        },
        "tables": {
            str(t.func): {"entries": t.n, "in": str(t.in_fmt), "out": str(t.out_fmt),
                     "step": 2.0 ** (t.shift - t.in_fmt.frac), "interp": t.interp}
            for t in (m.sigmoid, m.tanh)
        },
        "meta": thaw(m.meta),
    }
    sparsity = _measured_sparsity(info["meta"])
    if sparsity is not None:
        info["executed_macs_per_step"] = sparsity["executed_macs_per_step"]
        info["h_zeros_per_layer"] = sparsity["h_zeros_per_layer"]
    if as_json:
        return json.dumps(_finite(info), sort_keys=True, allow_nan=False)
    lines = [
        f"IR {path}  (version {ir.IR_VERSION}, sha256 {info['sha256'][:16]}…)",
        f"model {m.name!r}: {m.kind}, input {m.input_fmt}"
        + (f", vocab {m.vocab}" if m.is_lm else f", {m.n_in} features")
        + f", hidden {list(m.hidden)}, {m.n_out} outputs, {m.macs_per_step()} MACs/step",
    ]
    if sparsity is not None:
        from .quantize import sparsity_line

        lines.append(f"  measured by quantize on {sparsity['steps']} steps: "
                     + sparsity_line(sparsity, m.is_lm))
    elif any(la.o_threshold is not None for la in m.layers):
        lines.append("  SHS thresholds set; h zeros not measured (quantize with evaluation data "
                     "measures them)")
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
        f" acc {plan.head.acc.bits} bits"
    )
    for name, t in info["tables"].items():
        lines.append(
            f"  table {name}: {t['entries']} entries, {t['in']} -> {t['out']}, step {t['step']:g}"
            + (", interpolated" if t["interp"] else "")
        )
    if m.meta:
        lines.append("  meta: " + json.dumps(thaw(m.meta), sort_keys=True))
    return "\n".join(lines)
