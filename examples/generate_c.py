"""Generate C for an IR, build it with the host compiler and check it against the golden model.

    python examples/generate_c.py [MODEL.lstmir] [--out DIR]

Without a model, a small random classifier stands in (``lstmgen.testing.random_model``).
The same steps on the command line::

    lstmgen generate MODEL.lstmir --target c --out build/c
    lstmgen verify MODEL.lstmir --target c --vectors 100
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from lstmgen import ir
from lstmgen.errors import ToolError
from lstmgen.targets.c import CTarget, generate
from lstmgen.testing import random_inputs, random_model
from lstmgen.verify.base import verify
from lstmgen.verify.cpu import CpuRunner, callgrind_instructions, library_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", type=Path, help="an .lstmir file (default: a random one)")
    ap.add_argument("--out", type=Path, default=Path("build/c"), help="where to write the C files")
    args = ap.parse_args()
    model = ir.load(args.model) if args.model else random_model(0, hidden=(32, 32), name="demo")

    # 1. Write the library (<p>.h, <p>.c, lg_*.h), the harness (main.c) and build files.
    opts = CTarget()  # prefix = model name; cpu="cortex-m4" selects ARM DSP kernels
    for path in generate(model, args.out, opts):
        print("wrote", path)

    # 2. Build with gcc and compare every output code with the golden model.
    inputs = random_inputs(model, 50, 8 if not model.is_lm else 16, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        print(verify(model, CpuRunner(opts), inputs, Path(tmp)).text())
        # 3. Optional measurements (need valgrind / binutils).
        try:
            counts = callgrind_instructions(model, inputs[:4], Path(tmp), opts)
            print(f"{counts['per_step']:,.0f} instructions per step, "
                  f"{counts['instructions_per_mac']:.2f} per dense MAC")
            print("library bytes:", library_size(model, Path(tmp), opts))
        except ToolError as exc:  # valgrind or size missing: measurements are optional here
            print("measurements skipped:", exc)


if __name__ == "__main__":
    main()
