"""The TTFT percentile of the pairs whose candidates left it deferred (issue 26).

Most (class, deployment) pairs meet their TTFT SLO at the utilisation ceiling, and for those
the candidates need only that fact, which one tail evaluation proves
(``planner.perf.queueing.meets_slo``); the percentile itself (the pair table's ``ttft_ms``,
about ten tail evaluations per pair) is read only for the pairs a plan serves (its tables) and
for the deployments :meth:`Coefficients.distinct` compares number by number. With
``build_coefficients(..., defer_ttft=True)`` the candidates leave it NaN on the proven pairs;
:func:`fill_deferred_ttft` computes it on the pairs asked for: the percentile at the ceiling,
with the class alone on a pool in whole replicas at its peak hour, as the candidates would
have (``usable_utilization`` at the ceiling, no SLO: the same function on the same inputs, the
bucket numbers by ``pair_bucket_numbers``, the performance model's elementwise arithmetic).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from formulations.coefficients import Coefficients

# the deployment fields the performance model reads (as ``planner.problem.pooling``)
MODEL_COLUMNS = ("model", "precision", "hardware", "num_gpus", "max_concurrency",
                 "speculative", "disaggregated", "engine")


def deferred_rows(c: Coefficients, rows: np.ndarray | None = None) -> np.ndarray:
    """The pairs (of ``rows``, or all) whose TTFT percentile is deferred (NaN)."""
    ttft = c.pairs["ttft_ms"].to_numpy(float)
    rows = np.arange(ttft.size) if rows is None else np.asarray(rows, dtype=np.int64)
    return rows[np.isnan(ttft[rows])]


def fill_deferred_ttft(instance, c: Coefficients, rows: np.ndarray | None = None
                       ) -> Coefficients:
    """``c`` with the deferred TTFT percentiles of ``rows`` (pair indices; None: all) computed
    (ms); unchanged (the same object) where none of them is deferred."""
    from planner.perf.queueing import service_moments, usable_utilization
    from planner.problem.candidates import class_peak_rate, pair_bucket_numbers

    todo = deferred_rows(c, rows)
    if not todo.size:
        return c
    columns = [k for k in MODEL_COLUMNS if k in c.deployments]
    numbers = pair_bucket_numbers(
        instance, c.deployments.iloc[c.pair_dep[todo]][columns].reset_index(drop=True),
        c.pair_class[todo])
    ttft = c.pairs["ttft_ms"].to_numpy(float).copy()
    # one vectorised call per (percentile, bucket weights), as the candidates queue them
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(todo.tolist()):
        q = instance.classes[int(c.pair_class[p])].slo.percentile / 100
        groups.setdefault((q, numbers[i]["weight"].tobytes()), []).append(i)
    for (q, _), members in groups.items():
        own = [numbers[i] for i in members]
        weight = own[0]["weight"]
        t0 = np.concatenate([m["t0_s"] for m in own])
        moments = service_moments(t0, np.concatenate([m["decode_s"] for m in own]),
                                  np.concatenate([m["prefill_s"] for m in own]), weight)
        slots = np.concatenate([np.maximum(np.nansum(m["batch"] * weight, axis=1), 1.0)
                                for m in own])
        rate = np.array([class_peak_rate(instance.classes[int(c.pair_class[todo[i]])],
                                         instance) for i in members])
        _, t = usable_utilization(q, None, instance.options.utilization_ceiling, rate, t0,
                                  weight, slots, moments)
        ttft[todo[members]] = t * 1e3
    return replace(c, pairs=c.pairs.assign(ttft_ms=ttft))
