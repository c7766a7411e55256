"""Solve a roadmap: perfect foresight (one program over the horizon) or myopic (period by
period, earlier decisions fixed, re-evaluated over the horizon), verify it, explain an
infeasible one (the elastic roadmap: priced unmet demand per class and period)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from formulations.coefficients import HOURS, Coefficients
from formulations.constraints import SECONDS_PER_HOUR
from formulations.form import Form, Options
from formulations.periods import Horizon, build_periods, site_factor
from formulations.loads import site_power_kw
from planner.config.schema.plan import PlanningInstance
from planner.errors import (InfeasibleError, InputError, NoSolutionError, VerificationError)
from planner.pipeline import eligible_coefficients, provenance
from planner.roadmap.horizon import build_horizon, period_coefficients
from planner.roadmap.verify import verify_dates, verify_roadmap
from planner.solve.highs import HighsModel, dust_floor
from planner.solve.result import Result, Status

log = logging.getLogger(__name__)

HORIZON_UNITS = {"energy": "GWh", "carbon": "kt CO2", "cost": "million USD (NPV)"}
FORESIGHT = ("perfect", "myopic")


@dataclass
class Solution:
    """One roadmap plan, in the inputs' units: x (T x P queries/day), n (T x D nodes), orders
    (per row of the horizon's orders), retired {(cohort, period): nodes}, spare (per link key
    and period, T x keys), the objective over the horizon and the solver's result."""

    x: np.ndarray
    n: np.ndarray
    orders: np.ndarray
    retired: dict
    spare: np.ndarray
    objective: float
    result: Result
    alive: np.ndarray | None = None  # T x cohorts
    flows: list | None = None  # per period: a constraint unit's own per-pair columns (failover)


@dataclass
class Roadmap:
    """What ``planner roadmap`` hands back: the summary (JSON), tables and the pieces."""

    summary: dict
    tables: dict[str, pd.DataFrame]
    extra: dict = field(default_factory=dict)


def roadmap_form(cs: list[Coefficients], h: Horizon, integer: bool,
                 unmet_price: float | None = None) -> Form:
    return build_periods(cs, h, Options(aggregated=True, integer=integer),
                         unmet_price=unmet_price)


def scaled(form: Form) -> tuple[Form, float]:
    """The form with its costs scaled to a largest of 1 (a horizon's GWh per node are small
    numbers beside HiGHS's absolute tolerances; the tie-breaking costs must stay above them)."""
    largest = float(np.max(np.abs(form.cost))) if form.cost.size else 0.0
    factor = 1.0 / largest if largest > 0 else 1.0
    return replace(form, cost=form.cost * factor), factor


def solve_form(form: Form, time_limit_s: float, mip_gap: float) -> Result:
    form_s, factor = scaled(form)
    model = HighsModel(form_s, presolve="choose")
    result = model.solve(time_limit_s, mip_gap if form.integrality is not None else None)
    result.objective = result.objective / factor
    result.duals = {k: v / factor for k, v in (result.duals or {}).items()}
    if result.dual_bound is not None:
        result.dual_bound = result.dual_bound / factor
    return result


def extract(form: Form, cs: list[Coefficients], h: Horizon, values: np.ndarray,
            integer: bool) -> Solution:
    """The plan in the inputs' units from a solved form's column values."""
    t_count, p, d = len(cs), form.meta["pairs_per_period"], form.meta["deployments_per_period"]
    x = values[form.cols["x"].index].reshape(t_count, p) * form.unit
    x = np.stack([c.without_dust(x[t], dust_floor(form.unit)) for t, c in enumerate(cs)])
    n = values[form.cols["n"].index].reshape(t_count, d)
    orders = values[form.cols["order"].index]
    if integer:
        n, orders = np.rint(n), np.rint(orders)
    n = np.maximum(n, 0.0)
    orders = np.maximum(orders, 0.0)
    retired = {}
    rb = form.cols["retired"]
    if rb.size:
        k_of = _cohort_index(form, h)
        r_vals = values[rb.index]
        for j, (period, cohort, site, hw) in enumerate(zip(
                rb.coords["period"], rb.coords["cohort"], rb.coords["site"],
                rb.coords["hardware"])):
            if abs(r_vals[j]) > 1e-9:
                t = h.period_ids.index(period)
                retired[(k_of[(int(site), str(hw), cohort)], t)] = float(
                    np.rint(r_vals[j]) if integer else r_vals[j])
    spare = values[form.cols["spare"].index].reshape(t_count, -1)
    return Solution(x, n, orders, retired, np.maximum(spare, 0.0), np.nan, None,
                    flows=period_flows(form, h, values, p))


