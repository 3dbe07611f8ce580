"""Benchmark: tensorized LSTM (tLSTM, He et al. NIPS 2017) against the LSTM at equal parameter
count, trained on CPU, deployed through the integer IR to host C and Cortex-M4.

Three parts, every figure measured (none estimated):

1. **Addition** (the paper's task and encoding, :mod:`lstmgen.data.algorithmic`, with
   ``--digits`` operands instead of the paper's 15): an LSTM (``--lstm-hidden``, embedding 16)
   and tLSTMs of P = 1, 2, 4 (M = ``--channels``, K = 3, delay L = the largest causal one, P)
   with about the same number of parameters (a tLSTM's do not depend on P) are trained for
   ``--steps`` Adam steps of 32 fresh sequences each, as resumable :func:`lstmgen.train.train`
   runs under ``OUT/addition/<digits>/<name>``. Figure: the best validation sequence accuracy
   (every sum digit right, the paper's accuracy) over 1000 sequences, and per sum digit. Then
   each model of the largest ``--digits`` is quantized (int16 weights) and deployed: golden
   accuracy, Cortex-M4 flash of the model and instructions per step (QEMU plugin; an LSTM's from
   the C target's DSP kernels, a tLSTM's from ``lg_tlstm.h``'s SMLAD dot products), host
   instructions per step (callgrind).
2. **Deepening by delay**: one tLSTM (P = 4, M = ``--channels``, K = 3) run with delay L = 4 and
   L = 1 (same weights: the delay only adds ``L - 1`` steps on padding after a sequence): host
   C instructions per input step (callgrind over whole padded 15-digit addition sequences, T =
   49) and torch wall time per input step (float64, batch 32); beside it, what deepening an LSTM
   by stacking costs (instructions per step of a 1-layer and a 4-layer LSTM of the same width).
3. **PTB small** (``--ptb DIR``; Zaremba's small setting: batch 20, BPTT 35, SGD lr 1 halved
   after epoch 4, clip 5, init ±0.1) with ``--max-tokens`` per split and ``--ptb-epochs``: LSTM
   2x200 against a tLSTM P = 2, M = 200 (within 4% of its parameters), valid/test perplexity.

Results: ``OUT/results.json`` and a Markdown table ``OUT/results.md``. Runs are resumable:
rerunning skips what is done.

    PYTHONPATH=. python bench/tlstm.py --out bench/runs/tlstm --digits 1,2,3 --steps 3000 \\
        --ptb ../shared/data/ptb --max-tokens 200000 --ptb-epochs 2 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

__all__ = ["ADDITION_MODELS", "main"]

#: name -> train options of the addition models (``M`` stands for ``--channels``).
ADDITION_MODELS: dict[str, dict[str, Any]] = {
    "LSTM": {"model": "lstm"},
    "tLSTM P=1": {"model": "tlstm", "tensor_size": 1},
    "tLSTM P=2": {"model": "tlstm", "tensor_size": 2},
    "tLSTM P=4": {"model": "tlstm", "tensor_size": 4},
}


def _train_addition(args: tuple) -> dict[str, Any]:
    """One addition run (in a worker process); returns its figures."""
    name, opts, digits, steps, lstm_hidden, channels, out = args
    import torch

    from lstmgen.checkpoint import count_params, macs_per_step
    from lstmgen.train import default_config, train

    torch.set_num_threads(1)
    kw = dict(opts)
    kw["hidden"] = (lstm_hidden,) if kw["model"] == "lstm" else (channels,)
    epochs = max(1, steps // 100)
    cfg = default_config("addition", digits=digits, epochs=epochs, steps_per_epoch=100,
                         lr=0.003, seed=0, **kw)
    run = Path(out)
    t0 = time.perf_counter()
    resume = (run / "state.pt").is_file()
    res = train(None if resume else cfg, run, resume=resume, progress=False, threads=1,
                epochs=epochs if resume else None)
    best = max(res.history, key=lambda h: (h["val_acc"], h["val_token_acc"]))
    c = res.checkpoint.config
    return {
        "name": name, "digits": digits, "steps": epochs * 100,
        "params": count_params(c), "macs_per_step": macs_per_step(c)["total"],
        "val_acc": best["val_acc"], "val_token_acc": best["val_token_acc"],
        "test_acc": best["test_acc"], "best_epoch": best["epoch"],
        "first_epoch_95": next((h["epoch"] for h in res.history if h["val_acc"] >= 0.95), None),
        "seconds": round(sum(h["seconds"] for h in res.history), 1),
        "wall": round(time.perf_counter() - t0, 1),
        "depth": None if c.tlstm is None else c.tlstm.depth,
    }


def _deploy(ckpt_path: Path, digits: int, work: Path) -> dict[str, Any]:
    """Quantize a trained addition checkpoint (int16 weights) and measure it: golden accuracy,
    Cortex-M4 flash and instructions per step, host instructions per step."""
    import numpy as np

    from lstmgen.checkpoint import load_checkpoint
    from lstmgen.commands.quantize import (
        load_task_data,
        quantize_checkpoint,
        quantize_tlstm_checkpoint,
    )
    from lstmgen.quant import QuantOptions
    from lstmgen.targets.c import CTarget
    from lstmgen.verify.base import golden_of
    from lstmgen.verify.cpu import callgrind_instructions
    from lstmgen.verify.qemu import QemuRunner

    ckpt = load_checkpoint(ckpt_path)
    td = load_task_data("lm", "addition", None, None, size=digits)
    opts = QuantOptions(weight_bits=16)
    if ckpt.config.tlstm is not None:
        model, fig = quantize_tlstm_checkpoint(ckpt, td, opts, "add")
    else:
        model, fig = quantize_checkpoint(ckpt, td, opts, "add")
    x = td.algo.inputs[:8]
    if ckpt.config.tlstm is not None:
        from lstmgen.quant.tlstm import pad_ids

        x = pad_ids(x, model.depth)
    out: dict[str, Any] = {"golden_acc": fig.get("golden_accuracy"),
                           "float_acc": fig.get("float_accuracy"),
                           "ir_macs_per_step": model.macs_per_step()}
    try:
        run = QemuRunner(CTarget(cpu="cortex-m4"), count=True).run(model, x, work / "m4")
        gold = golden_of(model).run(model, x).outputs
        out["m4_exact"] = bool(np.array_equal(gold, run.outputs))
        out["m4_flash_bytes"] = run.figures.flash_bytes
        out["m4_instructions_per_step"] = run.figures.extra["instructions_per_step"]
        out["m4_cycles_per_step_est"] = run.figures.extra.get("estimated_cycles_per_step")
    except Exception as exc:  # noqa: BLE001 - a benchmark reports what failed and goes on
        out["m4_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    try:
        cg = callgrind_instructions(model, x, work / "host")
        out["host_instructions_per_step"] = cg["per_step"]
    except Exception as exc:  # noqa: BLE001
        out["host_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return out


def _wide_lstm(width: int, work: Path) -> dict[str, Any]:
    """What widening an LSTM to ``width`` units (a tLSTM's P·M) costs: parameters, Cortex-M4
    flash and instructions per step of a random IR of that shape (int16 weights; untrained:
    only its size is measured)."""
    from lstmgen.targets.c import CTarget
    from lstmgen.testing import random_inputs, random_model
    from lstmgen.verify.qemu import QemuRunner

    m = random_model(9, kind="lm", n_in=16, hidden=(width,), vocab=11, shs=False, name="wide")
    params = sum(t.values.size for la in m.layers for _, g in la.gates()
                 for t in (g.w_ih, g.w_hh, g.bias)) + m.head.weight.values.size + 11 + 11 * 16
    out: dict[str, Any] = {"params": int(params), "ir_macs_per_step": m.macs_per_step()}
    try:
        run = QemuRunner(CTarget(cpu="cortex-m4"), count=True).run(
            m, random_inputs(m, 2, 13, 0), work)
        out["m4_flash_bytes"] = run.figures.flash_bytes
        out["m4_instructions_per_step"] = run.figures.extra["instructions_per_step"]
        out["m4_cycles_per_step_est"] = run.figures.extra.get("estimated_cycles_per_step")
    except Exception as exc:  # noqa: BLE001
        out["m4_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return out


def _delay_cost(channels: int, work: Path) -> dict[str, Any]:
    """Host cost per input step of one tLSTM (P = 4) with delay 4 and 1, and of stacking LSTM
    layers (1 vs 4 layers of the same width)."""
    import numpy as np
    import torch

    from lstmgen.data.algorithmic import generate
    from lstmgen.nn.tlstm import TLSTMLanguageModel
    from lstmgen.quant.tlstm import pad_ids, random_tlstm
    from lstmgen.testing import random_inputs, random_model
    from lstmgen.verify.cpu import callgrind_instructions

    P = 4
    seqs = generate("addition", 4, 15, 0).inputs  # T = 49
    T = seqs.shape[1]
    res: dict[str, Any] = {"P": P, "M": channels, "T": T}
    base = random_tlstm(7, kind="lm", P=P, M=channels, K=3, vocab=11, depth=P, name="deep")
    for L in (P, 1):
        m = base.replace(depth=L, name=f"l{L}")
        x = pad_ids(seqs, L)
        cg = callgrind_instructions(m, x, work / f"delay{L}")
        res[f"host_instructions_per_input_step_L{L}"] = cg["instructions"] / (len(seqs) * T)
    for layers in (1, 4):
        lm = random_model(8, kind="lm", n_in=channels, hidden=(channels,) * layers, vocab=11,
                          shs=False, name=f"s{layers}")
        cg = callgrind_instructions(lm, random_inputs(lm, 4, T, 0), work / f"stack{layers}")
        res[f"host_instructions_per_step_lstm_{layers}_layers"] = cg["per_step"]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    xb = torch.from_numpy(generate("addition", 32, 15, 1).inputs)
    for L in (P, 1):
        lm = TLSTMLanguageModel(11, P, channels, 3, depth=L).double().eval()
        with torch.no_grad():
            lm(xb)  # warm up
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                lm(xb)
                times.append(time.perf_counter() - t0)
        res[f"torch_ms_per_input_step_L{L}"] = 1e3 * float(np.median(times)) / T
    r = res
    r["host_ratio"] = r[f"host_instructions_per_input_step_L{P}"] / r["host_instructions_per_input_step_L1"]
    r["torch_ratio"] = r[f"torch_ms_per_input_step_L{P}"] / r["torch_ms_per_input_step_L1"]
    r["stack_ratio"] = (r["host_instructions_per_step_lstm_4_layers"]
                        / r["host_instructions_per_step_lstm_1_layers"])
    return res


def _train_ptb(args: tuple) -> dict[str, Any]:
    name, opts, data, max_tokens, epochs, out = args
    import torch

    from lstmgen.checkpoint import count_params, macs_per_step
    from lstmgen.train import default_config, train

    torch.set_num_threads(1)
    cfg = default_config("ptb", data=data, max_tokens=max_tokens, epochs=epochs, seed=0, **opts)
    run = Path(out)
    resume = (run / "state.pt").is_file()
    res = train(None if resume else cfg, run, resume=resume, progress=False, threads=1,
                epochs=epochs if resume else None)
    best = min(res.history, key=lambda h: h["valid_ppl"])
    c = res.checkpoint.config
    return {"name": name, "params": count_params(c), "macs_per_token": macs_per_step(c)["total"],
            "valid_ppl": best["valid_ppl"], "test_ppl": best["test_ppl"], "epochs": epochs,
            "max_tokens": max_tokens, "seconds": round(sum(h["seconds"] for h in res.history), 1)}


def _fmt(d: dict[str, Any], k: str, fmt: str = "{:,.0f}") -> str:
    v = d.get(k)
    return "-" if v is None else fmt.format(v)


def _table(results: dict[str, Any]) -> str:
    lines = ["## Addition (the paper's encoding, most significant digit first)", "",
             ("| digits | model | params | MACs/step | steps | val seq acc | val digit acc | "
              "test seq acc | first epoch >= 95% |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results.get("addition", []):
        lines.append(f"| {r['digits']} | {r['name']} | {r['params']:,} | {r['macs_per_step']:,} | "
                     f"{r['steps']} | {100 * r['val_acc']:.1f}% | {100 * r['val_token_acc']:.1f}% | "
                     f"{100 * r['test_acc']:.1f}% | {r['first_epoch_95'] or '-'} |")
    if results.get("deploy"):
        lines += ["", "## Deployed (int16 weights), largest digits", "",
                  ("| model | params | MACs/step | float acc | golden acc | M4 exact | M4 flash B | "
                   "M4 instr/step | M4 est. cycles/step | host instr/step |"),
                  "|---|---|---|---|---|---|---|---|---|---|"]
        params = {r["name"]: r["params"] for r in results.get("addition", [])}
        for name, d in results["deploy"].items():
            p = params.get(name, d.get("params"))
            lines.append(f"| {name} | {'-' if p is None else f'{p:,}'} | "
                         f"{_fmt(d, 'ir_macs_per_step')} | {_fmt(d, 'float_acc', '{:.1%}')} | "
                         f"{_fmt(d, 'golden_acc', '{:.1%}')} | "
                         f"{d.get('m4_exact', d.get('m4_error', '-'))} | "
                         f"{_fmt(d, 'm4_flash_bytes')} | {_fmt(d, 'm4_instructions_per_step')} | "
                         f"{_fmt(d, 'm4_cycles_per_step_est')} | "
                         f"{_fmt(d, 'host_instructions_per_step')} |")
    dc = results.get("delay")
    if dc:
        P = dc["P"]
        lines += ["", f"## Deepening by delay (tLSTM P={P}, M={dc['M']}, K=3; addition, T={dc['T']})",
                  "", "| | L=1 | L=4 | ratio |", "|---|---|---|---|",
                  (f"| host C instructions per input step | "
                   f"{dc['host_instructions_per_input_step_L1']:,.0f} | "
                   f"{dc[f'host_instructions_per_input_step_L{P}']:,.0f} | {dc['host_ratio']:.3f} |"),
                  (f"| torch ms per input step (float64, batch 32) | "
                   f"{dc['torch_ms_per_input_step_L1']:.3f} | "
                   f"{dc[f'torch_ms_per_input_step_L{P}']:.3f} | {dc['torch_ratio']:.3f} |"),
                  (f"| LSTM by stacking: host instructions per step, 1 vs 4 layers | "
                   f"{dc['host_instructions_per_step_lstm_1_layers']:,.0f} | "
                   f"{dc['host_instructions_per_step_lstm_4_layers']:,.0f} | "
                   f"{dc['stack_ratio']:.3f} |")]
    if results.get("ptb"):
        lines += ["", "## PTB small (shortened)", "",
                  ("| model | params | MACs/token | epochs | tokens per split | valid ppl | "
                   "test ppl | train s |"),
                  "|---|---|---|---|---|---|---|---|"]
        for r in results["ptb"]:
            lines.append(f"| {r['name']} | {r['params']:,} | {r['macs_per_token']:,} | "
                         f"{r['epochs']} | {r['max_tokens']} | {r['valid_ppl']:.1f} | "
                         f"{r['test_ppl']:.1f} | {r['seconds']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "runs" / "tlstm")
    ap.add_argument("--digits", default="1,2,3")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lstm-hidden", type=int, default=48)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--models", default=",".join(ADDITION_MODELS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-deploy", action="store_true")
    ap.add_argument("--no-delay", action="store_true")
    ap.add_argument("--ptb", default=None, help="PTB directory (part 3 runs only with it)")
    ap.add_argument("--max-tokens", type=int, default=200000)
    ap.add_argument("--ptb-epochs", type=int, default=2)
    a = ap.parse_args(argv)
    out: Path = a.out
    out.mkdir(parents=True, exist_ok=True)
    digits = [int(d) for d in a.digits.split(",")]
    names = a.models.split(",")
    results: dict[str, Any] = {"settings": {k: str(v) for k, v in vars(a).items()}}
    jobs = [(n, ADDITION_MODELS[n], d, a.steps, a.lstm_hidden, a.channels,
             str(out / "addition" / str(d) / n.replace(" ", "_").replace("=", "")))
            for d in digits for n in names]
    if a.ptb:
        ptb_models = {"LSTM 2x200": {"hidden": (200, 200)},
                      "tLSTM P=2 M=200": {"model": "tlstm", "tensor_size": 2, "hidden": (200,)}}
        ptb_jobs = [(n, o, a.ptb, a.max_tokens, a.ptb_epochs,
                     str(out / "ptb" / n.replace(" ", "_").replace("=", "")))
                    for n, o in ptb_models.items()]
    with ProcessPoolExecutor(a.jobs) as pool:
        futs = [pool.submit(_train_addition, j) for j in jobs]
        pfuts = [pool.submit(_train_ptb, j) for j in ptb_jobs] if a.ptb else []
        results["addition"] = [f.result() for f in futs]
        for r in results["addition"]:
            print(json.dumps(r), flush=True)
        results["ptb"] = [f.result() for f in pfuts]
    if not a.no_deploy:
        d = max(digits)
        results["deploy"] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for n in names:
                run = out / "addition" / str(d) / n.replace(" ", "_").replace("=", "")
                results["deploy"][n] = _deploy(run / "best.pt", d, Path(tmp) / n.replace(" ", "_"))
                print(n, json.dumps(results["deploy"][n]), flush=True)
            wide = 4 * a.channels
            results["deploy"][f"LSTM {wide} units (= P·M of tLSTM P=4; untrained)"] = \
                _wide_lstm(wide, Path(tmp) / "wide")
    if not a.no_delay:
        with tempfile.TemporaryDirectory() as tmp:
            results["delay"] = _delay_cost(a.channels, Path(tmp))
        print(json.dumps(results["delay"]), flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.md").write_text(_table(results))
    print(_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
