"""Benchmark: the SHS training cell (:func:`lstmgen.nn.lstm.shs_layer`, a per-step loop with a
hand-written backward) against PyTorch's fused ``nn.LSTM``, forward + backward per batch.

Shapes of PTB small (batch 20, BPTT 35, 2 layers of 200, input 200) and medium (650) by default;
``--threads`` fixes torch's intra-op threads. Prints one Markdown table: milliseconds per batch
(median of ``--repeat`` timed batches after warm-up) and the ratio SHS / nn.LSTM.

    PYTHONPATH=. python bench/shs_speed.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch

from lstmgen.nn.lstm import shs_layer


def _time(fn, repeat: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def measure(hidden: int, layers: int, batch: int, steps: int, repeat: int,
            theta: float = 0.4) -> tuple[float, float]:
    """(ms per batch of nn.LSTM, ms per batch of the SHS cell), forward + backward."""
    torch.manual_seed(0)
    ref = torch.nn.LSTM(hidden, hidden, num_layers=layers, batch_first=True)
    x = torch.randn(batch, steps, hidden)

    def fused() -> None:
        ref.zero_grad(set_to_none=True)
        out, _ = ref(x)
        out.sum().backward()

    params = [[getattr(ref, f"{n}_l{li}") for n in ("weight_ih", "weight_hh", "bias_ih",
                                                     "bias_hh")] for li in range(layers)]

    def shs() -> None:
        ref.zero_grad(set_to_none=True)
        inp = x
        for w_ih, w_hh, b_ih, b_hh in params:
            h0 = inp.new_zeros(batch, hidden)
            inp, _, _, _ = shs_layer(inp, h0, h0, w_ih, w_hh, b_ih, b_hh, theta)
        inp.sum().backward()

    return _time(fused, repeat), _time(shs, repeat)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", default="200,650", help="hidden sizes, comma separated")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--steps", type=int, default=35)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{args.steps} steps, {args.layers} layers; forward + backward per batch")
    print("| hidden | nn.LSTM ms | SHS cell ms | SHS / nn.LSTM |")
    print("|---|---|---|---|")
    for h in (int(v) for v in args.hidden.split(",")):
        a, b = measure(h, args.layers, args.batch, args.steps, args.repeat)
        print(f"| {h} | {a:.1f} | {b:.1f} | {b / a:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
