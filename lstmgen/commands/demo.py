"""``lstmgen demo``: the whole pipeline on the embedded digits data, in about two minutes.

train with ISS → compact → quantize (int16 and int8 weights) → generate C → verify bit-exact
against the golden model → measure (callgrind instructions, library size) → one summary table.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import click
import numpy as np

from .. import ir
from .._io import MANIFEST, atomic_dir, check_tree
from ..cli import main
from ..errors import OutputError, ToolError, UsageError

__all__ = ["run_demo"]

#: Defaults that train in about a minute on 2 cores and prune a good share of the units.
DEMO_HIDDEN = (32, 32)
DEMO_EPOCHS = 60
DEMO_LAMBDA = 3e-3


def _measure(model: ir.Model, codes: np.ndarray, labels: np.ndarray, work: Path, out_c: Path) -> dict:
    """Generate C into ``out_c``, run it on ``codes``, compare with golden, measure cost."""
    from ..targets.c import CTarget, generate
    from ..verify.base import verify
    from ..verify.cpu import CpuRunner, callgrind_instructions, library_size

    generate(model, out_c, CTarget())
    report = verify(model, CpuRunner(), codes, work / "verify")
    c_out, gold = report.outputs, report.golden_outputs
    row = {
        "golden_accuracy": float(np.mean(gold.argmax(axis=1) == labels)),
        "c_accuracy": float(np.mean(c_out.argmax(axis=1) == labels)),
        "vectors": report.vectors,
        "mismatches": report.mismatches,
        "verify": report.text(),
    }
    try:
        cg = callgrind_instructions(model, codes[:20], work / "callgrind")
        row["instructions_per_sequence"] = cg.get("per_sequence")
        row["instructions_per_step"] = cg.get("per_step")
    except ToolError as exc:  # valgrind is optional for the demo
        row["instructions_per_sequence"] = None
        row["callgrind"] = str(exc)
    row["library_size"] = library_size(model, work / "size")
    row.update(_measure_mcu(model, codes, work / "m4"))
    return row


def _measure_mcu(model: ir.Model, codes: np.ndarray, work: Path) -> dict:
    """Cortex-M4 under QEMU: bit-exact check, instructions per sequence, flash and RAM."""
    from ..verify.base import verify
    from ..verify.qemu import QemuRunner

    try:
        report = verify(model, QemuRunner(cpu="cortex-m4", count=True), codes, work)
    except ToolError as exc:  # cross tools are optional for the demo
        return {"m4": None, "m4_error": str(exc)}
    return {
        "m4": {
            "vectors": report.vectors,
            "mismatches": report.mismatches,
            "instructions_per_sequence": report.figures.instructions_per_sequence,
            "flash_bytes": report.figures.flash_bytes,
            "ram_bytes": report.figures.ram_bytes,
        }
    }


#: Names of the demo's model variants (one IR and one C folder each).
VARIANTS = tuple(f"digits_{tag}_w{w}" for tag in ("dense", "compact") for w in (16, 8))


def _demo_names(out: Path) -> list[str]:
    """Files the demo will write into ``out``, as far as known before it runs: its fixed files
    and every file already in its C folders (they will be regenerated)."""
    from ..train import RUN_FILES

    names = ["summary.json", "summary.txt", "model.pt", "model_compact.pt"]
    names += [f"train/{n}" for n in RUN_FILES] + [f"{v}.lstmir" for v in VARIANTS]
    for v in VARIANTS:
        folder = out / "c" / v
        if folder.is_dir():
            for p in sorted(folder.rglob("*")):
                rel = p.relative_to(out).as_posix()
                if p.name != MANIFEST and (p.is_file() or p.is_symlink()):
                    names.append(rel)
    return names


#: About what the demo writes into --out (1.2 MiB measured for the default sizes), with margin.
DEMO_BYTES = 4 << 20


def _check_space(out: Path) -> None:
    """Refuse before a two-minute run whose files would not fit on the disk of ``out``."""
    d = out
    while not d.exists() and d != d.parent:
        d = d.parent
    try:
        st = os.statvfs(d)
    except OSError:
        return
    free = st.f_bavail * st.f_frsize
    if free < DEMO_BYTES:
        raise OutputError(f"{d}: not enough free space for the demo's files (about "
                          f"{DEMO_BYTES >> 20} MiB needed, {free >> 10} KiB free)")


def run_demo(out: Path, *, epochs: int = DEMO_EPOCHS, iss_lambda: float = DEMO_LAMBDA,
             hidden: tuple[int, ...] = DEMO_HIDDEN, seed: int = 0, progress: bool = True,
             force: bool = False) -> dict:
    """Run the demo and write its files into directory ``out``; return the summary (also
    written to ``out/summary.json``).

    Every stage runs in a temporary directory; only once all have finished are the files
    written into ``out`` (created if missing), file by file. Files already there are left alone
    unless the demo wrote them earlier (see :func:`lstmgen._io.write_tree`; ``force`` replaces
    user files of the same names). A file at ``out``, or a user file the demo would replace, is
    refused before anything runs.
    """
    out = Path(out)
    check_tree(out, _demo_names(out), force=force)
    _check_space(out)
    with atomic_dir(out, force=force) as tmp:
        return _run_demo(tmp, epochs=epochs, iss_lambda=iss_lambda, hidden=hidden, seed=seed,
                         progress=progress)


def _run_demo(out: Path, *, epochs: int, iss_lambda: float, hidden: tuple[int, ...], seed: int,
              progress: bool) -> dict:
    from ..checkpoint import macs_per_step, save_checkpoint
    from ..commands.quantize import TaskData, quantize_checkpoint
    from ..data.digits import load_digits_split
    from ..quant import QuantOptions, quantize_inputs
    from ..sparsity import compact
    from ..train import train_default

    click.echo(f"[1/4] training the digits classifier {list(hidden)} with ISS (lambda {iss_lambda})")
    ckpt, history = train_default(hidden=hidden, epochs=epochs, iss_lambda=iss_lambda, seed=seed,
                                  out=out / "train", progress=progress)
    small = compact(ckpt)
    save_checkpoint(ckpt, out / "model.pt")
    save_checkpoint(small, out / "model_compact.pt")
    click.echo(f"[2/4] compacted hidden {list(ckpt.config.hidden)} -> {list(small.config.hidden)}")

    d = load_digits_split(seed)
    data = TaskData(d.x_train[:512], d.x_test, d.y_test)
    summary: dict = {
        "hidden_before": list(ckpt.config.hidden),
        "hidden_after": list(small.config.hidden),
        "macs_before": macs_per_step(ckpt.config)["lstm"],
        "macs_after": macs_per_step(small.config)["lstm"],
        "float_accuracy_train_run": history[-1].get("test_acc"),
        "steps": int(d.x_test.shape[1]),
        "rows": {},
    }
    click.echo("[3/4] quantizing (int16 and int8 weights), generating C, verifying against golden")
    for tag, ck in (("dense", ckpt), ("compact", small)):
        for wbits in (16, 8):
            name = f"digits_{tag}_w{wbits}"
            assert name in VARIANTS
            model, figures = quantize_checkpoint(ck, data, QuantOptions(weight_bits=wbits), name,
                                                 source=f"lstmgen demo ({tag})")
            ir.save(model, out / f"{name}.lstmir")
            codes = quantize_inputs(model, d.x_test)
            row = {"float_accuracy": figures["float_accuracy"], "hidden": list(model.hidden),
                   "macs_per_step": model.macs_per_step()}
            row.update(_measure(model, codes, d.y_test, out / "work" / name, out / "c" / name))
            summary["rows"][name] = row
    shutil.rmtree(out / "work", ignore_errors=True)
    click.echo("[4/4] summary")
    text = format_summary(summary)
    summary["ok"] = all(
        r["mismatches"] == 0 and (r["m4"] is None or r["m4"]["mismatches"] == 0)
        for r in summary["rows"].values()
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    (out / "summary.txt").write_text(text + "\n")
    click.echo(text)
    return summary


def format_summary(s: dict) -> str:
    """The demo's one table: quality, exactness and cost per model variant."""
    head = (f"{'model':<20} {'hidden':>7} {'MACs/step':>9} {'float':>7} {'golden':>7} {'C':>7} "
            f"{'C exact':>8} {'x86 instr':>9} {'x86 code+const':>14} {'M4 exact':>8} {'M4 instr':>9} "
            f"{'M4 flash':>8} {'M4 RAM':>6}")
    lines = [head, "-" * len(head)]
    for name, r in s["rows"].items():
        ins = r.get("instructions_per_sequence")
        m4 = r.get("m4") or {}
        size = r.get("library_size") or {}
        lines.append(
            f"{name:<20} {'x'.join(map(str, r['hidden'])):>7} {r['macs_per_step']:>9} "
            f"{100 * r['float_accuracy']:>6.2f}% {100 * r['golden_accuracy']:>6.2f}% "
            f"{100 * r['c_accuracy']:>6.2f}% {_exact(r):>8} {_num(ins):>9} "
            f"{_num(size.get('text')):>14} "
            f"{_exact(m4) if m4 else '-':>8} {_num(m4.get('instructions_per_sequence')):>9} "
            f"{_num(m4.get('flash_bytes')):>8} {_num(m4.get('ram_bytes')):>6}"
        )
    lines.append(f"instr = instructions per {s['steps']}-step sequence (x86: callgrind; M4: QEMU "
                 "plugin, DSP kernels); sizes in bytes of the model's own code, weights and tables "
                 "(x86: `size` of the object; M4: from the linked ELF; RAM = state + scratch)")
    cut = s["macs_before"] / max(1, s["macs_after"])
    lines.append(
        f"ISS compaction: hidden {s['hidden_before']} -> {s['hidden_after']}, LSTM MACs/step "
        f"{s['macs_before']} -> {s['macs_after']} ({cut:.2f}x fewer)"
    )
    rows = s["rows"]
    for w in (16, 8):
        a, b = rows.get(f"digits_dense_w{w}", {}), rows.get(f"digits_compact_w{w}", {})
        for label, get in (("x86", lambda r: r.get("instructions_per_sequence")),
                           ("M4", lambda r: (r.get("m4") or {}).get("instructions_per_sequence"))):
            if get(a) and get(b):
                lines.append(f"int{w} weights, {label}: instructions per sequence {get(a):.0f} -> "
                             f"{get(b):.0f} ({get(a) / get(b):.2f}x fewer)")
    return "\n".join(lines)