def period_flows(form: Form, h: Horizon, values: np.ndarray, pairs: int) -> list[dict]:
    """Each period's other per-pair column blocks (failover re-routing) as the single-plan
    verifier reads them: layers x pairs in queries/day, by the blocks' period, layer and pair
    coordinates (the layers of each period's own form)."""
    out: list[dict] = [{} for _ in h.period_ids]
    for name, block in form.cols.items():
        if name == "x" or "pair" not in block.coords.columns:
            continue
        period = block.coords["period"].to_numpy()
        pair = block.coords["pair"].to_numpy(int)
        layer = (block.coords["layer"].to_numpy(int) if "layer" in block.coords
                 else np.zeros(len(pair), int))
        vals = values[block.index] * form.unit
        for t, pid in enumerate(h.period_ids):
            layers = form.meta["period_meta"][t].get("layers", {}).get(name, 1)
            dense = np.zeros((layers, pairs))
            m = period == pid
            dense[layer[m], pair[m]] = vals[m]
            out[t][name] = dense
    return out


def _cohort_index(form: Form, h: Horizon) -> dict:
    """(site, hardware, cohort label) -> cohort index (installed first, then orders)."""
    out = {}
    for k, r in enumerate(h.cohorts.itertuples()):
        out[(int(r.site_idx), str(r.hardware), f"installed {r.vintage}")] = k
    for j, r in enumerate(h.orders.itertuples()):
        out[(int(r.site_idx), str(r.hardware), f"arrives {h.period_ids[r.arrival]}")] = \
            len(h.cohorts) + j
    return out


def horizon_objective(cs: list[Coefficients], h: Horizon, sol: Solution, keys: list) -> dict:
    """The objective over the horizon recomputed from the plan (no tie-breaking terms):
    operations (each period's daily objective x days x discount), capex, warm spare nodes."""
    weights = np.asarray(h.days, float) * np.asarray(h.discount, float)
    ops = sum(w * c.daily_objective(sol.x[t], sol.n[t]) for t, (c, w) in
              enumerate(zip(cs, weights)))
    capex = float(np.sum(sol.orders * h.orders["capex"].to_numpy(float)
                         * np.asarray(h.discount)[h.orders["arrival"].to_numpy(int)])) \
        if len(h.orders) else 0.0
    spare_daily = spare_energy(cs, h, sol.spare, keys, objective=True)
    warm = float(np.sum(spare_daily * weights)) if h.idle_warm else 0.0
    return {"operations": float(ops), "capex": capex, "warm_spare": warm,
            "total": float(ops) + capex + warm}


def spare_energy(cs: list[Coefficients], h: Horizon, spare: np.ndarray, keys: list,
                 objective: bool = False) -> np.ndarray:
    """Per period: what the spare nodes would draw per day if kept warm (GWh/day, or the
    objective's units per day)."""
    out = np.zeros(len(cs))
    for t, c in enumerate(cs):
        factor = site_factor(c, objective)
        for i, (s, hw) in enumerate(keys):
            out[t] += spare[t, i] * h.idle_kw.get(hw, 0.0) * HOURS * factor[s] / 1e6
    return out


