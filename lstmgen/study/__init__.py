"""Studies of accuracy against cost: run reports with plots, sweeps, the Pareto front."""

from __future__ import annotations

from .report import build_report, write_report
from .runs import Run, deployment, knee, load_run, pareto_front, runs_in
from .sweep import grid, run_sweep

__all__ = ["Run", "build_report", "deployment", "grid", "knee", "load_run", "pareto_front",
           "run_sweep", "runs_in", "write_report"]
