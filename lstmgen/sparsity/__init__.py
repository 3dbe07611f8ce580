"""Intrinsic Sparse Structures (ISS): groups, group-Lasso penalty, zero-out, exact compaction."""

from __future__ import annotations

from .compact import compact, removable_units
from .iss import IssComponent, group_lasso, group_norms, iss_groups, iss_stats, zero_out

__all__ = [
    "IssComponent",
    "compact",
    "group_lasso",
    "group_norms",
    "iss_groups",
    "iss_stats",
    "removable_units",
    "zero_out",
]
