"""Lever reductions with intervals (``planner levers --uncertainty N``, issue 14).

Every draw of the coefficient errors (:mod:`planner.results.uncertainty`, the instance's
``robustness`` seed and error model; draws keyed by pair names, so a pair has the same error in
every lever variant) re-solves the baseline, each lever alone and all levers together on the
lever engine's union LPs (a fresh standard form per draw and parameter variant, subsets by
column masks as in :mod:`planner.levers`). Each lever's reduction (baseline / lever alone) and
the combined one (baseline / all levers) are reported as their nominal value, median and
P10-P90 over the draws.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pandas as pd

from formulations.form import build
from planner.errors import InputError
from planner.solve.highs import HighsModel
from planner.problem.instance import instance_from_mapping
from planner.levers import LeverEngine
from planner.results.uncertainty import check_samples, error_model, perturbed, sample_multipliers


def lever_uncertainty(data: dict, file: str, draws: int,
                      progress: Callable[[int], None] | None = None,
                      total: Callable[[int], None] | None = None
                      ) -> tuple[pd.DataFrame, dict]:
    """Per lever (and 'all levers'): nominal reduction, median and P10-P90 over the draws."""
    t0 = time.perf_counter()
    check_samples(draws, "--uncertainty", file)
    if not data.get("levers"):
        raise InputError("the instance has no 'levers' section", file=file, field="levers")
    instance, _ = instance_from_mapping(data, file)
    r = instance.robustness
    engine = LeverEngine(data, file, instance.levers)
    n = engine.n
    full = (1 << n) - 1
    masks = [0] + [1 << i for i in range(n)] + [full]
    names = ["(baseline)"] + [g.name for g in engine.groups] + ["all levers"]
    nominal = np.array([engine.solve(m).gwh_per_day for m in masks])
    values = np.full((draws, len(masks)), np.nan)
    by_variant: dict[int, list[int]] = {}
    for j, m in enumerate(masks):
        by_variant.setdefault(m & engine.param_bits, []).append(j)
    if total:
        total(draws * len(by_variant))
    exact_pairs = 0
    for key, columns in by_variant.items():
        v = engine._variant(masks[columns[0]])
        c = v.coefficients
        model = error_model(c, r.correlated_share, r.uncertainty_scale)
        exact_pairs += int(model.exact.sum())
        draws_m = sample_multipliers(model, draws, r.seed)
        uppers = {j: engine.column_upper(masks[j], v) for j in columns}
        for k in range(draws):
            lp = HighsModel(build(perturbed(c, draws_m[k])))
            for j in columns:
                lp.set_column_upper(uppers[j])
                result = lp.solve()
                if result.optimal:
                    values[k, j] = result.objective
            if progress:
                progress(1)
    base = values[:, 0]
    rows = []
    for j in range(1, len(masks)):
        red = base / values[:, j]
        ok = np.isfinite(red)
        q = np.quantile(red[ok], [0.1, 0.5, 0.9]) if ok.any() else [np.nan] * 3
        rows.append({"lever": names[j], "reduction": nominal[0] / nominal[j],
                     "reduction_median": q[1], "reduction_p10": q[0], "reduction_p90": q[2],
                     "gwh_per_day_median": float(np.nanmedian(values[:, j])),
                     "draws_solved": int(ok.sum())})
    table = pd.DataFrame(rows)
    summary = {
        "draws": draws, "seed": r.seed, "correlated_share": r.correlated_share,
        "baseline_gwh_per_day": {"nominal": float(nominal[0]),
                                 "median": float(np.nanmedian(base)),
                                 "p10": float(np.nanquantile(base, 0.1)),
                                 "p90": float(np.nanquantile(base, 0.9))},
        "pairs_treated_as_exact": exact_pairs,
        "levers": table.to_dict(orient="records"),
        "seconds": round(time.perf_counter() - t0, 3)}
    return table, summary
