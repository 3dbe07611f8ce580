"""HLS: lstmgen's Vitis HLS project vs hls4ml 1.3.0 on the same float models (not a test).

Models (random float weights, seeded; 16 inputs, 10 outputs, 8-step sequences of N(0, 1)
features): a single-layer classifier with 32 units, and a 2x128 one (hls4ml 1.3.0 cannot
express stacked LSTMs, so it also runs on 1x128, the nearest model it can take).

* time to generate and compile the C-simulation, wall clock, best of ``--repeat``:
  lstmgen = quantize (calibration on the check inputs) + render + g++ (design and testbench in
  parallel, then link); hls4ml = ``convert_from_pytorch_model`` + ``compile()`` (its import
  time is listed apart); plus the time to run the C-simulation on the check inputs;
* agreement: lstmgen's C-simulation vs the golden model (exact: mismatching vectors) and the
  golden model's error vs the float model (dequantized outputs); hls4ml's error vs the float
  model at ``ap_fixed<16,6>`` (through lstmgen's export, which hands hls4ml the transposed
  Linear weight);
* multipliers per reuse factor R: lstmgen's schedule (products + cell updates) and its cycle
  estimate per step; hls4ml's ALLOCATION limit for its latency strategy (the LSTM's two
  kernels and the Dense: ``Σ ceil(n_in·n_out / R)``).

    python bench/hls.py [--repeat 2] [--vectors 64] [--out bench/results/hls_x86.txt]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lstmgen import golden
from lstmgen.checkpoint import Checkpoint, ModelConfig, build_module
from lstmgen.quant import QuantOptions, checkpoint_net, quantize_inputs, quantize_net
from lstmgen.quant.floatref import forward
from lstmgen.targets.hls import Options, render, schedule
from lstmgen.verify.hls import HlsRunner

N_IN, N_OUT, STEPS = 16, 10, 8
REUSE = (1, 2, 4, 8, 16, 32)


def checkpoint(hidden: tuple[int, ...], seed: int = 0) -> Checkpoint:
    cfg = ModelConfig("classifier", N_IN, hidden, N_OUT)
    torch.manual_seed(seed)
    m = build_module(cfg)
    return Checkpoint(cfg, {k: v.detach().clone() for k, v in m.state_dict().items()}, {})


def lstmgen_run(ckpt: Checkpoint, x: np.ndarray, repeat: int) -> dict:
    net = checkpoint_net(ckpt)
    y_float = forward(net, x)
    best = {"quantize": math.inf, "render": math.inf, "compile": math.inf, "csim": math.inf}
    for _ in range(repeat):
        t0 = time.perf_counter()
        model = quantize_net(net, x, QuantOptions(weight_bits=16), name="bench")
        t1 = time.perf_counter()
        render(model, Options())
        t2 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            runner = HlsRunner(Options())
            runner.build(model, Path(tmp))
            t3 = time.perf_counter()
            codes = quantize_inputs(model, x)
            run = runner.run(model, codes, Path(tmp))
            t4 = time.perf_counter()
        for k, v in (("quantize", t1 - t0), ("render", t2 - t1), ("compile", t3 - t2),
                     ("csim", t4 - t3)):
            best[k] = min(best[k], v)
    want = golden.run(model, codes).outputs
    mismatches = int(np.any(run.outputs != want, axis=1).sum())
    err = float(np.abs(model.head.out_fmt.to_float(want) - y_float).max())
    return {**best, "mismatches": mismatches, "err": err, "mag": float(np.abs(y_float).max()),
            "model": model}


def hls4ml_run(ckpt: Checkpoint, x: np.ndarray, repeat: int) -> dict:
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        import hls4ml
    t_import = time.perf_counter() - t0
    from lstmgen.hls4ml_export import hls4ml_module

    y_float = forward(checkpoint_net(ckpt), x)
    module = hls4ml_module(ckpt)
    best = {"convert": math.inf, "compile": math.inf, "csim": math.inf}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            t0 = time.perf_counter()
            cfg = hls4ml.utils.config_from_pytorch_model(
                module, (STEPS, N_IN), granularity="name", backend="Vitis",
                default_precision="ap_fixed<16,6>", channels_last_conversion="off")
            hm = hls4ml.converters.convert_from_pytorch_model(
                module, hls_config=cfg, output_dir=str(Path(tmp) / "prj"), backend="Vitis",
                io_type="io_parallel")
            t1 = time.perf_counter()
            hm.compile()
            t2 = time.perf_counter()
            y = hm.predict(np.ascontiguousarray(x.astype(np.float32)))
            t3 = time.perf_counter()
        for k, v in (("convert", t1 - t0), ("compile", t2 - t1), ("csim", t3 - t2)):
            best[k] = min(best[k], v)
    err = float(np.abs(np.asarray(y, np.float64).reshape(y_float.shape) - y_float).max())
    return {**best, "import": t_import, "err": err, "mag": float(np.abs(y_float).max())}


def hls4ml_multipliers(hidden: int, reuse: int) -> int:
    """hls4ml's latency-strategy ALLOCATION limits: LSTM kernel, recurrent kernel, Dense."""
    return sum(-(-n // reuse) for n in (N_IN * 4 * hidden, hidden * 4 * hidden, hidden * N_OUT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--vectors", type=int, default=64)
    ap.add_argument("--out", type=Path, default=None, help="also write the tables here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    x = np.random.default_rng(0).standard_normal((args.vectors, STEPS, N_IN))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [(f"# bench/hls.py on {platform.machine()}, {os.cpu_count()} cores (load average "
              f"{load:.1f} at the start), {args.vectors} sequences x {STEPS} steps, best of "
              f"{args.repeat}"), ""]
    lines += [("| model | tool | generate s | compile s | C-sim run s | exact vs golden | "
              "max err vs float | largest output |"),
              "|---|---|---|---|---|---|---|---|"]
    models = {"1x32": (32,), "2x128": (128, 128), "1x128": (128,)}
    built = {}
    for label, hidden in models.items():
        ck = checkpoint(hidden)
        if label != "1x128":
            r = lstmgen_run(ck, x, args.repeat)
            built[label] = r["model"]
            lines.append(
                f"| {label} | lstmgen | {r['quantize'] + r['render']:.2f} (quantize "
                f"{r['quantize']:.2f} + render {r['render']:.2f}) | {r['compile']:.2f} | "
                f"{r['csim']:.2f} | {args.vectors - r['mismatches']}/{args.vectors} | "
                f"{r['err']:.4f} (golden) | {r['mag']:.3f} |")
        if len(hidden) == 1:
            h = hls4ml_run(ck, x, args.repeat)
            lines.append(
                f"| {label} | hls4ml 1.3.0 | {h['convert']:.2f} (+ import {h['import']:.1f}) | "
                f"{h['compile']:.2f} | {h['csim']:.2f} | - | {h['err']:.4f} (ap_fixed<16,6>) "
                f"| {h['mag']:.3f} |")
        else:
            lines.append(f"| {label} | hls4ml 1.3.0 | refused: {len(hidden)} stacked LSTM layers "
                         "| - | - | - | - | - |")
    lines += ["", ("Multipliers per reuse factor R (lstmgen: products + cell updates = total; "
              "cycles/step estimate, dense h; hls4ml: latency-strategy ALLOCATION limit of its "
              "products):"), "",
              ("| R | 1x32 mult-adds/R | lstmgen 1x32 | cycles | hls4ml 1x32 | 2x128 mult-adds/R | "
              "lstmgen 2x128 | cycles |"),
              "|---|---|---|---|---|---|---|---|"]
    for R in REUSE:
        cells = [str(R)]
        for label in ("1x32", "2x128"):
            m = built[label]
            s = schedule(m, Options(reuse=R))
            cells += [f"{m.macs_per_step() / R:.0f}",
                      (f"{s.product_multipliers} + {s.multipliers - s.product_multipliers} = "
                      f"{s.multipliers}"), f"{s.cycles_per_step():.0f}"]
            if label == "1x32":
                cells.append(str(hls4ml_multipliers(32, R)))
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
