"""The tables of ``planner report``, shared by the HTML page and the spreadsheet.

Every value is read from a run's files (``planner.report.runs``); the only arithmetic is
presentation: sums of a table's rows by site or hardware, maxima over hours, differences
between runs in compare mode, and unit changes (GWh to MWh). Column headers carry units.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from formulations.form import INVENTORY
from planner.report.runs import Run
from planner.solve.explain import explanation, unit_named

# Units by column name (exact) and by suffix; headers become "name [unit]".
EXACT_UNITS = {
    "queries_per_day": "queries/day", "share": "fraction", "nodes": "nodes",
    "replicas": "replicas", "limit": "", "value": "", "hour": "h (0-23)",
    "gpus_per_replica": "GPUs", "max_concurrency": "requests", "shapley_share": "fraction",
    "published_low": "x-fold", "published_high": "x-fold", "reduction": "x-fold",
    "swing": "objective units", "objective_at_low": "objective units",
    "objective_at_high": "objective units", "objective_value": "objective units",
    "deployments_used": "count", "n_levers": "count", "simplex_iterations": "count",
    "nodes_planned": "nodes", "nodes_installed": "nodes", "to_buy_or_rent": "nodes",
    "spare_installed": "nodes", "peak_power_mw_by_site": "MW", "uncertainty_pct": "% stated",
}
SUFFIX_UNITS = [
    ("_gwh_per_day", "GWh/day"), ("_mwh_per_day", "MWh/day"), ("_wh_per_query", "Wh/query"),
    ("wh_per_query", "Wh/query"), ("_mw", "MW"), ("_kw", "kW"), ("_ms", "ms"), ("_s", "s"),
    ("_reduction", "x-fold"), ("_factor", "x-fold"), ("_pct", "%"), ("utilization_", "fraction"),
    ("gwh_per_day", "GWh/day"), ("nodes", "nodes"),
]


def unit_of(column: str) -> str:
    base = re.sub(r"\[.*\]$", "", column)
    if base in EXACT_UNITS:
        return EXACT_UNITS[base]
    for suffix, unit in SUFFIX_UNITS:
        if base.endswith(suffix) or (suffix.endswith("_") and base.startswith(suffix)):
            return unit
    return ""


def with_units(table: pd.DataFrame) -> pd.DataFrame:
    """Column headers with their units: ``peak_mw`` -> ``peak_mw [MW]``."""
    return table.rename(columns={c: f"{c} [{u}]" if (u := unit_of(str(c))) else c
                                 for c in table.columns})


def fmt(value, digits: int = 4) -> str:
    """A number as a reader wants it: 4 significant digits, thousands separators for large
    values, '-' for a missing one."""
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "-"
        if math.isinf(v):
            return "none" if v > 0 else "-inf"
        if v != 0 and abs(v) >= 10 ** digits:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(value)


# ---------------------------------------------------------------------------------------- solve

def headline(run: Run) -> list[dict]:
    """The headline of a solve: key (the summary.json key), label, value, unit, note."""
    s = run.summary
    prov = s.get("provenance", {})
    rows = [{"key": "status", "label": "status", "value": s.get("status"), "unit": "",
             "note": ""}]
    if run.feasible:
        gap = s.get("mip_gap")
        rows += [
            {"key": "objective_gwh_per_day", "label": "fleet energy",
             "value": s.get("objective_gwh_per_day"), "unit": "GWh/day",
             "note": energy_interval(s) or "a point estimate (no interval in this run)"},
            {"key": "wh_per_query", "label": "energy per query", "value": s.get("wh_per_query"),
             "unit": "Wh/query", "note": ""},
            {"key": "queries_per_day", "label": "demand", "value": s.get("queries_per_day"),
             "unit": "queries/day", "note": ""},
            {"key": "peak_power_mw", "label": "peak facility power (all sites)",
             "value": s.get("peak_power_mw"), "unit": "MW", "note": ""},
            {"key": "nodes", "label": "nodes provisioned", "value": s.get("nodes"),
             "unit": "nodes", "note": LP_NODES if prov.get("formulation") == "lp" else ""},
            {"key": "deployments_used", "label": "deployments used",
             "value": s.get("deployments_used"), "unit": "", "note": ""},
            {"key": "mip_gap", "label": "optimality", "value": gap, "unit": "",
             "shown": gap_words(gap, s.get("status")),
             "note": "LP: solved to optimality" if prov.get("formulation") == "lp" else
             (f"LP bound {fmt(s.get('lp_bound_gwh_per_day'))} GWh/day"
              if s.get("lp_bound_gwh_per_day") is not None else "")},
        ]
        if s.get("objective") == "cost":
            value, unit = humane_cost(s.get("objective_value"), s.get("objective_unit"))
            rows.append({"key": "objective_value", "label": "cost",
                         "value": s.get("objective_value"), "unit": unit,
                         "shown": fmt(value),
                         "note": f"the objective ({fmt(s.get('objective_value'))} "
                                 f"{s.get('objective_unit')} in summary.json)"})
        elif s.get("objective") == "carbon":
            rows.append({"key": "objective_value", "label": "carbon",
                         "value": s.get("objective_value"), "unit": s.get("objective_unit"),
                         "note": "the objective"})
        else:
            rows.append({"key": "cost", "label": "cost", "value": None, "unit": "",
                         "note": "not priced: this plan minimised energy (objective: cost "
                                 "needs prices in the instance)"})
    catalog = prov.get("catalog") or {}
    rows += [
        {"key": "instance", "label": "instance", "value": prov.get("instance"), "unit": "",
         "note": ""},
        {"key": "instance_hash", "label": "instance digest", "value": prov.get("instance_hash"),
         "unit": "", "note": ""},
        {"key": "formulation", "label": "formulation", "value": prov.get("formulation"),
         "unit": "", "note": ""},
        {"key": "catalog", "label": "catalog / calibration",
         "value": (f"catalog {catalog.get('digest')}, calibration {catalog.get('calibration_date')}"
                   f" ({catalog.get('calibration_rows')} benchmark rows)") if catalog else None,
         "unit": "", "note": "" if catalog else "not recorded by the planner that wrote this run"},
        {"key": "planner", "label": "planner version",
         "value": (prov.get("versions") or {}).get("planner"), "unit": "", "note": ""},
    ]
    return rows


LP_NODES = "LP, continuous; solve --formulation milp for whole nodes"


def gap_words(gap, status: str | None) -> str:
    """'proven optimal' for a zero (or no) gap of an optimal solve, else 'proven gap 0.074 %'."""
    if gap is None or (isinstance(gap, (int, float)) and abs(gap) < 1e-9):
        return "proven optimal" if status == "optimal" else str(status or "-")
    return f"proven gap {fmt(gap * 100, 2)} %"


def humane_cost(value, unit: str | None) -> tuple[float | None, str]:
    """A cost objective in USD/h (million USD/day x 1e6 / 24), as a planner prices nodes."""
    if value is None or unit != "million USD/day":
        return value, unit or ""
    return float(value) * 1e6 / 24, "USD/h"


def readable_classes(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """The classes table with words for what a number cannot say: 'no SLO' where a class has
    none (and so no margin), 'none' for a latency the model does not give (inf)."""
    if table is None or table.empty:
        return table
    out = table.astype({c: object for c in table.columns if c.endswith("_ms")})
    for kind in ("ttft", "tpot"):
        slo = f"{kind}_slo_ms"
        if slo not in out:
            continue
        none = pd.to_numeric(out[slo], errors="coerce").isna()
        for col in (slo, f"{kind}_margin_ms"):
            if col in out:
                out.loc[none, col] = "no SLO"
    for col in [c for c in out.columns if c.endswith("_ms")]:
        vals = pd.to_numeric(out[col], errors="coerce")
        out.loc[np.isinf(vals.to_numpy(float)), col] = "none"
    return out


def coefficient_basis(run: Run) -> pd.DataFrame | None:
    """Per deployment of the plan: GWh/day, queries/day, whether its hardware is projected
    (announced, no benchmarks: the deployments table's ``projected``; the shipped catalog for
    runs written before that column) and where its coefficients came from (measured /
    modelled / extrapolated: ``coefficient_source``, else ``calibrated``)."""
    dep = run.tables.get("deployments")
    if dep is None or dep.empty or "gwh_per_day" not in dep:
        return None
    out = dep[["deployment", "hardware", "gwh_per_day"]].copy()
    if "projected" in dep:
        out["projected"] = dep["projected"].astype(bool).to_numpy()
    else:
        try:
            from planner.catalog.loaders import load_shipped_catalog

            hw = load_shipped_catalog().hardware["projected"]
            out["projected"] = [bool(hw.get(h, False)) for h in out["hardware"]]
        except Exception:  # noqa: BLE001 - an unreadable catalog leaves it unknown
            out["projected"] = None
    if "coefficient_source" in dep:
        out["source"] = dep["coefficient_source"].fillna("modelled").astype(str).to_numpy()
    elif "calibrated" in dep:
        out["source"] = np.where(dep["calibrated"].astype(bool), "modelled", "extrapolated")
    else:
        out["source"] = None
    assignment = run.tables.get("assignment")
    out["queries_per_day"] = (out["deployment"].map(
        assignment.groupby("deployment")["queries_per_day"].sum()).fillna(0.0)
        if assignment is not None else np.nan)
    return out


def _pct(part: float, total: float) -> str:
    return f"{fmt(100 * part / total, 3)} %" if total > 0 else "-"


def trust_sentence(run: Run) -> tuple[str, bool]:
    """The headline's first words: the fleet energy with its interval (or "a point
    estimate"), and the share of energy and queries on projected hardware and on extrapolated
    coefficients. The flag: whether any of the plan runs on projected hardware."""
    s = run.summary
    energy = f"Fleet energy {fmt(s.get('objective_gwh_per_day'))} GWh/day"
    interval = energy_interval(s)
    parts = [f"{energy}, {interval}." if interval else
             f"{energy}: a point estimate (this run has no interval; planner solve "
             f"--uncertainty N gives one)."]
    basis = coefficient_basis(run)
    if basis is None:
        return " ".join(parts), False
    gwh, queries = basis["gwh_per_day"].sum(), basis["queries_per_day"].sum()
    flagged = False
    if basis["projected"].notna().all():
        proj = basis[basis["projected"].astype(bool)]
        if proj.empty:
            parts.append("None of it runs on projected (announced, unbenchmarked) hardware.")
        else:
            flagged = True
            names = ", ".join(dict.fromkeys(proj["hardware"]))
            parts.append(f"{_pct(proj['gwh_per_day'].sum(), gwh)} of this energy "
                         f"({_pct(proj['queries_per_day'].sum(), queries)} of the queries) "
                         f"runs on projected hardware ({names}: announced, no benchmarks; "
                         f"its figures are preliminary spec sheets).")
    if basis["source"].notna().all():
        words = {"extrapolated": "extrapolated (no benchmark rows for the hardware family)",
                 "modelled": "modelled (calibrated on benchmark rows)",
                 "measured": "measured (your own profiles)"}
        shares = [f"{_pct(basis.loc[basis['source'] == k, 'gwh_per_day'].sum(), gwh)} {w}"
                  for k, w in words.items() if (basis["source"] == k).any()]
        parts.append("Its coefficients, by energy: " + ", ".join(shares) + ".")
    return " ".join(parts), flagged


def energy_interval(summary: dict) -> str:
    """The plan's energy interval from ``solve --uncertainty N`` (summary["uncertainty"]):
    "P10-P90 0.1128-0.1973 GWh/day (median 0.1492) over 200 coefficient draws, plan fixed";
    empty where the run has none."""
    u = summary.get("uncertainty")
    q = u.get("gwh_per_day") if isinstance(u, dict) else None
    if not isinstance(q, dict) or q.get("p10") is None or q.get("p90") is None:
        return ""
    draws = f" over {fmt(u['draws'])} coefficient draws" if u.get("draws") else ""
    return (f"P10-P90 {fmt(q['p10'])}-{fmt(q['p90'])} GWh/day (median {fmt(q.get('median'))})"
            f"{draws}, plan fixed")


def site_peaks(run: Run) -> pd.DataFrame | None:
    """Peak facility power per site (the maximum of its hourly table) against its cap."""
    hourly = run.tables.get("hourly")
    if hourly is None or hourly.empty:
        return None
    g = hourly.groupby("site", sort=False)
    at_peak = hourly.loc[g["facility_power_mw"].idxmax()].set_index("site")
    out = pd.DataFrame({"peak_power_mw": g["facility_power_mw"].max(),
                        "power_cap_mw": g["power_cap_mw"].max(),
                        "peak_hour": at_peak["hour"].astype(int)})
    return out.reset_index()


def units_table(run: Run) -> pd.DataFrame | None:
    """Nodes per hardware per site: planned (deployments table), installed (the inventory rows
    of the constraints table), and the difference to buy or rent."""
    dep = run.tables.get("deployments")
    if dep is None or dep.empty:
        return None
    planned = dep.groupby(["site", "hardware"], sort=True)["nodes"].sum().rename("nodes_planned")
    out = planned.reset_index()
    cons = run.tables.get("constraints")
    installed = {}
    if cons is not None and not cons.empty:
        for row in cons[cons["constraint"] == INVENTORY.name].itertuples():
            site, _, hw = str(row.key).partition(":")
            installed[(site, hw)] = float(row.limit)
    for key in installed:
        if key not in set(zip(out["site"], out["hardware"])):
            out.loc[len(out)] = [key[0], key[1], 0.0]
    out["nodes_installed"] = [installed.get((s, h), 0.0) for s, h in
                              zip(out["site"], out["hardware"])]
    out["to_buy_or_rent"] = (out["nodes_planned"] - out["nodes_installed"]).clip(lower=0)
    out["spare_installed"] = (out["nodes_installed"] - out["nodes_planned"]).clip(lower=0)
    return out.sort_values(["site", "hardware"]).reset_index(drop=True)


def deployments_table(run: Run) -> pd.DataFrame | None:
    dep = run.tables.get("deployments")
    if dep is None:
        return None
    return dep.loc[:, ~dep.columns.str.startswith("util_h")]


def coefficients_table(run: Run) -> pd.DataFrame | None:
    """Per deployment: its hardware family, whether that family is calibrated on benchmark rows
    (modelled) or not (extrapolated), and the stated error (deployments table columns)."""
    dep = run.tables.get("deployments")
    if dep is None or not {"calibrated", "uncertainty_pct"} <= set(dep.columns):
        return None
    cols = [c for c in ("deployment", "hardware", "family", "calibrated", "uncertainty_pct",
                        "gwh_per_day") if c in dep]
    out = dep[cols].copy()
    out["basis"] = ["modelled: calibrated on the family's benchmark rows" if c else
                    "extrapolated: spec sheet with cross-family factors"
                    for c in out["calibrated"].astype(bool)]
    return out


def shadow_words(row) -> str:
    """A constraint's shadow price as a sentence ("1 MW more at us-east saves 5.3 MWh/day")."""
    price, unit = row.shadow_price, str(row.shadow_unit)
    if not row.binding:
        return "not binding: a little more or less changes nothing"
    if price is None or (isinstance(price, float) and math.isnan(price)):
        return "binding; no shadow price recorded"
    scaled = next(((factor, humane) for prefix, factor, humane in HUMANE_PRICE
                   if unit.startswith(prefix)), None)
    if scaled is None:
        return f"binding; shadow price {fmt(price, 3)} {unit}"
    # A price the planner zeroed (below its tolerance) changes nothing measurable.
    amount = (f"{fmt(abs(price) * scaled[0], 3)} {scaled[1]}" if price != 0
              else "nothing measurable")
    key = str(row.key)
    words = explanation(unit_named(str(row.constraint)))
    if words is not None and words.sentence is not None:
        return words.sentence(key, amount, row, fmt)
    return f"shadow price {amount} ({unit})"


