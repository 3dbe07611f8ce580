"""One exception hierarchy for everything a user can get wrong.

The command line turns any :class:`LstmgenError` into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "DataError",
    "FormatError",
    "IRError",
    "LstmgenError",
    "OutputError",
    "ToolError",
    "UsageError",
    "VerifyError",
]


class LstmgenError(Exception):
    """Base class: a problem with the user's input or environment, reported in one line."""


class UsageError(LstmgenError):
    """An impossible option value or combination of options."""


class OutputError(LstmgenError):
    """An output that cannot be written (permissions, disk full, a file where a directory is
    needed) or that would replace a file lstmgen did not write."""


class DataError(LstmgenError):
    """A missing, unreadable or malformed data set or input vector file."""


class CheckpointError(LstmgenError):
    """A missing, corrupted or foreign checkpoint, or a state dict of the wrong shape."""


class IRError(LstmgenError):
    """A malformed, inconsistent or unsupported IR file."""


class FormatError(IRError):
    """An impossible fixed-point format (bits, fraction, accumulator bound)."""


class ToolError(LstmgenError):
    """An external tool (compiler, simulator, emulator) is missing or failed."""


class VerifyError(LstmgenError):
    """A target disagrees with the golden model."""
