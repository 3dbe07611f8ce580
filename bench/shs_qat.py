"""Benchmark: sparse hidden states (SHS), ISS, ISS+SHS and quantization-aware training (QAT).

For a task (the digits classifier or PTB small, 2x200), four float models are trained as
resumable :func:`lstmgen.train.train` runs under ``OUT/<task>/<name>`` (rerunning continues
unfinished ones): ``dense``, ``iss`` (group Lasso λ), ``shs`` (output-gate threshold θ, L1
weight μ) and ``iss_shs``. A configuration either trains from scratch or, with ``start``, is an
SHS stage fine-tuning another configuration's compacted result (``lstmgen train --from``):
see :data:`CONFIGS`. Each final model is compacted (exact) and deployed:

* ``float``  - the float model (PTB: valid/test perplexity over the whole splits, state carried);
* ``int16``  - int16 weights, post-training quantization;
* ``int8``   - int8 weights, post-training;
* ``int8 QAT`` - int8 weights after a QAT fine-tuning run from the compacted checkpoint;
* digits only: ``int8/a8`` and ``int8/a8 QAT`` - int8 weights *and* int8 activations (--acts 8).

Columns: quality of the float weights and of the golden (integer) model on the same data
(digits: test accuracy; PTB: perplexity of 10 streams of ``--eval-tokens`` test tokens from a
zero state, float and golden side by side), hidden sizes after compaction, mean share of zeros
in h (golden), mult-adds per token dense and executed with zero-skipping (LSTM, and LSTM +
softmax for PTB: the softmax skips zero entries of the top h too), and the Cortex-M4
instructions per token (QEMU plugin) where the model fits the board. The goals of issue 11
are checked at the end. ``OUT/<task>/results.json`` holds every figure.

    PYTHONPATH=. python bench/shs_qat.py --task default
    PYTHONPATH=. python bench/shs_qat.py --task ptb --data ../shared/data/ptb --device cuda
    PYTHONPATH=. python bench/shs_qat.py --task ptb --data ../shared/data/ptb \\
        --max-tokens 200000 --epochs 4 --qat-epochs 1 --qat-max-tokens 50000   # shortened
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

__all__ = ["CONFIGS", "compact_row", "config_kwargs", "deploy_all", "goals", "main",
           "ptb_perplexity", "run_config", "settings_diff", "short_m4", "table", "task_data",
           "train_run"]

#: Per task, name -> training settings: ``iss`` λ, SHS ``theta`` and ``mu``; ``start`` (a
#: configuration whose compacted model this one fine-tunes), ``epochs`` and ``lr`` of that stage
#: (constant unless ``lr_decay`` and ``decay_after`` are given).
CONFIGS: dict[str, dict[str, dict[str, Any]]] = {
    "default": {
        "dense": {"iss": 0.0, "theta": 0.0, "mu": 0.0},
        "iss": {"iss": 3e-3, "theta": 0.0, "mu": 0.0},
        "shs": {"iss": 0.0, "theta": 0.3, "mu": 1e-4},
        # joint ISS+SHS training from scratch keeps the live units' gates above θ on digits
        # (the group Lasso wins) or collapses (μ >= 3e-4): SHS as a stage after ISS instead
        "iss_shs": {"iss": 0.0, "theta": 0.5, "mu": 1e-3, "start": "iss", "epochs": 20,
                    "lr": 1e-3},
    },
    "ptb": {
        "dense": {"iss": 0.0, "theta": 0.0, "mu": 0.0},
        "iss": {"iss": 0.0075, "theta": 0.0, "mu": 0.0},
        # from scratch θ = 0.3 kills layer 1 within 3 epochs: SHS stages on trained models
        "shs": {"iss": 0.0, "theta": 0.2, "mu": 3e-5, "start": "dense", "epochs": 4, "lr": 0.1},
        "iss_shs": {"iss": 0.0, "theta": 0.2, "mu": 3e-5, "start": "iss", "epochs": 4,
                    "lr": 0.1},
        # a stronger SHS stage: more zeros in h (the softmax skips the top layer's), more loss
        "iss_shs_strong": {"iss": 0.0, "theta": 0.4, "mu": 1e-3, "start": "iss", "epochs": 4,
                           "lr": 0.1},
    },
}


def train_run(run_dir: Path, cfg, args, epochs: int) -> Any:
    from lstmgen.train import train

    if (run_dir / "state.pt").is_file():
        return train(None, run_dir, resume=True, device=args.device, progress=not args.quiet,
                     epochs=epochs, threads=args.threads)
    return train(cfg, run_dir, device=args.device, progress=not args.quiet, threads=args.threads)


def _float_quality(ckpt, args) -> dict[str, float]:
    """Float quality over whole splits (digits: accuracy; PTB: carried-state perplexity)."""
    import torch

    from lstmgen.checkpoint import build_module

    model = build_module(ckpt.config)
    model.load_state_dict(ckpt.state_dict)
    model.eval()
    if args.task == "default":
        from lstmgen.data import load_digits_split

        d = load_digits_split()
        with torch.no_grad():
            acc = float((model(torch.from_numpy(d.x_test)).argmax(-1).numpy() == d.y_test).mean())
        return {"float_test_acc": acc}
    from lstmgen.data import load_ptb

    corpus = load_ptb(args.data, max_tokens=args.max_tokens)
    return {f"float_{s}_ppl": ptb_perplexity(model, corpus.split(s)) for s in ("valid", "test")}


def ptb_perplexity(model, ids, streams: int = 20) -> float:
    """The perplexity of the float LM ``model`` over the token ids ``ids`` cut into ``streams``
    streams (the training batch's 20; 1: the whole split as one stream), the state carried across
    35-token windows as in training."""
    import math

    from lstmgen.data import batchify
    from lstmgen.train import evaluate_lm

    return math.exp(evaluate_lm(model, batchify(ids, streams), 35))


def task_data(args):
    from lstmgen.commands.quantize import TaskData

    if args.task == "default":
        from lstmgen.data import load_digits_split

        d = load_digits_split()
        return TaskData(d.x_train[:512], d.x_test, d.y_test)
    from lstmgen.data import load_ptb

    corpus = load_ptb(args.data)
    train_ids = corpus.train.numpy()
    calib = train_ids[:20 * 35].reshape(20, 35)
    return TaskData(calib, corpus.test.numpy()[: args.eval_tokens + 1], None)


def _m4(model, data, args) -> dict[str, Any]:
    """Cortex-M4 instructions per token (QEMU plugin) on a few evaluation sequences."""
    if args.no_m4:
        return {"m4": "skipped (--no-m4)"}
    from lstmgen.errors import LstmgenError
    from lstmgen.quant import quantize_inputs
    from lstmgen.verify.qemu import QemuRunner

    if model.is_lm:
        inputs = data.eval_x[: 4 * 20].reshape(4, 20)
    else:
        inputs = quantize_inputs(model, data.eval_x[:8])
    try:
        with tempfile.TemporaryDirectory(prefix="shs-qat-m4-") as tmp:
            run = QemuRunner(cpu="cortex-m4", count=True).run(model, inputs, Path(tmp))
        return {"m4_insns_per_token": run.figures.extra["instructions_per_step"],
                "m4_flash_bytes": run.figures.flash_bytes}
    except (LstmgenError, OSError) as exc:
        return {"m4": f"n/a: {str(exc).splitlines()[0][:120]}"}


def _deploy(ckpt, data, opts, act_formats, name: str, args, measure=None) -> dict[str, Any]:
    """Quantize ``ckpt`` and measure it; ``measure(model, data, args)`` adds figures of the
    integer model (bench/ptb_study.py: host C instructions, flash)."""
    from lstmgen.commands.quantize import quantize_checkpoint

    model, figures = quantize_checkpoint(ckpt, data, opts, name, source=name,
                                         act_formats=act_formats)
    row: dict[str, Any] = {"hidden": list(model.hidden)}
    if args.task == "default":
        row.update(float_quality=figures["float_accuracy"], golden_quality=figures["golden_accuracy"])
    else:
        row.update(float_quality=figures["float_ppl"], golden_quality=figures["golden_ppl"])
    sp = figures["sparsity"]
    row["h_zeros"] = sp["h_zeros"]
    row["h_zeros_per_layer"] = sp["h_zeros_per_layer"]
    row["lstm_macs"] = sp["macs_per_step"]
    row["lstm_macs_executed"] = sp["executed_macs_per_step"]
    if model.is_lm:  # the softmax reads the top h: zero entries are skipped there too
        top = model.hidden[-1]
        row["total_macs"] = sp["macs_per_step"] + model.n_out * top
        row["total_macs_executed"] = (sp["executed_macs_per_step"]
                                      + model.n_out * top * (1.0 - sp["h_zeros_per_layer"][-1]))
    row.update(_m4(model, data, args))
    if measure is not None:
        row.update(measure(model, data, args))
    return row


def _qat(name: str, compact_path: Path, wbits: int, abits: int, args, out: Path,
         extra: dict[str, Any] | None = None):
    """Fine-tune ``compact_path`` with QAT (run ``out/qat_w<w>a<a>``); ``extra`` overrides
    training settings (bench/ptb_study.py: the medium model's dropout)."""
    from lstmgen.checkpoint import load_checkpoint
    from lstmgen.train import default_config

    kw: dict[str, Any] = {"qat": True, "init_from": str(compact_path), "qat_weight_bits": wbits,
                          "qat_act_bits": abits, "epochs": args.qat_epochs, "lr": args.qat_lr,
                          "lr_decay": 1.0, "seed": args.seed}
    if args.task == "ptb":
        kw.update(data=args.data, max_tokens=args.qat_max_tokens or args.max_tokens)
    kw.update(extra or {})
    cfg = default_config(args.task, **kw)
    run_dir = out / f"qat_w{wbits}a{abits}"
    # a finished QAT run of other settings would be resumed as finished and reported as this one
    diff = settings_diff(run_dir, cfg, [k for k in kw if k not in ("data", "init_from")])
    if diff:
        raise SystemExit(f"{run_dir}: QAT run made with other settings: {', '.join(diff)}; "
                         f"move it away to redo QAT, or use another --out")
    train_run(run_dir, cfg, args, args.qat_epochs)
    return load_checkpoint(run_dir / "last.pt"), run_dir


def settings_diff(run_dir: Path, cfg, keys) -> list[str]:
    """The settings ``keys`` in which the run in ``run_dir`` (its ``config.json``) differs from
    ``cfg``, as ``"key stored (now new)"``; none when there is no run yet. The stored config is
    read as ``lstmgen train --resume`` reads it (a key it lacks has its default: a run without
    ``precision`` trained in fp32). Shared by the QAT runs here and bench/ptb_study.py's."""
    from lstmgen.errors import CheckpointError
    from lstmgen.train import TrainConfig

    path = run_dir / "config.json"
    if not path.is_file():
        return []
    try:
        stored = TrainConfig.from_dict(json.loads(path.read_text()).get("train", {}), str(path))
    except (OSError, ValueError, AttributeError, CheckpointError) as exc:
        raise SystemExit(f"{path}: unreadable ({exc}); move {run_dir} away") from None

    def show(c, k):  # hidden as in config.json
        v = getattr(c, k)
        return list(v) if isinstance(v, tuple) else v

    return [f"{k} {show(stored, k)!r} (now {show(cfg, k)!r})" for k in keys
            if getattr(stored, k) != getattr(cfg, k)]


def config_kwargs(name: str, c: dict[str, Any], args, root: Path) -> dict[str, Any]:
    """The :func:`lstmgen.train.default_config` overrides of configuration ``c`` (see
    :data:`CONFIGS`); an SHS stage starts from ``root/<start>/compact.pt``."""
    kw: dict[str, Any] = {"iss_lambda": c["iss"], "shs_threshold": c["theta"],
                          "shs_lambda": c["mu"], "seed": args.seed, "epochs": args.epochs}
    if "start" in c:
        start = root / c["start"] / "compact.pt"
        if not start.is_file():
            raise SystemExit(f"{name} fine-tunes {c['start']}: run that configuration first")
        kw.update(init_from=str(start), epochs=c["epochs"], lr=c["lr"],
                  lr_decay=c.get("lr_decay", 1.0))
        if "decay_after" in c:
            kw["decay_after"] = c["decay_after"]
    if args.task == "ptb":
        kw.update(data=args.data, max_tokens=args.max_tokens)
    return kw


def compact_row(name: str, c: dict[str, Any], out: Path, history: list[dict[str, Any]],
                seconds: float, args):
    """Compact the trained ``out/train/last.pt`` into ``out/compact.pt``; return the compacted
    checkpoint and the row's training and float-quality figures."""
    from lstmgen.checkpoint import load_checkpoint, macs_per_step, save_checkpoint
    from lstmgen.sparsity import compact

    dense = load_checkpoint(out / "train" / "last.pt")
    small = compact(dense)
    save_checkpoint(small, out / "compact.pt")
    last = history[-1]
    row: dict[str, Any] = {
        "name": name, "iss_lambda": c["iss"], "shs_threshold": c["theta"], "shs_lambda": c["mu"],
        "start": c.get("start"),
        "epochs": len(history), "train_seconds": round(seconds, 1),
        "hidden_before": list(dense.config.hidden), "hidden_after": list(small.config.hidden),
        "macs_before": macs_per_step(dense.config), "float_h_zeros": last.get("h_zeros", 0.0),
    }
    row.update(_float_quality(small, args))
    return small, row


def run_config(name: str, args, data) -> dict[str, Any]:
    """Train (or resume) one configuration, compact it and deploy it every way."""
    from lstmgen.train import default_config

    c = CONFIGS[args.task][name]
    out = Path(args.out) / args.task / name
    cfg = default_config(args.task, **config_kwargs(name, c, args, Path(args.out) / args.task))
    t0 = time.perf_counter()
    result = train_run(out / "train", cfg, args, cfg.epochs)
    seconds = time.perf_counter() - t0
    small, row = compact_row(name, c, out, result.history, seconds, args)
    row["deploy"] = deploy_all(small, out, args, data, qat=name in args.qat_configs)
    return row


def deploy_all(small, out: Path, args, data, *, qat: bool, measure=None,
               qat_extra: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Deploy a compacted checkpoint (saved as ``out/compact.pt``) every way: int16, int8
    (digits also int8/a8) and, with ``qat``, int8 after a QAT run under ``out`` (digits also
    int8/a8 QAT). ``measure`` and ``qat_extra``: see :func:`_deploy` and :func:`_qat`."""
    from lstmgen.nn.qat import QatSpec
    from lstmgen.quant import QuantOptions

    rows = {}
    rows["int16"] = _deploy(small, data, QuantOptions(weight_bits=16), None, "w16", args, measure)
    rows["int8"] = _deploy(small, data, QuantOptions(weight_bits=8), None, "w8", args, measure)
    acts = [(8, 16)] + ([(8, 8)] if args.task == "default" else [])
    if args.task == "default":
        rows["int8/a8"] = _deploy(small, data, QuantOptions(weight_bits=8, act_bits=8), None,
                                  "w8a8", args, measure)
    if qat:
        for wbits, abits in acts:
            q, _ = _qat(out.name, out / "compact.pt", wbits, abits, args, out, qat_extra)
            spec = QatSpec.from_json(q.meta["qat"])
            key = "int8 QAT" if abits == 16 else "int8/a8 QAT"
            rows[key] = _deploy(q, data, spec.options, spec.act, "qat", args, measure)
            rows[key]["qat_float"] = _float_quality(q, args)
    return rows


def _fmt_q(task: str, v: float | None) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.2f}%" if task == "default" else f"{v:.2f}"


def table(task: str, rows: list[dict[str, Any]]) -> str:
    """A Markdown table of the results."""
    lm = task == "ptb"
    head = ["run", "deploy", "hidden", "float", "golden", "Δ golden", "h zeros",
            "LSTM MACs/token dense", "executed"]
    if lm:
        head += ["LSTM+softmax dense", "executed", "vs ISS"]
    head += ["M4 insns/token"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    iss_exec = None
    for r in rows:
        if r["name"] == "iss":
            d = r["deploy"]["int16"]
            iss_exec = d.get("total_macs_executed", d["lstm_macs_executed"])
    for r in rows:
        fq = r.get("float_test_acc", r.get("float_test_ppl"))
        lines.append("| " + " | ".join(
            [r["name"], "float", str(r["hidden_after"]), _fmt_q(task, fq), "-", "-",
             f"{100 * r['float_h_zeros']:.1f}%", "", "", *([""] * 3 if lm else []), ""]) + " |")
        for key, d in r["deploy"].items():
            f, g = d["float_quality"], d["golden_quality"]
            delta = (f"{100 * (g - f):+.2f} pt" if not lm else f"{100 * (g - f) / f:+.2f}%")
            cells = [r["name"], key, str(d["hidden"]), _fmt_q(task, f), _fmt_q(task, g), delta,
                     f"{100 * d['h_zeros']:.1f}%", f"{d['lstm_macs']:,}",
                     f"{d['lstm_macs_executed']:,.0f}"]
            if lm:
                ratio = (iss_exec / d["total_macs_executed"]) if iss_exec else float("nan")
                cells += [f"{d['total_macs']:,}", f"{d['total_macs_executed']:,.0f}", f"{ratio:.2f}x"]
            m4 = d.get("m4_insns_per_token")
            cells.append(f"{m4:,.0f}" if m4 is not None else short_m4(d.get("m4", "-")))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def short_m4(why: str) -> str:
    """A table cell for a model the Cortex-M4 board cannot hold (the refusal's flash figure)."""
    import re

    m = re.search(r"needs at least (\d+) bytes of flash", why)
    return f"n/a: {int(m.group(1)) / 1e6:.1f} MB flash > board's 4.2 MB" if m else why


def goals(task: str, rows: list[dict[str, Any]]) -> list[str]:
    """The issue's goals, each with its figures and met / not met."""
    by = {r["name"]: r for r in rows}
    out = []

    def rel(d):
        return abs(d["golden_quality"] - d["float_quality"]) / d["float_quality"]

    if task == "ptb":
        for name in (n for n in by if n.startswith("iss_shs") and "iss" in by):
            a, b = by["iss"], by[name]
            ea = a["deploy"]["int16"]["total_macs_executed"]
            eb = b["deploy"]["int16"]["total_macs_executed"]
            la = a["deploy"]["int16"]["lstm_macs_executed"]
            lb = b["deploy"]["int16"]["lstm_macs_executed"]
            dp = b["float_test_ppl"] - a["float_test_ppl"]
            ok = ea / eb >= 1.5 and dp <= 1.0
            out.append(f"{name} vs iss: {ea / eb:.2f}x fewer executed mult-adds per token "
                       f"(LSTM+softmax; LSTM alone {la / lb:.2f}x) at {dp:+.2f} test ppl "
                       f"(goal >= 1.5x at <= +1): {'MET' if ok else 'NOT MET'}")
        for r in rows:
            d16 = r["deploy"]["int16"]
            out.append(f"{r['name']}: golden int16 {100 * rel(d16):.2f}% from float (goal <= 1%): "
                       f"{'MET' if rel(d16) <= 0.01 else 'NOT MET'}")
            if "int8 QAT" in r["deploy"]:
                dq = r["deploy"]["int8 QAT"]
                # one-sided: QAT keeps training, so its golden may beat the float model
                gap = (dq["golden_quality"] - r["deploy"]["int16"]["float_quality"]) \
                    / r["deploy"]["int16"]["float_quality"]
                out.append(f"{r['name']}: int8 weights with QAT, golden perplexity {100 * gap:+.2f}% "
                           f"vs the float model (goal <= +2%): {'MET' if gap <= 0.02 else 'NOT MET'}")
    else:
        for r in rows:
            if "int8/a8 QAT" in r["deploy"]:
                dq = r["deploy"]["int8/a8 QAT"]
                gap = 100 * (r["float_test_acc"] - dq["golden_quality"])
                out.append(f"{r['name']}: int8 weights + int8 activations with QAT: golden "
                           f"{100 * dq['golden_quality']:.2f}% vs float "
                           f"{100 * r['float_test_acc']:.2f}% ({gap:.2f} points lost; goal <= 0.5): "
                           f"{'MET' if gap <= 0.5 else 'NOT MET'}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=["default", "ptb"], default="default")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "ptb"))
    p.add_argument("--out", default=str(REPO / "bench" / "runs" / "shs_qat"))
    p.add_argument("--configs", default="dense,iss,shs,iss_shs")
    p.add_argument("--qat-configs", default="dense,iss,shs,iss_shs")
    p.add_argument("--epochs", type=int, default=None, help="float training epochs [task default]")
    p.add_argument("--max-tokens", type=int, default=None, help="PTB: truncate every split")
    p.add_argument("--qat-epochs", type=int, default=None, help="[digits 10, ptb 1]")
    p.add_argument("--qat-lr", type=float, default=None, help="[digits 1e-3 adam, ptb 0.1 sgd]")
    p.add_argument("--qat-max-tokens", type=int, default=None, help="PTB: QAT on fewer tokens")
    p.add_argument("--eval-tokens", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--no-m4", action="store_true", help="skip the Cortex-M4 counts")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--report-only", action="store_true",
                   help="print the table and goals of OUT/<task>/results.json; train nothing")
    args = p.parse_args(argv)
    args.qat_epochs = args.qat_epochs or (10 if args.task == "default" else 1)
    args.qat_lr = args.qat_lr or (1e-3 if args.task == "default" else 0.1)
    args.qat_configs = [c for c in args.qat_configs.split(",") if c]
    names = [c for c in args.configs.split(",") if c]
    for n in names:
        if n not in CONFIGS[args.task]:
            p.error(f"unknown config {n!r}; choose from {', '.join(CONFIGS[args.task])}")
    res_dir = Path(args.out) / args.task
    if args.report_only:  # the table and goals of a finished run, from its results.json
        rows = json.loads((res_dir / "results.json").read_text())["rows"]
        print(table(args.task, rows))
        for line in goals(args.task, rows):
            print("*", line)
        return 0
    data = task_data(args)
    rows = []
    for n in names:
        rows.append(run_config(n, args, data))
        print(f"{n}: done ({rows[-1]['train_seconds']} s training)", flush=True)
    res_dir.mkdir(parents=True, exist_ok=True)
    old = res_dir / "results.json"
    if old.is_file():  # keep the rows of configurations this invocation did not run
        done = {r["name"] for r in rows}
        kept = [r for r in json.loads(old.read_text())["rows"] if r["name"] not in done]
        rows = kept + rows
    settings = {k: v for k, v in vars(args).items()}
    (res_dir / "results.json").write_text(json.dumps({"settings": settings, "rows": rows},
                                                     indent=1, default=str) + "\n")
    print(table(args.task, rows))
    for line in goals(args.task, rows):
        print("*", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
