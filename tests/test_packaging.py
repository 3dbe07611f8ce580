"""The wheel ships what an installed lstmgen needs: templates, kernel library, MCU files, plugin."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]


def test_wheel_ships_templates_and_data(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "absent from the `packages` configuration" not in proc.stdout + proc.stderr
    (wheel,) = tmp_path.glob("lstmgen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        f"lstmgen/templates/{p.relative_to(REPO / 'templates').as_posix()}"
        for p in (REPO / "templates").rglob("*")
        if p.is_file() and p.suffix in {".j2", ".h", ".c", ".ld"}
    }
    assert shipped and shipped <= names, sorted(shipped - names)
    assert "lstmgen/verify/files/qemu_insn_count.c" in names