# Shadow-price units (the objective's) -> factor and the unit a planner reads.
HUMANE_PRICE = (("GWh/day", 1e3, "MWh/day"), ("million USD/day", 1e6 / 24, "USD/h"),
                ("kt CO2/day", 1e3, "t CO2/day"))


def constraints_table(run: Run) -> pd.DataFrame | None:
    cons = run.tables.get("constraints")
    if cons is None:
        return None
    out = cons.copy()
    out["in_plain_words"] = [shadow_words(r) for r in cons.itertuples()]
    return out


def diagnosis_table(run: Run) -> pd.DataFrame:
    return pd.DataFrame(run.summary.get("diagnosis") or [])


def solve_tables(run: Run) -> dict[str, pd.DataFrame]:
    """Every table of a solve run, as the report shows them (for the spreadsheet too)."""
    rows = headline(run)
    if run.feasible:
        rows = [{"key": "trust", "label": "read first", "value": trust_sentence(run)[0],
                 "unit": "", "note": ""}, *rows]
    out = {"headline": pd.DataFrame(rows)[["label", "value", "unit", "note", "key"]]}
    if not run.feasible:
        out["diagnosis"] = diagnosis_table(run)
        return out
    for name, table in (("sites", site_peaks(run)), ("units", units_table(run)),
                        ("classes", readable_classes(run.tables.get("classes"))),
                        ("assignment", run.tables.get("assignment")),
                        ("deployments", deployments_table(run)),
                        ("coefficients", coefficients_table(run)),
                        ("constraints", constraints_table(run)),
                        ("hourly", run.tables.get("hourly"))):
        if table is not None:
            out[name] = table
    return out


