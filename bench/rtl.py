"""The RTL engine: cycles per step, resources, Fmax and throughput (a benchmark, not a test).

A 2x64 LSTM classifier with 16 inputs and 10 outputs (``random_model`` seed 2024, int16
weights, no SHS threshold), at P = 1, 4, 16 MAC lanes:

* **cycles per step**, measured in simulation (Verilator, the fast stream driver: the source
  always valid, the sink always ready), in steady state (the steps of a sequence after its
  first, whose h(-1) = 0, and before its last, which adds the head), for three variants of the
  network: ``dense``; ``h zeros 80%`` (SHS thresholds chosen by :func:`lstmgen.passes.sparsify`
  so that 80% of each layer's h is zero); ``h zeros 100%`` (every h zero: the cost of what
  does not depend on h, plus the padding the schedule then inserts);
* **h-product slots**: issue slots per step whose operand is an entry of h (W_hh.h, the next
  layer's W_ih.h and the head's W.h), counted by the engine's simulation counters: one slot is
  one clock cycle of the MAC lanes;
* **Yosys** LUT / FF / DSP / BRAM for xc7 (``synth_xilinx``; BRAM in RAMB36E1, a RAMB18E1 counting
  one half) and ECP5 (``synth_ecp5``; LUT counts a CCU2C carry cell as two LUT4; BRAM in DP16KD);
* **nextpnr-ecp5** Fmax on an LFE5U-85F (out of context), the steps per second it gives and the
  effective GMAC/s (dense mult-adds of the LSTM stack per second).

Goals (ARCHITECTURE §5, issue 9): dense cycles per step <= 1.1 x mult-adds/P + 20; with 80%
zeros in h the h products take <= 25% of their dense cycles; DSP count = P; weights in BRAM,
not LUTs; Fmax >= 100 MHz on ECP5 at P = 16.

    python bench/rtl.py [--lanes 1 4 16] [--steps 8] [--vectors 2] [--no-pnr] [--out FILE]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import tempfile
import time
from pathlib import Path

import numpy as np

from lstmgen.passes import h_zero_fraction, sparsify, with_thresholds
from lstmgen.targets.rtl import Options
from lstmgen.testing import random_inputs, random_model
from lstmgen.verify import vectors
from lstmgen.verify.rtl import EngineSpec, Simulation, place_and_route, synthesize

SEED = 2024


def bench_model():
    return random_model(SEED, n_in=16, hidden=(64, 64), n_out=10, weight_bits=16, shs=False,
                        name="lstm2x64")


def variants(model, inputs) -> list[tuple[str, object]]:
    top = model.sigmoid.out_fmt.max_code
    return [
        ("dense", model),
        ("h zeros 80%", sparsify(model, inputs, 0.8)),
        ("h zeros 100%", with_thresholds(model, [top] * len(model.layers))),
    ]


def simulate(lanes: int, models, inputs, work: Path) -> list[dict]:
    """One Verilator build holding the three variants at ``lanes``; their stats."""
    specs = [EngineSpec(m, Options(lanes=lanes, prefix=f"v{i}_p{lanes}"))
             for i, (_, m) in enumerate(models)]
    sim = Simulation(specs, "verilator", work / f"sim_p{lanes}")
    sim.build()
    jobs = []
    for i, (_, m) in enumerate(models):
        d = work / f"io_p{lanes}_{i}"
        d.mkdir(parents=True, exist_ok=True)
        vectors.write_inputs(d / "inputs.bin", m, inputs)
        jobs.append({"inputs": d / "inputs.bin", "outputs": d / "outputs.bin",
                     "stats": d / "stats.json", "driver": "fast"})
    stats = sim.run(jobs)
    from lstmgen import golden

    for (name, m), j in zip(models, jobs):
        got = vectors.read_outputs(j["outputs"], m, inputs.shape[0], inputs.shape[1])
        assert np.array_equal(got, golden.run(m, inputs).outputs), f"{name} P={lanes}: mismatch"
    out = []
    for st in stats:
        iv = np.asarray(st["step_intervals"], float)
        steps = st["engine_steps"]
        out.append({
            "cycles": float(iv[:, 1:].mean()),  # steady state: not the first step
            "h_slots": (st["engine_slots_h"] + st["engine_slots_hx"]) / steps,
            "pad_slots": st["engine_slots_pad"] / steps,
        })
    return out


def hardware(lanes: int, model, work: Path, pnr: bool) -> dict:
    res = {}
    for device in ("xc7", "ecp5"):
        s = synthesize(model, Options(lanes=lanes, device=device), work)
        res[device] = s
        if device == "ecp5" and pnr:
            res["pnr"] = place_and_route(Path(s["netlist"]), model.name,
                                         Path(s["netlist"]).parent)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lanes", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--vectors", type=int, default=2)
    ap.add_argument("--no-pnr", action="store_true", help="skip nextpnr (Fmax)")
    ap.add_argument("--jobs", type=int, default=2, help="synthesis runs in parallel")
    ap.add_argument("--out", type=Path, help="also write the table to this file")
    args = ap.parse_args()

    model = bench_model()
    inputs = random_inputs(model, args.vectors, args.steps, seed=1)
    models = variants(model, inputs)
    zeros = [h_zero_fraction(m, inputs) for _, m in models]
    macs = model.macs_per_step()
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="lstmgen-bench-rtl-") as tmp:
        work = Path(tmp)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            hw = {p: pool.submit(hardware, p, model, work / f"hw_p{p}", not args.no_pnr)
                  for p in args.lanes}
            cyc = {p: simulate(p, models, inputs, work) for p in args.lanes}
            hw = {p: f.result() for p, f in hw.items()}

    lines = [
        (f"model {model.name}: 2x64 LSTM classifier, 16 inputs, 10 outputs, int16 weights; "
         f"{macs:,} mult-adds per step (LSTM stack)"),
        (f"h zeros: dense {100 * zeros[0]:.1f}%, sparse {100 * zeros[1]:.1f}%, "
         f"all {100 * zeros[2]:.1f}% (golden, all layers)"),
        "",
        ("| P  | cycles/step dense | MACs/P | ratio | goal <=1.1x+20 | 80% zeros | 100% zeros "
         "| h-product slots dense | 80% zeros | vs dense | goal <=25% |"),
        ("|----|-------------------|--------|-------|----------------|-----------|------------"
         "|-----------------------|-----------|----------|------------|"),
    ]
    for p in args.lanes:
        d, s, z = cyc[p]
        bound = macs / p
        ok1 = d["cycles"] <= 1.1 * bound + 20
        rel = s["h_slots"] / d["h_slots"]
        lines.append(
            f"| {p:<2} | {d['cycles']:>17,.1f} | {bound:>6,.0f} | {d['cycles'] / bound:>5.3f} "
            f"| {'met' if ok1 else 'MISSED':<14} | {s['cycles']:>9,.1f} | {z['cycles']:>10,.1f} "
            f"| {d['h_slots']:>21,.1f} | {s['h_slots']:>9,.1f} | {100 * rel:>7.1f}% "
            f"| {'met' if rel <= 0.25 else 'MISSED':<10} |")
    lines += [
        "",
        ("| P  | xc7 LUT | FF     | DSP48E1 | RAMB36 | ECP5 LUT | FF     | MULT18 | DP16KD "
         "| goal DSP=P, BRAM | Fmax MHz | goal >=100 (P=16) | steps/s dense | 80% zeros "
         "| GMAC/s dense |"),
        ("|----|---------|--------|---------|--------|----------|--------|--------|--------"
         "|------------------|----------|-------------------|---------------|-----------"
         "|--------------|"),
    ]
    for p in args.lanes:
        x, e = hw[p]["xc7"], hw[p]["ecp5"]
        dsp_ok = x["dsp"] == p and e["dsp"] == p and x["bram"] > 0 and e["bram"] > 0
        pnr = hw[p].get("pnr")
        fmax = pnr["fmax_mhz"] if pnr else None
        d, s, _ = cyc[p]
        sps = fmax * 1e6 / d["cycles"] if fmax else None
        sps80 = fmax * 1e6 / s["cycles"] if fmax else None
        goal_f = "-" if p != 16 else ("met" if fmax and fmax >= 100 else "MISSED")
        lines.append(
            f"| {p:<2} | {x['lut']:>7,} | {x['ff']:>6,} | {x['dsp']:>7} | {x['bram']:>6g} "
            f"| {e['lut']:>8,} | {e['ff']:>6,} | {e['dsp']:>6} | {e['bram']:>6} "
            f"| {'met' if dsp_ok else 'MISSED':<16} | "
            + (f"{fmax:>8.1f} | {goal_f:<17} | {sps:>13,.0f} | {sps80:>9,.0f} "
               f"| {sps * macs / 1e9:>12.3f} |" if fmax else
               f"{'-':>8} | {goal_f:<17} | {'-':>13} | {'-':>9} | {'-':>12} |"))
    lines += ["", (f"(simulation: {args.vectors} sequences x {args.steps} steps per variant; "
                   f"{time.time() - t0:.0f} s in all)")]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