def optimize_roadmap(instance: PlanningInstance, digest: str = "", formulation: str = "lp",
                     foresight: str = "perfect", compare: bool = True,
                     coefficients: tuple | None = None) -> Roadmap:
    """Solve the instance's roadmap; with ``compare`` the other foresight is solved too and the
    value of foresight reported (perfect minus myopic, re-evaluated over the horizon).
    ``coefficients``: (Coefficients, CandidateReport) already built (as for ``optimize``)."""
    if instance.roadmap is None:
        raise InputError("the instance has no roadmap section (periods, growth, hardware over "
                         "time); see docs/roadmap.md", field="roadmap")
    if formulation not in ("lp", "milp"):
        raise InputError("unknown formulation; known: ['lp', 'milp']", field="--formulation",
                         value=formulation, has_value=True)
    if foresight not in FORESIGHT:
        raise InputError(f"unknown foresight; known: {list(FORESIGHT)}", field="--foresight",
                         value=foresight, has_value=True)
    timings: dict[str, float] = {}
    c, report = eligible_coefficients(instance, coefficients, timings)
    t0 = time.perf_counter()
    cs = period_coefficients(instance, c)
    h = build_horizon(instance, c)
    integer = formulation == "milp"
    form = roadmap_form(cs, h, integer)
    timings["build"] = time.perf_counter() - t0
    limit, gap = instance.solver.time_limit_s, instance.solver.mip_gap
    keys = form.meta["link_keys"]
    solutions = {}
    for mode in ([foresight] + ([m for m in FORESIGHT if m != foresight] if compare else [])):
        t0 = time.perf_counter()
        try:
            sol = (solve_perfect if mode == "perfect" else solve_myopic)(form, cs, h, limit, gap,
                                                                         integer)
        except (InfeasibleError, NoSolutionError) as exc:
            if mode == foresight:
                raise
            log.info("the %s roadmap has no plan: %s", mode, exc)
            sol = None
        timings[f"solve_{mode}"] = time.perf_counter() - t0
        if sol is not None:
            sol.objective = horizon_objective(cs, h, sol, keys)["total"]
            check(cs, h, sol, integer, mode, instance)
        solutions[mode] = sol
    return assemble(instance, digest, formulation, foresight, cs, h, form, solutions, keys,
                    report, timings)


def check(cs, h, sol: Solution, integer: bool, mode: str, instance=None) -> None:
    """The independent re-check (raises VerificationError): operations, cohorts and, with the
    instance, the orders' dates re-derived from the roadmap."""
    t0 = time.perf_counter()
    bad = verify_roadmap(cs, h, sol.x, sol.n, sol.orders, sol.retired, integer=integer,
                         flows=sol.flows)
    if instance is not None:
        dates = verify_dates(instance, h)
        # an order cohort breaking a date rule is only a violation where something is ordered
        index = {(int(r.site_idx), str(r.hardware), int(r.arrival)): j
                 for j, r in enumerate(h.orders.itertuples())}
        site_ids = list(cs[0].site_ids)
        keep = []
        for r in dates.itertuples():
            parts = r.where.split(" ")
            j = index.get((site_ids.index(parts[0]), parts[1],
                           h.period_ids.index(parts[-1]))) if "arriving" in r.where else None
            keep.append(j is None or sol.orders[j] > 1e-9)
        bad = pd.concat([bad, dates[np.array(keep, bool)]], ignore_index=True) \
            if len(dates) else bad
    log.info("roadmap (%s) re-checked in %.3f s: %d violations", mode,
             time.perf_counter() - t0, len(bad))
    if not bad.empty:
        found = "; ".join(f"{r.constraint} in {r.period} at {r.where} by {r.excess:.4g}"
                          for r in bad.head(5).itertuples())
        raise VerificationError(f"roadmap plan ({mode}) failed the independent re-check: "
                                f"{found}")


def _require_plan(result: Result, cs, h, form, limit, what: str) -> None:
    result.require_plan(f"roadmap plan ({what})", limit, lambda: diagnose(cs, h, form, limit))


def solve_perfect(form: Form, cs, h, limit: float, gap: float, integer: bool) -> Solution:
    """One program over the horizon."""
    result = solve_form(form, limit, gap)
    _require_plan(result, cs, h, form, limit, "perfect foresight")
    sol = extract(form, cs, h, result.values, integer)
    sol.result = result
    return sol