# ---------------------------------------------------------------------------------- levers, sweep

def levers_headline(run: Run) -> list[dict]:
    s = run.summary
    return [
        {"key": "baseline_gwh_per_day", "label": "baseline (the paper's assumptions)",
         "value": s.get("baseline_gwh_per_day"), "unit": "GWh/day"},
        {"key": "all_levers_gwh_per_day", "label": "all levers", "unit": "GWh/day",
         "value": s.get("all_levers_gwh_per_day")},
        {"key": "combined_reduction", "label": "combined reduction", "unit": "x-fold",
         "value": s.get("combined_reduction")},
        {"key": "product_of_alone_reductions", "label": "product of single-lever reductions",
         "unit": "x-fold", "value": s.get("product_of_alone_reductions")},
        {"key": "interaction", "label": "interaction (combined / product)", "unit": "",
         "value": s.get("interaction")},
        {"key": "subsets_solved", "label": "subsets solved", "unit": "",
         "value": s.get("subsets_solved")},
        {"key": "shapley", "label": "Shapley", "unit": "", "value": s.get("shapley")},
    ]


def levers_tables(run: Run) -> dict[str, pd.DataFrame]:
    out = {"headline": pd.DataFrame(levers_headline(run))}
    for name in ("levers", "categories", "reconciliation", "classes", "subsets"):
        if name in run.tables:
            out[name] = run.tables[name]
    return out


