"""A tensorized LSTM (tLSTM) learns the tLSTM paper's addition task, then runs as C, bit for bit
equal to the golden model.

    python examples/tlstm_addition.py [OUT_DIR]

Equivalent command line::

    lstmgen train --model tlstm --task addition --digits 1 --tensor-size 2 --kernel 3 \\
        --hidden 32 --epochs 10 --lr 0.005 --out OUT/run
    lstmgen quantize OUT/run/best.pt --out OUT/add.lstmir
    lstmgen verify OUT/add.lstmir --target c          # or --target cortex-m4 (QEMU)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from lstmgen.commands.quantize import load_task_data, quantize_tlstm_checkpoint
from lstmgen.quant import QuantOptions
from lstmgen.train import default_config, train
from lstmgen.verify.base import verify
from lstmgen.verify.cpu import CpuRunner


def main(out: Path, digits: int = 1, epochs: int = 10) -> None:
    """Train into ``out/run``, quantize with int16 weights, verify the C on 200 sequences."""
    cfg = default_config("addition", model="tlstm", tensor_size=2, kernel=3, hidden=(32,),
                         digits=digits, epochs=epochs, lr=0.005)
    # small per-step tensors: one thread is faster than many (lstmgen train --threads 1)
    result = train(cfg, out / "run", progress=False, threads=1)
    ckpt = result.best
    data = load_task_data("lm", "addition", None, None, size=digits)
    model, fig = quantize_tlstm_checkpoint(ckpt, data, QuantOptions(weight_bits=16), "add")
    print(f"tLSTM P={model.P} M={model.M} K={model.K} delay L={model.depth}: "
          f"{model.n_params()} parameters, {model.macs_per_step()} mult-adds per step")
    print(f"{digits}-digit addition, whole answers right: float {fig['float_accuracy']:.3f}, "
          f"golden {fig['golden_accuracy']:.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        report = verify(model, CpuRunner(), data.algo.inputs[:200], Path(tmp))
    print(report.text())
    if not report.passed:
        raise SystemExit(1)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/tlstm-example"))