def solve_myopic(form: Form, cs, h, limit: float, gap: float, integer: bool) -> Solution:
    """Period by period: period t sees only its own demand and costs (later periods' demand
    rows at 0 and their costs at 0), buys for itself what can arrive by t, and keeps every
    earlier decision (columns of earlier periods fixed). One HiGHS model, changed in place."""
    form_s, factor = scaled(form)
    model = HighsModel(form_s, presolve="choose")
    col_period, row_period = form.meta["col_period"], form.meta["row_period"]
    cost = np.asarray(form_s.cost, float)
    lower0, upper0 = form.row_lower.copy(), form.row_upper.copy()
    relax = np.zeros(form.shape[0], bool)
    for name in ("demand", "min_site_share"):
        if name in form.rows:
            relax[form.rows[name].index] = True
    values = np.zeros(form.shape[1])
    seconds, gaps = 0.0, []
    for t in range(len(cs)):
        model.set_cost(np.where(col_period <= t, cost, 0.0))
        future = relax & (row_period > t)
        now = relax & (row_period == t)
        rows = np.flatnonzero(future | now)
        lo = np.where(future, np.minimum(0.0, lower0), lower0)[rows]
        hi = np.where(future, np.maximum(0.0, np.minimum(upper0, np.where(
            np.isfinite(upper0), 0.0, np.inf))), upper0)[rows]
        model.set_row_bounds(rows, lo, hi)
        result = model.solve(limit, gap if integer else None)
        seconds += result.seconds
        if result.status is Status.INFEASIBLE:
            raise InfeasibleError(f"myopic roadmap: period {h.period_ids[t]} cannot be served "
                                  f"with what earlier periods bought and what can arrive by "
                                  f"then")
        _require_plan(result, cs, h, form, limit, f"myopic, period {h.period_ids[t]}")
        if result.mip_gap is not None:
            gaps.append(result.mip_gap)
        v = result.values
        mine = np.flatnonzero(col_period == t)
        fixed = np.rint(v[mine]) if integer else v[mine]
        fixed = np.where(form.integrality[mine] > 0, fixed, v[mine]) \
            if integer and form.integrality is not None else fixed
        fixed = np.clip(fixed, form.col_lower[mine], form.col_upper[mine])
        model.set_col_bounds(mine, fixed, fixed)
        values[mine] = fixed
    sol = extract(form, cs, h, values, integer)
    sol.result = Result(Status.OPTIMAL, float(form.cost @ values), values=values,
                        mip_gap=max(gaps) if gaps else (0.0 if not integer else None),
                        seconds=seconds)
    return sol


