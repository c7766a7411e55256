"""The planner's exact optimum vs Mélange's slice-factor ILP, on Mélange's example and a larger
profiled case; the cost and the solve time of each, measured in the same run.

Mélange (Griggs et al., arXiv:2404.14527) splits every (input, output) size bucket into
``slice_factor`` equal slices and assigns each slice whole to one GPU type:

    minimize   sum_g cost_g B_g
    subject to sum_g A[s, g] = 1                          every slice s
               sum_s A[s, g] rate_s / tput[g, bucket(s)] <= B_g   every GPU type g
               A binary, B integer >= 0 (A[s, g] = 0 where tput is 0)

It is implemented here (the baseline; Mélange itself is not a dependency) and solved with
HiGHS (scipy.optimize.milp) to a zero gap. The planner's answer is the same problem with each
bucket split continuously (``planner import melange`` then the MILP), the exact optimum that
slice factors only approach.

Cases:
* ``example``: tests/data/melange_example.json (30 req/s, A10G + A100; its per-bucket req/s are
  constructed, see the file's comment).
* ``large``: a constructed profile in Mélange's style: 4 GPU types at the prices Mélange lists
  (L4 0.70, A10G 1.01, A100-80GB 3.67, H100 7.516 $/h), 8 input x 6 output buckets, req/s from a
  simple KV-capacity x step-time model per GPU (stated below: not measurements), a seeded
  long-tailed request-size mix, at 40 and at 300 req/s. The imported instances count energy
  with each GPU at its spec-sheet TDP while serving [assumed], since Mélange gives no power.

Run: ``python scripts/compare_melange.py [--slice-factors 1 2 4 8] [--time-limit 120]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

from planner.importers.melange import melange_instance
from planner.problem.instance import instance_from_mapping
from planner.pipeline import optimize

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tests" / "data" / "melange_example.json"
USD_PER_HOUR = 1e6 / 24  # the plan's million USD/day -> USD/h


def slice_factor_ilp(config: dict, slice_factor: int, time_limit_s: float) -> dict:
    """Mélange's ILP at a slice factor: cost ($/h), GPUs per type, seconds, status."""
    gpus = list(config["gpu_info"])
    dist = np.asarray(config["workload_distribution"], float)
    dist = dist / dist.sum()
    rates = (float(config["total_request_rate"]) * dist).ravel()
    tputs = np.array([np.asarray(config["gpu_info"][g]["tputs"], float).ravel() for g in gpus])
    cost = np.array([float(config["gpu_info"][g]["cost"]) for g in gpus])
    buckets = np.flatnonzero(rates > 0)
    slices = np.repeat(buckets, slice_factor)
    s, g = slices.size, len(gpus)
    n_var = s * g + g  # A[s, g] then B[g]
    c = np.r_[np.zeros(s * g), cost]
    a = lil_matrix((s + g, n_var))
    lo, hi = np.zeros(s + g), np.zeros(s + g)
    upper = np.ones(n_var)
    for i, b in enumerate(slices):
        for j in range(g):
            a[i, i * g + j] = 1.0
            if tputs[j, b] <= 0:
                upper[i * g + j] = 0.0
            else:
                a[s + j, i * g + j] = rates[b] / slice_factor / tputs[j, b]
        lo[i] = hi[i] = 1.0
    for j in range(g):
        a[s + j, s * g + j] = -1.0
        lo[s + j], hi[s + j] = -np.inf, 0.0
    upper[s * g:] = np.inf
    t0 = time.perf_counter()
    res = milp(c, constraints=LinearConstraint(a.tocsr(), lo, hi),
               integrality=np.ones(n_var), bounds=Bounds(np.zeros(n_var), upper),
               options={"time_limit": time_limit_s, "mip_rel_gap": 0.0})
    seconds = time.perf_counter() - t0
    if res.x is None:
        return {"cost_usd_h": np.nan, "gpus": {}, "seconds": seconds, "status": res.message}
    counts = np.rint(res.x[s * g:])
    status = "optimal" if res.status == 0 else f"time limit (gap {res.mip_gap:.1%})"
    return {"cost_usd_h": float(counts @ cost), "seconds": seconds, "status": status,
            "gpus": {gpu: int(k) for gpu, k in zip(gpus, counts) if k}}


