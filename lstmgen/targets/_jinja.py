"""The one Jinja environment every back end renders with.

Strict (an undefined name is an error, never an empty string), whitespace-tidy
(``trim_blocks``, ``lstrip_blocks``, ``keep_trailing_newline``), with templates loaded from the
package ``lstmgen.templates`` through :mod:`importlib.resources` (the top-level ``templates/``
folder in a checkout, package data in a wheel). Templates only loop and branch over a view
computed in Python; the filters format numbers, nothing more.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Iterable
from typing import Any

import jinja2

__all__ = ["c_array", "environment", "has_resource", "read_static", "render", "verilog_hex"]

_PACKAGE = "lstmgen.templates"


def _resource(name: str):
    node = importlib.resources.files(_PACKAGE)
    for part in name.split("/"):
        node = node.joinpath(part)
    return node


def has_resource(name: str) -> bool:
    """True when ``name`` (a ``/``-separated path under ``templates/``) exists."""
    return _resource(name).is_file()


def read_static(name: str) -> str:
    """The text of a hand-written file under ``templates/`` (copied verbatim into outputs)."""
    return _resource(name).read_text(encoding="utf-8")


def _load(name: str) -> tuple[str, None, Any]:
    if not has_resource(name):
        raise jinja2.TemplateNotFound(name)
    return read_static(name), None, lambda: True


def c_array(values: Iterable[int], per_line: int = 12, indent: int = 4) -> str:
    """Comma-separated integer literals, ``per_line`` to a line, continuation lines indented.

    >>> print(c_array([1, -2, 3], per_line=2))
    1, -2,
        3
    """
    vals = [str(int(v)) for v in values]
    lines = [", ".join(vals[i : i + per_line]) for i in range(0, len(vals), per_line)]
    return (",\n" + " " * indent).join(lines)


def verilog_hex(value: int, bits: int) -> str:
    """A sized Verilog hex literal of ``value`` as ``bits``-bit two's complement.

    >>> verilog_hex(-2, 8), verilog_hex(255, 16)
    ("8'hfe", "16'h00ff")
    """
    value, bits = int(value), int(bits)
    if not -(1 << (bits - 1)) <= value < (1 << bits):
        raise ValueError(f"{value} does not fit {bits} bits")
    return f"{bits}'h{value & ((1 << bits) - 1):0{-(-bits // 4)}x}"


@functools.cache
def environment() -> jinja2.Environment:
    """The shared strict environment (created once)."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["c_array"] = c_array
    env.filters["verilog_hex"] = verilog_hex
    return env


def render(template: str, **context: Any) -> str:
    """Render ``template`` (path under ``templates/``) with ``context``."""
    return environment().get_template(template).render(**context)
