"""Look up the :class:`~lstmgen.verify.base.Runner` of a target by name.

``"c"`` builds and runs on this machine (:class:`~lstmgen.verify.cpu.CpuRunner`);
``"cortex-m*"`` runs the same C under QEMU (``lstmgen.verify.qemu.QemuRunner``, imported only
when asked for).
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ToolError, UsageError
from .base import Runner

__all__ = ["TARGETS", "get_runner"]

#: Target names ``lstmgen verify --target`` accepts.
TARGETS = ("c", "cortex-m3", "cortex-m4", "cortex-m7")


def get_runner(target: str, **opts: Any) -> Runner:
    """A runner for ``target`` built with keyword ``opts``; unknown names raise UsageError."""
    if target == "c":
        from .cpu import CpuRunner

        return CpuRunner(**opts)
    if target in TARGETS:
        try:
            qemu = importlib.import_module("lstmgen.verify.qemu")
        except ModuleNotFoundError as exc:
            if exc.name != "lstmgen.verify.qemu":
                raise
            raise ToolError(
                f"target {target!r}: the Cortex-M runner (lstmgen.verify.qemu) is not installed"
            ) from None
        return qemu.QemuRunner(cpu=target, **opts)
    raise UsageError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
