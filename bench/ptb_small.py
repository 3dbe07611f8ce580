"""Benchmark: Zaremba's small PTB LSTM, dense and with ISS at several λ, before/after compaction.

Every configuration is a resumable :func:`lstmgen.train.train` run under ``--out/<name>``
(per-epoch checkpoints; rerunning the same command continues unfinished runs). After
training, each final model is compacted, re-evaluated, and a table is printed: valid/test
perplexity, hidden sizes after compaction, multiply-adds per token (LSTM and softmax) before
and after. ``--out/results.json`` holds the same figures.

The loss is the cross-entropy summed over the 35 steps of a window and averaged over the
batch, as in the TF reference, plus λ·(group Lasso); zero-out threshold 1e-4.

    PYTHONPATH=. python bench/ptb_small.py --device cuda --jobs 4
    PYTHONPATH=. python bench/ptb_small.py --epochs 1 --max-tokens 20000 --lambdas 0.001
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

__all__ = ["main", "run_config"]

DEFAULT_LAMBDAS = "0.001,0.002,0.004"


def run_config(name: str, lam: float, args: dict[str, Any], threads: int) -> dict[str, Any]:
    """Train (or resume) one configuration, compact it, and return its figures."""
    import torch

    from lstmgen.checkpoint import build_module, macs_per_step
    from lstmgen.data import batchify, load_ptb
    from lstmgen.sparsity import compact
    from lstmgen.train import default_config, evaluate_lm, train

    if args["device"] == "cpu":
        torch.set_num_threads(threads)
    run_dir = Path(args["out"]) / name
    t0 = time.perf_counter()
    if (run_dir / "state.pt").is_file():
        result = train(None, run_dir, resume=True, device=args["device"], progress=False,
                       epochs=args["epochs"])
    else:
        cfg = default_config(
            "ptb", data=args["data"], hidden=(args["hidden"],) * args["layers"],
            embed=args["hidden"], epochs=args["epochs"], iss_lambda=lam,
            max_tokens=args["max_tokens"], seed=args["seed"],
        )
        result = train(cfg, run_dir, device=args["device"], progress=False)
    seconds = time.perf_counter() - t0
    dense = result.checkpoint
    small = compact(dense)
    corpus = load_ptb(args["data"], max_tokens=args["max_tokens"])
    model = build_module(small.config)
    model.load_state_dict(small.state_dict)
    model.to(args["device"])
    ppl = {
        s: float(torch.tensor(evaluate_lm(model, batchify(corpus.split(s), 20), 35, args["device"])).exp())
        for s in ("valid", "test")
    }
    last = result.history[-1]
    mb, ma = macs_per_step(dense.config), macs_per_step(small.config)
    return {
        "name": name,
        "lambda": lam,
        "epochs": len(result.history),
        "valid_ppl": last["valid_ppl"],
        "test_ppl": last["test_ppl"],
        "valid_ppl_compact": ppl["valid"],
        "test_ppl_compact": ppl["test"],
        "hidden_before": list(dense.config.hidden),
        "hidden_after": list(small.config.hidden),
        "lstm_macs_before": mb["lstm"],
        "lstm_macs_after": ma["lstm"],
        "softmax_macs_before": mb["head"],
        "softmax_macs_after": ma["head"],
        "train_seconds": round(seconds, 1),
    }


def _table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'run':<12}{'lambda':>8}{'valid':>9}{'test':>9}{'test cmp':>9}{'hidden after':>16}"
            f"{'LSTM MACs/token':>22}{'softmax MACs/token':>24}{'time s':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lstm = f"{r['lstm_macs_before']}->{r['lstm_macs_after']}"
        soft = f"{r['softmax_macs_before']}->{r['softmax_macs_after']}"
        lines.append(
            f"{r['name']:<12}{r['lambda']:>8g}{r['valid_ppl']:>9.2f}{r['test_ppl']:>9.2f}"
            f"{r['test_ppl_compact']:>9.2f}{r['hidden_after']!s:>16}{lstm:>22}{soft:>24}{r['train_seconds']:>8.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run all configurations (``--jobs`` in parallel), print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "ptb"))
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--epochs", type=int, default=13)
    p.add_argument("--lambdas", default=DEFAULT_LAMBDAS, help="comma list of ISS λ (dense always runs)")
    p.add_argument("--jobs", type=int, default=1, help="configurations trained in parallel")
    p.add_argument("--out", default=str(REPO / "runs" / "ptb_small"))
    p.add_argument("--max-tokens", type=int, default=None, help="truncate every split (smoke)")
    p.add_argument("--hidden", type=int, default=200)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    lambdas = [float(x) for x in a.lambdas.split(",") if x.strip()]
    configs = [("dense", 0.0)] + [(f"iss_{lam:g}", lam) for lam in lambdas]
    args = {k: getattr(a, k) for k in ("data", "device", "epochs", "out", "max_tokens", "hidden",
                                       "layers", "seed")}
    jobs = max(1, min(a.jobs, len(configs)))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    t0 = time.perf_counter()
    if jobs == 1:
        rows = [run_config(n, lam, args, threads) for n, lam in configs]
    else:
        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
            futures = [pool.submit(run_config, n, lam, args, threads) for n, lam in configs]
            rows = [f.result() for f in futures]
    print(_table(rows))
    print(f"wall time {time.perf_counter() - t0:.0f} s on {a.device}, {jobs} job(s)")
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "results.json").write_text(json.dumps({"args": args, "runs": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