def diagnose(cs: list[Coefficients], h: Horizon, form: Form, limit: float) -> InfeasibleError:
    """The elastic roadmap (unmet demand per class and period priced far above any plan): the
    first class and period left unserved, the nodes it lacks and the earliest order that could
    have served it, in one line; the closest achievable plan in the details."""
    x_cost = form.cost[form.cols["x"].index]
    price = 1e4 * max(float(np.max(np.abs(x_cost))) if x_cost.size else 1.0, 1e-12)
    integer = form.integrality is not None
    elastic = roadmap_form(cs, h, integer, unmet_price=price)
    result = solve_form(elastic, limit, 0.01)
    if result.values is None:
        return InfeasibleError("the roadmap is infeasible and the elastic roadmap found no "
                               "plan either", [])
    unmet = result.values[elastic.cols["unmet"].index] * elastic.unit
    coords = elastic.cols["unmet"].coords
    c0 = cs[0]
    first_arrival = {}
    for r in h.orders.itertuples():
        first_arrival[r.hardware] = min(first_arrival.get(r.hardware, 10**9), int(r.arrival))
    details = []
    for j in np.flatnonzero(unmet > 1e-6 * max(c0.demand.max(), 1.0)):
        period, cls = coords["period"].iloc[j], coords["class"].iloc[j]
        t = h.period_ids.index(period)
        ci = list(c0.classes["id"]).index(cls)
        c = cs[t]
        mine = np.flatnonzero(c.pair_class == ci)
        later = [(first_arrival[hw], hw) for hw in set(c.dep_hardware[c.pair_dep[mine]])
                 if hw in first_arrival and first_arrival[hw] > t]
        peak = float(c.profile[ci].max()) / HOURS
        detail = {"class": cls, "period": period, "constraint": "demand",
                  "unmet_queries_per_day": float(unmet[j]),
                  "limit": float(c.demand[ci]), "closest": float(c.demand[ci] - unmet[j]),
                  "unit": "queries/day"}
        if later:
            arrives, hw = min(later, key=lambda v: (v[0], v[1]))
            on_hw = mine[c.dep_hardware[c.pair_dep[mine]] == hw]
            ns = float(np.min(c.node_seconds[on_hw]))
            nodes = math.ceil(unmet[j] * peak * ns / (c.utilization_ceiling * SECONDS_PER_HOUR)
                              - 1e-9)
            detail.update(nodes=nodes, hardware=hw,
                          arrives=h.period_ids[arrives] if arrives < len(h.period_ids)
                          else "after the horizon")
            detail["text"] = (f"class {cls} in {period} needs {nodes} more nodes; the earliest "
                              f"order of {hw} arrives {detail['arrives']}")
        else:
            detail["text"] = (f"class {cls} in {period}: {unmet[j]:.4g} of {c.demand[ci]:.4g} "
                              f"queries/day cannot be served (power cap, build limit or "
                              f"installed base)")
        details.append(detail)
    if not details:
        return InfeasibleError("the roadmap is infeasible but every class can be served in the "
                               "elastic roadmap (a minimum site share or an integer rule)", [])
    more = f" (and {len(details) - 1} more class-periods)" if len(details) > 1 else ""
    return InfeasibleError(details[0]["text"] + more, details)


# --- the plan as tables and a summary --------------------------------------------------------

def period_rows(cs, h, sol: Solution, keys: list, deployments: pd.DataFrame) -> list[dict]:
    """The JSON's ``periods``: energy, peak, installed base, orders, retirements, deployments."""
    alive_by_key = installed_table(h, sol, keys, cs[0])
    spare_gwh = spare_energy(cs, h, sol.spare, keys)
    out = []
    site_ids = cs[0].site_ids
    for t, c in enumerate(cs):
        per_query, per_node = c.energy_weights()
        gwh_day = float(per_query @ sol.x[t] + per_node @ sol.n[t])
        power = site_power_kw(c, sol.x[t], sol.n[t])
        if h.idle_warm:
            gwh_day += float(spare_gwh[t])
            for i, (s, hw) in enumerate(keys):
                power[s] += sol.spare[t, i] * h.idle_kw.get(hw, 0.0) * c.site_pue[s]
        pid = h.period_ids[t]
        rows = alive_by_key[alive_by_key["period"] == pid]
        orders = [{"site": site_ids[int(r.site_idx)], "hardware": r.hardware,
                   "nodes": float(sol.orders[j]), "ordered": h.period_ids[int(r.ordered)],
                   "arrives": pid}
                  for j, r in enumerate(h.orders.itertuples())
                  if int(r.arrival) == t and sol.orders[j] > 1e-9]
        k_site, k_hw = _cohort_keys(h)
        retired = [{"site": site_ids[k_site[k]], "hardware": k_hw[k], "nodes": v}
                   for (k, tt), v in sorted(sol.retired.items()) if tt == t and v > 1e-9]
        used = np.flatnonzero(sol.n[t] > 1e-9)
        deps = [{"deployment": deployments["label"].iloc[d], "site": site_ids[c.dep_site[d]],
                 "hardware": str(c.dep_hardware[d]), "nodes": float(sol.n[t, d])} for d in used]
        out.append({
            "id": pid, "days": float(h.days[t]), "queries_per_day": float(c.demand.sum()),
            "gwh": gwh_day * float(h.days[t]), "gwh_per_day": gwh_day,
            "peak_mw": float(power.sum(axis=0).max() / 1e3),
            "wh_per_query": gwh_day * 1e9 / float(c.demand.sum()),
            "spare_nodes": float(sol.spare[t].sum()),
            "spare_warm_gwh_per_day": float(spare_gwh[t]),
            "installed": rows.drop(columns="period").to_dict(orient="records"),
            "orders": orders, "retired": retired, "deployments": deps})
    return out


