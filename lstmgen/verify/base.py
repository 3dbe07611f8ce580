"""The verify protocol shared by every target: run golden and target on the same vectors,
compare integer codes exactly, report the first mismatch as (vector, layer, step, unit, want, got).

A target plugs in as a :class:`Runner`: it builds whatever it needs inside ``workdir``, feeds
``inputs.bin`` (see :mod:`lstmgen.verify.vectors`) and returns the decoded outputs (and, when
asked, the per-step h/c dump used to locate a mismatch).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .. import golden
from ..ir import Model

__all__ = ["Mismatch", "Report", "Runner", "TargetRun", "first_mismatch", "verify"]


@dataclass
class TargetRun:
    """What a target produced: outputs shaped like golden's, optional dump, extra figures."""

    outputs: np.ndarray
    dump: list[dict[str, np.ndarray]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Runner(Protocol):
    """A back end's build-and-run step (``CpuRunner``, ``QemuRunner``, ...)."""

    name: str

    def run(self, model: Model, inputs: np.ndarray, workdir: Path, *, dump: bool = False) -> TargetRun:
        """Build (once per ``workdir``) and run the target on ``inputs``."""
        ...


@dataclass
class Mismatch:
    """The first disagreement: ``what`` is ``output``, ``h`` or ``c``."""

    vector: int
    step: int
    what: str
    layer: int | None
    unit: int
    want: int
    got: int

    def __str__(self) -> str:
        where = "output" if self.layer is None else f"layer {self.layer} {self.what}"
        return (
            f"vector {self.vector}, step {self.step}, {where}, unit {self.unit}: "
            f"want {self.want}, got {self.got}"
        )


@dataclass
class Report:
    """Result of :func:`verify`; ``mismatches`` counts vectors with any differing output code.

    ``outputs`` / ``golden_outputs`` hold the compared codes (not part of the JSON report).
    """

    target: str
    vectors: int
    mismatches: int
    first: Mismatch | None = None
    max_abs_err_vs_float: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    outputs: np.ndarray | None = field(default=None, repr=False)
    golden_outputs: np.ndarray | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return self.mismatches == 0

    def text(self) -> str:
        head = f"{'PASS' if self.passed else 'FAIL'} {self.vectors} vectors, {self.mismatches} mismatches"
        if self.first is not None:
            head += f"; first mismatch: {self.first}"
        return f"[{self.target}] {head}"

    def to_json(self) -> str:
        d: dict[str, Any] = {
            "target": self.target,
            "vectors": self.vectors,
            "mismatches": self.mismatches,
            "max_abs_err_vs_float": self.max_abs_err_vs_float,
            "first_mismatch": None if self.first is None else asdict(self.first),
        }
        d.update(self.extra)
        return json.dumps(d, sort_keys=True)


def first_mismatch(
    model: Model,
    want: golden.RunResult,
    got_outputs: np.ndarray,
    got_dump: list[dict[str, np.ndarray]] | None,
) -> Mismatch | None:
    """Earliest (step, then layer) disagreement; h/c dumps locate it inside the network."""
    if got_dump is not None and want.layers:
        best: tuple[int, int, int] | None = None  # (step, layer, vector)
        found: Mismatch | None = None
        for li, (w, g) in enumerate(zip(want.layers, got_dump)):
            for what in ("c", "h"):
                diff = np.argwhere(w[what] != g[what])
                if diff.size:
                    order = np.lexsort((diff[:, 0], diff[:, 1]))  # by step, then vector
                    v, t, u = (int(a) for a in diff[order[0]])
                    key = (t, li, v)
                    if best is None or key < best:
                        best = key
                        found = Mismatch(v, t, what, li, u, int(w[what][v, t, u]), int(g[what][v, t, u]))
        if found is not None:
            return found
    w_out = want.outputs if model.is_lm else want.outputs[:, None, :]
    g_out = got_outputs if model.is_lm else got_outputs[:, None, :]
    diff = np.argwhere(w_out != g_out)
    if not diff.size:
        return None
    order = np.lexsort((diff[:, 0], diff[:, 1]))
    v, t, u = (int(a) for a in diff[order[0]])
    step = t if model.is_lm else int(want.layers[0]["h"].shape[1] - 1) if want.layers else t
    return Mismatch(v, step, "output", None, u, int(w_out[v, t, u]), int(g_out[v, t, u]))


def verify(
    model: Model,
    runner: Runner,
    inputs: np.ndarray,
    workdir: Path,
    *,
    float_outputs: np.ndarray | None = None,
) -> Report:
    """Compare ``runner`` with the golden model on ``inputs`` (exact, every output code).

    On a mismatch the target is run again with dumps to name the first differing layer/step.
    ``float_outputs`` (same shape as the outputs, float values) gives ``max_abs_err_vs_float``.
    """
    inputs = golden.check_inputs(model, inputs)
    want = golden.run(model, inputs)
    got = runner.run(model, inputs, workdir)
    if got.outputs.shape != want.outputs.shape:
        raise ValueError(f"target output shape {got.outputs.shape} != golden {want.outputs.shape}")
    axes = tuple(range(1, want.outputs.ndim))
    bad = np.any(want.outputs != got.outputs, axis=axes)
    report = Report(target=runner.name, vectors=int(inputs.shape[0]), mismatches=int(bad.sum()),
                    outputs=got.outputs, golden_outputs=want.outputs)
    report.extra.update(got.extra)
    if report.mismatches:
        want_d = golden.run(model, inputs, dump=True)
        got_d = runner.run(model, inputs, workdir, dump=True)
        report.first = first_mismatch(model, want_d, got_d.outputs, got_d.dump)
    if float_outputs is not None:
        deq = model.head.out_fmt.to_float(got.outputs)
        report.max_abs_err_vs_float = float(np.max(np.abs(deq - float_outputs), initial=0.0))
    return report
