"""The whole pipeline from Python: train with ISS, compact, quantize, generate C, verify.

Run: ``python examples/quickstart.py [OUT_DIR]`` (about a minute on 2 cores).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from lstmgen import ir
from lstmgen.data.digits import load_digits_split
from lstmgen.quant import (
    QuantOptions,
    checkpoint_net,
    evaluate_classifier,
    quantize_inputs,
    quantize_net,
)
from lstmgen.sparsity import compact
from lstmgen.targets.c import CTarget, generate
from lstmgen.train import train_default
from lstmgen.verify.base import verify
from lstmgen.verify.cpu import CpuRunner


def main(out: Path) -> int:
    ckpt, _ = train_default(hidden=(32, 32), iss_lambda=3e-3, progress=False)
    small = compact(ckpt)  # exact: drops units whose outgoing weights are all zero
    print("hidden", ckpt.config.hidden, "->", small.config.hidden)

    data = load_digits_split()
    net = checkpoint_net(small)
    model = quantize_net(net, data.x_train[:512], QuantOptions(weight_bits=8), name="digits")
    print(evaluate_classifier(net, model, data.x_val, data.y_val))
    ir.save(model, out / "digits.lstmir")

    generate(model, out / "c", CTarget(cpu="generic"))  # digits.h, digits.c, main.c, Makefile, ...
    report = verify(model, CpuRunner(), quantize_inputs(model, data.x_test), out / "build")
    print(report.text())  # PASS n vectors, 0 mismatches
    return 0 if report.passed else 1


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="lstmgen-"))
    target.mkdir(parents=True, exist_ok=True)
    sys.exit(main(target))
