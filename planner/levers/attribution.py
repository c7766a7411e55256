"""Lever attribution: solve the baseline, every lever subset and all levers; attribute the saving.

A lever is a named group of ``{path: value}`` overrides on the baseline. Overrides of the allowed
option lists (``options.models``, ``.precisions``, ``.hardware``, ``.gpus_per_replica``,
``.max_concurrency``, ``.speculative_decoding``, ``.disaggregation``) and of a class's
``models`` only switch candidates on, so they are *masks*: one LP over the union of all options
is built once and each subset zeroes the upper bounds of the columns it does not allow,
re-solving from the previous basis. Any other override (PUE, an output-token budget, a cap)
changes coefficients, so it is a *parameter*: each combination of parameter levers gets its
own union LP, built once and cached. Nothing is re-read from YAML in the loop, and every
subset's plan is read and re-checked by the pipeline's own steps
(:func:`planner.pipeline.plan_from_result`, :func:`planner.pipeline.verify_or_raise`); the
union LP is the pipeline's form (:func:`formulations.form.build`), held in one HiGHS model so
that each subset re-solves from the previous basis.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from formulations.form import build
from planner.problem.candidates import build_coefficients, deployment_grid
from planner.catalog.loaders import load_catalog
from planner.problem.measurements import instance_catalog_context
from formulations.coefficients import Coefficients
from planner.errors import InfeasibleError, InputError, PlannerError, SolverNumericError
from planner.config import apply_overrides, set_values, split_path, union_overrides
from planner.problem.instance import instance_from_mapping
from planner.pipeline import optimize, plan_from_result, verify_or_raise
from planner.solve.highs import HighsModel
from planner.solve.result import Status
from planner.results.plan import deployment_labels
from planner.config.schema.plan import LeverSpec, PlanningInstance
from planner.levers.shapley import exact_shapley, sampled_shapley, subsets_needed

log = logging.getLogger(__name__)

MASK_OPTION_FIELDS = ("models", "precisions", "hardware", "gpus_per_replica", "max_concurrency",
                      "speculative_decoding", "disaggregation", "engines")
EXACT_MAX_GROUPS = 8


def is_mask_path(path: str) -> bool:
    """True for overrides that only switch candidates on or off (see the module docstring)."""
    parts = split_path(path)
    return ((len(parts) == 2 and parts[0] == "options" and parts[1] in MASK_OPTION_FIELDS)
            or (len(parts) == 3 and parts[0] == "classes" and parts[2] == "models"))


@dataclass
class SubsetResult:
    """One solved lever subset."""

    mask: int
    gwh_per_day: float
    class_gwh: np.ndarray  # per class, idle split by node-seconds
    class_deployment: list[str]  # the deployment serving most of each class
    peak_nodes: float
    seconds: float
    iterations: int


@dataclass
class _Variant:
    coefficients: Coefficients
    lp: HighsModel
    labels: np.ndarray
    model_ids: np.ndarray


@dataclass
class LeverEngine:
    """Builds the union LPs once and solves any subset of lever groups by masking columns."""

    data: dict
    file: str
    spec: LeverSpec
    base: dict = field(init=False)
    variants: dict = field(default_factory=dict, init=False)
    cache: dict = field(default_factory=dict, init=False)
    build_seconds: float = field(default=0.0, init=False)
    _instances: dict = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        data = {k: v for k, v in self.data.items() if k not in ("levers", "scenarios")}
        self.base = apply_overrides(data, self.spec.baseline, f"{self.file} (levers.baseline)",
                                    "levers baseline")
        self.groups = self.spec.groups
        self.mask_sets = [{k: v for k, v in g.set.items() if is_mask_path(k)} for g in self.groups]
        self.param_sets = [{k: v for k, v in g.set.items() if not is_mask_path(k)}
                           for g in self.groups]
        self.param_bits = sum(1 << i for i, p in enumerate(self.param_sets) if p)
        seen: dict[str, str] = {}
        for g, params in zip(self.groups, self.param_sets):
            for path in params:
                if path in seen:
                    raise InputError(f"levers {seen[path]!r} and {g.name!r} both set this "
                                     "parameter; their combination would depend on order",
                                     file=self.file, field=f"levers.groups.{g.name}.set.{path}")
                seen[path] = g.name
        for g, overrides in zip(self.groups, self.mask_sets):
            for path, value in overrides.items():
                if not (isinstance(value, list) or (value is None and "models" in path)):
                    raise InputError("an option lever sets a list of allowed values",
                                     file=self.file, field=f"levers.groups.{g.name}.set.{path}",
                                     value=value, has_value=True)
        self._check_expansions()
        self.class_ids = [c["id"] for c in self.base["classes"]]

    @property
    def n(self) -> int:
        return len(self.groups)

    def subset_instance(self, mask: int) -> PlanningInstance:
        if mask not in self._instances:
            self._instances[mask] = self._subset_instance(mask)
        return self._instances[mask]

    def _subset_instance(self, mask: int) -> PlanningInstance:
        """The validated instance of a subset: the baseline, the chosen groups' parameter
        overrides, and for option paths the union of what the chosen groups allow (so levers
        that touch the same list combine instead of overwriting each other)."""
        data = self.base
        chosen = [i for i in range(self.n) if mask >> i & 1]
        for i in chosen:
            name = self.groups[i].name
            data = apply_overrides(data, self.param_sets[i], f"{self.file} (levers.{name})",
                                   f"lever {name}")
        merged = union_overrides(self.mask_sets[i] for i in chosen)
        data = apply_overrides(data, merged, f"{self.file} (levers)",
                               f"levers {self.names(mask)} (options combined)")
        return instance_from_mapping(data, self.file)[0]

    def _check_expansions(self) -> None:
        """A mask lever must add options, never remove any: that is what makes 'adding a lever
        never increases energy' hold."""
        base_instance = instance_from_mapping(self.base, f"{self.file} (levers.baseline)")[0]
        for g, overrides in zip(self.groups, self.mask_sets):
            for path, value in overrides.items():
                parts = split_path(path)
                if parts[0] == "options":
                    before = set(map(str, getattr(base_instance.options, parts[1])))
                    after = set(map(str, value or []))
                    if not before <= after:
                        raise InputError(
                            f"lever {g.name!r} removes baseline options {sorted(before - after)};"
                            " a lever may only add options", file=self.file,
                            field=f"levers.groups.{g.name}.set.{path}", value=value,
                            has_value=True)

    def _variant(self, mask: int) -> _Variant:
        key = mask & self.param_bits
        if key not in self.variants:
            t0 = time.perf_counter()
            data = copy.deepcopy(self.base)
            for i, overrides in enumerate(self.param_sets):
                if key >> i & 1:
                    name = self.groups[i].name
                    data = apply_overrides(data, overrides, f"{self.file} (levers.{name})",
                                           f"lever {name}")
            # The union of every lever's options; class model restrictions are lifted (masks).
            options = instance_from_mapping(data, self.file)[0].options.model_dump()
            option_sets = [{split_path(p)[1]: v for p, v in overrides.items()
                            if split_path(p)[0] == "options"} for overrides in self.mask_sets]
            options.update(union_overrides(
                [{k: options[k] for s in option_sets for k in s}, *option_sets]))
            set_values(data, {"options": options, "classes[*].models": None},
                       f"{self.file} (levers)", "levers (union of every lever's options)")
            union_instance = instance_from_mapping(data, self.file)[0]
            grid = deployment_grid(union_instance)
            masks = [m for m in range(1 << self.n) if m & self.param_bits == key]
            availability = np.stack([self.deployment_available(m, grid) for m in masks], axis=1)
            c, _ = build_coefficients(union_instance, availability=availability)
            self.variants[key] = _Variant(c, HighsModel(build(c)),
                                          np.array(deployment_labels(c)),
                                          c.deployments["model"].to_numpy())
            self.build_seconds += time.perf_counter() - t0
            log.info("lever variant %s: %d deployments, %d pairs (%.2f s)", bin(key),
                     c.n_deployments, c.n_pairs, time.perf_counter() - t0)
        return self.variants[key]

    def deployment_available(self, mask: int, dep: pd.DataFrame) -> np.ndarray:
        """Which deployments (rows of ``dep``) the subset's options allow."""
        instance = self.subset_instance(mask)
        o = instance.options
        with instance_catalog_context(instance):  # issue 13: the instance's own ids
            catalog = load_catalog()
        return (np.isin(dep["model"], [catalog.model_id(m) for m in o.models])
                & np.isin(dep["precision"], [catalog.precision_id(p) for p in o.precisions])
                & np.isin(dep["hardware"], [catalog.hardware_id(h) for h in o.hardware])
                & np.isin(dep["num_gpus"], o.gpus_per_replica)
                & np.isin(dep["max_concurrency"], o.max_concurrency)
                & np.isin(dep["speculative"], o.speculative_decoding)
                & np.isin(dep["disaggregated"], o.disaggregation)
                & np.isin(dep["engine"], [e.strip().lower() for e in o.engines]))

    def column_upper(self, mask: int, v: _Variant) -> np.ndarray:
        """Upper bounds that switch off the columns the subset does not allow."""
        instance = self.subset_instance(mask)
        with instance_catalog_context(instance):  # issue 13: the instance's own ids
            catalog = load_catalog()
        ok = self.deployment_available(mask, v.coefficients.deployments)
        c = v.coefficients
        pair_ok = ok[c.pair_dep].copy()
        for ci, cls in enumerate(instance.classes):
            if cls.models:
                allowed = np.isin(v.model_ids[c.pair_dep], [catalog.model_id(m)
                                                            for m in cls.models])
                pair_ok &= (c.pair_class != ci) | allowed
        # Every column of the union LP: a pair column (x, and any per-pair column a constraint
        # unit adds) follows its pair, a deployment's columns follow the deployment.
        form = v.lp.form
        upper = np.full(form.a.shape[1], np.inf)
        for block in form.cols.values():
            coords = block.coords
            if "pair" in coords:
                upper[block.index] = np.where(pair_ok[coords["pair"].to_numpy(int)], np.inf, 0.0)
            elif "deployment" in coords:
                upper[block.index] = np.where(ok[coords["deployment"].to_numpy(int)], np.inf,
                                              0.0)
        return np.minimum(upper, form.col_upper)

    def solve(self, mask: int) -> SubsetResult:
        """Solve one subset (cached by its bitmask)."""
        if mask in self.cache:
            return self.cache[mask]
        v = self._variant(mask)
        v.lp.set_column_upper(self.column_upper(mask, v))
        result = v.lp.solve()
        if not result.optimal:
            text = (f"lever subset [{self.names(mask) or 'baseline'}] is {result.status.value}: "
                    f"{self.diagnose(mask)}")
            if result.status is Status.INFEASIBLE:
                raise InfeasibleError(text)
            raise SolverNumericError(text)
        c = v.coefficients
        x, nodes, flows = plan_from_result(c, result, v.lp.form.unit)
        verify_or_raise(c, x, nodes, flows, f"lever subset [{self.names(mask)}]")
        class_gwh = class_energy(c, x, nodes)
        serving = []
        for ci in range(len(c.demand)):
            rows = np.flatnonzero(c.pair_class == ci)
            serving.append(str(v.labels[c.pair_dep[rows[np.argmax(x[rows])]]]))
        out = SubsetResult(mask, float(result.objective), class_gwh, serving, float(nodes.sum()),
                           result.seconds, result.iterations)
        self.cache[mask] = out
        return out

    def diagnose(self, mask: int) -> str:
        """Why a subset has no plan: the full solve pipeline's infeasibility explanation."""
        try:
            optimize(self.subset_instance(mask))
        except PlannerError as exc:
            return str(exc)
        return "the full pipeline solves it; the union LP did not (please report)"

    def names(self, mask: int) -> str:
        return "+".join(g.name for i, g in enumerate(self.groups) if mask >> i & 1)


