"""Cortex-M speed and footprint of the generated C: instructions per time step and per MAC.

Not a test: prints a table (and optionally JSON). Every figure is measured under QEMU
(``lstmgen.verify.qemu``): one harness call over one ``--steps``-step sequence, state carried,
instructions counted by the TCG plugin between ``lg_bench_begin``/``lg_bench_end``; flash and
RAM of the model from the linked ELF. Outputs are checked bit for bit against golden.

Variants per size and weight width (int16 activations):

* ``dense``      : ``shs=False``, no zeros in ``h`` (beyond rare exact zeros).
* ``compact40``  : the dense model with the last 40% of every layer's units removed (what
  compaction yields: a smaller dense model with the same formats; ``passes.keep_fraction``);
  per-MAC figures use its own (smaller) MAC count.
* ``shs80``      : SHS thresholds set so that at least 80% of each layer's ``h`` entries are zero
  (``passes.sparsify``; the measured fraction is printed); instructions per MAC use the
  *dense* MAC count as denominator.

Run: ``.venv/bin/python bench/mcu_speed.py [--cpu cortex-m4] [--steps 10] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from lstmgen import golden
from lstmgen.ir import Model
from lstmgen.passes import h_zero_fraction, keep_fraction, sparsify
from lstmgen.testing import random_inputs, random_model
from lstmgen.verify.qemu import QemuRunner

__all__ = ["GOALS", "SIZES", "main", "measure"]

#: (label, n_in, hidden)
SIZES: list[tuple[str, int, tuple[int, ...]]] = [
    ("22x11", 22, (11,)),
    ("32x64", 32, (64,)),
    ("32x128", 32, (128,)),
    ("128x128", 128, (128,)),
    ("256x256", 256, (256,)),
    ("32x2x128", 32, (128, 128)),
]
#: (label, weight bits) -> goal in instructions per dense MAC, for the dense variant
GOALS: dict[tuple[str, int], float] = {
    ("128x128", 16): 2.0,
    ("128x128", 8): 2.2,
    ("32x128", 16): 2.4,
    ("22x11", 16): 6.0,
}


def measure(model: Model, inputs: np.ndarray, cpu: str, workdir: Path) -> dict[str, Any]:
    """Run ``model`` under QEMU with counting; raise if the outputs differ from golden."""
    run = QemuRunner(cpu=cpu, count=True).run(model, inputs, workdir)
    if not np.array_equal(run.outputs, golden.run(model, inputs).outputs):
        raise SystemExit(f"{model.name}: {cpu} outputs differ from golden")
    f = run.figures
    return {"macs_per_step": f.extra["macs_per_step"], "insns_per_step": f.extra["instructions_per_step"],
            "insns_per_mac": f.instructions_per_mac, "flash_bytes": f.flash_bytes,
            "ram_bytes": f.ram_bytes}


def main(argv: list[str] | None = None) -> int:
    """Measure every size × weight width × variant and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", default="cortex-m4")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    ap.add_argument("--only", default=None, help="comma-separated size labels")
    args = ap.parse_args(argv)
    sizes = [s for s in SIZES if args.only is None or s[0] in args.only.split(",")]
    rows = []
    print(f"{args.cpu}, one sequence of {args.steps} steps, int16 activations; "
          "insn/MAC over dense MACs")
    print(f"{'size':>9} {'w':>3} {'variant':>9} {'MAC/step':>9} {'h zeros':>7} "
          f"{'insn/step':>10} {'insn/MAC':>8} {'flash B':>8} {'RAM B':>6}  goal")
    with tempfile.TemporaryDirectory(prefix="lstmgen-bench-") as tmp:
        for label, n_in, hidden in sizes:
            for wbits in (16, 8):
                base = random_model(1000 + n_in + sum(hidden), n_in=n_in, hidden=hidden,
                                    weight_bits=wbits, shs=False, n_out=4, name="bench")
                inputs = random_inputs(base, 1, args.steps, seed=7)
                variants = [
                    ("dense", base),
                    ("compact40", keep_fraction(base, 0.6)),
                    ("shs80", sparsify(base, inputs, 0.8)),
                ]
                for vname, model in variants:
                    wd = Path(tmp) / f"{label}-{wbits}-{vname}"
                    extra = measure(model, inputs, args.cpu, wd)
                    goal = GOALS.get((label, wbits)) if vname == "dense" else None
                    row = {
                        "size": label, "weight_bits": wbits, "variant": vname,
                        "macs_per_step": extra["macs_per_step"],
                        "h_zero_fraction": h_zero_fraction(model, inputs),
                        "insns_per_step": extra["insns_per_step"],
                        "insns_per_mac": extra["insns_per_mac"],
                        "flash_bytes": extra["flash_bytes"], "ram_bytes": extra["ram_bytes"],
                        "goal": goal,
                    }
                    rows.append(row)
                    verdict = "" if goal is None else (
                        f"<= {goal} {'met' if row['insns_per_mac'] <= goal else 'MISSED'}")
                    print(f"{label:>9} {wbits:>3} {vname:>9} {row['macs_per_step']:>9} "
                          f"{row['h_zero_fraction']:>7.2f} {row['insns_per_step']:>10.0f} "
                          f"{row['insns_per_mac']:>8.2f} {row['flash_bytes']:>8} "
                          f"{row['ram_bytes']:>6}  {verdict}", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
