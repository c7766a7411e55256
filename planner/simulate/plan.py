"""``planner simulate RUN_DIR``: a discrete-event simulation (simpy) of a solved plan.

Every deployment of the plan is a pool of its replicas (whole replicas: the plan's count
rounded up) with the running batch of its classes' mix as slots; each class sends Poisson
arrivals to each deployment it uses at its share of the class's rate, in its length buckets,
with the performance model's unloaded TTFT, prefill work, decode time and TPOT per bucket
(``planner.problem.candidates.bucket_numbers``, the numbers the plan was made with).

- Without ``--requests``: the whole day, hour by hour at each class's diurnal rate, when the
  day has at most ``REQUEST_BUDGET`` requests (otherwise: ask for ``--requests``).
- With ``--requests N``: the peak hour (each class at its largest hourly rate, every pool at
  its planned peak load) for N requests in all, every pool started in its steady state
  (Little's law: rate x mean service of requests already running, at uniform residual times).

Per class: TTFT and TPOT percentiles (P50, P90, P99) over all its requests after a warm-up,
against its SLO at its percentile, beside the plan's prediction (the class-alone pool the
candidates assumed) and the queueing model on the plan's own pools (its replica counts, all the
classes of each deployment: the fixed point's check).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import InputError

log = logging.getLogger(__name__)
REQUEST_BUDGET = 10_000_000
PERCENTILES = (50, 90, 99)


def load_solved_run(path: str | Path) -> tuple[dict, pd.DataFrame, pd.DataFrame, dict]:
    """(summary, assignment, deployments, instance data) of a ``planner solve --out`` folder;
    a missing folder, a run of another kind or format, or an infeasible run is an InputError."""
    from planner.report.runs import load_run

    run = load_run(path)
    if run.kind != "solve":
        raise InputError(f"not a solve run (a {run.kind} run): simulate needs the --out folder "
                         f"of planner solve", file=str(path))
    if not run.feasible:
        raise InputError("the run is infeasible: there is no plan to simulate",
                         file=str(Path(path) / "summary.json"))
    instance_path = Path(path) / "instance.json"
    if not instance_path.is_file():
        raise InputError("a solve run of an older format: no instance.json (re-run planner "
                         "solve --out with this version)", file=str(path))
    try:
        data = json.loads(instance_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"unreadable instance: {exc}", file=str(instance_path)) from None
    for name in ("assignment", "deployments"):
        if run.tables.get(name) is None:
            raise InputError(f"a solve run without its {name} table", file=str(path))
    return run.summary, run.tables["assignment"], run.tables["deployments"], data


def simulate_run(path: str | Path, requests: int | None = None, seed: int = 0) -> dict:
    """Simulate the plan of a solved run; the JSON-ready result."""
    from planner.config.schema.plan import PlanningInstance
    from planner.problem.candidates import bucket_numbers

    summary, assignment, deployments, data = load_solved_run(path)
    try:
        instance = PlanningInstance.model_validate(data)
    except Exception as exc:  # noqa: BLE001 - a schema error of the stored instance
        raise InputError(f"instance.json does not validate: {str(exc).splitlines()[0]}",
                         file=str(Path(path) / "instance.json")) from None
    if requests is not None and not 1 <= requests <= REQUEST_BUDGET:
        raise InputError(f"--requests must be between 1 and {REQUEST_BUDGET:,}",
                         field="--requests", value=requests, has_value=True)
    classes = {c.id: i for i, c in enumerate(instance.classes)}
    profiles = np.ones((len(instance.classes), 24))
    for i, cls in enumerate(instance.classes):
        if cls.diurnal:
            p = np.asarray(cls.diurnal, float)
            profiles[i] = p / p.mean()
    flows = assignment[assignment["queries_per_day"] > 0].copy()
    day_requests = float(flows["queries_per_day"].sum())
    if requests is None and day_requests > REQUEST_BUDGET:
        raise InputError(f"the plan's day has {day_requests:.3g} requests, over the budget of "
                         f"{REQUEST_BUDGET:.0e}: pass --requests N to simulate its peak hour with "
                         f"N requests", field="--requests")
    mode = "day" if requests is None else "peak-hour"
    deps = deployments.set_index("deployment")
    columns = ["model", "precision", "hardware", "gpus_per_replica", "max_concurrency",
               "speculative", "disaggregated", "engine"]
    # Numbers per (class, deployment) flow, from the model the plan was made with.
    streams = []
    for (cls_id, dep_id), flow in flows.groupby(["class", "deployment"]):
        ci = classes[cls_id]
        row = deps.loc[[dep_id], [c for c in columns if c in deps.columns]].rename(
            columns={"gpus_per_replica": "num_gpus"}).reset_index(drop=True)
        numbers = bucket_numbers(instance, row, ci)
        streams.append({"class": cls_id, "ci": ci, "deployment": dep_id,
                        "queries_per_day": float(flow["queries_per_day"].sum()),
                        **{k: (v[0] if getattr(v, "ndim", 0) >= 2 else v)
                           for k, v in numbers.items()}})
    peak_hour = int(np.argmax(sum(profiles[s["ci"]] * s["queries_per_day"] for s in streams)))
    total_rate = sum(s["queries_per_day"] / 86400 * profiles[s["ci"], peak_hour]
                     for s in streams)
    samples = {c.id: {"ttft": [], "tpot": []} for c in instance.classes}
    at_plan: dict[str, float] = {}
    pools = []
    for dep_id, members in _by_deployment(streams).items():
        replicas = max(int(math.ceil(float(deps.loc[dep_id, "replicas"]) - 1e-6)), 1)
        slots = max(int(min(np.floor(np.sum(s["batch"] * s["weight"])) for s in members)), 1)
        if mode == "day":
            schedule = [profiles[s["ci"]] * s["queries_per_day"] / 86400 for s in members]
            n_requests = None
        else:
            schedule = [np.full(1, s["queries_per_day"] / 86400 * profiles[s["ci"], peak_hour])
                        for s in members]
            dep_rate = sum(float(r[0]) for r in schedule)
            n_requests = max(int(round(requests * dep_rate / total_rate)), 100)
        analytic = _analytic_at_plan(members, instance, profiles, peak_hour, replicas, slots)
        for s_, value in zip(members, analytic):
            at_plan[s_["class"]] = max(at_plan.get(s_["class"], 0.0), value)
        result = _simulate_deployment(members, schedule, replicas, slots, n_requests,
                                      seed + len(pools))
        for s, r in zip(members, result):
            samples[s["class"]]["ttft"].append(r["ttft_s"])
            samples[s["class"]]["tpot"].append(r["tpot_s"])
        pools.append({"deployment": dep_id, "replicas": replicas, "slots_per_replica": slots,
                      "requests": int(sum(r["ttft_s"].size for r in result))})
    return {"mode": mode, "peak_hour": peak_hour if mode == "peak-hour" else None,
            "seed": seed, "requests": int(sum(p["requests"] for p in pools)),
            "classes": _class_results(instance, samples, assignment, at_plan),
            "deployments": pools}


def _by_deployment(streams: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for s in streams:
        out.setdefault(s["deployment"], []).append(s)
    return out


def _simulate_deployment(members, schedule, replicas, slots, n_requests, seed):
    """One deployment's pool: arrivals over the day's hours (``n_requests`` None) or at the
    peak rates for ``n_requests`` requests from a steady-state start."""
    from planner.simulate.pool import Stream, simulate_pool

    streams = [Stream(0.0, s["weight"], s["t0_s"], s["prefill_s"], s["decode_s"], s["tpot_s"],
                      s["occupancy"], s["tpot_at_occupancy_s"]) for s in members]
    rates = np.array([r for r in schedule])  # streams x hours
    return simulate_pool(streams, replicas, slots, n_requests, seed=seed, rates=rates,
                         warmup=0.02 if n_requests is None else 0.05,
                         steady_start=n_requests is not None)


def _percentiles(values: np.ndarray) -> dict:
    if values.size == 0:
        return {f"p{p}": None for p in PERCENTILES}
    return {f"p{p}": float(np.percentile(values, p) * 1e3) for p in PERCENTILES}


def _analytic_at_plan(members, instance, profiles, hour, replicas, slots) -> list[float]:
    """Each member class's analytic TTFT (ms) at its SLO percentile on this deployment's pool as
    planned: its whole replicas and slots, all its classes' load at the peak hour (the slot wait
    is shared; each class sees it over its own length buckets)."""
    from planner.perf.queueing import service_moments, ttft_quantile

    rates = np.array([s["queries_per_day"] / 86400 * profiles[s["ci"], hour] for s in members])
    moments = [service_moments(s["t0_s"][None], s["decode_s"][None], s["prefill_s"][None],
                               s["weight"]) for s in members]
    total = rates.sum()
    if total <= 0:
        return [float("nan")] * len(members)
    share = rates / total
    mean_s = float(sum(w * m["mean_s"][0] for w, m in zip(share, moments)))
    second_s = float(sum(w * (1 + m["scv_s"][0]) * m["mean_s"][0] ** 2
                         for w, m in zip(share, moments)))
    pooled = {"mean_s": mean_s, "scv_s": max(second_s / mean_s**2 - 1, 0.0),
              "mean_p": float(sum(w * m["mean_p"][0] for w, m in zip(share, moments))),
              "second_p": float(sum(w * m["second_p"][0] for w, m in zip(share, moments)))}
    rho = total * mean_s / (replicas * slots)
    if rho >= 1:
        return [float("inf")] * len(members)
    return [float(ttft_quantile(instance.classes[s["ci"]].slo.percentile / 100, s["t0_s"][None],
                                s["weight"], rho, replicas, slots, **pooled)[0] * 1e3)
            for s in members]


def _class_results(instance, samples, assignment, at_plan=None) -> list[dict]:
    rows = []
    predicted = assignment.groupby("class")[["ttft_ms", "tpot_ms"]].max()
    for cls in instance.classes:
        ttft = np.concatenate(samples[cls.id]["ttft"]) if samples[cls.id]["ttft"] else np.array([])
        tpot = np.concatenate(samples[cls.id]["tpot"]) if samples[cls.id]["tpot"] else np.array([])
        q = cls.slo.percentile
        at_q = {"ttft_ms": float(np.percentile(ttft, q) * 1e3) if ttft.size else None,
                "tpot_ms": float(np.percentile(tpot, q) * 1e3) if tpot.size else None}
        slo = {"percentile": q, "ttft_ms": cls.slo.ttft_ms, "tpot_ms": cls.slo.tpot_ms}
        misses = {k: at_q[k] - slo[k] for k in ("ttft_ms", "tpot_ms")
                  if slo[k] is not None and at_q[k] is not None and at_q[k] > slo[k]}
        rows.append({"id": cls.id, "requests": int(ttft.size),
                     "ttft_ms": _percentiles(ttft), "tpot_ms": _percentiles(tpot),
                     "at_slo_percentile": at_q,
                     "predicted_at_slo_percentile": {
                         k: (float(predicted.loc[cls.id, k]) if cls.id in predicted.index
                             else None) for k in ("ttft_ms", "tpot_ms")},
                     # The queueing model on the plan's own pools (whole replicas, every
                     # class of each deployment): the analytic twin of the simulated value.
                     "analytic_at_plan_ttft_ms": (at_plan or {}).get(cls.id),
                     "slo": slo, "met": not misses and ttft.size > 0,
                     "miss_ms": misses})
    return rows
