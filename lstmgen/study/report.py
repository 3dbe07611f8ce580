"""The report of a training run or a sweep: a Markdown file and one self-contained HTML page
(matplotlib figures embedded as PNG data, so the page opens in a browser without a network).

Figures of a run: loss and accuracy/perplexity over epochs; ISS group norms per layer (their
fall over epochs and a histogram at the end); hidden units left per layer over epochs; the
share of zeros in h per layer when the run trained SHS; and, with deployment figures, a table
of the deployed models (hidden sizes, mult-adds per step dense and executed, golden
accuracy/perplexity, host and Cortex-M4 instructions, flash/RAM, HLS multipliers). A sweep adds
the Pareto front of quality against mult-adds per step (dense and executed), knee marked.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from .._io import write_tree
from .runs import Run, deployment, knee, pareto_front, runs_in

__all__ = ["build_report", "pareto_figure", "write_report"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return buf.getvalue()


def _series(run: Run, key: str) -> tuple[list[int], list[Any]]:
    pts = [(m["epoch"], m[key]) for m in run.metrics if key in m and m[key] is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def _curves(run: Run) -> bytes:
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    for key in ("train_loss", "val_loss", "test_loss", "train_ppl"):
        e, v = _series(run, key)
        if e:
            a.plot(e, v, label=key)
    a.set_xlabel("epoch")
    a.set_title("loss" if run.kind == "classifier" else "loss / train perplexity")
    a.legend()
    keys = ("val_acc", "test_acc") if run.kind == "classifier" else ("valid_ppl", "test_ppl")
    for key in keys:
        e, v = _series(run, key)
        if e:
            b.plot(e, v, label=key)
    b.set_xlabel("epoch")
    b.set_title("accuracy" if run.kind == "classifier" else "perplexity")
    b.legend()
    return _png(fig)


def _iss(run: Run) -> bytes | None:
    e, norms = _series(run, "group_norms")
    if not e:
        return None
    plt = _plt()
    n_layers = len(norms[-1])
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
    for li in range(n_layers):
        med = [n[li]["median"] for n in norms]
        lo = [n[li]["q25"] for n in norms]
        hi = [n[li]["q75"] for n in norms]
        axes[0].plot(e, med, label=f"layer {li} median")
        axes[0].fill_between(e, lo, hi, alpha=0.25)
    axes[0].set_yscale("symlog", linthresh=1e-4)
    axes[0].set_title("ISS group norms over epochs (q25-q75)")
    axes[0].set_xlabel("epoch")
    axes[0].legend()
    final = _final_norms(run)
    if final is not None:
        for li, v in enumerate(final):
            axes[1].hist(np.log10(np.maximum(v, 1e-8)), bins=30, alpha=0.6, label=f"layer {li}")
        axes[1].set_title("group norms at the end (log10, zeros at -8)")
        axes[1].legend()
    else:
        axes[1].axis("off")
    e2, left = _series(run, "units_left")
    for li in range(len(left[-1]) if left else 0):
        axes[2].plot(e2, [u[li] for u in left], label=f"layer {li}")
    axes[2].set_title("hidden units left after compaction")
    axes[2].set_xlabel("epoch")
    if left:
        axes[2].legend()
    return _png(fig)


def _final_norms(run: Run) -> list[np.ndarray] | None:
    path = run.path / "last.pt"
    if not path.is_file():
        return None
    try:
        from ..checkpoint import build_module, load_checkpoint
        from ..sparsity import group_norms

        ck = load_checkpoint(path)
        model = build_module(ck.config)
        model.load_state_dict(ck.state_dict)
        return [np.asarray(n.detach().double()) for n in group_norms(model)]
    except Exception:  # noqa: BLE001 - a model without ISS groups has no histogram
        return None


def _sparsity(run: Run) -> bytes | None:
    e, zeros = _series(run, "h_zeros_per_layer")
    if not e:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for li in range(len(zeros[-1])):
        ax.plot(e, [z[li] for z in zeros], label=f"layer {li}")
    ax.set_ylim(0, 1)
    ax.set_title("share of zeros in h")
    ax.set_xlabel("epoch")
    ax.legend()
    return _png(fig)


def _pareto(runs: list[Run], deploy: dict[str, dict]) -> tuple[bytes, list[str]] | None:
    points = []
    for r in runs:
        d = deploy.get(r.name, {}).get("int16")
        q = r.quality()[1]
        if d and q is not None:
            points.append((r.name, d["macs_per_step"], d["executed_macs_per_step"], q))
    return pareto_figure(points, higher_is_better=runs[0].kind == "classifier",
                         ylabel=runs[0].quality()[0])


def pareto_figure(points: list[tuple[str, float, float, float]], *, higher_is_better: bool,
                  ylabel: str, unit: str = "step", log_x: bool = False,
                  ) -> tuple[bytes, list[str]] | None:
    """Two panels, quality against mult-adds per ``unit`` dense and executed (zero h skipped),
    each with its Pareto front and knee marked: ``(png, notes naming the knees)``, or None with
    fewer than 2 points. ``points`` are ``(label, dense MACs, executed MACs, quality)``."""
    if len(points) < 2:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    notes = []
    for ax, col, label in ((axes[0], 1, "dense"), (axes[1], 2, "executed (zero h skipped)")):
        pts = [(row[col], row[3]) for row in points]
        front = pareto_front(pts, higher_is_better)
        k = knee(pts, front)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="0.6", label="runs")
        ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "o-", label="Pareto front")
        for i, row in enumerate(points):
            ax.annotate(row[0], pts[i], fontsize=7, xytext=(3, 3), textcoords="offset points")
        if k is not None:
            ax.scatter([pts[k][0]], [pts[k][1]], s=160, facecolors="none", edgecolors="red",
                       label="knee")
            notes.append(f"knee ({label} mult-adds): {points[k][0]}")
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(f"mult-adds per {unit}, {label}")
        ax.set_ylabel(ylabel)
        ax.set_title(f"quality vs {label} mult-adds")
        ax.legend(fontsize=7)
    return _png(fig), notes


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        # counts (instructions, mult-adds) as whole numbers; qualities to 4 significant digits
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, list):
        return "x".join(str(x) for x in v)
    return str(v)


def _deploy_rows(runs: list[Run], deploy: dict[str, dict]) -> list[list[str]]:
    rows = []
    for r in runs:
        for w in ("int16", "int8"):
            d = deploy.get(r.name, {}).get(w)
            if not d:
                continue
            qual = d.get("quality", {})
            rows.append([r.name, w, _fmt(d["hidden"]), _fmt(d["macs_per_step"]),
                         _fmt(d["executed_macs_per_step"]),
                         _fmt(qual.get("golden_accuracy", qual.get("golden_ppl"))),
                         _fmt(d.get("host_instructions_per_step")),
                         _fmt(d.get("m4_instructions_per_step")), _fmt(d.get("m4_flash_bytes")),
                         _fmt(d.get("m4_ram_bytes")), _fmt(d.get("hls_multipliers_r1"))])
    return rows


_DEPLOY_HEAD = ["run", "weights", "hidden", "MACs/step", "executed MACs/step", "golden",
                "host instr/step", "M4 instr/step", "M4 flash B", "M4 RAM B", "HLS mult (R=1)"]


def build_report(path: str | Path, *, deploy: bool = False,
                 targets: tuple[str, ...] = ("c", "cortex-m4", "hls")) -> dict[str, Any]:
    """Everything a report shows: ``{"title", "runs", "figures": {name: png}, "tables",
    "notes"}``; with ``deploy`` the deployment figures are measured (and cached)."""
    runs = runs_in(path)
    figures: dict[str, bytes] = {}
    for r in runs:
        prefix = "" if len(runs) == 1 else f"{r.name}: "
        figures[f"{prefix}training curves"] = _curves(r)
        iss = _iss(r)
        if iss is not None:
            figures[f"{prefix}ISS group norms and hidden sizes"] = iss
        sp = _sparsity(r)
        if sp is not None:
            figures[f"{prefix}h sparsity"] = sp
    # a tLSTM run has no ISS units to compact: its deployment is `lstmgen quantize` + `report
    # --target c|cortex-m4` (run reports measure LSTM runs only)
    tlstm = [r.name for r in runs if r.train.get("model") == "tlstm"]
    dep = ({r.name: deployment(r, targets=targets) for r in runs if r.name not in tlstm}
           if deploy else {})
    notes: list[str] = []
    if deploy and tlstm:
        notes.append(f"not deployed here (tensorized LSTM): {', '.join(tlstm)}; measure with "
                     "`lstmgen quantize` and `lstmgen report MODEL --target c|cortex-m4`")
    if len(runs) > 1:
        par = _pareto(runs, dep)
        if par is not None:
            figures["Pareto front"] = par[0]
            notes += par[1]
        elif not deploy:
            notes.append("run `lstmgen report DIR --deploy` for the Pareto front (it needs the "
                         "deployed mult-adds of each run)")
    summary = [[r.name, str(len(r.metrics)), _fmt(r.quality()[1]),
                _fmt(r.train.get("iss_lambda")), _fmt(r.train.get("shs_threshold")),
                _fmt(r.last.get("units_left"))] for r in runs]
    tables = {"runs": (["run", "epochs", runs[0].quality()[0], "ISS lambda", "SHS threshold",
                        "units left"], summary)}
    if dep:
        tables["deployed models"] = (_DEPLOY_HEAD, _deploy_rows(runs, dep))
    return {"title": f"lstmgen report: {Path(path).name}", "runs": [r.name for r in runs],
            "figures": figures, "tables": tables, "notes": notes, "deploy": dep}


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def write_report(path: str | Path, out: str | Path, *, deploy: bool = False,
                 force: bool = False) -> list[Path]:
    """Write ``report.md`` (figures as PNG files beside it) and ``report.html`` (figures
    embedded) into ``out``; lstmgen never overwrites a file there it did not write."""
    rep = build_report(path, deploy=deploy)
    files: dict[str, str | bytes] = {}
    md = [f"# {rep['title']}", ""]
    body = [f"<h1>{html.escape(rep['title'])}</h1>"]
    for name, (head, rows) in rep["tables"].items():
        md += [f"## {name}", "", _md_table(head, rows), ""]
        body.append(f"<h2>{html.escape(name)}</h2><table><tr>"
                    + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
                    + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                              for r in rows) + "</table>")
    for note in rep["notes"]:
        md.append(f"* {note}")
        body.append(f"<p>{html.escape(note)}</p>")
    if rep["notes"]:
        md.append("")  # a heading after a list needs a blank line
    for name, png in rep["figures"].items():
        fname = f"figures/{_slug(name)}.png"
        files[fname] = png
        md += [f"## {name}", "", f"![{name}]({fname})", ""]
        data = base64.b64encode(png).decode()
        body.append(f"<h2>{html.escape(name)}</h2><img class=\"figure\" alt=\"{html.escape(name)}\" "
                    f"src=\"data:image/png;base64,{data}\">")
    files["report.md"] = "\n".join(md) + "\n"
    files["report.html"] = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
        + html.escape(rep["title"]) + "</title><style>body{font-family:sans-serif;margin:2em}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}"
        "img{max-width:100%}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    if rep["deploy"]:
        files["deploy.json"] = json.dumps(rep["deploy"], indent=1, sort_keys=True) + "\n"
    return write_tree(out, files, force=force)
