"""Uncertainty of a plan: sampled coefficient errors and the fixed plan's Monte Carlo (issue 14).

Error model. Every eligible (class, deployment) pair carries the performance model's stated
relative uncertainty ``uncertainty_pct`` (a mean absolute percentage error of its tok/s). A
throughput error r (measured / predicted) multiplies the pair's node-seconds per query and its
energy above idle by m = 1/r (power at a given load is taken as exact: the model states no
error for it; ``adjustments.power_scale`` sweeps it). m is lognormal with median 1 (the model is
fit by least squares on log tok/s, so a prediction is a median) and log-sd

    sigma_p = sqrt(pi / 2) * uncertainty_pct / 100 * uncertainty_scale

(for a normal error the mean absolute deviation is sigma * sqrt(2 / pi)). Its log is split into

    log m_p = sigma_p * (sqrt(rho) * z_g(p) + sqrt(1 - rho) * e_p)

with z_g one standard normal per *group* (hardware family x model kind dense/MoE [x engine when
the candidates carry one]: the calibration's systematic error, shared by every pair of the
group) and e_p one per pair (the pair's own scatter around its group). rho =
``correlated_share`` is the share of the log-variance that is common (default 0.5). Draws are
keyed by the group's and the pair's *names* (class id, model, precision, hardware, GPUs, batch,
techniques; not the site: a deployment's throughput error does not depend on where it runs), so
the same pair gets the same draw in every problem it appears in (the nominal and robust plans,
every lever subset, every re-optimised draw). A pair with a zero or missing uncertainty is
treated as exact and listed in the report.

The fixed plan's Monte Carlo holds x (queries/day per pair) and n (nodes per deployment) and
re-computes, per draw and without a re-solve: GWh/day, facility peak MW, the hourly utilisation
of every deployment (above the ceiling: the SLO headroom is gone; above 1: demand cannot be
served) and every capped site's hourly power against its cap. ``gwh_per_day_reprovisioned`` is
the energy once the nodes a draw needs to restore the utilisation ceiling are added.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from formulations.coefficients import HOURS, Coefficients
from planner.config import stable_int
from planner.errors import InputError

log = logging.getLogger(__name__)

MAPE_TO_SIGMA = math.sqrt(math.pi / 2)
GROUP_KEYS = ("family", "model_kind", "engine")
PAIR_KEY_COLUMNS = ("model", "precision", "hardware", "num_gpus", "max_concurrency",
                    "speculative", "disaggregated")
MIN_SAMPLES = 10
TOL = 1e-6


def check_samples(n: int, what: str = "samples", file: str | None = None) -> int:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < MIN_SAMPLES:
        raise InputError(f"needs at least {MIN_SAMPLES} draws", file=file, field=what, value=n,
                         has_value=True)
    return int(n)


def check_level(level: float, what: str = "risk_level", file: str | None = None) -> float:
    if not isinstance(level, (int, float)) or not 0.0 < float(level) < 1.0:
        raise InputError("must lie strictly between 0 and 1", file=file, field=what,
                         value=level, has_value=True)
    return float(level)


@dataclass(frozen=True)
class ErrorModel:
    """Per pair: log-sd of its multiplier, its group, its name; which pairs are exact."""

    sigma: np.ndarray  # P
    group: np.ndarray  # P, index into group_names
    group_names: tuple[str, ...]
    pair_keys: tuple[str, ...]
    exact: np.ndarray  # P bool: stated uncertainty zero or missing
    correlated_share: float
    group_columns: tuple[str, ...]

    def describe(self) -> dict:
        return {
            "distribution": "lognormal multiplier on node-seconds and energy above idle, "
                            "median 1",
            "sigma_log": "sqrt(pi/2) x uncertainty_pct/100 (MAPE -> log-sd)",
            "correlated_share": self.correlated_share,
            "structure": f"one draw per group ({' x '.join(self.group_columns) or 'none'}: "
                         f"{len(self.group_names)} groups) carrying {self.correlated_share:.0%} "
                         f"of the log-variance, one independent draw per (class, deployment) "
                         f"pair carrying {1 - self.correlated_share:.0%}",
            "groups": list(self.group_names)}


def pair_keys(c: Coefficients) -> list[str]:
    d = c.deployments
    cols = [k for k in PAIR_KEY_COLUMNS if k in d]
    dep_key = ["/".join(str(v) for v in row) for row in d[cols].itertuples(index=False)]
    class_ids = c.classes["id"].to_numpy()
    return [f"{class_ids[ci]}|{dep_key[di]}" for ci, di in zip(c.pair_class, c.pair_dep)]


def error_model(c: Coefficients, correlated_share: float = 0.5,
                uncertainty_scale: float = 1.0) -> ErrorModel:
    """The error model of a problem's coefficients (see the module docstring)."""
    if not 0.0 <= correlated_share <= 1.0:
        raise InputError("must lie in [0, 1]", field="correlated_share", value=correlated_share,
                         has_value=True)
    d = c.deployments
    group_columns = tuple(k for k in GROUP_KEYS if k in d)
    if group_columns:
        dep_group = ["/".join(str(v) for v in row)
                     for row in d[list(group_columns)].itertuples(index=False)]
    else:
        dep_group = ["all"] * len(d)
    pair_group = [dep_group[i] for i in c.pair_dep]
    names = tuple(sorted(set(pair_group)))
    index = {g: i for i, g in enumerate(names)}
    if "uncertainty_pct" in c.pairs:
        pct = c.pairs["uncertainty_pct"].to_numpy(float)
    else:
        pct = np.full(c.n_pairs, np.nan)
    exact = ~np.isfinite(pct) | (pct <= 0)
    sigma = np.where(exact, 0.0, MAPE_TO_SIGMA * np.nan_to_num(pct) / 100 * uncertainty_scale)
    return ErrorModel(sigma, np.array([index[g] for g in pair_group], dtype=int), names,
                      tuple(pair_keys(c)), exact, float(correlated_share), group_columns)