def roadmap_tables(run: Run) -> dict[str, pd.DataFrame]:
    """Every table of a roadmap run, as read (periods, installed base, orders, ...)."""
    return {f"roadmap-{name}": table for name, table in run.tables.items()}


def uncertainty_tables(run: Run) -> dict[str, pd.DataFrame]:
    """Per-deployment tables of each plan of a ``planner uncertainty`` run, and the robust vs
    nominal comparison when there is one (as read)."""
    out = {f"{name}-deployments": table for name, table in run.tables.items()}
    if "comparison" in run.summary:
        out["comparison"] = uncertainty_comparison(run.summary["comparison"])
    return out


def uncertainty_comparison(comparison: dict) -> pd.DataFrame:
    """The robust-vs-nominal comparison as one row per measure (per-plan values in columns)."""
    rows = []
    for measure, value in comparison.items():
        if isinstance(value, dict):
            rows.append({"measure": measure, **{k: v for k, v in value.items()}})
        else:
            rows.append({"measure": measure, "value": value})
    return pd.DataFrame(rows)


def sweep_tornado(run: Run) -> pd.DataFrame | None:
    """The sweep's own tornado rows (``planner.report.sweep.tornado_rows``) of its table."""
    from planner.report.sweep import tornado_rows

    table = run.tables.get("sweep")
    if table is None or table.empty or "objective_value" not in table:
        return None
    rows = tornado_rows(table, run.summary.get("tornado_context"))  # around the base point
    return rows if not rows.empty else None


