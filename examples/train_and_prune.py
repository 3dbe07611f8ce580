"""Train the digits classifier with ISS, compact it, and check the compact model is equal.

    python examples/train_and_prune.py [OUT_DIR]

Equivalent command line::

    lstmgen train --iss-lambda 0.003 --out runs/digits
    lstmgen prune runs/digits/last.pt --out runs/digits/compact.pt
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

import lstmgen
from lstmgen.checkpoint import macs_per_step, save_checkpoint
from lstmgen.data import load_digits_split
from lstmgen.sparsity import compact
from lstmgen.train import train_default


def main(out: Path) -> None:
    """Train, compact, save ``out/compact.pt`` and print the figures."""
    t0 = time.perf_counter()
    ckpt, history = train_default(hidden=(32, 32), iss_lambda=0.003, out=out / "run")
    small = compact(ckpt)
    save_checkpoint(small, out / "compact.pt")
    model = lstmgen.load(out / "compact.pt")
    split = load_digits_split()
    with torch.no_grad():
        acc = (model(torch.from_numpy(split.x_test)).argmax(-1).numpy() == split.y_test).mean()
    before, after = macs_per_step(ckpt.config), macs_per_step(small.config)
    print(f"trained in {time.perf_counter() - t0:.0f} s; val acc {history[-1]['val_acc']:.3f}")
    print(f"hidden {list(ckpt.config.hidden)} -> {list(small.config.hidden)}; "
          f"LSTM MACs/step {before['lstm']} -> {after['lstm']}; compact test acc {acc:.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/digits-example"))
