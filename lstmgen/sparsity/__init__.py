"""Intrinsic Sparse Structures (ISS): groups, group-Lasso penalty, zero-out, exact compaction."""

from __future__ import annotations

from .compact import compact, removable_units
from .iss import (
    IssComponent,
    add_group_lasso_grad,
    group_lasso,
    group_norms,
    iss_groups,
    iss_stats,
    zero_out,
)

__all__ = [
    "IssComponent",
    "add_group_lasso_grad",
    "compact",
    "group_lasso",
    "group_norms",
    "iss_groups",
    "iss_stats",
    "removable_units",
    "zero_out",
]