def _cohort_keys(h: Horizon) -> tuple[list[int], list[str]]:
    site = list(h.cohorts["site_idx"].astype(int)) + list(h.orders["site_idx"].astype(int))
    hw = list(h.cohorts["hardware"].astype(str)) + list(h.orders["hardware"].astype(str))
    return site, hw


def installed_table(h: Horizon, sol: Solution, keys: list, c0: Coefficients) -> pd.DataFrame:
    """Per period, site and hardware: live nodes, used, spare."""
    from planner.roadmap.verify import live_nodes

    alive, cohort_keys = live_nodes(h, sol.orders, sol.retired)
    rows = []
    for t, pid in enumerate(h.period_ids):
        for i, (s, hw) in enumerate(keys):
            live = float(sum(alive[t, k] for k, key in enumerate(cohort_keys) if key == (s, hw)))
            used = float(sol.n[t][(c0.dep_site == s) & (c0.dep_hardware == hw)].sum())
            if live > 1e-9 or used > 1e-9:
                rows.append({"period": pid, "site": c0.site_ids[s], "hardware": hw,
                             "nodes": live, "used": used, "spare": max(live - used, 0.0)})
    return pd.DataFrame(rows, columns=["period", "site", "hardware", "nodes", "used", "spare"])


def deployment_labels(c: Coefficients) -> pd.DataFrame:
    d = c.deployments
    label = (d["model"].astype(str) + " " + d["precision"].astype(str) + " "
             + d["hardware"].astype(str) + " x" + d["num_gpus"].astype(str) + " b"
             + d["max_concurrency"].astype(str))
    return d.assign(label=label)


def assemble(instance, digest, formulation, foresight, cs, h, form, solutions, keys, report,
             timings) -> Roadmap:
    sol = solutions[foresight]
    deployments = deployment_labels(cs[0])
    periods = period_rows(cs, h, sol, keys, deployments)
    binding = binding_constraints(form, sol.result.values, cs, h, sol, keys,
                                  sol.result.duals if formulation == "lp" else None,
                                  HORIZON_UNITS[instance.objective])
    for p in periods:
        p["binding"] = list(binding.loc[binding["period"] == p["id"], "words"])
    other = [m for m in solutions if m != foresight]
    value = None
    perfect, myopic = solutions.get("perfect"), solutions.get("myopic")
    if perfect is not None and myopic is not None:
        value = {"perfect": perfect.objective, "myopic": myopic.objective,
                 "value": myopic.objective - perfect.objective,
                 "relative": (myopic.objective - perfect.objective) / perfect.objective
                 if perfect.objective else None,
                 "myopic_stranded": stranded(h, myopic, keys, cs[0])}
    elif "myopic" in solutions and myopic is None:
        value = {"perfect": perfect.objective, "myopic": None, "value": None,
                 "note": "the myopic roadmap has no plan: a period cannot be served by what "
                         "can arrive once its own demand is known (or its solve ran out of "
                         "time)"}
    parts = horizon_objective(cs, h, sol, keys)
    result = sol.result
    total_gwh = float(sum(p["gwh"] for p in periods))
    baseline = do_nothing(cs, h, sol)
    summary = {
        "status": "optimal" if result.status is Status.OPTIMAL else result.status.value,
        "objective": instance.objective, "objective_unit": HORIZON_UNITS[instance.objective],
        "objective_value": parts["total"], "objective_parts": parts,
        "mip_gap": result.mip_gap if formulation == "milp" else None,
        "formulation": formulation, "foresight": foresight,
        "gwh": total_gwh, "periods": periods, "value_of_foresight": value,
        "idle_policy": instance.roadmap.idle_policy,
        "spare_off_saves_gwh": (float(sum(p["spare_warm_gwh_per_day"] * p["days"]
                                          for p in periods))
                                if instance.roadmap.idle_policy == "off" else None),
        "do_nothing": baseline,
        "size": {"rows": int(form.shape[0]), "columns": int(form.shape[1]),
                 "nonzeros": int(form.a.nnz), "periods": h.n_periods,
                 "pairs_per_period": int(cs[0].n_pairs)},
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "provenance": provenance(instance, digest, formulation),
        "candidates": report.as_dict(),
    }
    if other:
        summary["also_solved"] = other
    tables = roadmap_tables(cs, h, sol, keys, deployments, periods)
    tables["binding"] = binding
    tables["do_nothing"] = pd.DataFrame(baseline["periods"])
    return Roadmap(summary, tables, {"solution": sol, "solutions": solutions, "horizon": h,
                                     "coefficients": cs, "form": form})


