"""ISS, then sparse hidden states (SHS), then int8 quantization-aware training, on the digits;
deploy the result as C and check it bit for bit against the golden model.

    python examples/sparse_hidden_states.py [OUT_DIR]

Equivalent command line::

    lstmgen train --task default --iss-lambda 3e-3 --out OUT/iss
    lstmgen prune OUT/iss/last.pt --out OUT/iss.pt
    lstmgen train --task default --from OUT/iss.pt --shs-threshold 0.5 --shs-lambda 1e-3 \\
        --epochs 20 --lr 1e-3 --out OUT/shs
    lstmgen train --task default --qat --from OUT/shs/last.pt --weights 8 --acts 8 \\
        --epochs 10 --lr 1e-3 --out OUT/qat
    lstmgen quantize OUT/qat/last.pt --out OUT/digits.lstmir --task default
    lstmgen verify OUT/digits.lstmir --target c --inputs ...
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from lstmgen.checkpoint import save_checkpoint
from lstmgen.commands.quantize import TaskData, quantize_checkpoint
from lstmgen.data import load_digits_split
from lstmgen.nn.qat import QatSpec
from lstmgen.quant import quantize_inputs
from lstmgen.sparsity import compact
from lstmgen.train import default_config, train
from lstmgen.verify.base import verify
from lstmgen.verify.cpu import CpuRunner


def main(out: Path, epochs: tuple[int, int, int] = (60, 20, 10)) -> None:
    """Train the three stages into ``out`` and print what each deployed model computes."""
    iss = train(default_config("default", iss_lambda=3e-3, epochs=epochs[0]), out / "iss",
                progress=False)
    small = compact(iss.checkpoint)
    save_checkpoint(small, out / "iss.pt")
    train(default_config("default", init_from=str(out / "iss.pt"), shs_threshold=0.5,
                         shs_lambda=1e-3, epochs=epochs[1], lr=1e-3, lr_decay=1.0),
          out / "shs", progress=False)
    qat = train(default_config("default", init_from=str(out / "shs" / "last.pt"), qat=True,
                               qat_weight_bits=8, qat_act_bits=8, epochs=epochs[2], lr=1e-3,
                               lr_decay=1.0), out / "qat", progress=False)
    spec = QatSpec.from_json(qat.checkpoint.meta["qat"])  # the formats QAT trained with
    d = load_digits_split()
    data = TaskData(d.x_train[:512], d.x_test, d.y_test)
    model, fig = quantize_checkpoint(qat.checkpoint, data, spec.options, "digits",
                                     act_formats=spec.act)
    sp = fig["sparsity"]
    print(f"hidden {list(iss.checkpoint.config.hidden)} -> {list(small.config.hidden)} (ISS); "
          f"h zeros per layer {[round(z, 3) for z in sp['h_zeros_per_layer']]} (SHS)")
    print(f"int8 weights, int8 activations after QAT: float {fig['float_accuracy']:.4f}, "
          f"golden {fig['golden_accuracy']:.4f}; LSTM mult-adds per step "
          f"{sp['macs_per_step']} dense, {sp['executed_macs_per_step']:.0f} executed")
    with tempfile.TemporaryDirectory() as tmp:
        report = verify(model, CpuRunner(), quantize_inputs(model, d.x_test), Path(tmp))
    print(report.text())
    if not report.passed:
        raise SystemExit(1)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/shs-example"))