def _normals(seed: int, stream: str, key: str, n: int) -> np.ndarray:
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, stable_int(stream), stable_int(key)])
    return np.random.default_rng(ss).standard_normal(n)


def sample_multipliers(model: ErrorModel, n: int, seed: int, stream: str = "evaluate"
                       ) -> np.ndarray:
    """n x P lognormal multipliers; the same (seed, stream, names) give the same draws."""
    rho = model.correlated_share
    z = np.stack([_normals(seed, stream, "group:" + g, n) for g in model.group_names], axis=1) \
        if model.group_names else np.zeros((n, 0))
    e = np.stack([_normals(seed, stream, "pair:" + k, n) for k in model.pair_keys], axis=1) \
        if model.pair_keys else np.zeros((n, 0))
    log_m = model.sigma[None, :] * (math.sqrt(rho) * z[:, model.group] + math.sqrt(1 - rho) * e)
    return np.exp(log_m)


def quantile_multiplier(model: ErrorModel, level: float) -> np.ndarray:
    """Per pair: the level-quantile of its multiplier (exp(z_level sigma))."""
    from scipy.stats import norm

    return np.exp(norm.ppf(level) * model.sigma)


def perturbed(c: Coefficients, m: np.ndarray) -> Coefficients:
    """The problem with one draw's coefficients (node-seconds and energy above idle x m)."""
    from dataclasses import replace

    return replace(c, node_seconds=c.node_seconds * m, dynamic_kwh=c.dynamic_kwh * m)


def _hour_matrix(c: Coefficients, pairs: np.ndarray, weights: np.ndarray, rows: np.ndarray,
                 n_rows: int) -> sp.csr_matrix:
    """len(pairs) x (n_rows * 24): weight_p * load_{p,h} into column row_p * 24 + h."""
    load = c.profile[c.pair_class[pairs]] / HOURS
    cols = rows[:, None] * HOURS + np.arange(HOURS)[None, :]
    vals = weights[:, None] * load
    return sp.csr_matrix((vals.ravel(), (np.repeat(np.arange(pairs.size), HOURS), cols.ravel())),
                         shape=(pairs.size, n_rows * HOURS))