def class_energy(c: Coefficients, x: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """GWh/day per class: its load-dependent energy plus the idle energy of the nodes it uses,
    split by node-seconds."""
    per_query, per_node = c.energy_weights()
    dynamic = np.bincount(c.pair_class, weights=x * per_query, minlength=len(c.demand))
    busy = x * c.node_seconds
    dep_busy = np.bincount(c.pair_dep, weights=busy, minlength=c.n_deployments)
    share = np.divide(busy, dep_busy[c.pair_dep], out=np.zeros_like(busy),
                      where=dep_busy[c.pair_dep] > 0)
    idle = np.bincount(c.pair_class, weights=share * (per_node * nodes)[c.pair_dep],
                       minlength=len(c.demand))
    return dynamic + idle


@dataclass
class LeverAttribution:
    """Everything ``planner levers`` reports."""

    summary: dict
    levers: pd.DataFrame
    classes: pd.DataFrame
    subsets: pd.DataFrame
    reconciliation: pd.DataFrame = field(default_factory=pd.DataFrame)
    categories: pd.DataFrame = field(default_factory=pd.DataFrame)


def category_table(engine: "LeverEngine", categories: list) -> pd.DataFrame:
    """Each published category's measured reduction: the baseline against the subset that
    switches on all of its groups (already solved in exact mode), on the fleet or on the
    classes the category applies to, with every class's own reduction beside it."""
    base = engine.solve(0)
    index = {g.name: i for i, g in enumerate(engine.groups)}
    rows = []
    for category in categories:
        mask = sum(1 << index[name] for name in category.groups)
        subset = engine.solve(mask)
        on = [engine.class_ids.index(cid) for cid in (category.classes or engine.class_ids)]
        reduction = base.class_gwh[on].sum() / subset.class_gwh[on].sum()
        low, high = category.published_range
        rows.append({
            "category": category.name, "groups": " + ".join(category.groups),
            "measured_on": ", ".join(category.classes) if category.classes else "fleet",
            "reduction": reduction, "published_low": low, "published_high": high,
            "in_published_range": bool(low <= reduction <= high),
            **{f"reduction[{cid}]": base.class_gwh[k] / subset.class_gwh[k]
               for k, cid in enumerate(engine.class_ids)},
            "source": category.source})
    return pd.DataFrame(rows)


def reconcile(base: dict, steps: list, baseline_gwh: float, file: str) -> pd.DataFrame:
    """Apply the reconciliation steps to the baseline one after another and solve each: how
    far the planner's baseline moves toward the paper's own assumptions, step by step."""
    from planner.pipeline import optimize  # the full pipeline: each step is a different problem

    rows, data, previous = [], base, baseline_gwh
    for step in steps:
        data = apply_overrides(data, step.set, f"{file} (levers.reconcile {step.name})",
                               f"levers reconcile step {step.name}")
        instance, digest = instance_from_mapping(data, f"{file} (levers.reconcile {step.name})")
        gwh = optimize(instance, digest, "lp").summary["objective_gwh_per_day"]
        rows.append({"step": step.name, "gwh_per_day": gwh, "step_factor": previous / gwh,
                     "cumulative_factor": baseline_gwh / gwh, "description": step.description,
                     "source": step.source})
        previous = gwh
    return pd.DataFrame(rows, columns=["step", "gwh_per_day", "step_factor",
                                       "cumulative_factor", "description", "source"])


def attribute_levers(data: dict, file: str,
                     progress: Callable[[int], None] | None = None,
                     total: Callable[[int], None] | None = None) -> LeverAttribution:
    """Solve the subsets and attribute the combined reduction to the lever groups."""
    t0 = time.perf_counter()
    if not data.get("levers"):
        raise InputError("the instance has no 'levers' section", file=file, field="levers")
    instance, digest = instance_from_mapping(data, file)
    if instance.objective != "energy":
        raise InputError("lever attribution minimises energy; set objective: energy",
                         file=file, field="objective", value=instance.objective, has_value=True)
    engine = LeverEngine(data, file, instance.levers)
    n = engine.n
    full = (1 << n) - 1
    exact = n <= EXACT_MAX_GROUPS
    order = (subsets_needed(n) if exact else
             [0, full] + [1 << i for i in range(n)] + [full ^ (1 << i) for i in range(n)])
    if total:
        total(len(order))
    for mask in order:
        engine.solve(mask)
        if progress:
            progress(1)
    base, everything = engine.solve(0), engine.solve(full)
    b, a = base.gwh_per_day, everything.gwh_per_day

    def gain_fn(value: Callable[[SubsetResult], float]) -> Callable[[int], float]:
        return lambda mask: value(engine.solve(mask))

    saving = gain_fn(lambda r: b - r.gwh_per_day)
    log_gain = gain_fn(lambda r: np.log(b / r.gwh_per_day))
    if exact:
        phi, phi_log, stderr = exact_shapley(n, saving), exact_shapley(n, log_gain), np.zeros(n)
        method = "exact"
    else:
        seed = instance.seed
        phi, stderr = sampled_shapley(n, saving, instance.levers.shapley_permutations, seed)
        phi_log, _ = sampled_shapley(n, log_gain, instance.levers.shapley_permutations, seed)
        method = f"sampled ({instance.levers.shapley_permutations} permutations, seed {seed})"

    rows = []
    for i, g in enumerate(engine.groups):
        alone = engine.solve(1 << i).gwh_per_day
        without = engine.solve(full ^ (1 << i)).gwh_per_day
        rows.append({
            "name": g.name, "kind": "parameter" if engine.param_sets[i] else "option expansion",
            "alone_gwh_per_day": alone, "alone_reduction": b / alone,
            "leave_one_out_gwh_per_day": without, "leave_one_out_reduction": without / a,
            "shapley_gwh_per_day": phi[i], "shapley_share": phi[i] / (b - a) if b > a else 0.0,
            "shapley_stderr_gwh_per_day": stderr[i], "shapley_factor": float(np.exp(phi_log[i])),
            "description": g.description, "source": g.source})
    levers = pd.DataFrame(rows)
    classes = class_table(engine, n, full, exact)
    subsets = pd.DataFrame([{
        "mask": m, "levers": engine.names(m) or "(baseline)", "n_levers": bin(m).count("1"),
        "gwh_per_day": r.gwh_per_day, "reduction": b / r.gwh_per_day,
        **{f"gwh_per_day[{cid}]": r.class_gwh[k] for k, cid in enumerate(engine.class_ids)},
        "nodes": r.peak_nodes, "solve_s": r.seconds, "simplex_iterations": r.iterations}
        for m, r in sorted(engine.cache.items())])
    product = float(np.prod(levers["alone_reduction"]))
    bridge = reconcile(engine.base, instance.levers.reconcile, b, file)
    categories = category_table(engine, instance.levers.categories)
    queries = float(sum(cls.queries_per_day for cls in instance.classes))
    summary = {
        "instance": instance.name, "instance_hash": digest,
        "baseline_gwh_per_day": b, "all_levers_gwh_per_day": a, "combined_reduction": b / a,
        "baseline_wh_per_query": b * 1e9 / queries, "all_levers_wh_per_query": a * 1e9 / queries,
        "product_of_alone_reductions": product, "interaction": (b / a) / product,
        "shapley": method, "subsets_solved": len(engine.cache),
        "baseline_source": instance.levers.baseline_source,
        "levers": levers[["name", "alone_reduction", "leave_one_out_reduction",
                          "shapley_share", "shapley_factor", "shapley_gwh_per_day"]]
        .to_dict(orient="records"),
        "classes": classes.to_dict(orient="records"),
        "reconciliation": bridge.drop(columns=["description", "source"]).to_dict(
            orient="records"),
        "categories": (categories.drop(columns=["source"]).to_dict(orient="records")
                       if len(categories) else []),
        "timings_s": {"build": round(engine.build_seconds, 3),
                      "solve": round(float(subsets["solve_s"].sum()), 3),
                      "total": round(time.perf_counter() - t0, 3)},
    }
    return LeverAttribution(summary, levers, classes, subsets, bridge, categories)


def class_table(engine: LeverEngine, n: int, full: int, exact: bool) -> pd.DataFrame:
    """Per class: baseline and all-levers energy, each lever alone, and Shapley shares."""
    base, everything = engine.solve(0), engine.solve(full)
    rows = []
    for k, cid in enumerate(engine.class_ids):
        b, a = base.class_gwh[k], everything.class_gwh[k]
        row = {"class": cid, "baseline_gwh_per_day": b, "all_levers_gwh_per_day": a,
               "combined_reduction": b / a if a > 0 else np.inf,
               "baseline_deployment": base.class_deployment[k],
               "all_levers_deployment": everything.class_deployment[k]}
        for i, g in enumerate(engine.groups):
            row[f"alone_reduction[{g.name}]"] = b / engine.solve(1 << i).class_gwh[k]
        if exact:  # per-class Shapley is linear in the subset values already solved
            phi = exact_shapley(n, lambda m: b - engine.solve(m).class_gwh[k])
            for i, g in enumerate(engine.groups):
                row[f"shapley_share[{g.name}]"] = phi[i] / (b - a) if b > a else 0.0
        rows.append(row)
    return pd.DataFrame(rows)
