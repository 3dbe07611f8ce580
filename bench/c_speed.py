"""Instructions per time step of the generated C, counted with callgrind (not a test).

For a 2x256 classifier (``random_model`` with a fixed seed, 32 inputs) with int16 and int8
weights (both need int64 accumulators for layer 0), and int8 weights divided by 4 (int32
accumulators everywhere):

* ``dense``       - no SHS threshold (h has no zeros);
* ``compact 40%`` - the same network with 60% of each layer's units removed (arrays sliced);
* ``h zeros 50%`` / ``80%`` - SHS thresholds chosen so that that share of h's entries is zero;
* ``h zeros 100%`` - every h entry zero: the cost of everything that does not depend on h.

Columns: instructions per step; dense MACs per step (sum of 4·H·(X+H)); instructions per dense
MAC; the measured share of zeros in h; and the h-product cost (W_hh·h plus the next layer's
W_ih·h: instructions minus the 100%-zeros row) relative to the dense row. Goals: the compacted
model's instructions fall at least 0.9x as fast as its MACs; with 80% zeros in h the h-products
cost at most 25% of dense.

    python bench/c_speed.py [--ir MODEL.lstmir] [--steps 16] [--vectors 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from lstmgen import ir
from lstmgen.ir import Gate, IntTensor, Model
from lstmgen.passes import h_zero_fractions, keep_fraction, sparsify, with_thresholds
from lstmgen.testing import random_inputs, random_model
from lstmgen.verify.cpu import callgrind_instructions


def shrunk(model: Model, shift: int) -> Model:
    """``model`` with every LSTM weight code divided by ``2**shift`` (floor): smaller accumulator
    bounds, so that int32 accumulators suffice."""
    def cut(t: IntTensor) -> IntTensor:
        return IntTensor(t.values >> shift, t.fmt, name=t.name)

    layers = tuple(
        dataclasses.replace(la, **{n: Gate(cut(g.w_ih), cut(g.w_hh), g.bias) for n, g in la.gates()})
        for la in model.layers
    )
    return model.replace(layers=layers)


def measure(name: str, model: Model, inputs: np.ndarray, work: Path) -> dict:
    counts = callgrind_instructions(model, inputs, work / name.replace(" ", "_").replace("%", ""))
    return {"name": name, "model": model, "zeros": float(np.mean(h_zero_fractions(model, inputs))),
            **counts}


def table(rows: list[dict], label: str) -> list[str]:
    dense = rows[0]
    fixed = next(r for r in rows if r["name"] == "h zeros 100%")
    h_dense = dense["per_step"] - fixed["per_step"]
    out = []
    for r in rows:
        h_cost = r["per_step"] - fixed["per_step"]
        compact = r["name"].startswith("compact")  # a different network: no h-product ratio
        out.append(
            f"| {label:<13} | {r['name']:<13} | {r['per_step']:>11,.0f} | {r['macs_per_step']:>9,} "
            f"| {r['instructions_per_mac']:>9.3f} | {100 * r['zeros']:>6.1f}% "
            + ("|               - |        - |" if compact
               else f"| {h_cost:>15,.0f} | {100 * h_cost / h_dense:>7.1f}% |")
        )
    comp = next(r for r in rows if r["name"].startswith("compact"))
    mac_cut = 1 - comp["macs_per_step"] / dense["macs_per_step"]
    ins_cut = 1 - comp["per_step"] / dense["per_step"]
    z80 = next(r for r in rows if r["name"] == "h zeros 80%")
    rel80 = (z80["per_step"] - fixed["per_step"]) / h_dense
    out.append(
        f"{label}: compacted MACs -{100 * mac_cut:.1f}%, instructions -{100 * ins_cut:.1f}% "
        f"(ratio {ins_cut / mac_cut:.3f}, goal >= 0.9: {'met' if ins_cut >= 0.9 * mac_cut else 'MISSED'}); "
        f"80% zeros: h-products {100 * rel80:.1f}% of dense (goal <= 25%: "
        f"{'met' if rel80 <= 0.25 else 'MISSED'})"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ir", type=Path, help="also measure this IR (dense and its own thresholds)")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--vectors", type=int, default=4)
    args = ap.parse_args()
    header = [
        "| weights, acc  | variant       |  instr/step | MACs/step | instr/MAC | h zeros | h-product instr | vs dense |",
        "|---------------|---------------|-------------|-----------|-----------|---------|-----------------|----------|",
    ]
    lines: list[str] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lstmgen-bench-") as tmp:
        work = Path(tmp)
        for wbits, shift in ((16, 0), (8, 0), (8, 2)):
            base = random_model(2024, n_in=32, hidden=(256, 256), n_out=10, weight_bits=wbits,
                                shs=False, name="bench")
            base = shrunk(base, shift) if shift else base
            acc = "/".join(str(32 if la.acc_bits <= 32 else 64) for la in base.plan.layers)
            label = f"int{wbits} a{acc}"
            x = random_inputs(base, args.vectors, args.steps, seed=1)
            wd = work / label.replace("/", "_").replace(" ", "_")
            rows = [measure("dense", base, x, wd)]
            rows.append(measure("compact 40%", keep_fraction(base, 0.4, seed=0), x, wd))
            for target in (0.5, 0.8):
                rows.append(measure(f"h zeros {round(100 * target)}%", sparsify(base, x, target),
                                    x, wd))
            rows.append(measure("h zeros 100%", with_thresholds(base, [32767, 32767]), x,
                                wd))
            t = table(rows, label)
            lines += t[:-1]
            notes.append(t[-1])
        if args.ir is not None:
            m = ir.load(args.ir)
            x = random_inputs(m, args.vectors, args.steps, seed=1)
            r = measure("given IR", m, x, work / "ir")
            notes.append(
                f"{args.ir}: {r['per_step']:,.0f} instructions/step, {r['macs_per_step']:,} dense MACs, "
                f"{r['instructions_per_mac']:.3f} instr/MAC, {100 * r['zeros']:.1f}% zeros in h"
            )
    print("\n".join(header + lines))
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main()
