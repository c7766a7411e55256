"""Usable utilisation on a solved plan's own pools (issue 22: the fixed point on the plan's
replica counts).

The candidates give each (class, deployment) pair the usable utilisation of the class alone on
a pool sized in whole replicas at its peak hour (``planner.problem.candidates``). A plan may
split a class over several deployments (sites, hardware), each pool then smaller than the
class alone would get and waiting longer; or put several classes on one deployment, whose
shared pool is larger and waits less. Here, per pair the plan uses, the same queueing model
(``planner.perf.queueing.usable_utilization``, whole replicas: n = ceil(a / (B rho))) is
applied to the deployment's pool as planned: the busy slots a_d = sum over its flows of
lambda_p E[S_p] at the deployment's peak hour, which for pair p is a Poisson stream of rate
a_d / E[S_p] of p's own requests (p's service-time and prefill moments, its SLO percentile).
``planner.pipeline`` re-solves with these until they stop changing (bounded iterations).
"""

from __future__ import annotations

import numpy as np

from formulations.coefficients import Coefficients

MAX_ITERATIONS = 40  # re-solves on the plan's pools at most
TOLERANCE = 1e-3  # a usable utilisation that moves less than this counts as unchanged


def plan_usable_utilization(instance, c: Coefficients, x: np.ndarray) -> np.ndarray:
    """Per pair: the usable utilisation on the plan's pools where the plan routes flow to the
    pair's deployment (x: queries/day per pair), else the candidates' (class alone)."""
    from planner.perf.queueing import service_moments, usable_utilization
    from planner.problem.candidates import pair_bucket_numbers

    usable = c.pairs["usable_utilization"].to_numpy(float).copy()
    ceiling = instance.options.utilization_ceiling
    used = x > 1e-9 * np.maximum(c.demand[c.pair_class], 1.0)
    columns = [k for k in ("model", "precision", "hardware", "num_gpus", "max_concurrency",
                           "speculative", "disaggregated", "engine") if k in c.deployments]
    measured = (c.deployments["coefficient_source"].to_numpy(object) == "measured"
                if "coefficient_source" in c.deployments else np.zeros(c.n_deployments, bool))
    # issue 13: a measured profile keeps its own operating point
    modelled = np.flatnonzero(used & ~measured[c.pair_dep])
    # Every modelled pair's bucket numbers in one evaluation, grouped by deployment (a stable
    # sort: each deployment's pairs in pair order).
    modelled = modelled[np.argsort(c.pair_dep[modelled], kind="stable")]
    all_numbers = pair_bucket_numbers(
        instance, c.deployments.iloc[c.pair_dep[modelled]][columns].reset_index(drop=True),
        c.pair_class[modelled]) if modelled.size else []
    deps, first = np.unique(c.pair_dep[modelled], return_index=True)
    bounds = np.append(first, modelled.size)
    # Issue 26: the pairs' queueing in one vectorised call per (percentile, bucket weights,
    # SLO or none) group rather than one call per pair (the same rows, each on its own pool:
    # the queueing is elementwise per row).
    groups: dict[tuple, list] = {}
    for k in range(deps.size):
        pairs = modelled[bounds[k]:bounds[k + 1]]
        numbers = all_numbers[bounds[k]:bounds[k + 1]]
        moments = [service_moments(m["t0_s"], m["decode_s"], m["prefill_s"], m["weight"])
                   for m in numbers]
        hourly = x[pairs, None] / 86400.0 * c.profile[c.pair_class[pairs]]  # pairs x 24
        peak = int(np.argmax(hourly.sum(axis=0)))
        mean_s = np.array([float(m["mean_s"][0]) for m in moments])
        busy_slots = float(hourly[:, peak] @ mean_s)
        for p, m, numbers_p, s in zip(pairs, moments, numbers, mean_s):
            cls = instance.classes[int(c.pair_class[p])]
            slots = np.maximum(np.nansum(numbers_p["batch"] * numbers_p["weight"], axis=1), 1.0)
            slo = cls.slo.ttft_ms / 1e3 if cls.slo.ttft_ms else None
            q = cls.slo.percentile / 100
            key = (q, numbers_p["weight"].tobytes(), slo is None)
            groups.setdefault(key, []).append((p, slo, busy_slots / s, numbers_p, slots, m))
    for (q, _, no_slo), rows in groups.items():
        weight = rows[0][3]["weight"]
        stack = lambda f: np.concatenate([f(r) for r in rows])  # noqa: E731
        u, _ = usable_utilization(
            q, None if no_slo else np.array([r[1] for r in rows]), ceiling,
            np.array([r[2] for r in rows]), stack(lambda r: r[3]["t0_s"]), weight,
            stack(lambda r: r[4]), {k: stack(lambda r: r[5][k]) for k in rows[0][5]},
            replay=False)
        usable[[r[0] for r in rows]] = u
    return usable


def with_usable_utilization(c: Coefficients, usable: np.ndarray) -> Coefficients:
    """The coefficients with each pair's capacity node-seconds at ``usable`` (busy x ceiling /
    usable, as the candidates set them); a pair with no usable utilisation (NaN: it misses its
    SLO on the plan's pool even at the lowest utilisation) keeps the least one, 5 %."""
    from dataclasses import replace

    from planner.perf.queueing import MIN_UTILIZATION

    usable = np.where(np.isfinite(usable), usable, MIN_UTILIZATION)
    busy = c.pairs["busy_node_seconds"].to_numpy(float)
    node_seconds = np.where(usable > 0, busy * c.utilization_ceiling / usable, c.node_seconds)
    return replace(c, node_seconds=node_seconds,
                   pairs=c.pairs.assign(usable_utilization=usable, node_seconds=node_seconds))