def binding_constraints(form: Form, values: np.ndarray, cs: list[Coefficients], h: Horizon,
                        sol: Solution, keys: list, duals: dict | None = None,
                        unit: str = "") -> pd.DataFrame:
    """Per period, the user-facing constraints the plan runs into, in words: a site's power
    cap (in how many hours), a hardware's build limit, an installed base used to the last node
    where nothing more can be ordered, a class's minimum site share. With the LP's ``duals``
    (objective per unit of the row's bound, >= 0 on a binding <= row) the ``value`` column says
    what one more MW of cap in that period, or one more node delivered, would save."""
    rows = []
    activity = form.a @ values
    duals = duals or {}

    def saving(block: str, index) -> float | None:
        d = duals.get(block)
        return None if d is None else float(np.sum(d[np.asarray(index)]))

    def tight(block, upper: bool) -> np.ndarray:
        idx = np.arange(block.index.start, block.index.stop)
        bound = form.row_upper[idx] if upper else form.row_lower[idx]
        act = activity[idx]
        scale = np.maximum(np.abs(bound), 1.0)
        return np.isfinite(bound) & (np.abs(act - bound) <= 1e-6 * scale)

    if "power_cap" in form.rows:
        b = form.rows["power_cap"]
        coords = b.coords.assign(tight=tight(b, True))
        for (period, site), g in coords[coords["tight"]].groupby(["period", "site"], sort=False):
            cap = float(g["cap_kw"].iloc[0]) / 1e3
            rows_of = coords.index[(coords["period"] == period) & (coords["site"] == site)]
            value = saving("power_cap", rows_of)
            value = None if value is None else value * 1e3  # per MW
            more = (f"; 1 MW more there would save {value:.4g} {unit}" if value is not None
                    else "")
            rows.append({"period": period, "constraint": "power_cap", "where": site,
                         "value": value,
                         "words": f"{site}'s power cap of {cap:.4g} MW binds in {len(g)} of "
                                  f"the kept hours{more}"})
    if "build_limit" in form.rows and form.rows["build_limit"].size:
        b = form.rows["build_limit"]
        coords = b.coords.assign(tight=tight(b, True))
        for r in coords[coords["tight"]].itertuples():
            value = saving("build_limit", [r.Index])
            more = (f"; one more would save {value:.4g} {unit}" if value is not None else "")
            rows.append({"period": r.period, "constraint": "build_limit", "where": r.hardware,
                         "value": value,
                         "words": f"the build limit of {r.hardware} ({r.nodes:.4g} nodes a "
                                  f"period) binds: every node it may deliver is ordered{more}"})
    if "min_site_share" in form.rows:
        b = form.rows["min_site_share"]
        coords = b.coords.assign(tight=tight(b, False))
        for r in coords[coords["tight"]].itertuples():
            rows.append({"period": r.period, "constraint": "min_site_share",
                         "where": f"{getattr(r, '_1', '')}",
                         "words": f"class {r[1]}'s minimum share at {r.site} binds"})
    orderable = {(int(r.site_idx), str(r.hardware)) for r in h.orders.itertuples()}
    c0 = cs[0]
    for t, pid in enumerate(h.period_ids):
        for i, (s, hw) in enumerate(keys):
            if (s, hw) in orderable:
                continue
            used = float(sol.n[t][(c0.dep_site == s) & (c0.dep_hardware == hw)].sum())
            if used > 1e-6 and sol.spare[t, i] <= 1e-6 * max(used, 1.0):
                rows.append({"period": pid, "constraint": "installed",
                             "where": f"{c0.site_ids[s]} {hw}",
                             "words": f"every installed {hw} node at {c0.site_ids[s]} is used "
                                      f"({used:.4g}) and none can be ordered there"})
    out = pd.DataFrame(rows, columns=["period", "constraint", "where", "value", "words"])
    return out.astype({"value": float})