def _exact(r: dict) -> str:
    return f"{r['vectors'] - r['mismatches']}/{r['vectors']}"


def _num(v) -> str:
    return "-" if v is None else f"{v:.0f}"


@main.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("lstmgen-demo"), show_default=True)
@click.option("--epochs", type=int, default=DEMO_EPOCHS, show_default=True)
@click.option("--iss-lambda", type=float, default=DEMO_LAMBDA, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--force", is_flag=True,
              help="Replace files in --out of the same names even if lstmgen did not write them.")
def demo_cmd(out: Path, epochs: int, iss_lambda: float, seed: int, quiet: bool,
             force: bool) -> None:
    """Train, prune, quantize, generate C and verify it bit-exact, on the embedded digits data.

    Writes into directory --out (created if missing); files already there are kept unless an
    earlier demo wrote them.
    """
    if epochs < 1:
        raise UsageError("--epochs must be at least 1")
    if not (iss_lambda >= 0 and math.isfinite(iss_lambda)):
        raise UsageError("--iss-lambda must be a number >= 0")
    if not 0 <= seed <= 2**32 - 1:
        raise UsageError(f"--seed must be between 0 and {2**32 - 1}, got {seed}")
    summary = run_demo(out, epochs=epochs, iss_lambda=iss_lambda, seed=seed, progress=not quiet,
                       force=force)
    if not summary["ok"]:
        raise SystemExit(1)
