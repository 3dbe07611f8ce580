"""Benchmark: the time of one PTB training step (batch 20, BPTT 35, 10000 words) by model size,
precision (fp32, bf16 autocast) and ISS on/off, and the ISS step's own parts (the penalty's
gradient by autograd and in closed form, zero-out by masked_fill and in one pass).

The step is the one :func:`lstmgen.train.train` takes: forward and loss under
:func:`lstmgen.train._autocast`, then :func:`lstmgen.train._step` (backward, the ISS penalty's
gradient, clipping, SGD, zero-out). Tokens are random (no data needed); the time per step does
not depend on them.

    PYTHONPATH=. python bench/train_speed.py --threads 1 --out bench/results/train_speed.txt
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.shs_speed import _time  # median ms after three warm-up calls; after the path set-up

__all__ = ["main"]

SIZES = {"small": 200, "medium": 650}
VOCAB, BATCH, BPTT = 10_000, 20, 35


def _amx() -> str:
    """Whether the CPU has AMX-BF16 (the bfloat16 matrix unit oneDNN uses), from /proc/cpuinfo."""
    try:
        return "yes" if "amx_bf16" in Path("/proc/cpuinfo").read_text() else "no"
    except OSError:
        return "unknown"


def _model(hidden: int):
    import torch

    from lstmgen.checkpoint import ModelConfig, build_module

    torch.manual_seed(0)
    model = build_module(ModelConfig(kind="lm", n_in=hidden, hidden=(hidden, hidden),
                                     n_out=VOCAB, vocab=VOCAB, dropout=0.5))
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.05, 0.05)
    return model.train()


def step_ms(hidden: int, precision: str, iss: float, repeats: int) -> float:
    """Milliseconds per training step of a 2-layer LM of ``hidden`` units."""
    import torch
    from torch.nn import functional as F

    from lstmgen.train import _autocast, _step, default_config

    cfg = default_config("ptb", data="-", hidden=(hidden, hidden), embed=hidden, dropout=0.5,
                         iss_lambda=iss, precision=precision)
    model = _model(hidden)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # the weights stay as drawn
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, VOCAB, (BATCH, BPTT), generator=gen)
    y = torch.randint(0, VOCAB, (BATCH, BPTT), generator=gen)

    def one() -> None:
        with _autocast(cfg, "cpu"):
            logits, _ = model.forward_with_state(x, None)
            ce = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1), reduction="sum")
        _step(model, opt, ce / BATCH, cfg)

    return _time(one, repeats)


def iss_parts_ms(hidden: int, repeats: int) -> dict[str, float]:
    """The ISS step's parts on a 2-layer LM of ``hidden`` units, old form against new."""
    import torch

    from lstmgen.sparsity import add_group_lasso_grad, group_lasso, zero_out

    model = _model(hidden)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    # what zero_out covers: every LSTM weight and bias and the decoder's weight
    grouped = [p for l in range(2) for p in model.lstm.layer_params(l)] + [model.decoder.weight]

    def masked_fill() -> None:
        with torch.no_grad():
            for p in grouped:
                p.masked_fill_(p.abs() < 1e-4, 0.0)

    return {
        "penalty gradient, autograd": _time(lambda: (0.004 * group_lasso(model)).backward(),
                                             repeats),
        "penalty gradient, closed form": _time(lambda: add_group_lasso_grad(model, 0.004),
                                                repeats),
        "zero-out, masked_fill": _time(masked_fill, repeats),
        "zero-out, one pass (hardshrink)": _time(lambda: zero_out(model, 1e-4), repeats),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--sizes", default="small,medium")
    p.add_argument("--out", default=None, help="also write the table here")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    sizes = [s for s in args.sizes.split(",") if s]
    cpu = f"{platform.machine()} ({torch.backends.cpu.get_cpu_capability()}, AMX: {_amx()})"
    lines = [(f"# PTB training step (batch {BATCH}, BPTT {BPTT}, vocab {VOCAB}), "
              f"{args.threads} thread(s), torch {torch.__version__}, {cpu}"),
             f"# command: PYTHONPATH=. python bench/train_speed.py --threads {args.threads}",
             "", "| model | precision | ISS | ms/step | vs fp32 dense |", "|---|---|---|---|---|"]
    for size in sizes:
        hidden = SIZES[size]
        base = None
        for precision in ("fp32", "bf16"):
            for iss in (0.0, 0.004):
                ms = step_ms(hidden, precision, iss, args.repeats)
                base = base or ms
                lines.append(f"| 2x{hidden} | {precision} | {'on' if iss else 'off'} | {ms:.0f} | "
                             f"{base / ms:.2f}x |")
                print(lines[-1], flush=True)
    lines += ["", "| model | ISS part | ms |", "|---|---|---|"]
    for size in sizes:
        for part, ms in iss_parts_ms(SIZES[size], args.repeats).items():
            lines.append(f"| 2x{SIZES[size]} | {part} | {ms:.1f} |")
            print(lines[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
