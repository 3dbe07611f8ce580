"""``lstmgen sweep``: a grid of ISS/SHS settings as independent, resumable runs (see
:mod:`lstmgen.study.sweep`); ``lstmgen report RUN_OR_SWEEP_DIR`` draws the report."""

from __future__ import annotations

from typing import Any

import click

from ..cli import main
from ..errors import UsageError

__all__ = ["sweep_cmd"]


def _floats(text: str | None, flag: str) -> list[float]:
    if text is None:
        return []
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{flag} takes a comma-separated list of numbers, got {text!r}") from None


@main.command("sweep")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Sweep directory: one run per setting (resumable).")
@click.option("--task", type=click.Choice(["default", "ptb"]), default="default", show_default=True)
@click.option("--data", default=None, help="PTB directory (--task ptb).")
@click.option("--iss-lambda", "iss", default=None, help="ISS group-Lasso weights, e.g. 0,1e-3,3e-3.")
@click.option("--shs-threshold", "shs", default=None, help="SHS output-gate thresholds, e.g. 0,0.3.")
@click.option("--shs-lambda", "shsl", default=None, help="SHS L1 weights on the output gate.")
@click.option("--seeds", default=None, help="Seeds, e.g. 0,1,2 (repeats of every setting).")
@click.option("--hidden", default=None, help="Hidden size, or one per layer: 64,32.")
@click.option("--layers", type=int, default=None)
@click.option("--epochs", type=int, default=None)
@click.option("--max-tokens", type=int, default=None, help="Truncate PTB splits.")
@click.option("--threads", type=int, default=None)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--quiet", is_flag=True)
def sweep_cmd(out: str, task: str, data: str | None, iss: str | None, shs: str | None,
              shsl: str | None, seeds: str | None, hidden: str | None, layers: int | None,
              epochs: int | None, max_tokens: int | None, threads: int | None, device: str,
              quiet: bool) -> None:
    """Train every combination of the given settings into OUT/<setting> (a finished run is not
    trained again); then `lstmgen report OUT --deploy` draws the Pareto front."""
    from ..study.sweep import run_sweep
    from .model import _parse_hidden

    base: dict[str, Any] = {"data": data, "epochs": epochs, "max_tokens": max_tokens}
    sizes = _parse_hidden(hidden, layers, task)
    if sizes is not None:
        base["hidden"] = sizes
    axes: dict[str, list] = {"iss_lambda": _floats(iss, "--iss-lambda"),
                             "shs_threshold": _floats(shs, "--shs-threshold"),
                             "shs_lambda": _floats(shsl, "--shs-lambda"),
                             "seed": [int(v) for v in _floats(seeds, "--seeds")]}
    base = {k: v for k, v in base.items() if v is not None}
    for setting, what in run_sweep(base, axes, out, task=task, progress=not quiet, device=device,
                                   threads=threads):
        click.echo(f"{setting.name}: {what}")
    click.echo(f"sweep in {out}; next: lstmgen report {out} --deploy")