def stranded(h: Horizon, sol: Solution, keys: list, c0: Coefficients) -> list[dict]:
    """Ordered nodes alive but unused in a later period (myopia's stranded purchases)."""
    table = installed_table(h, sol, keys, c0)
    ordered = {(c0.site_ids[int(r.site_idx)], r.hardware): int(r.arrival)
               for j, r in enumerate(h.orders.itertuples()) if sol.orders[j] > 1e-9}
    out = []
    for r in table.itertuples():
        since = ordered.get((r.site, r.hardware))
        if since is not None and h.period_ids.index(r.period) > since and r.spare > 1e-6:
            out.append({"period": r.period, "site": r.site, "hardware": r.hardware,
                        "nodes": float(r.spare)})
    return out


def do_nothing(cs, h, sol: Solution) -> dict | None:
    """Energy per period of the first period's plan kept as it is, demand scaled with growth
    (each pair's queries x the class's growth, its nodes x the largest growth): a reference for
    what the roadmap's orders and re-routing buy."""
    rows = []
    for t, c in enumerate(cs):
        growth = np.divide(c.demand, cs[0].demand)
        x = sol.x[0] * growth[c.pair_class]
        n = sol.n[0] * float(growth.max())
        per_query, per_node = c.energy_weights()
        rows.append({"period": h.period_ids[t], "gwh_per_day": float(per_query @ x
                                                                     + per_node @ n)})
    return {"rule": "period 1's routing and nodes, scaled with demand (no new hardware)",
            "periods": rows,
            "gwh": float(sum(r["gwh_per_day"] * d for r, d in zip(rows, h.days)))}


def roadmap_tables(cs, h, sol: Solution, keys, deployments, periods) -> dict[str, pd.DataFrame]:
    c0 = cs[0]
    energy = pd.DataFrame([{k: p[k] for k in ("id", "days", "queries_per_day", "gwh",
                                                "gwh_per_day", "peak_mw", "wh_per_query",
                                                "spare_nodes", "spare_warm_gwh_per_day")}
                           for p in periods]).rename(columns={"id": "period"})
    orders = pd.DataFrame([{"period": p["id"], **o} for p in periods for o in p["orders"]],
                          columns=["period", "site", "hardware", "nodes", "ordered", "arrives"])
    retired = pd.DataFrame([{"period": p["id"], **o} for p in periods for o in p["retired"]],
                           columns=["period", "site", "hardware", "nodes"])
    rows = []
    for t, c in enumerate(cs):
        for d in np.flatnonzero(sol.n[t] > 1e-9):
            rows.append({"period": h.period_ids[t], "deployment": deployments["label"].iloc[d],
                         "site": c0.site_ids[c0.dep_site[d]], "hardware": c0.dep_hardware[d],
                         "model": deployments["model"].iloc[d],
                         "precision": deployments["precision"].iloc[d],
                         "nodes": float(sol.n[t, d])})
    assignment = []
    for t, c in enumerate(cs):
        for p in np.flatnonzero(sol.x[t] > 0):
            assignment.append({"period": h.period_ids[t],
                               "class": c.classes["id"].iloc[c.pair_class[p]],
                               "deployment": deployments["label"].iloc[c.pair_dep[p]],
                               "queries_per_day": float(sol.x[t, p])})
    return {"periods": energy, "installed": installed_table(h, sol, keys, c0), "orders": orders,
            "retired": retired, "deployments": pd.DataFrame(rows),
            "assignment": pd.DataFrame(assignment)}
