"""``lstmgen report``: measured Cortex-M figures of a model (footprint, instructions per step).

Everything is measured, nothing estimated: flash and RAM come from the linked ELF, instruction
counts from a QEMU TCG plugin over one sequence of ``--steps`` random inputs with the state
carried from step to step (see :mod:`lstmgen.verify.qemu`). The outputs are checked against
the golden model on the same run, so a report is never produced by wrong code.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import click
import numpy as np

from .. import golden, ir
from ..cli import main
from ..errors import UsageError, VerifyError
from ..testing import random_inputs
from ..verify.qemu import CPUS, QemuRunner

__all__ = ["effective_macs_per_step", "format_report", "mcu_report"]


def effective_macs_per_step(model: ir.Model, inputs: np.ndarray) -> float:
    """Mean MACs per step when zero entries of ``h`` are skipped (measured on golden's ``h``).

    Per layer ``4·H·(X' + nnz(h_prev))`` where ``X'`` is the input width for layer 0 and
    ``nnz`` of the layer below for upper layers; equal to :meth:`Model.macs_per_step` when no
    ``h`` entry is zero.
    """
    res = golden.run(model, inputs, dump=True)
    total = 0.0
    for li, la in enumerate(model.layers):
        h = res.layers[li]["h"]  # (B, T, H) after each step
        prev = np.concatenate([np.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
        nnz_h = float(np.count_nonzero(prev)) / (h.shape[0] * h.shape[1])
        if li == 0:
            x_cols = float(la.n_in)
        else:
            x_cols = float(np.count_nonzero(res.layers[li - 1]["h"])) / (h.shape[0] * h.shape[1])
        total += 4 * la.n_hidden * (x_cols + nnz_h)
    return total


def mcu_report(model: ir.Model, cpu: str, steps: int, seed: int = 0,
               workdir: Path | None = None) -> dict[str, Any]:
    """Build, run and count ``model`` on ``cpu`` over one ``steps``-step sequence.

    Returns flash/RAM bytes, instructions per step, dense and zero-skipping MACs per step and
    instructions per dense MAC. Raises :class:`VerifyError` if the outputs differ from golden.
    """
    if steps < 1:
        raise UsageError(f"--steps must be >= 1, got {steps}")
    inputs = random_inputs(model, 1, steps, seed=seed)
    runner = QemuRunner(cpu, count=True)
    with tempfile.TemporaryDirectory(prefix="lstmgen-report-") as tmp:
        run = runner.run(model, inputs, Path(workdir) if workdir is not None else Path(tmp))
    want = golden.run(model, inputs).outputs
    if not np.array_equal(want, run.outputs):
        raise VerifyError(f"{cpu}: outputs differ from the golden model; run lstmgen verify")
    eff = effective_macs_per_step(model, inputs)
    return {
        "model": model.name,
        "cpu": cpu,
        "board": run.extra["board"],
        "steps": steps,
        "flash_bytes": run.extra["flash_bytes"],
        "ram_bytes": run.extra["ram_bytes"],
        "insns_per_step": run.extra["insns_per_step"],
        "macs_per_step": run.extra["macs_per_step"],
        "effective_macs_per_step": eff,
        "insns_per_mac": run.extra["insns_per_mac"],
    }


def format_report(r: dict[str, Any]) -> str:
    """Human-readable lines for a :func:`mcu_report` result."""
    return "\n".join([
        f"model {r['model']!r} on {r['cpu']} (QEMU {r['board']}), {r['steps']} steps, state carried",
        f"  flash (code + const weights + tables): {r['flash_bytes']} bytes",
        f"  RAM (state + static scratch):          {r['ram_bytes']} bytes",
        f"  instructions per step:                 {r['insns_per_step']:.1f}",
        (f"  dense MACs per step:                   {r['macs_per_step']}"
         f"  (with zero h entries skipped: {r['effective_macs_per_step']:.1f})"),
        f"  instructions per dense MAC:            {r['insns_per_mac']:.3f}",
    ])


@main.command("report")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--target", "cpu", type=click.Choice(list(CPUS)), default="cortex-m4",
              show_default=True, help="Cortex-M core (run on the matching QEMU mps2 board).")
@click.option("--steps", type=int, default=10, show_default=True,
              help="Time steps of the measured sequence.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Keep the build here (default: a temporary directory).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def report_cmd(model_path: str, cpu: str, steps: int, seed: int, workdir: str | None,
               as_json: bool) -> None:
    """Measure flash, RAM and instructions per step of MODEL (an IR file) on a Cortex-M core.

    Instructions per mult-add use the dense MAC count as the denominator (the zero-skipping
    count, measured on the golden h of the same inputs, is printed beside it).
    """
    r = mcu_report(ir.load(model_path), cpu, steps, seed,
                   Path(workdir) if workdir is not None else None)
    click.echo(json.dumps(r, sort_keys=True) if as_json else format_report(r))
