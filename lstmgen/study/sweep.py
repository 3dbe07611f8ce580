"""Sweeps: a grid of ISS/SHS settings trained as independent runs in one directory.

Every setting is an ordinary ``lstmgen train`` run in ``OUT/<name>`` (the name spells the
setting, e.g. ``iss0.003_shs0.3``). A sweep is resumable: a finished run is not trained again,
an interrupted one resumes from its ``state.pt`` (bit-identical to an uninterrupted run), a
missing one starts. ``lstmgen report OUT --deploy`` then draws the Pareto front.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .runs import is_run, load_run

__all__ = ["Setting", "grid", "run_sweep"]

#: Sweepable TrainConfig fields and their short names in run names.
SWEEPABLE = {"iss_lambda": "iss", "shs_threshold": "shs", "shs_lambda": "shsl", "dropout": "drop",
             "lr": "lr", "seed": "seed"}


@dataclasses.dataclass(frozen=True)
class Setting:
    """One point of the grid: the TrainConfig fields it sets, and its run name."""

    values: tuple[tuple[str, Any], ...]

    @property
    def name(self) -> str:
        return "_".join(f"{SWEEPABLE[k]}{v:g}" if isinstance(v, float) else f"{SWEEPABLE[k]}{v}"
                        for k, v in self.values) or "base"


def grid(axes: Mapping[str, Sequence[Any]]) -> list[Setting]:
    """The Cartesian product of the given axes (field -> values), in order."""
    for key in axes:
        if key not in SWEEPABLE:
            raise UsageError(f"cannot sweep {key!r}; choose from {', '.join(SWEEPABLE)}")
    keys = [k for k, v in axes.items() if v]
    return [Setting(tuple(zip(keys, combo))) for combo in itertools.product(*(axes[k] for k in keys))]


def run_sweep(base: Mapping[str, Any], axes: Mapping[str, Sequence[Any]], out: str | Path, *,
              task: str = "default", progress: bool = True, device: str = "cpu",
              threads: int | None = None) -> Iterator[tuple[Setting, str]]:
    """Train every setting of the grid into ``out``; yields ``(setting, what happened)`` as
    each finishes ("done before", "resumed", "trained")."""
    from ..train import default_config, train

    out = Path(out)
    settings = grid(axes)
    if not settings:
        raise UsageError("the sweep has no settings: give at least one list of values")
    names = [s.name for s in settings]
    if len(set(names)) != len(names):
        raise UsageError("two settings of the sweep have the same name; give distinct values")
    for s in settings:  # refuse impossible settings before training anything
        default_config(task, **{**base, **dict(s.values)})
    out.mkdir(parents=True, exist_ok=True)
    for s in settings:
        run_dir = out / s.name
        if is_run(run_dir) and load_run(run_dir).complete:
            yield s, "done before"
            continue
        if (run_dir / "state.pt").is_file():
            train(None, run_dir, resume=True, progress=progress, device=device, threads=threads)
            yield s, "resumed"
            continue
        cfg = default_config(task, **{**base, **dict(s.values)})
        train(cfg, run_dir, progress=progress, device=device, threads=threads)
        yield s, "trained"