@dataclass
class FixedPlanMC:
    """Per-draw outcomes of a fixed plan."""

    gwh_per_day: np.ndarray  # N
    gwh_per_day_reprovisioned: np.ndarray  # N
    peak_mw: np.ndarray  # N, facility peak over all sites
    max_utilization: np.ndarray  # N, worst deployment-hour busy fraction
    cap_exceeded: np.ndarray  # N bool, any capped site over its cap in any hour
    extra_nodes: np.ndarray  # N, nodes needed to restore the utilisation ceiling
    dep_gwh: np.ndarray  # N x D, energy per deployment
    point_gwh: float
    point_peak_mw: float
    seconds: float
    utilization_ceiling: float
    extra: dict = field(default_factory=dict)


def evaluate_fixed_plan(c: Coefficients, x: np.ndarray, n: np.ndarray, m: np.ndarray
                        ) -> FixedPlanMC:
    """Vectorised: the plan (x queries/day, n nodes) under each row of m (N x P multipliers).
    Only the pairs the plan routes queries to and the deployments it uses enter the products."""
    t0 = time.perf_counter()
    draws = len(m)
    per_query, per_node = c.energy_weights()
    live = np.flatnonzero(x > 0)
    ml = m[:, live]
    idle = per_node * n  # D
    dyn_dep = np.zeros((draws, c.n_deployments))
    np.add.at(dyn_dep.T, c.pair_dep[live], (ml * (x * per_query)[live][None, :]).T)
    dep_gwh = dyn_dep + idle[None, :]
    gwh = dep_gwh.sum(axis=1)
    # Capacity: busy node-seconds per used deployment-hour; utilisation against n.
    used = np.flatnonzero((n > 1e-9) | (np.bincount(c.pair_dep[live], minlength=c.n_deployments)
                                        > 0))
    remap = np.full(c.n_deployments, -1)
    remap[used] = np.arange(used.size)
    busy = ml * (x * c.node_seconds)[live][None, :] @ _hour_matrix(
        c, live, np.ones(live.size), remap[c.pair_dep[live]], used.size)
    busy = np.asarray(busy).reshape(draws, used.size, HOURS)
    nu = n[used]
    need = busy.max(axis=2) / c.busy_seconds_per_node_hour  # N x U nodes
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(nu[None, :, None] > 1e-9, busy / (nu[None, :, None] * 3600),
                        np.where(busy > 0, np.inf, 0.0))
    max_util = util.reshape(draws, -1).max(axis=1) if used.size else np.zeros(draws)
    extra_nodes = np.maximum(need - nu[None, :], 0.0)
    reprov = gwh + extra_nodes @ per_node[used]
    # Facility power per site-hour (PUE, no overhead factor, as the cap rows).
    n_sites = len(c.site_ids)
    pue_pair = c.site_pue[c.dep_site[c.pair_dep[live]]]
    dyn_kw = ml * x[live][None, :] @ _hour_matrix(
        c, live, c.dynamic_kwh[live] * pue_pair, c.dep_site[c.pair_dep[live]], n_sites)
    idle_kw = np.bincount(c.dep_site, weights=n * c.dep_idle_kw * c.site_pue[c.dep_site],
                          minlength=n_sites)
    power = np.asarray(dyn_kw).reshape(draws, n_sites, HOURS) + idle_kw[None, :, None]
    peak = power.sum(axis=1).max(axis=1) / 1e3
    capped = np.isfinite(c.site_cap_kw)
    cap_exceeded = (power[:, capped, :] > c.site_cap_kw[capped][None, :, None] * (1 + TOL)
                    ).reshape(draws, -1).any(axis=1)
    point = evaluate_point(c, x, n)
    return FixedPlanMC(gwh, reprov, peak, max_util, cap_exceeded, extra_nodes.sum(axis=1),
                       dep_gwh, point[0], point[1], time.perf_counter() - t0,
                       c.utilization_ceiling)


