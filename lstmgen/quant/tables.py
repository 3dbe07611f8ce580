"""Activation tables: sigmoid and tanh sampled once, in Python, into IR integers.

A table covers input codes ``[lo, lo + (n-1)·2**shift]`` of its input format. Interpolated
tables sample the function at those points (``n = 2**log2_entries + 1`` so the last sample is
the range end); plain tables are indexed by ``floor`` and so sample the centre of each bucket.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..fixedpoint import quantize
from ..ir import ActTable, IntTensor, QFormat

__all__ = ["FUNCS", "make_table"]

FUNCS = {
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "tanh": np.tanh,
}


def make_table(
    func: str,
    in_fmt: QFormat,
    out_fmt: QFormat,
    *,
    log2_entries: int = 8,
    in_range: float = 8.0,
    interp: bool = True,
) -> ActTable:
    """Sample ``func`` over ``[-in_range, in_range)`` into ``2**log2_entries`` steps.

    ``in_range`` must be a power of two that ``in_fmt`` can represent; the step between entries
    is then ``2*in_range / 2**log2_entries``, itself a power of two of ``in_fmt``'s codes.
    """
    if func not in FUNCS:
        raise FormatError(f"unknown activation {func!r}")
    span_log2 = np.log2(in_range)
    if in_range <= 0 or span_log2 != int(span_log2):
        raise FormatError(f"table range {in_range} must be a positive power of two")
    lo = -round(in_range * 2.0**in_fmt.frac)
    if lo < in_fmt.min_code:
        raise FormatError(f"table range ±{in_range} does not fit input format {in_fmt}")
    span_codes_log2 = int(span_log2) + 1 + in_fmt.frac  # log2 of (2*in_range in codes)
    shift = span_codes_log2 - log2_entries
    if shift < 0:
        raise FormatError(
            f"{2**log2_entries} entries over ±{in_range} are finer than the input format {in_fmt}"
        )
    step = 1 << shift
    if interp:
        points = lo + step * np.arange((1 << log2_entries) + 1, dtype=np.int64)
    else:
        points = lo + step * np.arange(1 << log2_entries, dtype=np.int64) + step / 2.0
    values = FUNCS[func](in_fmt.to_float(points))
    codes = quantize(values, out_fmt.bits, out_fmt.frac)
    return ActTable(
        func=func,
        in_fmt=in_fmt,
        lo=lo,
        shift=shift,
        values=IntTensor(codes, out_fmt, name=f"table {func}"),
        interp=interp,
    )