def sweep_tables(run: Run) -> dict[str, pd.DataFrame]:
    s = run.summary
    head = [{"label": "points", "value": s.get("points", s.get("points_done")), "unit": ""}]
    if s.get("partial"):
        head.append({"label": "points expected", "value": s.get("points_expected"), "unit": ""})
    for k, v in (s.get("status_counts") or {}).items():
        head.append({"label": f"status {k}", "value": v, "unit": "points"})
    for key, unit in (("objective_gwh_per_day", "GWh/day"), ("wh_per_query", "Wh/query")):
        d = s.get(key)
        if isinstance(d, dict):
            for q in ("median", "p25", "p75"):
                head.append({"label": f"Monte Carlo {key} {q}", "value": d.get(q), "unit": unit})
    out = {"headline": pd.DataFrame(head)}
    tornado = sweep_tornado(run)
    if tornado is not None:
        out["tornado"] = tornado
    if "sweep" in run.tables:
        out["points"] = run.tables["sweep"]
    failed = s.get("failed")
    if failed:
        out["failed"] = pd.DataFrame(failed)
    return out


# ------------------------------------------------------------------------------------- compare

def compare_headline(runs: list[Run]) -> pd.DataFrame:
    """Metrics side by side; for every run after the first, its difference to the first."""
    metrics = [("objective_gwh_per_day", "fleet energy", "GWh/day"),
               ("wh_per_query", "energy per query", "Wh/query"),
               ("peak_power_mw", "peak facility power", "MW"),
               ("nodes", "nodes provisioned", "nodes"),
               ("deployments_used", "deployments used", "")]
    if all(r.summary.get("objective") == "cost" for r in runs):
        metrics.append(("objective_value", "cost", runs[0].summary.get("objective_unit", "")))
    rows = []
    for key, label, unit in metrics:
        row = {"metric": label, "unit": unit, "key": key}
        first = runs[0].summary.get(key) if runs[0].feasible else None
        for i, run in enumerate(runs):
            v = run.summary.get(key) if run.feasible else None
            row[run.label] = v
            if i and v is not None and first is not None:
                row[f"change {run.label} vs {runs[0].label}"] = v - first
        rows.append(row)
    rows.append({"metric": "status", "unit": "", "key": "status",
                 **{r.label: r.summary.get("status") for r in runs}})
    return pd.DataFrame(rows)


