"""Run reports, sweeps and the Pareto front (``lstmgen.study``; ``lstmgen sweep``/``report DIR``)."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lstmgen.cli import main
from lstmgen.study import knee, load_run, pareto_front, runs_in

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """A 2-setting sweep of tiny digits classifiers (2 epochs each)."""
    out = tmp_path_factory.mktemp("sweep") / "sw"
    r = CliRunner().invoke(main, ["sweep", "--out", str(out), "--iss-lambda", "0,0.01",
                                  "--hidden", "8", "--epochs", "2", "--quiet", "--threads", "1"])
    assert r.exit_code == 0, r.output
    return out


def test_pareto_front_and_knee_by_hand() -> None:
    pts = [(1.0, 0.5), (2.0, 0.9), (3.0, 0.95), (4.0, 0.96), (2.5, 0.7)]
    front = pareto_front(pts, higher_is_better=True)
    assert front == [0, 1, 2, 3]
    assert knee(pts, front) == 1  # the bend: most of the gain for little cost
    # lower is better (perplexity): the front keeps falling quality values
    assert pareto_front([(1, 120.0), (2, 110.0), (3, 115.0)], higher_is_better=False) == [0, 1]
    assert knee(pts, front[:2]) is None


def test_sweep_is_resumable_and_skips_finished_runs(sweep_dir: Path) -> None:
    runs = runs_in(sweep_dir)
    assert [r.name for r in runs] == ["iss0", "iss0.01"]
    assert all(r.complete for r in runs)
    before = (sweep_dir / "iss0" / "last.pt").read_bytes()
    r = CliRunner().invoke(main, ["sweep", "--out", str(sweep_dir), "--iss-lambda", "0,0.01",
                                  "--hidden", "8", "--epochs", "2", "--quiet", "--threads", "1"])
    assert r.exit_code == 0 and r.output.count("done before") == 2, r.output
    assert (sweep_dir / "iss0" / "last.pt").read_bytes() == before
    m = load_run(sweep_dir / "iss0.01").last
    assert len(m["units_left"]) == 1 and len(m["group_norms"]) == 1


def test_sweep_refuses_bad_lists(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["sweep", "--out", str(tmp_path / "x"), "--iss-lambda", "a,b"])
    assert r.exit_code == 2 and "comma-separated list" in r.stderr
    assert not (tmp_path / "x").exists()


def _pngs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def _not_blank(png: bytes) -> bool:
    import matplotlib.image as mpimg

    img = mpimg.imread(io.BytesIO(png), format="png")
    return img.ndim == 3 and float(np.std(img[..., :3])) > 0.01


def test_report_of_a_sweep_has_every_figure(sweep_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    r = CliRunner().invoke(main, ["report", str(sweep_dir), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    assert "http" not in html.replace("http-equiv", "")  # nothing fetched from a network
    pngs = _pngs(html)
    assert len(pngs) == 4 and all(_not_blank(p) for p in pngs)  # curves + ISS, per run
    md = (out / "report.md").read_text()
    assert md.count("](figures/") == 4 and "| iss0.01 |" in md
    assert "<h2>Pareto front" not in html and "--deploy" in html  # needs deployment figures
    assert (out / ".lstmgen-manifest.json").is_file()


@pytest.mark.qemu
@pytest.mark.cc
def test_deployed_report_draws_the_pareto_front(sweep_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    r = CliRunner().invoke(main, ["report", str(sweep_dir), "--out", str(out), "--deploy"])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    assert "Pareto front" in html and len(_pngs(html)) == 5
    dep = json.loads((out / "deploy.json").read_text())
    for run in ("iss0", "iss0.01"):
        for w in ("int16", "int8"):
            d = dep[run][w]
            assert d["executed_macs_per_step"] <= d["macs_per_step"]
            assert d["m4_flash_bytes"] > 0 and d["host_instructions_per_step"] > 0
    assert (sweep_dir / "iss0" / "deploy.json").is_file()  # cached in the run


@pytest.mark.browser
def test_report_renders_in_headless_chromium(sweep_dir: Path, tmp_path: Path) -> None:
    """The page opens with no network; every figure is decoded and painted (the screenshot is
    not blank and every <img> has a natural size)."""
    out = tmp_path / "rep"
    assert CliRunner().invoke(main, ["report", str(sweep_dir), "--out", str(out)]).exit_code == 0
    page = (out / "report.html").resolve().as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    probe = tmp_path / "probe.html"
    probe.write_text(
        "<html><body><script>"
        "const f=document.createElement('iframe');f.src=" + json.dumps(page) + ";"
        "f.onload=()=>{const imgs=[...f.contentDocument.images];"
        "document.title=imgs.length+':'+imgs.filter(i=>i.complete&&i.naturalWidth>100).length;};"
        "document.body.appendChild(f);</script></body></html>")
    dom = subprocess.run(["chromium", *flags, "--allow-file-access-from-files", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=120,
                         check=False)
    m = re.search(r"<title>(\d+):(\d+)</title>", dom.stdout)
    assert m is not None, dom.stdout[-500:] + dom.stderr[-500:]
    assert int(m.group(1)) == 4 and int(m.group(2)) == 4
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", *flags, f"--screenshot={shot}", "--window-size=1200,2400", page],
                   capture_output=True, timeout=120, check=False)
    assert shot.is_file() and _not_blank(shot.read_bytes())
