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
                                memory_fit, mixed_tpot_ms, node_idle_kw)
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
                       prune_dominated: bool = True, availability: np.ndarray | None = None,
                       defer_ttft: bool = False) -> tuple[Coefficients, CandidateReport]:
    """Candidates and coefficients of an instance (pure function of the instance and catalog).

    ``availability`` (grid deployments x option subsets, boolean) is for callers that later
    switch deployments off (lever subsets): a deployment is then only pruned in favour of one
    that is available in every subset where it is. ``defer_ttft`` (issue 26): the pairs'
    ``ttft_ms`` NaN where the SLO is proven met at the ceiling without it; the caller fills
    the pairs it reads with :func:`planner.problem.deferred.fill_deferred_ttft`.
    """
    deployments, pairs, report = candidate_pairs(instance, calibration, prune_dominated,
                                                 availability, defer_ttft)
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
                    prune_dominated: bool = True, availability: np.ndarray | None = None,
                    defer_ttft: bool = False
                    ) -> tuple[pd.DataFrame, pd.DataFrame, CandidateReport]:
    """Kept deployments and their eligible (class, deployment) pairs with per-pair numbers
    (``defer_ttft``: see :func:`build_coefficients`)."""
    with instance_catalog_context(instance):  # issue 13: the instance's own hardware and models
        return _candidate_pairs(instance, calibration, prune_dominated, availability,
                                defer_ttft)


def _candidate_pairs(instance: PlanningInstance, calibration: Calibration | None,
                     prune_dominated: bool, availability: np.ndarray | None,
                     defer_ttft: bool = False
                     ) -> tuple[pd.DataFrame, pd.DataFrame, CandidateReport]:
    t0 = time.perf_counter()
    ctx, report = candidate_context(instance, calibration)
    ctx.defer_ttft = defer_ttft
    chunk = evaluate_classes(ctx, range(len(instance.classes)))
    report.class_best = pd.DataFrame(chunk.best_rows)
    dominated = (dominated_deployments(ctx.grid, chunk.pairs, chunk.any_eligible,
                                       len(instance.classes), availability)
                 if prune_dominated else np.zeros(len(ctx.grid), dtype=bool))
    keep, remap, deployments = kept_deployments(ctx, report, chunk.any_fit, chunk.any_eligible,
                                                dominated)
    pairs = chunk.pairs
    del chunk
    kept = keep[pairs["dep_idx"].to_numpy()]
    if not kept.all():  # (no copy of every pair where every pair stays)
        pairs = pairs[kept].reset_index(drop=True)
    pairs["dep_idx"] = remap[pairs["dep_idx"].to_numpy()]
    report.pairs = len(pairs)
    report.seconds = time.perf_counter() - t0
    log.info("candidates: %d generated, %d kept, %d eligible pairs; dropped %s (%.2f s)",
             report.generated, report.kept, report.pairs, report.dropped, report.seconds)
    return deployments, pairs, report


def perf_twins(ctx: "CandidateContext") -> np.ndarray:
    """Per grid deployment: an id shared by the deployments whose performance-model inputs are
    all equal (every numeric spec and factor; the model reads none of the text fields - model,
    hardware, precision, family, kind, engine names - only the numbers gathered for them), so
    whose pairs' numbers, the TTFT percentile included, are equal for every class (issue 26:
    two such deployments' deferred percentiles need not be computed to compare them)."""
    d = ctx.base.size
    numbers = np.column_stack([np.zeros(d)] + [
        v.astype(float) for v in list(ctx.specs_b.values()) + list(ctx.factors_b.values())
        if isinstance(v, np.ndarray) and v.shape == (d,) and v.dtype != object])
    # compared as bytes (NaN equal to NaN; -0.0 and 0.0 apart: at worst a twin missed)
    rows = np.ascontiguousarray(numbers).view(np.dtype((np.void, numbers.shape[1] * 8)))
    twin = np.unique(rows.reshape(-1), return_inverse=True)[1].reshape(-1)
    return twin[ctx.expand]