def evaluate_point(c: Coefficients, x: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """GWh/day and facility peak MW of a plan at the nominal coefficients."""
    mc = evaluate_fixed_plan_power(c, x, n)
    per_query, per_node = c.energy_weights()
    return float(per_query @ x + per_node @ n), mc


def evaluate_fixed_plan_power(c: Coefficients, x: np.ndarray, n: np.ndarray) -> float:
    """Facility peak MW of a plan at the nominal coefficients."""
    n_sites = len(c.site_ids)
    pairs = np.arange(c.n_pairs)
    pue_pair = c.site_pue[c.dep_site[c.pair_dep]]
    dyn_kw = x @ _hour_matrix(c, pairs, c.dynamic_kwh * pue_pair, c.dep_site[c.pair_dep],
                              n_sites)
    idle_kw = np.bincount(c.dep_site, weights=n * c.dep_idle_kw * c.site_pue[c.dep_site],
                          minlength=n_sites)
    power = np.asarray(dyn_kw).reshape(n_sites, HOURS) + idle_kw[:, None]
    return float(power.sum(axis=0).max() / 1e3)


def quantiles(values: np.ndarray) -> dict:
    v = np.asarray(values, float)
    p10, p50, p90 = np.quantile(v, [0.1, 0.5, 0.9])
    return {"median": float(p50), "p10": float(p10), "p90": float(p90), "mean": float(v.mean())}


def cvar(values: np.ndarray, level: float) -> float:
    """Mean of the worst (1 - level) share of the draws (Rockafellar-Uryasev at the sample)."""
    v = np.sort(np.asarray(values, float))
    var = np.quantile(v, level)
    return float(var + np.mean(np.maximum(v - var, 0)) / (1 - level))


def mc_summary(mc: FixedPlanMC, risk_level: float = 0.9) -> dict:
    return {
        "draws": int(mc.gwh_per_day.size),
        "point_gwh_per_day": mc.point_gwh,
        "gwh_per_day": quantiles(mc.gwh_per_day),
        f"cvar{int(round(risk_level * 100))}_gwh_per_day": cvar(mc.gwh_per_day, risk_level),
        "gwh_per_day_reprovisioned": quantiles(mc.gwh_per_day_reprovisioned),
        "point_peak_mw": mc.point_peak_mw,
        "peak_mw": quantiles(mc.peak_mw),
        "p_cap_exceeded": float(mc.cap_exceeded.mean()),
        "p_utilization_above_ceiling": float(
            (mc.max_utilization > mc.utilization_ceiling * (1 + TOL)).mean()),
        "p_capacity_shortfall": float((mc.max_utilization > 1 + TOL).mean()),
        "extra_nodes": quantiles(mc.extra_nodes),
        "seconds": round(mc.seconds, 4)}


def source_of(c: Coefficients) -> np.ndarray:
    """Per deployment: 'benchmarked' when the benchmark tables hold its model x hardware x
    precision (the coefficient is the calibrated model on a combination it was fit on),
    'modelled' when its hardware family is calibrated, 'extrapolated' when it is not (spec-sheet
    only). ('measured' is kept for a user's measured profile replacing the prediction.)"""
    d = c.deployments
    calibrated = d["calibrated"].to_numpy(bool) if "calibrated" in d else np.zeros(len(d), bool)
    out = np.where(calibrated, "modelled", "extrapolated").astype(object)
    combos = _measured_combinations()
    for i, (mod, hw, pr) in enumerate(zip(d["model"], d["hardware"], d["precision"])):
        if (mod, hw, pr) in combos:
            out[i] = "benchmarked"
    if "coefficient_source" in d:  # issue 13: the instance's own measurements decide
        own = d["coefficient_source"].to_numpy(object)
        out = np.where(own == "modelled", out, own).astype(object)
    return out


_MEASURED: set | None = None


def _measured_combinations() -> set:
    global _MEASURED
    if _MEASURED is None:
        try:
            from planner.catalog.loaders import load_catalog
            from planner.perf.calibrate import load_throughput_rows

            catalog = load_catalog()
            rows = load_throughput_rows()[["model", "hardware", "precision"]].drop_duplicates()
            combos = set()
            for mod, hw, pr in rows.itertuples(index=False):
                try:
                    combos.add((catalog.model_id(mod), catalog.hardware_id(hw),
                                catalog.precision_id(pr)))
                except InputError:
                    continue
            _MEASURED = combos
        except Exception as exc:  # the benchmark table is optional for this label
            log.warning("measured combinations unavailable: %s", exc)
            _MEASURED = set()
    return _MEASURED


def deployment_table(c: Coefficients, x: np.ndarray, n: np.ndarray, mc: FixedPlanMC,
                     model: ErrorModel) -> pd.DataFrame:
    """Per used deployment: coefficient source, stated uncertainty, nominal and P10-P90 energy,
    and its share of the plan's energy variance (Euler: Cov(E_d, E) / Var(E), sums to 1)."""
    from planner.results.plan import deployment_labels

    labels = np.array(deployment_labels(c))
    used = (n > 1e-6) | (np.bincount(c.pair_dep, weights=x, minlength=c.n_deployments) > 0)
    per_query, per_node = c.energy_weights()
    dyn = np.bincount(c.pair_dep, weights=x * per_query, minlength=c.n_deployments)
    w = np.bincount(c.pair_dep, weights=x * c.dynamic_kwh, minlength=c.n_deployments)
    pct = c.pairs["uncertainty_pct"].to_numpy(float) if "uncertainty_pct" in c.pairs else \
        np.full(c.n_pairs, np.nan)
    exact_w = np.bincount(c.pair_dep, weights=x * c.dynamic_kwh * model.exact,
                          minlength=c.n_deployments)
    unc = np.divide(np.bincount(c.pair_dep, weights=x * c.dynamic_kwh * np.nan_to_num(pct),
                                minlength=c.n_deployments), w, out=np.full(c.n_deployments,
                                                                           np.nan), where=w > 0)
    total = mc.gwh_per_day - mc.gwh_per_day.mean()
    var = float(total @ total)
    cov = (mc.dep_gwh - mc.dep_gwh.mean(axis=0)).T @ total
    share = cov / var if var > 0 else np.zeros(c.n_deployments)
    groups = np.array(model.group_names, dtype=object)
    dep_group = np.full(c.n_deployments, "", dtype=object)
    dep_group[c.pair_dep] = groups[model.group]
    src = source_of(c)
    q10, q90 = np.quantile(mc.dep_gwh, [0.1, 0.9], axis=0)
    table = pd.DataFrame({
        "deployment": labels, "source": src, "error_group": dep_group,
        "uncertainty_pct": unc, "treated_as_exact": (exact_w >= w - 1e-15) & (w > 0),
        "nodes": n, "gwh_per_day": dyn + per_node * n, "gwh_p10": q10, "gwh_p90": q90,
        "variance_share": share})
    return table[used].sort_values("variance_share", ascending=False).reset_index(drop=True)


def exact_pairs(c: Coefficients, model: ErrorModel, x: np.ndarray | None = None) -> list[str]:
    """Pairs (class|deployment) with a zero or missing uncertainty, treated as exact (the ones
    the plan uses when ``x`` is given)."""
    from planner.results.plan import deployment_labels

    labels = np.array(deployment_labels(c))
    keep = model.exact if x is None else model.exact & (x > 0)
    class_ids = c.classes["id"].to_numpy()
    return [f"{class_ids[c.pair_class[p]]}|{labels[c.pair_dep[p]]}" for p in np.flatnonzero(keep)]


def plan_uncertainty(c: Coefficients, x: np.ndarray, n: np.ndarray, samples: int, seed: int,
                     correlated_share: float = 0.5, uncertainty_scale: float = 1.0,
                     risk_level: float = 0.9) -> tuple[dict, pd.DataFrame, FixedPlanMC]:
    """Fixed-plan Monte Carlo: summary (with the error model and the pairs treated as exact),
    the per-deployment table, and the raw draws."""
    check_samples(samples, "samples")
    check_level(risk_level)
    model = error_model(c, correlated_share, uncertainty_scale)
    t0 = time.perf_counter()
    m = sample_multipliers(model, samples, seed)
    sample_s = time.perf_counter() - t0
    mc = evaluate_fixed_plan(c, x, n, m)
    summary = mc_summary(mc, risk_level)
    summary["seed"] = seed
    summary["sampling_seconds"] = round(sample_s, 4)
    summary["error_model"] = model.describe()
    exact = exact_pairs(c, model, x)
    summary["treated_as_exact"] = exact
    if exact:
        log.warning("%d pair(s) used by the plan have no stated uncertainty (zero or missing) "
                    "and are treated as exact: %s", len(exact), ", ".join(exact[:5]))
    table = deployment_table(c, x, n, mc, model)
    return summary, table, mc