def compare_units(runs: list[Run]) -> pd.DataFrame | None:
    """Nodes per site and hardware in each run; the change against the first run says which
    units to buy (more nodes) or retire (fewer)."""
    tables = [(r.label, units_table(r)) for r in runs if r.feasible]
    tables = [(label, t) for label, t in tables if t is not None]
    if len(tables) < 2:
        return None
    merged, installed = None, {}
    for label, t in tables:
        t = t.set_index(["site", "hardware"])
        installed[label] = t["nodes_installed"]
        col = t["nodes_planned"].rename(label)
        merged = col.to_frame() if merged is None else merged.join(col, how="outer")
    merged = merged.fillna(0.0)
    first = tables[0][0]
    for label, _ in tables[1:]:
        delta = merged[label] - merged[first]
        inv = installed[label].reindex(merged.index).fillna(0.0)
        # Nodes beyond both the first plan and the installed inventory must be bought or rented.
        buy = (merged[label] - np.maximum(merged[first], inv)).clip(lower=0)
        merged[f"change {label} vs {first}"] = delta
        merged[f"action {label}"] = [
            (f"buy or rent {fmt(b)}" + (f", {fmt(d - b)} from inventory" if d - b > 1e-6 else "")
             if b > 1e-6 else "use installed inventory") if d > 1e-6 else
            ("retire or free" if d < -1e-6 else "") for d, b in zip(delta, buy)]
    return merged.reset_index()