def kept_deployments(ctx: "CandidateContext", report: CandidateReport, any_fit: np.ndarray,
                     any_eligible: np.ndarray, dominated: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Which grid deployments stay (serve a class, not dominated), the grid-to-kept index
    (-1: dropped) and the kept deployments' table; the drop reasons go into ``report``."""
    grid = ctx.grid
    d = len(grid)
    overlay = ctx.overlay
    if overlay is not None:  # issue 13: where each deployment's coefficients come from
        grid["coefficient_source"] = overlay.deployment_sources()
        # A measured deployment carries no model error (its measurement error is not stated).
        grid.loc[grid["coefficient_source"] == "measured", "uncertainty_pct"] = np.nan
        report.measurements = {"profiles": len(overlay.profiles), "warnings": overlay.warnings}
    # Drop deployments that serve no class, with the reason that knocked out the last class.
    report.dropped["cannot run (memory, precision, parallelism)"] = int((~any_fit).sum())
    report.dropped["meets no class's SLO or quality floor"] = int((any_fit & ~any_eligible).sum())
    keep = any_eligible & ~dominated
    report.dropped["dominated"] = int((any_eligible & dominated).sum())
    kept_idx = np.flatnonzero(keep)
    remap = -np.ones(d, dtype=int)
    remap[kept_idx] = np.arange(kept_idx.size)
    deployments = grid.iloc[kept_idx].reset_index(drop=True)
    report.kept = len(deployments)
    return keep, remap, deployments


def candidate_context(instance: PlanningInstance, calibration: Calibration | None = None
                      ) -> tuple["CandidateContext", CandidateReport]:
    """The deployment grid with everything the classes' evaluation shares (call inside
    ``instance_catalog_context``)."""
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
    ctx = CandidateContext(instance, grid, specs, factors, overlay, unit_ratio,
                           needs_reasoning, catalog)
    # issue 26: which deployments are performance twins (``Coefficients.distinct`` treats
    # their TTFT as equal: it is, up to the rounding of where each was computed)
    grid["perf_inputs"] = perf_twins(ctx)
    return ctx, report


PAIR_COLUMNS = ("class_idx", "dep_idx", "eligible", "fits", "ok_ttft", "ok_tpot", "ok_quality",
                "allowed", "node_seconds", "dynamic_kwh", "wh_per_query_it", "ttft_ms",
                "tpot_ms", "uncertainty_pct", "busy_node_seconds", "usable_utilization",
                "ttft_unloaded_ms")
# A TTFT percentile under load is never below the unloaded one (the waits are >= 0): a pair
# whose unloaded percentile exceeds the SLO by this relative margin is not queued at all.
UNLOADED_TTFT_MARGIN = 1e-6


@dataclass
class CandidateContext:
    """What every class's evaluation shares: the deployment grid with its gathered specs and
    factors (issue 26: evaluated on the grid's first site only where no measurement overlay
    applies, since nothing in the performance or queueing model depends on the site)."""

    instance: PlanningInstance
    grid: pd.DataFrame
    specs: dict
    factors: dict
    overlay: MeasurementOverlay | None
    unit_ratio: np.ndarray | None
    needs_reasoning: np.ndarray
    catalog: object
    # issue 26: the TTFT percentile of a pair proven to meet its SLO at the ceiling is left
    # NaN (deferred; ``fill_deferred_ttft`` computes it for the pairs a caller reads)
    defer_ttft: bool = False

    def __post_init__(self):
        d = len(self.grid)
        n_sites = len(self.instance.sites)
        # deployment_grid puts the site last: rows s, s+1, ... of one site-less deployment.
        sites_last = (n_sites > 1 and d % n_sites == 0 and np.array_equal(
            self.grid["site_idx"].to_numpy(), np.tile(np.arange(n_sites), d // n_sites)))
        self.fold = n_sites if (self.overlay is None and sites_last) else 1
        self.base = np.arange(0, d, self.fold)
        self.expand = np.repeat(np.arange(self.base.size), self.fold)

        def base(v):
            return v[self.base] if isinstance(v, np.ndarray) and v.shape == (d,) else v

        self.specs_b = {k: base(v) for k, v in self.specs.items()}
        self.factors_b = {k: base(v) for k, v in self.factors.items()}
        self.idle_b = self.grid["idle_kw"].to_numpy()[self.base]
        self.quality_b = self.grid["quality"].to_numpy()[self.base]
        self.model_b = self.grid["model"].to_numpy()[self.base]
        self.reasoning_b = self.needs_reasoning[self.base]
        self.ratio_b = None if self.unit_ratio is None else self.unit_ratio[self.base]


@dataclass
class ClassChunk:
    """The evaluation of some classes: their eligible pairs (grid deployment indices), which
    grid deployments fit / serve any of them, and their closest values (for diagnosis)."""

    pairs: pd.DataFrame
    any_fit: np.ndarray
    any_eligible: np.ndarray
    best_rows: list


# What the per-class arithmetic reads of the performance model's output (all of it where a
# measurement overlay applies).
OUT_KEYS = ("fits", "node_seconds_per_query", "node_power_kw", "ttft_ms", "batch",
            "interleaved_prefill_compute_s", "interleaved_prefill_comm_s", "decode_compute_s",
            "decode_memory_s", "decode_fixed_s", "prefill_busy_s", "uncertainty_pct")
CLASS_BLOCK = 16  # at most this many classes' buckets in one vectorised call (memory)
# classes queued together: the queueing's searches run on a few rows per class, so per-call
# overhead dominates unless many classes share the calls
QUEUE_BLOCK = 128
# Evaluate a class only on the deployments meeting its quality floor and model list (the others
# are never eligible); False: every deployment, as before (kept for the equality tests).
SCREEN = True


def evaluate_classes(ctx: CandidateContext, classes) -> ClassChunk:
    """Evaluate the given classes over the grid; only eligible pairs are kept (no dense
    classes x deployments x buckets table).

    Issue 26: the operating point of a deployment depends on a class only through its length
    buckets (the SLOs, the length mix and the demand enter afterwards), so each block of
    ``CLASS_BLOCK`` classes evaluates every (deployment, distinct (isl, osl) bucket) once, in
    one vectorised call over the site-folded grid, and each class reads its buckets' columns."""
    classes = list(classes)
    d = len(ctx.grid)
    any_fit = np.zeros(d, dtype=bool)
    any_eligible = np.zeros(d, dtype=bool)
    cols: dict[str, list] = {k: [] for k in PAIR_COLUMNS}
    best_rows = []
    screen = SCREEN and ctx.overlay is None
    for start in range(0, len(classes), QUEUE_BLOCK):
        block = classes[start:start + QUEUE_BLOCK]
        states = [_evaluate_class(ctx, ci, *out)
                  for ci, out in _evaluate_block(ctx, block, screen)]
        answers = queue_block(ctx.instance, [s["queue"] for s in states],
                              defer=ctx.defer_ttft and ctx.overlay is None)
        for state, (usable_util, ttft_q) in zip(states, answers):
            ci, sub = state["ci"], state["sub"]
            out, best = _finish_class(ctx, state, usable_util, ttft_q)
            if screen and not out["eligible"].any():
                # No eligible pair: the diagnosis' closest values are over every deployment,
                # so this class is evaluated again without the screen.
                state = _evaluate_class(ctx, ci, *next(_evaluate_block(ctx, [ci], False))[1])
                out, best = _finish_class(ctx, state, *queue_block(ctx.instance,
                                                                   [state["queue"]])[0])
                sub = state["sub"]
            fits_base = np.zeros(ctx.base.size, dtype=bool)
            fits_base[sub] = out["fits"]
            any_fit |= fits_base[ctx.expand]
            elig = np.flatnonzero(out["eligible"])  # positions in sub
            # the eligible base deployments' values, once per base deployment: each is
            # repeated at every folded site when the pair table is built (below)
            cols["class_idx"].append(np.full(elig.size, ci, dtype=np.int64))
            cols["dep_idx"].append(sub[elig].astype(np.int64))
            for k in PAIR_COLUMNS[2:]:
                cols[k].append(out[k][elig])
            best_rows.append(best)
    if screen and classes:
        # The screen leaves deployments unevaluated for the classes whose quality floor or
        # model list they fail; whether they fit *some* class is still reported. Fitting
        # (``memory_fit``) depends on a class only through its longest bucket's context
        # (isl + osl) and is monotone in it (the KV bytes of one sequence grow with the
        # context), so a deployment fits some class iff it fits the class whose longest
        # bucket is shortest.
        any_fit |= fits_shortest(ctx, classes)[ctx.expand]
    if cols["class_idx"]:
        # one concatenation per column, then every base deployment's row at each folded site
        # (grid rows sub * fold + site, sorted; the same values and order as one row per site)
        fold = ctx.fold
        data = {}
        for k in PAIR_COLUMNS:
            v = np.concatenate(cols.pop(k))
            if k == "dep_idx":
                v = (v[:, None] * fold + np.arange(fold)).reshape(-1)
                any_eligible[v] = True
            elif fold > 1:
                v = np.repeat(v, fold)
            data[k] = v
        pairs = pd.DataFrame(data, copy=False)
    else:
        pairs = pd.DataFrame({k: np.zeros(0, dtype=np.int64 if k.endswith("_idx") else float)
                              for k in PAIR_COLUMNS})
    return ClassChunk(pairs, any_fit, any_eligible, best_rows)


def fits_shortest(ctx: CandidateContext, classes: list) -> np.ndarray:
    """Per base deployment: fits the class (of ``classes``) whose longest bucket has the
    shortest context, i.e. fits some class of ``classes`` (see :func:`evaluate_classes`)."""
    best = None
    for ci in classes:
        cls = ctx.instance.classes[ci]
        isl, osl, _ = joint_buckets(cls.input_tokens, cls.output_tokens)
        k = int(np.argmax(isl + osl))
        if best is None or isl[k] + osl[k] < best[0] + best[1]:
            best = (isl[k], osl[k])
    d = ctx.base.size
    specs = dict(ctx.specs_b, isl=np.full(d, best[0]), osl=np.full(d, best[1]))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return memory_fit(specs, ctx.factors_b, reasons=False)["fits"]


def class_screen(ctx: CandidateContext, cls) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per base deployment, for class ``cls``, what needs no performance model: the quality
    credited (reasoning models only count for test-time-scaling classes), whether it meets the
    class's quality floor and whether its model is allowed."""
    credited = np.where(ctx.reasoning_b & ~cls.test_time_scaling, 0.0, ctx.quality_b)
    ok_quality = credited >= cls.min_quality - 1e-9
    allowed = (np.isin(ctx.model_b, [ctx.catalog.model_id(m) for m in cls.models])
               if cls.models else np.ones(ctx.base.size, bool))
    return credited, ok_quality, allowed


def _evaluate_block(ctx: CandidateContext, block: list, screen: bool):
    """Yield (class, (sub, out, isl, osl, weight)) per class of ``block`` (in its order):
    ``sub`` the base deployments evaluated for the class (all, or with ``screen`` those meeting
    its quality floor and model list: the others are never eligible, whatever the performance
    model says) and the performance model's output over (``sub``, the class's buckets), rows
    deployment-major.

    Issue 26: the classes of the block that evaluate the same deployments (same screen) are
    evaluated together on a (deployments x distinct buckets) grid by broadcasting: every spec
    and factor a column over the deployments, the lengths a row, so what depends on the
    deployment alone (weights, peak rates, clocks, communication latencies) is computed once
    per deployment rather than once per (deployment, bucket), and nothing is gathered per
    case. Elementwise, the same operations on the same numbers as one row per case."""
    d = ctx.base.size
    lengths, subs, groups = {}, {}, {}
    for ci in block:
        cls = ctx.instance.classes[ci]
        lengths[ci] = joint_buckets(cls.input_tokens, cls.output_tokens)
        if screen:
            _, ok_quality, allowed = class_screen(ctx, cls)
            subs[ci] = np.flatnonzero(ok_quality & allowed)
        else:
            subs[ci] = np.arange(d)
        groups.setdefault(subs[ci].tobytes(), []).append(ci)
    keys = None
    results = {}
    for members in groups.values():
        sub = subs[members[0]]
        column = lambda v: (v[sub][:, None]  # noqa: E731
                            if isinstance(v, np.ndarray) and v.shape == (d,) else v)
        specs = {k: column(v) for k, v in ctx.specs_b.items()}
        f = {k: column(v) for k, v in ctx.factors_b.items()}
        for at in range(0, len(members), CLASS_BLOCK):
            part = members[at:at + CLASS_BLOCK]
            both, inverse = np.unique(np.concatenate([np.column_stack(lengths[ci][:2])
                                                      for ci in part]),
                                      axis=0, return_inverse=True)
            inverse = inverse.reshape(-1)
            out = evaluate(dict(specs, isl=both[None, :, 0], osl=both[None, :, 1]), f,
                           reasons=False, keys=None if ctx.overlay is not None else OUT_KEYS)
            shape = (sub.size, both.shape[0])
            if keys is None:
                keys = list(out) if ctx.overlay is not None else [k for k in OUT_KEYS
                                                                   if k in out]
            full = {k: (np.broadcast_to(out[k], shape) if isinstance(out[k], np.ndarray)
                        else out[k]) for k in keys}
            at_col = 0
            for ci in part:
                b = lengths[ci][0].size
                cols = inverse[at_col:at_col + b]
                at_col += b
                results[ci] = {k: (v[:, cols].reshape(-1) if isinstance(v, np.ndarray)
                                   else v) for k, v in full.items()}
    for ci in block:
        isl, osl, weight = lengths[ci]
        yield ci, (subs[ci], results.pop(ci), isl, osl, weight)


def _evaluate_class(ctx: CandidateContext, ci: int, sub: np.ndarray, out: dict,
                    isl: np.ndarray, osl: np.ndarray, weight: np.ndarray) -> dict:
    """One class over the base deployments ``sub`` of the (site-folded) grid, up to its
    queueing: the state that :func:`_finish_class` completes, with the queueing model's inputs
    on the rows to queue."""
    instance = ctx.instance
    adjust = instance.adjustments
    o_ceiling = instance.options.utilization_ceiling
    cls = instance.classes[ci]
    d = sub.size
    b = isl.size
    tiled = {"isl": np.tile(isl, d), "osl": np.tile(osl, d)}
    f = None
    if ctx.overlay is not None:  # (no screen: ``sub`` is every deployment)  # the overlay reads every spec and factor per (deployment, bucket)
        tiled = {k: (np.repeat(v, b) if isinstance(v, np.ndarray) and v.shape == (d,) else v)
                 for k, v in ctx.specs_b.items()} | tiled
        f = {k: np.repeat(v, b) for k, v in ctx.factors_b.items()}
    shape = (d, b)
    fits_b = out["fits"].reshape(shape)
    node_s = out["node_seconds_per_query"].reshape(shape)
    node_kw = out["node_power_kw"].reshape(shape)
    ttft = out["ttft_ms"].reshape(shape)
    tpot = class_mix_tpot_ms(out, tiled["osl"], weight, shape)
    overlay = ctx.overlay
    if overlay is not None:  # issue 13: measurements replace predictions where they cover
        fits_b, node_s, node_kw, ttft, tpot = overlay.apply(
            ci, len(instance.classes), tiled, f, out, fits_b, node_s, node_kw, ttft, tpot,
            shape, ctx.grid["max_concurrency"].to_numpy(float))
    if ctx.ratio_b is not None:  # issue 13: per provisioned unit
        node_s = node_s / ctx.ratio_b[sub, None]
        node_kw = node_kw * ctx.ratio_b[sub, None]
    fits = fits_b.all(axis=1)
    node_s = node_s / adjust.throughput_scale
    node_kw = node_kw * adjust.power_scale
    ttft = ttft / adjust.throughput_scale
    tpot = tpot / adjust.throughput_scale
    q = cls.slo.percentile / 100
    ttft_unloaded_q = np.where(fits, weighted_quantile(np.nan_to_num(ttft, nan=np.inf),
                                                       weight, q), np.inf)
    tpot_q = np.where(fits, weighted_quantile(np.nan_to_num(tpot, nan=np.inf), weight, q),
                      np.inf)
    ok_tpot = tpot_q <= (cls.slo.tpot_ms or np.inf)
    credited_all, ok_quality, allowed = class_screen(ctx, cls)
    # the best quality over every allowed deployment (evaluated or not), for the diagnosis
    best_quality = float(credited_all[allowed].max()) if allowed.any() else 0.0
    credited, ok_quality, allowed = credited_all[sub], ok_quality[sub], allowed[sub]
    # Issue 22: TTFT at the percentile under Poisson arrivals to the pool of replicas, and
    # the pair's usable utilisation (the largest meeting the TTFT SLO, at most the ceiling).
    # Issue 26: the queueing model (most of the candidates' time) runs only where its answer
    # can matter - a pair that fits, is allowed, meets the quality floor and the TPOT SLO (the
    # queueing leaves those unchanged) and whose *unloaded* TTFT percentile meets the SLO
    # (a lower bound of the loaded one: ``unloaded_ttft_bound``). Where that leaves a class
    # no eligible pair, every pair that fits, is allowed and passes the bound is queued too,
    # for the diagnosis' closest values; everything else is exactly as if every pair were
    # queued (a class with an eligible pair: the closest values' extremes are attained by pairs
    # that were queued - a TPOT-failing pair has a larger TPOT, a pair below the floor a lower
    # quality, than the eligible one).
    slo = cls.slo.ttft_ms
    bound_ok = unloaded_ttft_bound(ttft_unloaded_q, slo)
    candidates = fits & allowed & ok_quality & bound_ok
    state = dict(locals())
    state["queue"] = queue_inputs(cls, instance, out, ttft, tpot, tiled["osl"], weight, shape,
                                  candidates & ok_tpot)
    return state


def unloaded_ttft_bound(ttft_unloaded_q: np.ndarray, slo_ms: float | None) -> np.ndarray:
    """Pairs the queueing model can still find SLO-meeting: False where the *unloaded* TTFT
    percentile already exceeds the SLO. The bound that prunes before the queueing evaluation
    (issue 26; the queueing is most of the candidates' cost).

    Proof that a pruned pair is never eligible. A request of length bucket k has TTFT =
    T0_k + W_slot + W_prefill with both waits >= 0 (``planner.perf.queueing``), so at every
    utilisation and pool size, for every t, P(TTFT > t) = sum_k w_k P(T0_k + W > t) >=
    sum_k w_k 1[T0_k > t] = P(T0 > t): the loaded tail dominates the unloaded one, hence its
    q-quantile is at least the unloaded q-quantile. In the code: ``ttft_quantile``'s
    ``exceed(t)`` is 1 where t < T0_k and a tail >= 0 elsewhere, so exceed(t) >= P(T0 > t);
    its bisection returns a point ``hi`` with exceed(hi) <= 1 - q + 1e-12, so the buckets with
    T0_k <= hi weigh at least q - 1e-12, and ``weighted_quantile`` (the first bucket value whose
    cumulative weight reaches q - 1e-12) is <= hi. So if the unloaded percentile exceeds the
    SLO, the percentile at every utilisation - MIN_UTILIZATION included - does too:
    ``usable_utilization`` returns NaN, ``ok_ttft`` is False and the pair is not eligible, as
    if it had been queued. (UNLOADED_TTFT_MARGIN covers the ms / s conversions.) A pruned pair
    is not in the pair table, and the diagnosis' closest values read only ``ok_ttft``."""
    if not slo_ms:
        return np.ones(ttft_unloaded_q.shape, bool)
    return ttft_unloaded_q <= slo_ms * (1 + UNLOADED_TTFT_MARGIN)


def _finish_class(ctx: CandidateContext, state: dict, usable_util: np.ndarray,
                  ttft_q: np.ndarray) -> tuple[dict, dict]:
    """The rest of a class's evaluation, given the queueing's answers on its queued rows."""
    (instance, cls, ci, out, ttft, tpot, tiled, weight, shape, q, overlay, fits, ok_tpot,
     candidates, ttft_unloaded_q, slo, d, b, node_s, node_kw, o_ceiling, f, credited,
     ok_quality, allowed, tpot_q, sub) = (
        state[k] for k in ("instance", "cls", "ci", "out", "ttft", "tpot", "tiled", "weight",
                           "shape", "q", "overlay", "fits", "ok_tpot", "candidates",
                           "ttft_unloaded_q", "slo", "d", "b", "node_s", "node_kw", "o_ceiling",
                           "f", "credited", "ok_quality", "allowed", "tpot_q", "sub"))
    if overlay is not None:  # a measured profile was taken at its SLO-meeting load already
        measured = (overlay.dep_source[:, ci] == 1) & fits
        usable_util[measured] = instance.options.utilization_ceiling
        ttft_q[measured] = ttft_unloaded_q[measured]
    ok_ttft = np.isfinite(usable_util) & ~(ttft_q > (slo or np.inf) * (1 + 1e-9))
    if not (ok_ttft & ok_tpot & candidates).any():
        # No eligible pair: the diagnosis' closest values (the best TPOT meeting the quality
        # floor and TTFT, the best quality meeting both SLOs) need every pair's TTFT answer.
        rest = fits & allowed & state["bound_ok"] & ~(candidates & ok_tpot)
        u2, t2 = pair_queueing(cls, instance, out, ttft, tpot, tiled["osl"], weight, shape,
                               rest, q)
        usable_util[rest], ttft_q[rest] = u2[rest], t2[rest]
        if overlay is not None:
            usable_util[measured] = instance.options.utilization_ceiling
            ttft_q[measured] = ttft_unloaded_q[measured]
        ok_ttft = np.isfinite(usable_util) & ~(ttft_q > (slo or np.inf) * (1 + 1e-9))
    ns = np.where(fits, np.nansum(node_s * weight, axis=1), np.nan)
    dyn_kwh = np.where(fits, np.nansum((node_kw - ctx.idle_b[sub, None]) * node_s * weight,
                                       axis=1) / 3600, np.nan)
    wh_it = np.where(fits, np.nansum(node_kw * node_s * weight, axis=1) / 3.6, np.nan)
    # Stated relative uncertainty of the pair's coefficients (issue 14): the perf model's
    # per-prediction ``uncertainty_pct`` when it returns one, else its family's; weighted
    # over the class's length buckets. NaN (missing) is reported as "treated as exact".
    unc = out.get("uncertainty_pct")
    if unc is None and ctx.factors_b.get("uncertainty_pct") is not None:
        unc = np.repeat(ctx.factors_b["uncertainty_pct"][sub], b)
    unc_pct = np.full(d, np.nan)
    if unc is not None:
        u = np.asarray(unc, float).reshape(shape)
        known = np.isfinite(u).any(axis=1)
        unc_pct[known] = np.nansum(u * weight, axis=1)[known] / np.sum(
            np.where(np.isfinite(u), weight, 0.0), axis=1)[known]
    if overlay is not None:  # issue 13: measured pairs carry no model error
        unc_pct[overlay.dep_source[:, ci] == 1] = np.nan
    # Capacity node-seconds: busy time x ceiling / usable utilisation, so the capacity rows
    # (busy <= ceiling x nodes) hold each pair to its own usable utilisation.
    busy_ns = ns
    ns = np.where(ok_ttft, ns * o_ceiling / np.where(ok_ttft, usable_util, 1.0), ns)
    eligible = fits & ok_ttft & ok_tpot & ok_quality & allowed
    usable = fits & allowed
    best = {
        "class": cls.id, "ttft_slo_ms": cls.slo.ttft_ms, "tpot_slo_ms": cls.slo.tpot_ms,
        "min_quality": cls.min_quality,
        "best_ttft_ms": (float(np.min(ttft_unloaded_q[usable])) if usable.any() else np.inf),
        "best_tpot_ms": float(np.min(tpot_q[usable])) if usable.any() else np.inf,
        "best_quality": state["best_quality"],
        # Closest values of an SLO-vs-quality conflict: the best latency among candidates
        # meeting the quality floor, the best quality among those meeting the SLO.
        "best_ttft_with_quality_ms": _least(ttft_unloaded_q, usable & ok_quality),
        "best_tpot_with_quality_ms": _least(tpot_q, usable & ok_quality & ok_ttft),
        "best_quality_with_slo": (float(credited[usable & ok_ttft & ok_tpot].max())
                                  if (usable & ok_ttft & ok_tpot).any() else np.nan),
        "fit_with_quality": int((fits & ok_quality & allowed).sum()) * ctx.fold,
        "eligible": int(eligible.sum()) * ctx.fold}
    arrays = {"eligible": eligible, "fits": fits, "ok_ttft": ok_ttft, "ok_tpot": ok_tpot,
              "ok_quality": ok_quality, "allowed": allowed, "node_seconds": ns,
              "dynamic_kwh": dyn_kwh, "wh_per_query_it": wh_it, "ttft_ms": ttft_q,
              "tpot_ms": tpot_q, "uncertainty_pct": unc_pct, "busy_node_seconds": busy_ns,
              "usable_utilization": usable_util, "ttft_unloaded_ms": ttft_unloaded_q}
    return arrays, best


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
    return queue_block(instance, [queue_inputs(cls, instance, out, ttft_ms, tpot_ms, osl,
                                               weight, shape, fits)])[0]


def queue_inputs(cls, instance: PlanningInstance, out: dict, ttft_ms: np.ndarray,
                 tpot_ms: np.ndarray, osl: np.ndarray, weight: np.ndarray,
                 shape: tuple[int, int], rows_mask: np.ndarray) -> dict:
    """The queueing model's per-row inputs of one class on the rows of ``rows_mask``."""
    from planner.perf.queueing import service_moments

    rows = np.flatnonzero(rows_mask)
    spec = {"rows": rows, "d": shape[0], "weight": weight, "q": cls.slo.percentile / 100}
    if rows.size == 0:
        return spec
    scale = instance.adjustments.throughput_scale
    t0 = ttft_ms[rows] / 1e3
    decode = osl.reshape(shape)[rows] * tpot_ms[rows] / 1e3
    prefill = np.nan_to_num(out["prefill_busy_s"].reshape(shape)[rows]) / scale
    spec["slots"] = np.maximum(np.nansum(out["batch"].reshape(shape)[rows] * weight, axis=1),
                               1.0)
    spec["moments"] = service_moments(t0, decode, prefill, weight)
    spec["t0"] = t0
    spec["slo"] = cls.slo.ttft_ms / 1e3 if cls.slo.ttft_ms else np.inf
    spec["rate"] = class_peak_rate(cls, instance)
    return spec


def queue_block(instance: PlanningInstance, specs: list[dict], defer: bool = False
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Usable utilisation and TTFT percentile (ms) per deployment of each spec (class): the
    classes that share length-bucket weights and percentile are queued in one vectorised call
    (issue 26: per-class calls were mostly interpreter overhead). ``defer``: the percentile
    NaN where the ceiling is proven to meet the SLO (``usable_utilization``'s ``defer``)."""
    from planner.perf.queueing import usable_utilization

    ceiling = instance.options.utilization_ceiling
    answers = [(np.full(s["d"], np.nan), np.full(s["d"], np.inf)) for s in specs]
    groups: dict[tuple, list[int]] = {}
    for i, s in enumerate(specs):
        if s["rows"].size:
            groups.setdefault((s["weight"].tobytes(), s["q"]), []).append(i)
    for members in groups.values():
        first = specs[members[0]]
        cat = lambda key: np.concatenate([specs[i][key] for i in members])  # noqa: E731
        sizes = [specs[i]["rows"].size for i in members]
        t0 = np.concatenate([specs[i]["t0"] for i in members])
        moments = {k: np.concatenate([specs[i]["moments"][k] for i in members])
                   for k in first["moments"]}
        slo = np.repeat([specs[i]["slo"] for i in members], sizes)
        rate = np.repeat([specs[i]["rate"] for i in members], sizes)
        slo_arg = None if np.all(np.isinf(slo)) else slo
        u, t = usable_utilization(first["q"], slo_arg, ceiling, rate, t0, first["weight"],
                                  cat("slots"), moments, defer=defer)
        at = 0
        for i, n in zip(members, sizes):
            usable, ttft_q = answers[i]
            rows = specs[i]["rows"]
            usable[rows] = u[at:at + n]
            ttft_q[rows] = t[at:at + n] * 1e3
            at += n
    return answers


def _least(values: np.ndarray, mask: np.ndarray) -> float:
    return float(np.min(values[mask])) if mask.any() else np.nan


def dominated_deployments(grid: pd.DataFrame, pairs: pd.DataFrame, keep: np.ndarray,
                          n_classes: int, availability: np.ndarray | None = None) -> np.ndarray:
    """Deployments another one beats or ties on every class it serves (same site, hardware,
    model, precision: same idle power per node, same inventory pool, same quality).
    ``pairs``: the eligible pairs (grid deployment indices)."""
    return dominated_from_relations(len(grid), [dominance_relation(grid, pairs, keep)],
                                    availability)


def dominance_relation(grid: pd.DataFrame, pairs: pd.DataFrame, keep: np.ndarray) -> dict:
    """Per (site, hardware, model, precision) group of kept deployments: ``better[i, j]``, j
    serves every class of ``pairs`` that i serves with no more node-seconds and energy. Over a
    partition of the classes (Dask chunks) the relation over all classes is the AND of the
    parts' (a class outside ``pairs`` constrains nothing)."""
    p_dep = pairs["dep_idx"].to_numpy()
    # Issue 26: ``pairs`` holds the eligible pairs only; each group's deployments x classes
    # block is filled from them, over the classes present (no table for the whole grid).
    present, p_cls = np.unique(pairs["class_idx"].to_numpy(), return_inverse=True)
    n_classes = present.size
    p_ns = pairs["node_seconds"].to_numpy(float)
    p_dyn = pairs["dynamic_kwh"].to_numpy(float)
    d = len(grid)
    order = np.argsort(p_dep, kind="stable")
    starts = np.searchsorted(p_dep[order], np.arange(d + 1))
    out = {}
    for key, idx in grid.groupby(["site_idx", "hardware", "model", "precision"]).indices.items():
        idx = idx[keep[idx]]
        if idx.size < 2:
            continue
        e = np.zeros((idx.size, n_classes), dtype=bool)
        a = np.full((idx.size, n_classes), np.inf)
        b = np.full((idx.size, n_classes), np.inf)
        # every deployment's pairs at once: row k of the block, the pairs' positions in order
        lens = starts[idx + 1] - starts[idx]
        k = np.repeat(np.arange(idx.size), lens)
        rows = order[np.repeat(starts[idx] - np.cumsum(lens) + lens, lens)
                     + np.arange(k.size)]
        c = p_cls[rows]
        e[k, c] = True
        a[k, c] = p_ns[rows]
        b[k, c] = p_dyn[rows]
        # better[i, j]: j is at least as good as i on every class i serves (and serves them all)
        covers = np.all(~e[:, None, :] | e[None, :, :], axis=2)
        no_worse = np.all((a[None, :, :] <= a[:, None, :] * (1 + 1e-12))
                          & (b[None, :, :] <= b[:, None, :] * (1 + 1e-12)) | ~e[:, None, :],
                          axis=2)
        out[key] = (idx, covers & no_worse)
    return out


def dominated_from_relations(d: int, relations: list[dict],
                             availability: np.ndarray | None = None) -> np.ndarray:
    """The dominated deployments from the dominance relations of a partition of the classes
    (the same groups and kept deployments in each)."""
    dominated = np.zeros(d, dtype=bool)
    for key, (idx, better) in relations[0].items():
        for other in relations[1:]:
            better = better & other[key][1]
        better = better.copy()
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


def pair_bucket_numbers(instance: PlanningInstance, deployments: pd.DataFrame,
                        classes: np.ndarray, calibration: Calibration | None = None
                        ) -> list[dict[str, np.ndarray]]:
    """:func:`bucket_numbers` (without occupancy) for many (deployment, class) pairs at once:
    row i of ``deployments`` with class ``classes[i]``. One evaluation of the model over every
    pair's buckets, then each pair's numbers from its own rows: the same elementwise model, so
    the same numbers as one call per pair (the plan's pools, issue 22, ask for thousands)."""
    with instance_catalog_context(instance):
        calibration = calibration or load_calibration()
        buckets = {ci: joint_buckets(instance.classes[ci].input_tokens,
                                     instance.classes[ci].output_tokens)
                   for ci in np.unique(classes).tolist()}
        sizes = np.array([buckets[ci][0].size for ci in classes.tolist()], dtype=int)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        cases = deployments.rename(columns={"max_concurrency": "concurrency"}).loc[
            np.repeat(np.arange(len(deployments)), sizes)].reset_index(drop=True)
        cases = cases.assign(
            isl=np.concatenate([buckets[ci][0] for ci in classes.tolist()]),
            osl=np.concatenate([buckets[ci][1] for ci in classes.tolist()]))
        specs = gather_specs(cases, calibration=calibration)
        f = factor_arrays(specs["family"], calibration, specs["kind"], specs["engine"])
        out = evaluate(specs, f, reasons=False, keys=OUT_KEYS)
        scale = instance.adjustments.throughput_scale
        # Issue 26: the pairs with the same number of buckets as one (pairs x buckets) block
        # (row j: pair j's rows), each pair's numbers a row of it: the same elementwise model
        # and the same row-wise sums, so the same numbers as one block per pair.
        numbers: list[dict[str, np.ndarray] | None] = [None] * len(sizes)
        class_of = classes.tolist()
        for b in np.unique(sizes).tolist():
            pairs = np.flatnonzero(sizes == b)
            shape = (pairs.size, b)
            rows = (starts[pairs][:, None] + np.arange(b)).ravel()
            own = {k: out[k][rows] for k in PAIR_KEYS}
            mix = [buckets[class_of[i]] for i in pairs.tolist()]
            weight = np.stack([m[2] for m in mix])
            tpot = class_mix_tpot_ms(own, specs["osl"][rows], weight, shape) / scale
            t0 = own["ttft_ms"].reshape(shape) / 1e3 / scale
            prefill = np.nan_to_num(own["prefill_busy_s"].reshape(shape)) / scale
            decode = np.stack([m[1] for m in mix]) * tpot / 1e3
            tpot_s = tpot / 1e3
            batch, fits = own["batch"].reshape(shape), own["fits"].reshape(shape)
            for j, i in enumerate(pairs.tolist()):
                row = slice(j, j + 1)
                numbers[i] = {"weight": mix[j][2], "t0_s": t0[row], "prefill_s": prefill[row],
                              "decode_s": decode[row], "tpot_s": tpot_s[row],
                              "batch": batch[row], "fits": fits[row]}
        return numbers


# ``pair_bucket_numbers``' outputs read from the model: its own numbers and the class-mix TPOT's
PAIR_KEYS = ("ttft_ms", "prefill_busy_s", "batch", "fits", "interleaved_prefill_compute_s",
             "interleaved_prefill_comm_s", "decode_compute_s", "decode_memory_s",
             "decode_fixed_s")


OCCUPANCY_POINTS = 8  # running batches at which ``bucket_numbers`` gives TPOT (1 .. slots)


def bucket_numbers(instance: PlanningInstance, deployments: pd.DataFrame, ci: int,
                   calibration: Calibration | None = None, occupancy: bool = True
                   ) -> dict[str, np.ndarray]:
    """Per (deployment, length bucket) of class ``ci``: unloaded TTFT, prefill work, decode
    time and TPOT (seconds), the running batch, and the buckets' weights; the same model path
    as the candidates (for ``planner simulate``). ``deployments``: model, precision, hardware,
    num_gpus, max_concurrency[, speculative, disaggregated, engine].

    Also TPOT at lower running batches (issue 22: a replica that is not full steps faster):
    ``occupancy`` (deployments x OCCUPANCY_POINTS, geometric from 1 to the deployment's slots)
    and ``tpot_at_occupancy_s`` (deployments x buckets x points), the same class-mix TPOT with
    the model evaluated at each running batch (``occupancy`` False: without them)."""
    with instance_catalog_context(instance):
        calibration = calibration or load_calibration()
        cls = instance.classes[ci]
        isl, osl, weight = joint_buckets(cls.input_tokens, cls.output_tokens)
        d, b = len(deployments), isl.size
        cases = deployments.rename(columns={"max_concurrency": "concurrency"}).loc[
            np.repeat(np.arange(d), b)].reset_index(drop=True)
        cases = cases.assign(isl=np.tile(isl, d), osl=np.tile(osl, d))
        shape = (d, b)
        scale = instance.adjustments.throughput_scale

        def at(frame):
            specs = gather_specs(frame, calibration=calibration)
            f = factor_arrays(specs["family"], calibration, specs["kind"], specs["engine"])
            out = evaluate(specs, f)
            return out, class_mix_tpot_ms(out, specs["osl"], weight, shape) / scale

        out, tpot = at(cases)
        batch = out["batch"].reshape(shape)
        numbers = {"weight": weight, "t0_s": out["ttft_ms"].reshape(shape) / 1e3 / scale,
                   "prefill_s": np.nan_to_num(out["prefill_busy_s"].reshape(shape)) / scale,
                   "decode_s": osl[None, :] * tpot / 1e3, "tpot_s": tpot / 1e3,
                   "batch": batch, "fits": out["fits"].reshape(shape)}
        if not occupancy:
            return numbers
        slots = np.maximum(np.floor(np.nansum(batch * weight, axis=1)), 1.0)
        occupancy = np.geomspace(np.ones(d), slots, OCCUPANCY_POINTS, axis=1)
        grid = np.empty((d, b, OCCUPANCY_POINTS))
        for g in range(OCCUPANCY_POINTS):
            at_g = np.minimum(np.repeat(occupancy[:, g], b),
                              cases["concurrency"].to_numpy(float))
            grid[:, :, g] = at(cases.assign(concurrency=at_g))[1]
        grid[:, :, -1] = tpot  # the full running batch: the plan's own TPOT
        return numbers | {"occupancy": occupancy, "tpot_at_occupancy_s": grid / 1e3}
