"""``lstmgen export-hls4ml``: a (compacted) single-layer classifier checkpoint → an hls4ml project.

The model is converted through hls4ml's Python API, compiled (hls4ml's C-simulation) and
checked against the float model before anything is written (:mod:`lstmgen.hls4ml_export`).
What hls4ml 1.3.0 cannot express - stacked LSTMs, language models - is refused in one line.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import numpy as np

from .._io import check_tree, json_dumps
from ..cli import main
from ..errors import UsageError

__all__ = ["export_hls4ml_cmd", "task_check_inputs"]


def task_check_inputs(ckpt, calib: Path | None, steps: int | None) -> tuple[np.ndarray | None, int]:
    """The float inputs to check on and the sequence length: ``--calib`` (its length), the
    digits task a checkpoint was trained on (8 steps), or ``--steps`` with random inputs."""
    from ..commands.quantize import check_calibration
    from ..data.arrays import load_array

    cfg = ckpt.config
    if calib is not None:
        x = check_calibration("classifier", load_array(calib, "check inputs"),
                              f"{calib}: check inputs", n_in=cfg.n_in)
        if steps is not None and steps != x.shape[1]:
            raise UsageError(f"--steps {steps} contradicts --calib {calib} ({x.shape[1]} steps)")
        return x[:256], int(x.shape[1])
    if ckpt.meta.get("task") == "default" and cfg.n_in == 8:
        from ..data.digits import load_digits_split

        x = load_digits_split().x_val
        if steps is not None and steps != x.shape[1]:
            raise UsageError(f"--steps {steps} contradicts the digits task ({x.shape[1]} steps)")
        return x, int(x.shape[1])
    if steps is None:
        raise UsageError("give the sequence length hls4ml builds for: --steps T (or --calib "
                         "FILE.npy with float features (N, T, F))")
    return None, steps


def _default_name(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_]", "_", path.stem)
    stem = re.sub(r"^[^A-Za-z_]+", "", stem)[:32]
    return stem or "lstm_classifier"


@main.command("export-hls4ml")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the hls4ml project (written only when the check passes).")
@click.option("--precision", default="ap_fixed<16,6>", show_default=True,
              help="hls4ml's default precision, ap_fixed<W,I[,Q[,O]]>.")
@click.option("--reuse", type=int, default=1, show_default=True, help="hls4ml ReuseFactor.")
@click.option("--strategy", type=click.Choice(["latency", "resource"]), default="latency",
              show_default=True, help="hls4ml Strategy (resource: the reuse factor must be one "
              "hls4ml accepts for every kernel).")
@click.option("--steps", type=int, default=None,
              help="Sequence length the model is built for [default: from --calib or the task].")
@click.option("--calib", type=click.Path(path_type=Path), default=None,
              help="Float features (N, T, F) .npy to check the conversion on.")
@click.option("--name", default=None, help="hls4ml project name [default: from the file name].")
@click.option("--part", default="xcvu13p-flga2577-2-e", show_default=True, help="FPGA part.")
@click.option("--clock-ns", type=float, default=5.0, show_default=True, help="Clock period.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--force", is_flag=True, help="Replace files in --out that lstmgen did not write.")
def export_hls4ml_cmd(checkpoint: Path, out: Path, precision: str, reuse: int, strategy: str,
                      steps: int | None, calib: Path | None, name: str | None, part: str,
                      clock_ns: float, as_json: bool, force: bool) -> None:
    """Export CHECKPOINT (one LSTM layer + Linear) to an hls4ml project in --out."""
    from ..checkpoint import load_checkpoint
    from ..hls4ml_export import check_exportable, export_hls4ml, parse_precision

    ckpt = load_checkpoint(checkpoint)
    check_exportable(ckpt.config)
    parse_precision(precision)
    protect = [p for p in (checkpoint, calib) if p is not None]
    check_tree(out, ["lstmgen_export.json"], force=force, protect=protect)
    x, t = task_check_inputs(ckpt, calib, steps)
    result = export_hls4ml(ckpt, out, steps=t, check_inputs=x, precision=precision, reuse=reuse,
                           strategy=strategy, name=name or _default_name(checkpoint), part=part,
                           clock_ns=clock_ns, force=force, protect=tuple(protect))
    f = result.figures
    if as_json:
        click.echo(json_dumps({"out": str(out), "files": len(result.files), **f}, sort_keys=True))
        return
    click.echo(
        f"wrote {len(result.files)} files to {out} (hls4ml, {f['precision']}, reuse {f['reuse']},"
        f" {f['strategy']}); hls4ml C-simulation vs float on {f['check_vectors']} sequences: "
        f"h {f['max_abs_err_h']:.4g} (budget {f['tolerance_h']:.3g}), dense "
        f"{f['max_abs_err_dense']:.3g} (budget {f['tolerance_dense']:.3g}), outputs "
        f"{f['max_abs_err_out']:.4g} (largest output {f['max_abs_out']:.3g})")