def planner_exact(config: dict, name: str) -> dict:
    """The planner's MILP on the imported instance (exact split); pipeline and solve time."""
    t0 = time.perf_counter()
    data = melange_instance(config, f"{name}.json")
    instance, digest = instance_from_mapping(data, name)
    plan = optimize(instance, digest, "milp")
    seconds = time.perf_counter() - t0
    gpus = {h.replace("melange-", ""): int(round(k)) for h, k in
            plan.deployments.groupby("hardware")["gpus"].sum().items() if k > 0.5}
    return {"cost_usd_h": plan.summary["objective_value"] * USD_PER_HOUR, "gpus": gpus,
            "seconds": seconds, "solve_seconds": plan.summary["timings_s"]["solve"],
            "status": plan.summary["status"]}


def large_case(rate: float = 40.0, seed: int = 0) -> dict:
    """A constructed Mélange-style profile (not measurements): req/s per GPU per bucket from
    KV capacity (tokens) and a decode step time, with prefill at a per-token cost."""
    inputs = np.array([5, 50, 158, 354, 707, 1414, 2828, 5657], float)  # bucket midpoints
    outputs = np.array([5, 50, 158, 354, 707, 1414], float)
    spec = {  # price $/h, KV tokens, decode step s at batch 1, prefill s/token [constructed]
        "L4": (0.70, 40e3, 0.030, 2.0e-4),
        "A10G": (1.01, 45e3, 0.025, 1.6e-4),
        "A100-80GB": (3.67, 450e3, 0.012, 4.0e-5),
        "H100": (7.516, 450e3, 0.007, 1.6e-5),
    }
    gpu_info = {}
    for name, (price, kv, step, prefill) in spec.items():
        batch = np.minimum(128.0, kv / (inputs[:, None] + outputs[None, :]))
        step_b = step * (1 + batch / 64)  # the step slows as the batch grows
        seconds = outputs[None, :] * step_b + batch * inputs[:, None] * prefill
        tput = np.where(batch >= 1, batch / seconds, 0.0)
        gpu_info[name] = {"cost": price, "tputs": np.round(tput, 3).tolist()}
    rng = np.random.default_rng(seed)
    weights = np.exp(-0.45 * np.arange(inputs.size))[:, None] * np.exp(
        -0.6 * np.arange(outputs.size))[None, :] * rng.uniform(0.5, 1.5, (inputs.size,
                                                                          outputs.size))
    return {"gpu_info": gpu_info, "workload_distribution": (weights / weights.sum()).tolist(),
            "total_request_rate": rate, "input_lengths": inputs.tolist(),
            "output_lengths": outputs.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slice-factors", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--time-limit", type=float, default=120.0,
                        help="Per slice-factor ILP solve, seconds")
    parser.add_argument("--out", type=Path, default=None, help="Also write the table as CSV")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # energy at TDP is stated once in the docstring
    cases = {"example": json.loads(EXAMPLE.read_text()), "large-40": large_case(40.0),
             "large-300": large_case(300.0)}
    rows = []
    for case, config in cases.items():
        exact = planner_exact(config, f"melange-{case}")
        rows.append({"case": case, "method": "planner (exact split)", **exact})
        for k in args.slice_factors:
            r = slice_factor_ilp(config, k, args.time_limit)
            rows.append({"case": case, "method": f"Mélange ILP, slice factor {k}", **r})
    table = pd.DataFrame(rows)
    exact_cost = table[table["method"].str.startswith("planner")].set_index("case")["cost_usd_h"]
    table["above_exact_pct"] = 100 * (table["cost_usd_h"] / table["case"].map(exact_cost) - 1)
    table["gpus"] = table["gpus"].map(lambda d: ", ".join(f"{v} {k}" for k, v in d.items()))
    with pd.option_context("display.width", 160, "display.max_colwidth", 60):
        print(table[["case", "method", "cost_usd_h", "above_exact_pct", "gpus", "seconds",
                     "status"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
