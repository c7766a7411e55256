"""Enumerate deployments, evaluate them per class, drop what cannot or need not be used.

A deployment is (model, precision, hardware, GPUs per replica, max concurrency, site). For each
class it is evaluated over the class's length buckets by the performance model; a pair is
eligible when every bucket fits, the SLO percentile holds and the quality floor is met.
Deployments with no eligible class are dropped, then deployments dominated by another of the same
site, hardware, model and precision (no more node-seconds and no more energy for every class they
serve) are dropped too: the optimum never needs them.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.catalog.loaders import load_catalog
from formulations.coefficients import HOURS, Coefficients
from planner.problem.lengths import joint_buckets
from planner.problem.measurements import (MeasurementOverlay, gpus_per_unit, instance_catalog_context,
                                  provisioning_unit_names, unit_prices)
from planner.perf.factors import Calibration, load_calibration
from planner.perf.model import (GPU_IDLE_FRACTION, evaluate, factor_arrays, gather_specs,
                                mixed_tpot_ms, node_idle_kw)
from planner.config.schema.plan import PlanningInstance

log = logging.getLogger(__name__)
SMALL_MODEL_PARAMS_B = 20.0  # precision quality loss uses the 'small' column below this size


@dataclass
class CandidateReport:
    """How many deployments were generated, dropped and why (and the per-pair table)."""

    generated: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    kept: int = 0
    pairs: int = 0
    seconds: float = 0.0
    class_best: pd.DataFrame | None = None  # closest values per class, for infeasibility notes
    measurements: dict | None = None  # issue 13: profiles used and stated warnings

    def as_dict(self) -> dict:
        out = {"generated": self.generated, "dropped": self.dropped, "kept": self.kept,
               "eligible_pairs": self.pairs, "seconds": round(self.seconds, 3)}
        if self.measurements is not None:
            out["measurements"] = self.measurements
        return out


def deployment_grid(instance: PlanningInstance) -> pd.DataFrame:
    """Every combination of the allowed options, one row per deployment."""
    with instance_catalog_context(instance):  # issue 13: the instance's own ids
        catalog = load_catalog()
    o = instance.options
    models = [catalog.model_id(m) for m in o.models]
    precisions = [catalog.precision_id(p) for p in o.precisions]
    hardware = [catalog.hardware_id(h) for h in o.hardware]
    sites = list(range(len(instance.sites)))
    engines = list(dict.fromkeys(e.strip().lower() for e in o.engines))
    rows = list(itertools.product(models, precisions, hardware, o.gpus_per_replica,
                                  o.max_concurrency, sorted(set(o.speculative_decoding)),
                                  sorted(set(o.disaggregation)), engines, sites))
    grid = pd.DataFrame(rows, columns=["model", "precision", "hardware", "num_gpus",
                                       "max_concurrency", "speculative", "disaggregated",
                                       "engine", "site_idx"])
    # An engine that cannot run on the hardware (TensorRT-LLM on AMD Instinct) is no deployment.
    from planner.perf.factors import runs_on

    family = catalog.hardware["family"]
    ok = [runs_on(e, family[h]) for e, h in zip(grid["engine"], grid["hardware"])]
    return grid[ok].reset_index(drop=True)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """Row-wise weighted quantile of a (rows x buckets) array (q in [0, 1])."""
    order = np.argsort(values, axis=1)
    v = np.take_along_axis(values, order, axis=1)
    w = weights[order]
    cum = np.cumsum(w, axis=1)
    idx = np.argmax(cum >= q - 1e-12, axis=1)
    return v[np.arange(v.shape[0]), idx]


def class_quality(models: pd.Series, precisions: pd.Series) -> np.ndarray:
    """Catalog quality of each (model, precision): the model's score less the precision's loss."""
    catalog = load_catalog()
    m = catalog.models.loc[models]
    p = catalog.precisions.loc[precisions]
    small = m["total_params_b"].to_numpy() < SMALL_MODEL_PARAMS_B
    loss = np.where(small, p["quality_loss_pct_small"].to_numpy(),
                    p["quality_loss_pct_large"].to_numpy())
    return m["quality_mmlu"].to_numpy() * (1 - loss / 100)


def class_mix_tpot_ms(out: dict, osl: np.ndarray, weight: np.ndarray,
                      shape: tuple[int, int]) -> np.ndarray:
    """Per (deployment, bucket) TPOT when each bucket's decode steps share the replica with the
    prefills of the class's whole length mix (seconds of prefill per output token, weighted
    over the buckets), rather than with copies of the bucket itself."""
    mean_osl = (osl.reshape(shape) * weight).sum(axis=1)
    compute, comm = (np.repeat(np.nansum(out[k].reshape(shape) * weight, axis=1) / mean_osl,
                               shape[1])
                     for k in ("interleaved_prefill_compute_s", "interleaved_prefill_comm_s"))
    return mixed_tpot_ms(out, osl, compute, comm).reshape(shape)


def build_coefficients(instance: PlanningInstance, calibration: Calibration | None = None,
                       prune_dominated: bool = True, availability: np.ndarray | None = None
                       ) -> tuple[Coefficients, CandidateReport]:
    """Candidates and coefficients of an instance (pure function of the instance and catalog).

    ``availability`` (grid deployments x option subsets, boolean) is for callers that later
    switch deployments off (lever subsets): a deployment is then only pruned in favour of one
    that is available in every subset where it is.
    """
    deployments, pairs, report = candidate_pairs(instance, calibration, prune_dominated,
                                                 availability)
    return assemble(instance, deployments, pairs), report


def candidate_key(instance: PlanningInstance) -> str:
    """What candidate_pairs depends on: classes (with their demand and profile: the usable
    utilisation of a pair follows from the class's peak rate), options, the number of sites,
    the throughput and power multipliers. Site PUE, caps and inventory only enter
    ``assemble``, so points that change only those can reuse the candidates."""
    data = instance.model_dump(mode="json")
    # Issue 22: a pair's usable utilisation depends on the class's peak arrival rate (pooling),
    # so demand and its profile are part of the key.
    classes = data["classes"]
    adjust = data["adjustments"]
    own = [data.get(k) for k in ("measurements", "custom_hardware", "custom_models",
                                 "provisioning")]  # issue 13
    return json.dumps([classes, data["options"], len(data["sites"]), adjust, own],
                      sort_keys=True)


def candidate_pairs(instance: PlanningInstance, calibration: Calibration | None = None,
                    prune_dominated: bool = True, availability: np.ndarray | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame, CandidateReport]:
    """Kept deployments and their eligible (class, deployment) pairs with per-pair numbers."""
    with instance_catalog_context(instance):  # issue 13: the instance's own hardware and models
        return _candidate_pairs(instance, calibration, prune_dominated, availability)


def _candidate_pairs(instance: PlanningInstance, calibration: Calibration | None,
                     prune_dominated: bool, availability: np.ndarray | None
                     ) -> tuple[pd.DataFrame, pd.DataFrame, CandidateReport]:
    t0 = time.perf_counter()
    calibration = calibration or load_calibration()
    catalog = load_catalog()
    grid = deployment_grid(instance)
    report = CandidateReport(generated=len(grid))
    hw = catalog.hardware.loc[grid["hardware"]]
    adjust = instance.adjustments
    grid["nodes_per_replica"] = grid["num_gpus"].to_numpy() / hw["gpus_per_node"].to_numpy()
    grid["idle_kw"] = node_idle_kw(hw, calibration) * adjust.power_scale
    grid["quality"] = class_quality(grid["model"], grid["precision"])
    needs_reasoning = catalog.models.loc[grid["model"], "score_needs_reasoning"].to_numpy(bool)
    d = len(grid)

    # Gather the deployments' specs once; each class only tiles them over its length buckets.
    specs = gather_specs(grid.rename(columns={"max_concurrency": "concurrency"}).assign(
        isl=1.0, osl=1.0), calibration=calibration)
    factors = factor_arrays(specs["family"], calibration, specs["kind"], specs["engine"])
    # Where each deployment's coefficients come from, carried into the plan's deployments table.
    grid["family"] = specs["family"]
    grid["calibrated"] = factors["calibrated"]
    grid["uncertainty_pct"] = factors["uncertainty_pct"]
    # Announced hardware without benchmarks (the catalog's "projected" flag, e.g. rubin).
    grid["projected"] = hw["projected"].to_numpy(bool)
    # Grouping keys of correlated coefficient errors (issue 14): hardware family x model kind
    # [x engine]. Read by planner.results.uncertainty only.
    grid["model_kind"] = specs["kind"]
    grid["engine"] = specs["engine"]
    # --- issue 13: measured profiles and provisioning units (planner/problem/measurements.py) ---
    overlay = MeasurementOverlay.for_instance(instance, grid, hw, calibration)
    if overlay is not None:
        grid["engine"] = overlay.engines(grid["engine"].to_numpy())
    unit_ratio = None
    if instance.provisioning or instance.custom_hardware:
        # n counts provisioned units: unit-seconds per query and kW per unit scale by
        # GPUs per unit / GPUs per node; energy (kW x s) is unchanged.
        per_unit = gpus_per_unit(instance, grid["hardware"].to_numpy(),
                                 hw["gpus_per_node"].to_numpy(float))
        unit_ratio = per_unit / hw["gpus_per_node"].to_numpy(float)
        grid["nodes_per_replica"] = grid["num_gpus"].to_numpy() / per_unit
        idle = grid["idle_kw"].to_numpy(float)
        tdp = hw["tdp_w"].to_numpy(float)
        gpn = hw["gpus_per_node"].to_numpy(float)
        # Profile-only hardware: idle GPUs at the model's idle fraction of TDP (0 without TDP).
        idle = np.where(np.isfinite(idle), idle,
                        np.nan_to_num(tdp * gpn * GPU_IDLE_FRACTION / 1e3) * adjust.power_scale)
        grid["idle_kw"] = idle * unit_ratio
        grid["provisioning_unit"] = provisioning_unit_names(instance, grid["hardware"].to_numpy())
        grid["gpus_per_unit"] = per_unit
    # --- end issue 13 ---
    per_class = []
    best_rows = []
    o_ceiling = instance.options.utilization_ceiling
    for ci, cls in enumerate(instance.classes):
        isl, osl, weight = joint_buckets(cls.input_tokens, cls.output_tokens)
        b = isl.size
        tiled = {k: (np.repeat(v, b) if isinstance(v, np.ndarray) and v.shape == (d,) else v)
                 for k, v in specs.items()}
        tiled["isl"], tiled["osl"] = np.tile(isl, d), np.tile(osl, d)
        f = {k: np.repeat(v, b) for k, v in factors.items()}
        out = evaluate(tiled, f)
        shape = (d, b)
        fits_b = out["fits"].reshape(shape)
        node_s = out["node_seconds_per_query"].reshape(shape)
        node_kw = out["node_power_kw"].reshape(shape)
        ttft = out["ttft_ms"].reshape(shape)
        tpot = class_mix_tpot_ms(out, tiled["osl"], weight, shape)
        if overlay is not None:  # issue 13: measurements replace predictions where they cover
            fits_b, node_s, node_kw, ttft, tpot = overlay.apply(
                ci, len(instance.classes), tiled, f, out, fits_b, node_s, node_kw, ttft, tpot,
                shape, grid["max_concurrency"].to_numpy(float))
        if unit_ratio is not None:  # issue 13: per provisioned unit
            node_s = node_s / unit_ratio[:, None]
            node_kw = node_kw * unit_ratio[:, None]
        fits = fits_b.all(axis=1)
        node_s = node_s / adjust.throughput_scale
        node_kw = node_kw * adjust.power_scale
        ttft = ttft / adjust.throughput_scale
        tpot = tpot / adjust.throughput_scale
        q = cls.slo.percentile / 100
        ttft_unloaded_q = np.where(fits, weighted_quantile(np.nan_to_num(ttft, nan=np.inf),
                                                           weight, q), np.inf)
        # Issue 22: TTFT at the percentile under Poisson arrivals to the pool of replicas, and
        # the pair's usable utilisation (the largest meeting the TTFT SLO, at most the ceiling).
        usable_util, ttft_q = pair_queueing(cls, instance, out, ttft, tpot, tiled["osl"], weight,
                                       shape, fits, q)
        if overlay is not None:  # a measured profile was taken at its SLO-meeting load already
            measured = (overlay.dep_source[:, ci] == 1) & fits
            usable_util[measured] = instance.options.utilization_ceiling
            ttft_q[measured] = ttft_unloaded_q[measured]
        tpot_q = np.where(fits, weighted_quantile(np.nan_to_num(tpot, nan=np.inf), weight, q),
                          np.inf)
        ns = np.where(fits, np.nansum(node_s * weight, axis=1), np.nan)
        dyn_kwh = np.where(fits, np.nansum((node_kw - grid["idle_kw"].to_numpy()[:, None])
                                           * node_s * weight, axis=1) / 3600, np.nan)
        wh_it = np.where(fits, np.nansum(node_kw * node_s * weight, axis=1) / 3.6, np.nan)
        # Stated relative uncertainty of the pair's coefficients (issue 14): the perf model's
        # per-prediction ``uncertainty_pct`` when it returns one, else its family's; weighted
        # over the class's length buckets. NaN (missing) is reported as "treated as exact".
        unc = out.get("uncertainty_pct", f.get("uncertainty_pct"))
        unc_pct = np.full(d, np.nan)
        if unc is not None:
            u = np.asarray(unc, float).reshape(shape)
            known = np.isfinite(u).any(axis=1)
            unc_pct[known] = np.nansum(u * weight, axis=1)[known] / np.sum(
                np.where(np.isfinite(u), weight, 0.0), axis=1)[known]
        if overlay is not None:  # issue 13: measured pairs carry no model error
            unc_pct[overlay.dep_source[:, ci] == 1] = np.nan
        ok_ttft = np.isfinite(usable_util) & (ttft_q <= (cls.slo.ttft_ms or np.inf) * (1 + 1e-9))
        # Capacity node-seconds: busy time x ceiling / usable utilisation, so the capacity rows
        # (busy <= ceiling x nodes) hold each pair to its own usable utilisation.
        busy_ns = ns
        ns = np.where(ok_ttft, ns * o_ceiling / np.where(ok_ttft, usable_util, 1.0), ns)
        ok_tpot = tpot_q <= (cls.slo.tpot_ms or np.inf)
        # A reasoning model's score is earned with its chain of thought: credit it only where the
        # class's output lengths include those tokens.
        credited = np.where(needs_reasoning & ~cls.test_time_scaling, 0.0,
                            grid["quality"].to_numpy())
        ok_quality = credited >= cls.min_quality - 1e-9
        allowed = (np.isin(grid["model"], [catalog.model_id(m) for m in cls.models])
                   if cls.models else np.ones(d, bool))
        eligible = fits & ok_ttft & ok_tpot & ok_quality & allowed
        per_class.append(pd.DataFrame({
            "class_idx": ci, "dep_idx": np.arange(d), "eligible": eligible, "fits": fits,
            "ok_ttft": ok_ttft, "ok_tpot": ok_tpot, "ok_quality": ok_quality, "allowed": allowed,
            "node_seconds": ns, "dynamic_kwh": dyn_kwh, "wh_per_query_it": wh_it,
            "ttft_ms": ttft_q, "tpot_ms": tpot_q, "uncertainty_pct": unc_pct,
            "busy_node_seconds": busy_ns, "usable_utilization": usable_util,
            "ttft_unloaded_ms": ttft_unloaded_q}))
        usable = fits & allowed
        best_rows.append({
            "class": cls.id, "ttft_slo_ms": cls.slo.ttft_ms, "tpot_slo_ms": cls.slo.tpot_ms,
            "min_quality": cls.min_quality,
            "best_ttft_ms": (float(np.min(ttft_unloaded_q[usable])) if usable.any()
                             else np.inf),
            "best_tpot_ms": float(np.min(tpot_q[usable])) if usable.any() else np.inf,
            "best_quality": float(credited[allowed].max()) if allowed.any() else 0.0,
            # Closest values of an SLO-vs-quality conflict: the best latency among candidates
            # meeting the quality floor, the best quality among those meeting the SLO.
            "best_ttft_with_quality_ms": _least(ttft_unloaded_q, usable & ok_quality),
            "best_tpot_with_quality_ms": _least(tpot_q, usable & ok_quality & ok_ttft),
            "best_quality_with_slo": (float(credited[usable & ok_ttft & ok_tpot].max())
                                      if (usable & ok_ttft & ok_tpot).any() else np.nan),
            "fit_with_quality": int((fits & ok_quality & allowed).sum()),
            "eligible": int(eligible.sum())})
    pairs = pd.concat(per_class, ignore_index=True)
    report.class_best = pd.DataFrame(best_rows)
    if overlay is not None:  # issue 13: where each deployment's coefficients come from
        grid["coefficient_source"] = overlay.deployment_sources()
        # A measured deployment carries no model error (its measurement error is not stated).
        grid.loc[grid["coefficient_source"] == "measured", "uncertainty_pct"] = np.nan
        report.measurements = {"profiles": len(overlay.profiles), "warnings": overlay.warnings}

    # Drop deployments that serve no class, with the reason that knocked out the last class.
    any_eligible = pairs.groupby("dep_idx")["eligible"].any().to_numpy()
    any_fit = pairs.groupby("dep_idx")["fits"].any().to_numpy()
    report.dropped["cannot run (memory, precision, parallelism)"] = int((~any_fit).sum())
    report.dropped["meets no class's SLO or quality floor"] = int((any_fit & ~any_eligible).sum())
    keep = any_eligible.copy()
    dominated = (dominated_deployments(grid, pairs, keep, len(instance.classes), availability)
                 if prune_dominated else np.zeros(d, dtype=bool))
    report.dropped["dominated"] = int(dominated.sum())
    keep &= ~dominated
    kept_idx = np.flatnonzero(keep)
    remap = -np.ones(d, dtype=int)
    remap[kept_idx] = np.arange(kept_idx.size)
    deployments = grid.iloc[kept_idx].reset_index(drop=True)
    pairs = pairs[pairs["eligible"] & keep[pairs["dep_idx"].to_numpy()]].copy()
    pairs["dep_idx"] = remap[pairs["dep_idx"].to_numpy()]
    pairs = pairs.reset_index(drop=True)
    report.kept = len(deployments)
    report.pairs = len(pairs)
    report.seconds = time.perf_counter() - t0
    log.info("candidates: %d generated, %d kept, %d eligible pairs; dropped %s (%.2f s)",
             report.generated, report.kept, report.pairs, report.dropped, report.seconds)
    return deployments, pairs, report


def class_peak_rate(cls, instance: PlanningInstance) -> float:
    """A class's arrival rate (requests/s) at its peak hour."""
    rate = cls.queries_per_day * instance.adjustments.demand_scale / 86400.0
    if cls.diurnal:
        p = np.asarray(cls.diurnal, dtype=float)
        rate *= float(p.max() / p.mean())
    return rate


def pair_queueing(cls, instance: PlanningInstance, out: dict, ttft_ms: np.ndarray,
                  tpot_ms: np.ndarray, osl: np.ndarray, weight: np.ndarray,
                  shape: tuple[int, int], fits: np.ndarray, q: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per deployment (for this class): usable utilisation and TTFT at percentile ``q`` (ms)
    under Poisson arrivals at the class's peak rate to the pool of replicas the class alone
    needs there (``planner.perf.queueing``). NaN / inf where the deployment cannot serve it."""
    from planner.perf.queueing import service_moments, usable_utilization

    ceiling = instance.options.utilization_ceiling
    usable = np.full(shape[0], np.nan)
    ttft_q = np.full(shape[0], np.inf)
    rows = np.flatnonzero(fits)
    if rows.size == 0:
        return usable, ttft_q
    scale = instance.adjustments.throughput_scale
    t0 = ttft_ms[rows] / 1e3
    decode = osl.reshape(shape)[rows] * tpot_ms[rows] / 1e3
    prefill = np.nan_to_num(out["prefill_busy_s"].reshape(shape)[rows]) / scale
    slots = np.maximum(np.nansum(out["batch"].reshape(shape)[rows] * weight, axis=1), 1.0)
    moments = service_moments(t0, decode, prefill, weight)
    slo = cls.slo.ttft_ms / 1e3 if cls.slo.ttft_ms else None
    u, t = usable_utilization(q, slo, ceiling, np.full(rows.size, class_peak_rate(cls, instance)),
                              t0, weight, slots, moments)
    usable[rows] = u
    ttft_q[rows] = t * 1e3
    return usable, ttft_q


def _least(values: np.ndarray, mask: np.ndarray) -> float:
    return float(np.min(values[mask])) if mask.any() else np.nan


def dominated_deployments(grid: pd.DataFrame, pairs: pd.DataFrame, keep: np.ndarray,
                          n_classes: int, availability: np.ndarray | None = None) -> np.ndarray:
    """Deployments another one beats or ties on every class it serves (same site, hardware,
    model, precision: same idle power per node, same inventory pool, same quality)."""
    d = len(grid)
    elig = pairs["eligible"].to_numpy().reshape(n_classes, d).T  # D x C
    ns = np.where(elig, pairs["node_seconds"].to_numpy().reshape(n_classes, d).T, np.inf)
    dyn = np.where(elig, pairs["dynamic_kwh"].to_numpy().reshape(n_classes, d).T, np.inf)
    dominated = np.zeros(d, dtype=bool)
    for _, idx in grid.groupby(["site_idx", "hardware", "model", "precision"]).indices.items():
        idx = idx[keep[idx]]
        if idx.size < 2:
            continue
        e, a, b = elig[idx], ns[idx], dyn[idx]
        # better[i, j]: j is at least as good as i on every class i serves (and serves them all)
        covers = np.all(~e[:, None, :] | e[None, :, :], axis=2)
        no_worse = np.all((a[None, :, :] <= a[:, None, :] * (1 + 1e-12))
                          & (b[None, :, :] <= b[:, None, :] * (1 + 1e-12)) | ~e[:, None, :],
                          axis=2)
        better = covers & no_worse
        if availability is not None:
            av = availability[idx]
            better &= np.all(~av[:, None, :] | av[None, :, :], axis=2)
        np.fill_diagonal(better, False)
        # Among exact ties keep the lowest index: i is dropped if some j beats it, or ties and j < i.
        strictly = better & ~better.T
        tie = better & better.T & (np.arange(idx.size)[None, :] < np.arange(idx.size)[:, None])
        dominated[idx] = (strictly | tie).any(axis=1)
    return dominated


def assemble(instance: PlanningInstance, deployments: pd.DataFrame,
             pairs: pd.DataFrame) -> Coefficients:
    """Pack the kept deployments and eligible pairs into formulation-ready arrays."""
    with instance_catalog_context(instance):  # issue 13: the instance's own hardware ids
        return _assemble(instance, deployments, pairs)


def _assemble(instance: PlanningInstance, deployments: pd.DataFrame,
              pairs: pd.DataFrame) -> Coefficients:
    catalog = load_catalog()
    scale = instance.adjustments.demand_scale
    classes = pd.DataFrame({"id": [c.id for c in instance.classes],
                            "queries_per_day": [c.queries_per_day * scale
                                                for c in instance.classes],
                            # the SLOs travel with the classes to the plan's class table
                            "ttft_slo_ms": [c.slo.ttft_ms for c in instance.classes],
                            "tpot_slo_ms": [c.slo.tpot_ms for c in instance.classes],
                            "slo_percentile": [c.slo.percentile for c in instance.classes]})
    profile = np.ones((len(instance.classes), HOURS))
    for i, cls in enumerate(instance.classes):
        if cls.diurnal:
            p = np.asarray(cls.diurnal, dtype=float)
            profile[i] = p / p.mean()
    sites = instance.sites
    inventory_rows = []
    for s, site in enumerate(sites):
        for hw, nodes in site.inventory.items():
            inventory_rows.append({"site_idx": s, "hardware": catalog.hardware_id(hw),
                                   "nodes": float(nodes)})
    weight = np.array([{"carbon": s.carbon_kg_per_kwh, "cost": s.electricity_usd_per_kwh}
                       .get(instance.objective, 1.0) for s in sites], dtype=float)
    fixed = None
    if instance.objective == "cost":
        prices = unit_prices(instance)  # per provisioned unit (issue 13: custom hardware's own)
        fixed = np.array([prices[hw] * HOURS for hw in deployments["hardware"]], dtype=float)
    return Coefficients(
        classes=classes, deployments=deployments, pairs=pairs, profile=profile,
        demand=classes["queries_per_day"].to_numpy(float),
        pair_class=pairs["class_idx"].to_numpy(), pair_dep=pairs["dep_idx"].to_numpy(),
        node_seconds=pairs["node_seconds"].to_numpy(float),
        dynamic_kwh=pairs["dynamic_kwh"].to_numpy(float),
        dep_idle_kw=deployments["idle_kw"].to_numpy(float),
        dep_site=deployments["site_idx"].to_numpy(), dep_hardware=deployments["hardware"].to_numpy(),
        dep_nodes_per_replica=deployments["nodes_per_replica"].to_numpy(float),
        site_pue=np.array([s.pue for s in sites]),
        site_overhead=np.array([s.overhead_factor for s in sites]),
        site_cap_kw=np.array([s.power_cap_mw * 1e3 if s.power_cap_mw else np.inf for s in sites]),
        site_weight=weight, dep_fixed_per_day=fixed,
        inventory=pd.DataFrame(inventory_rows, columns=["site_idx", "hardware", "nodes"]),
        utilization_ceiling=instance.options.utilization_ceiling,
        min_replicas=instance.options.min_replicas,
        max_deployments=instance.options.max_deployments,
        site_ids=tuple(s.id for s in sites), min_site_share=site_shares(instance),
        site_failover=np.array([s.failover for s in sites], dtype=bool),
        failover_utilization=instance.options.failover_utilization)


def site_shares(instance: PlanningInstance) -> np.ndarray | None:
    """C x S least shares of each class served at each site (None when no class sets one)."""
    if not any(cls.min_site_share for cls in instance.classes):
        return None
    site_index = {s.id: i for i, s in enumerate(instance.sites)}
    share = np.zeros((len(instance.classes), len(instance.sites)))
    for i, cls in enumerate(instance.classes):
        for site, value in (cls.min_site_share or {}).items():
            share[i, site_index[site]] = value
    return share


def bucket_numbers(instance: PlanningInstance, deployments: pd.DataFrame, ci: int,
                   calibration: Calibration | None = None) -> dict[str, np.ndarray]:
    """Per (deployment, length bucket) of class ``ci``: unloaded TTFT, prefill work, decode
    time and TPOT (seconds), the running batch, and the buckets' weights; the same model path
    as the candidates (for ``planner simulate``). ``deployments``: model, precision, hardware,
    num_gpus, max_concurrency[, speculative, disaggregated, engine]."""
    with instance_catalog_context(instance):
        calibration = calibration or load_calibration()
        cls = instance.classes[ci]
        isl, osl, weight = joint_buckets(cls.input_tokens, cls.output_tokens)
        d, b = len(deployments), isl.size
        cases = deployments.rename(columns={"max_concurrency": "concurrency"}).loc[
            np.repeat(np.arange(d), b)].reset_index(drop=True)
        cases = cases.assign(isl=np.tile(isl, d), osl=np.tile(osl, d))
        specs = gather_specs(cases, calibration=calibration)
        f = factor_arrays(specs["family"], calibration, specs["kind"], specs["engine"])
        out = evaluate(specs, f)
        shape = (d, b)
        scale = instance.adjustments.throughput_scale
        tpot = class_mix_tpot_ms(out, specs["osl"], weight, shape) / scale
        return {"weight": weight, "t0_s": out["ttft_ms"].reshape(shape) / 1e3 / scale,
                "prefill_s": np.nan_to_num(out["prefill_busy_s"].reshape(shape)) / scale,
                "decode_s": osl[None, :] * tpot / 1e3, "tpot_s": tpot / 1e3,
                "batch": out["batch"].reshape(shape), "fits": out["fits"].reshape(shape)}
