"""bench/ptb_study.py end to end on a tiny PTB-format corpus: every configuration deployed every
way, the table, goals and Pareto figure, no retraining of finished runs, training in stretches
(``--max-minutes``) continued with ``--resume``, and ``--report-only`` errors."""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstmgen.testing import require_tool

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "ptb_study.py"

#: Tiny models, one epoch, few golden tokens, no M4 or host C counts.
TINY = ["--epochs", "1", "--hidden", "8", "--eval-tokens", "200", "--no-m4", "--no-host-c",
        "--quiet", "--threads", "1"]


def _study():
    spec = importlib.util.spec_from_file_location("ptb_study_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def study():
    return _study()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """PTB-format splits over 30 words (3.3k training tokens) with a little structure."""
    rng = random.Random(0)
    words = [f"w{i}" for i in range(30)]

    def lines(n: int) -> str:
        out = []
        for _ in range(n):
            w, sent = rng.randrange(30), []
            for _ in range(rng.randint(3, 12)):
                sent.append(words[w])
                w = (w * 7 + rng.randrange(3)) % 30
            out.append(" ".join(sent))
        return "\n".join(out) + "\n"

    d = tmp_path_factory.mktemp("ptb")
    for split, n in (("train", 400), ("valid", 60), ("test", 60)):
        (d / f"ptb.{split}.txt").write_text(lines(n))
    return d


@pytest.fixture
def train_calls(monkeypatch) -> list[Path]:
    """The run directories :func:`lstmgen.train.train` is called on."""
    import lstmgen.train

    calls: list[Path] = []
    real = lstmgen.train.train

    def counting(cfg, out=None, **kw):
        calls.append(Path(out))
        return real(cfg, out, **kw)

    monkeypatch.setattr(lstmgen.train, "train", counting)
    return calls


def _rows(out: Path) -> dict[str, dict]:
    return {f"{r['model']}/{r['name']}": r
            for r in json.loads((out / "results.json").read_text())["rows"]}


def test_study_end_to_end_and_no_retraining(study, corpus, tmp_path, train_calls,
                                             monkeypatch) -> None:
    out = tmp_path / "study"
    argv = ["--data", str(corpus), "--out", str(out), "--small-lambdas", "0.0075",
            "--medium-lambdas", "0.004", *TINY]
    assert study.main(argv) == 0
    rows = _rows(out)
    names = ["small/dense", "small/iss_0.0075", "small/shs", "small/iss_shs",
             "small/iss_shs_strong", "small/iss_shs_strong_decay", "small/iss_shs_mid_decay",
             "medium/dense", "medium/iss_0.004", "medium/iss_0.004_ft"]
    assert sorted(rows) == sorted(names)
    for name in names:
        r = rows[name]
        assert r["status"] == "done" and r["epochs"] == 1, name
        assert tuple(r["deploy"]) == study.DEPLOY_KINDS, name
        for kind, d in r["deploy"].items():
            assert d["hidden"] and d["lstm_macs"] > 0 and d["total_macs"] > d["lstm_macs"]
            if kind != "float":
                assert d["golden_quality"] > 1 and 0 < d["total_macs_executed"] <= d["total_macs"]
                assert d["flash_bytes"] > 0 and "skipped" in d["m4"] and "skipped" in d["host"]
        assert r["float_test_ppl"] > 1 and r["deploy"]["int8 QAT"]["qat_float"]
        assert r["float_test_ppl_1"] > 1 and r["float_test_ppl_1"] != r["float_test_ppl"]
    assert rows["small/iss_shs"]["start"] == "iss_0.0075" and rows["small/shs"]["start"] == "dense"
    assert rows["medium/dense"]["hidden_before"] == [8, 8]
    # the medium model trains with Zaremba's medium settings (dropout 0.5, 0.8 decay after 6)
    cfg = json.loads((out / "medium" / "dense" / "train" / "config.json").read_text())["train"]
    assert (cfg["dropout"], cfg["lr_decay"], cfg["decay_after"], cfg["init_scale"]) == \
        (0.5, 0.8, 6, 0.05)
    # the decaying SHS stages halve their lr per epoch; the others keep it constant
    for name, decay in (("iss_shs_strong_decay", (0.5, 1)), ("iss_shs", (1.0, 4))):
        cfg = json.loads((out / "small" / name / "train" / "config.json").read_text())["train"]
        assert (cfg["lr"], cfg["lr_decay"], cfg["decay_after"]) == (0.1, *decay), name
        assert cfg["init_from"].endswith("iss_0.0075/compact.pt"), name
    # the medium ISS model is fine-tuned compacted, group Lasso off, with the stage's dropout
    cfg = json.loads((out / "medium" / "iss_0.004_ft" / "train" / "config.json").read_text())
    cfg = cfg["train"]
    assert (cfg["lr"], cfg["lr_decay"], cfg["decay_after"], cfg["dropout"]) == (0.1, 0.5, 1, 0.3)
    assert (cfg["iss_lambda"], cfg["shs_threshold"], cfg["shs_lambda"]) == (0.0, 0.0, 0.0)
    assert cfg["init_from"].endswith("medium/iss_0.004/compact.pt")
    assert rows["medium/iss_0.004_ft"]["start"] == "iss_0.004"
    assert rows["medium/iss_0.004_ft"]["hidden_before"] == \
        rows["medium/iss_0.004"]["hidden_after"]
    qat = json.loads((out / "medium" / "dense" / "qat_w8a16" / "config.json").read_text())
    assert qat["train"]["dropout"] == 0.5
    qat = json.loads((out / "medium" / "iss_0.004_ft" / "qat_w8a16" / "config.json").read_text())
    assert qat["train"]["dropout"] == 0.3  # the stage's own

    md = (out / "study.md").read_text()
    assert "| model | run | deploy | epochs | hidden |" in md
    assert md.count("| small | iss_shs | ") == 4 and "int8 QAT" in md
    assert "PTB medium dense <= 82.5 test ppl: " in md and "## Goals" in md
    dense = rows["medium/dense"]
    assert (f"({dense['float_test_ppl_1']:.2f} as 1 stream like TF's tutorial; "
            f"{dense['float_test_ppl']:.2f} as 20 streams)") in md
    assert "| test ppl (1 stream) |" in md and f"| {dense['float_test_ppl_1']:.2f} |" in md
    for line in (g for g in md.splitlines() if g.startswith("* ") and "ppl" in g):
        assert any(w in line for w in (": MET", ": NOT MET", ": NOT RUN")), line

    png = (out / "pareto.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    pixels = np.asarray(Image.open(out / "pareto.png").convert("L"), dtype=float)
    assert pixels.shape[0] > 100 and pixels.std() > 5  # not blank

    # a rerun trains nothing and measures nothing again: same checkpoints, same figures
    ckpts = sorted(out.rglob("last.pt"))
    stamps = [p.stat().st_mtime_ns for p in ckpts]
    train_calls.clear()
    assert study.main(argv) == 0
    assert train_calls == []
    assert [p.stat().st_mtime_ns for p in ckpts] == stamps
    assert _rows(out) == rows

    # a row deployed before the one-stream figure existed gets it, deployed nothing again
    cache = out / "medium" / "dense" / "row.json"
    doc = json.loads(cache.read_text())
    del doc["row"]["float_test_ppl_1"]
    cache.write_text(json.dumps(doc))
    monkeypatch.setattr(study, "_deployed", lambda *a, **k: pytest.fail("deployed again"))
    assert study.main(argv) == 0
    assert train_calls == [] and _rows(out) == rows

    # --report-only rebuilds the report from results.json alone
    (out / "study.md").unlink()
    (out / "pareto.png").unlink()
    assert study.main(["--out", str(out), "--report-only"]) == 0
    assert (out / "study.md").read_text() == md and (out / "pareto.png").is_file()


def test_max_minutes_stops_after_an_epoch_and_resume_finishes(study, corpus, tmp_path,
                                                              train_calls) -> None:
    out = tmp_path / "stretch"
    argv = ["--data", str(corpus), "--out", str(out), "--models", "small", "--configs",
            "dense,iss_0.0075", *TINY, "--epochs", "2"]
    assert study.main([*argv, "--max-minutes", "0"]) == 0
    run = out / "small" / "dense" / "train"
    rows = _rows(out)
    assert rows["small/dense"]["status"] == "unfinished" and rows["small/dense"]["epochs"] == 1
    assert rows["small/iss_0.0075"]["status"] == "not run"
    assert (run / "state.pt").is_file()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    md = (out / "study.md").read_text()
    assert "unfinished 1/2" in md and "NOT RUN" in md
    assert train_calls == [run]

    # without --resume an unfinished run is left alone (and said so)
    train_calls.clear()
    assert study.main(argv) == 0
    assert _rows(out)["small/dense"]["status"] == "unfinished"
    assert run not in train_calls and "--resume" in _rows(out)["small/dense"]["note"]

    assert study.main([*argv, "--resume"]) == 0
    rows = _rows(out)
    assert rows["small/dense"]["status"] == "done" and rows["small/dense"]["epochs"] == 2
    assert rows["small/iss_0.0075"]["status"] == "done"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert "unfinished" not in (out / "study.md").read_text()


def test_study_configs_stage_epochs(study) -> None:
    """The fine-tuning stages keep their own epochs unless --epochs sets every run's (smoke);
    the runs trained from scratch take theirs from MODELS."""

    def configs(epochs):
        return study.study_configs(argparse.Namespace(
            small_lambdas="0.0075", medium_lambdas="0.004,0.006", shs_base=0.0075, epochs=epochs))

    full = configs(None)
    assert sorted(full["medium"]) == ["dense", "iss_0.004", "iss_0.004_ft", "iss_0.006",
                                      "iss_0.006_ft"]
    assert full["medium"]["iss_0.006_ft"] == {**study.FINETUNE_STAGE, "start": "iss_0.006"}
    assert full["small"]["iss_shs_strong_decay"]["epochs"] == 6
    assert "epochs" not in full["medium"]["dense"]
    smoke = configs(1)
    assert {c["epochs"] for r in smoke.values() for c in r.values() if "start" in c} == {1}
    assert study.FINETUNE_STAGE["epochs"] == 6  # the module's settings are not changed


def test_other_settings_in_the_same_out_are_refused(study, corpus, tmp_path) -> None:
    out = tmp_path / "s"
    argv = ["--data", str(corpus), "--out", str(out), "--models", "small", "--configs", "dense",
            *TINY]
    assert study.main([*argv, "--max-minutes", "0", "--epochs", "2"]) == 0
    with pytest.raises(SystemExit, match="other settings: hidden"):
        study.main([*argv, "--hidden", "9", "--resume"])
    # a float32 run (its config.json has no precision key) is not continued in bf16
    with pytest.raises(SystemExit, match=r"other settings: precision 'fp32' \(now 'bf16'\)"):
        study.main([*argv, "--precision", "bf16", "--resume"])


def test_bf16_runs_are_labelled(study, corpus, tmp_path) -> None:
    out = tmp_path / "b"
    argv = ["--data", str(corpus), "--out", str(out), "--models", "small", "--configs", "dense",
            *TINY, "--precision", "bf16", "--max-minutes", "0", "--epochs", "2"]
    assert study.main(argv) == 0
    stored = json.loads((out / "small" / "dense" / "train" / "config.json").read_text())
    assert stored["train"]["precision"] == "bf16"
    assert _rows(out)["small/dense"]["precision"] == "bf16"
    assert "| small | dense (bf16) | - | unfinished 1/2 |" in (out / "study.md").read_text()


def test_a_qat_run_of_other_settings_is_not_reused(study, corpus, tmp_path) -> None:
    out = tmp_path / "q"
    argv = ["--data", str(corpus), "--out", str(out), "--models", "small", "--configs", "dense",
            *TINY]
    assert study.main([*argv, "--qat-lr", "0.1"]) == 0
    qat = out / "small" / "dense" / "qat_w8a16"
    # the deployment is re-keyed by the new lr; the finished QAT run must not pass for its result
    with pytest.raises(SystemExit, match=r"QAT run made with other settings: lr 0\.1 \(now 0\.01\)"):
        study.main([*argv, "--qat-lr", "0.01"])
    qat.rename(qat.with_name("qat_old"))
    assert study.main([*argv, "--qat-lr", "0.01"]) == 0
    assert json.loads((qat / "config.json").read_text())["train"]["lr"] == 0.01


def test_report_only_without_results_is_one_line(tmp_path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--report-only", "--out",
                           str(tmp_path / "nothing")], check=False, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "no results yet" in proc.stderr


@pytest.mark.cc
def test_host_c_instructions_per_token(study, corpus, tmp_path) -> None:
    require_tool("valgrind")
    out = tmp_path / "c"
    argv = ["--data", str(corpus), "--out", str(out), "--models", "small", "--configs", "dense",
            *[a for a in TINY if a != "--no-host-c"], "--host-tokens", "20"]
    assert study.main(argv) == 0
    for kind in ("int16", "int8", "int8 QAT"):
        d = _rows(out)["small/dense"]["deploy"][kind]
        assert d["host_insns_per_token"] > d["total_macs_executed"] > 0, d.get("host")


def test_parallel_invocations_merge_their_rows(corpus, tmp_path) -> None:
    """One process per run (the CPU recipe): both rows end in results.json."""
    out = tmp_path / "p"
    procs = [subprocess.Popen([sys.executable, str(SCRIPT), "--data", str(corpus), "--out",
                               str(out), "--models", "small", "--configs", name, *TINY,
                               "--max-minutes", "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for name in ("dense", "iss_0.0075")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    rows = _rows(out)
    assert rows["small/dense"]["status"] == rows["small/iss_0.0075"]["status"] == "trained"