def compare_assignment(runs: list[Run]) -> pd.DataFrame | None:
    """Per class, the deployments serving it (with their share) in each run."""
    tables = [(r.label, r.tables.get("assignment")) for r in runs if r.feasible]
    tables = [(label, t) for label, t in tables if t is not None]
    if len(tables) < 2:
        return None
    classes = list(dict.fromkeys(c for _, t in tables for c in t["class"]))
    rows = []
    for cls in classes:
        row = {"class": cls}
        for label, t in tables:
            a = t[t["class"] == cls]
            row[label] = "; ".join(f"{d} ({fmt(s * 100, 3)} %)" for d, s in
                                   zip(a["deployment"], a["share"])) or "-"
        row["moved"] = len({row[label] for label, _ in tables}) > 1
        rows.append(row)
    return pd.DataFrame(rows)


def compare_classes(runs: list[Run]) -> pd.DataFrame | None:
    tables = [(r.label, r.tables.get("classes")) for r in runs if r.feasible]
    tables = [(label, t) for label, t in tables if t is not None]
    if len(tables) < 2:
        return None
    merged = None
    for label, t in tables:
        col = t.set_index("class")["wh_per_query"].rename(f"wh_per_query[{label}]")
        merged = col.to_frame() if merged is None else merged.join(col, how="outer")
    return merged.reset_index()


def compare_tables(runs: list[Run]) -> dict[str, pd.DataFrame]:
    out = {"headline": compare_headline(runs)}
    for name, table in (("units", compare_units(runs)), ("assignment", compare_assignment(runs)),
                        ("classes", compare_classes(runs))):
        if table is not None:
            out[name] = table
    return out


def compare_levers(runs: list[Run]) -> pd.DataFrame | None:
    """Each lever's reduction alone and Shapley share, run by run."""
    tables = [(r.label, r.tables.get("levers")) for r in runs]
    tables = [(label, t) for label, t in tables if t is not None]
    if len(tables) < 2:
        return None
    merged = None
    for label, t in tables:
        cols = t.set_index("name")[["alone_reduction", "shapley_share"]]
        cols.columns = [f"{c}[{label}]" for c in cols.columns]
        merged = cols if merged is None else merged.join(cols, how="outer")
    return merged.reset_index()


def compare_levers_headline(runs: list[Run]) -> pd.DataFrame:
    """Baseline, all levers and the combined reduction of each lever run, side by side."""
    rows = []
    for row in levers_headline(runs[0]):
        if row["key"] in ("baseline_gwh_per_day", "all_levers_gwh_per_day",
                          "combined_reduction", "interaction"):
            rows.append({"metric": row["label"], "unit": row["unit"],
                         **{r.label: r.summary.get(row["key"]) for r in runs}})
    return pd.DataFrame(rows)


def compare_sweeps(runs: list[Run]) -> pd.DataFrame:
    """The sweeps' headline tables side by side (points, statuses, Monte Carlo quantiles)."""
    heads = [sweep_tables(run)["headline"].set_index(["label", "unit"])["value"].rename(run.label)
             for run in runs]
    return pd.concat(heads, axis=1, sort=False).reset_index()
