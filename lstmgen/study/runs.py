"""Reading training runs, measuring their deployed models, and the Pareto front of a sweep.

A *run* is a directory written by ``lstmgen train`` (``config.json``, ``metrics.jsonl``,
``last.pt``, ``best.pt``, ``state.pt``). A *sweep* is a directory of runs (``lstmgen sweep``).

:func:`deployment` measures a run's last checkpoint as deployed: compacted (ISS), quantized with
int16 and int8 weights, its accuracy or perplexity on the golden model, mult-adds per step dense
and executed with zero-skipping (on the golden model's h), and, where the tools are present, the
host C instructions, the Cortex-M4 flash, RAM and instructions (QEMU) and the HLS multipliers.
Figures are cached in ``RUN/deploy.json`` (lstmgen's own file in lstmgen's run directory) with
the checkpoint's hash, so a report is cheap to redo.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_file
from ..errors import DataError, ToolError, UsageError

__all__ = ["Run", "deployment", "is_run", "knee", "load_run", "pareto_front", "runs_in"]

DEPLOY_FILE = "deploy.json"


@dataclass
class Run:
    """A training run: its directory, train/model config and per-epoch metrics."""

    path: Path
    train: dict[str, Any]
    model: dict[str, Any]
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def kind(self) -> str:
        return self.model.get("kind", "classifier")

    @property
    def complete(self) -> bool:
        return bool(self.metrics) and self.metrics[-1].get("epoch") == self.train.get("epochs")

    @property
    def last(self) -> dict[str, Any]:
        return self.metrics[-1] if self.metrics else {}

    def quality(self) -> tuple[str, float | None]:
        """``(name, value)`` of the run's headline figure: test accuracy (classifier, higher is
        better) or test perplexity (LM, lower is better)."""
        key = "test_acc" if self.kind == "classifier" else "test_ppl"
        return key, self.last.get(key)


def is_run(path: Path) -> bool:
    """True for a directory written by ``lstmgen train``."""
    return (path / "config.json").is_file() and (path / "metrics.jsonl").is_file()


def load_run(path: str | Path) -> Run:
    """Read a run directory; a missing or damaged file is one :class:`DataError` line."""
    p = Path(path)
    if not is_run(p):
        raise DataError(f"{p}: not a training run (no config.json and metrics.jsonl)")
    try:
        cfg = json.loads((p / "config.json").read_text())
        metrics = [json.loads(line) for line in (p / "metrics.jsonl").read_text().splitlines()
                   if line.strip()]
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: unreadable run files ({exc})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("train"), dict) \
            or not isinstance(cfg.get("model"), dict) or not all(isinstance(m, dict) for m in metrics):
        raise DataError(f"{p}: config.json or metrics.jsonl is not what lstmgen train writes")
    return Run(p, cfg["train"], cfg["model"], metrics)


def runs_in(path: str | Path) -> list[Run]:
    """The runs of a sweep directory (sorted by name), or ``[run]`` for a run directory."""
    p = Path(path)
    if is_run(p):
        return [load_run(p)]
    if not p.is_dir():
        raise DataError(f"{p}: no such directory")
    runs = [load_run(d) for d in sorted(p.iterdir()) if d.is_dir() and is_run(d)]
    if not runs:
        raise DataError(f"{p}: neither a training run nor a directory of runs")
    return runs


# --------------------------------------------------------------------------------------------
# Pareto front


def pareto_front(points: list[tuple[float, float]], higher_is_better: bool) -> list[int]:
    """Indices of the points ``(cost, quality)`` no other point dominates (lower cost and at
    least as good quality, or equal cost and better quality), sorted by cost.

    >>> pareto_front([(1, 0.9), (2, 0.95), (3, 0.94), (2, 0.8)], higher_is_better=True)
    [0, 1]
    """
    sign = 1.0 if higher_is_better else -1.0
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -sign * points[i][1]))
    front, best = [], -math.inf
    for i in order:
        q = sign * points[i][1]
        if q > best:
            front.append(i)
            best = q
    return front


def knee(points: list[tuple[float, float]], front: list[int]) -> int | None:
    """The knee of a front: the point farthest from the straight line joining its two ends,
    both axes scaled to [0, 1] (the "kneedle" rule); None with fewer than 3 points."""
    if len(front) < 3:
        return None
    xs = np.array([points[i][0] for i in front], dtype=float)
    ys = np.array([points[i][1] for i in front], dtype=float)
    span_x, span_y = np.ptp(xs) or 1.0, np.ptp(ys) or 1.0
    x, y = (xs - xs[0]) / span_x, (ys - ys[0]) / span_y
    dx, dy = x[-1], y[-1]
    dist = np.abs(dy * x - dx * y) / (math.hypot(dx, dy) or 1.0)
    return front[int(np.argmax(dist))]


# --------------------------------------------------------------------------------------------
# Deployment figures


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _task_data(run: Run, max_eval: int):
    from ..commands.quantize import TaskData

    task = run.train.get("task")
    if task == "default":
        from ..data.digits import load_digits_split

        d = load_digits_split()
        return TaskData(d.x_train[:512], d.x_test, d.y_test), d.x_test
    if task == "ptb":
        data = run.train.get("data")
        if not data:
            raise UsageError(f"{run.path}: the run names no PTB data directory")
        from ..data.ptb import load_ptb

        corpus = load_ptb(data, max_tokens=run.train.get("max_tokens"))
        train = corpus.train.numpy()
        calib = train[: 20 * 35].reshape(-1, 35)
        test = corpus.test.numpy()[: max_eval + 1]
        return TaskData(calib, test, None), test[: 10 * 20].reshape(10, 20)
    raise UsageError(f"{run.path}: deployment figures need --task default or ptb, not {task!r}")


def _measure_model(model, inputs, work: Path, targets: tuple[str, ...]) -> dict[str, Any]:
    from ..passes import executed_macs_per_step, h_zero_fractions

    row: dict[str, Any] = {
        "hidden": list(model.hidden),
        "macs_per_step": model.macs_per_step(),
        "executed_macs_per_step": executed_macs_per_step(model, inputs),
        "h_zeros": h_zero_fractions(model, inputs),
    }
    few = inputs[: min(8, len(inputs))]
    if "c" in targets:
        try:
            from ..verify.cpu import callgrind_instructions

            cg = callgrind_instructions(model, few, work / "c")
            row["host_instructions_per_step"] = cg["per_step"]
        except ToolError as exc:
            row["host_error"] = str(exc)
    if "cortex-m4" in targets:
        try:
            from ..verify.qemu import QemuRunner

            run = QemuRunner(cpu="cortex-m4", count=True).run(model, few, work / "m4")
            f = run.figures
            row.update(m4_flash_bytes=f.flash_bytes, m4_ram_bytes=f.ram_bytes,
                       m4_instructions_per_step=f.extra["instructions_per_step"])
        except (ToolError, UsageError) as exc:
            row["m4_error"] = str(exc)
    if "hls" in targets:
        try:
            from ..targets.hls import Options, schedule

            row["hls_multipliers_r1"] = schedule(model, Options(reuse=1)).multipliers
        except Exception as exc:  # noqa: BLE001 - an optional figure; say why it is missing
            row["hls_error"] = f"{type(exc).__name__}: {exc}"
    return row


def deployment(run: Run, *, targets: tuple[str, ...] = ("c", "cortex-m4", "hls"),
               max_eval: int = 2000, refresh: bool = False) -> dict[str, Any]:
    """Deployment figures of ``run``'s last checkpoint (see the module docstring), cached in
    ``RUN/deploy.json``."""
    from ..checkpoint import load_checkpoint
    from ..commands.quantize import quantize_checkpoint
    from ..quant import QuantOptions, quantize_inputs
    from ..sparsity import compact

    last = run.path / "last.pt"
    if not last.is_file():
        raise DataError(f"{run.path}: no last.pt to deploy")
    key = {"checkpoint": _digest(last), "targets": sorted(targets), "max_eval": max_eval}
    cache = run.path / DEPLOY_FILE
    if cache.is_file() and not refresh:
        try:
            doc = json.loads(cache.read_text())
            if doc.get("key") == key:
                return doc["figures"]
        except (OSError, ValueError):
            pass
    ckpt = compact(load_checkpoint(last))
    data, eval_inputs = _task_data(run, max_eval)
    figures: dict[str, Any] = {"hidden_compact": list(ckpt.config.hidden)}
    with tempfile.TemporaryDirectory(prefix="lstmgen-deploy-") as tmp:
        for wbits in (16, 8):
            model, quality = quantize_checkpoint(ckpt, data, QuantOptions(weight_bits=wbits),
                                                 f"w{wbits}", source=str(last))
            inputs = quantize_inputs(model, eval_inputs)
            row = {"quality": quality}
            row.update(_measure_model(model, inputs, Path(tmp) / f"w{wbits}", targets))
            figures[f"int{wbits}"] = row
    doc = {"key": key, "figures": figures}
    with atomic_file(cache) as f:
        f.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return figures
