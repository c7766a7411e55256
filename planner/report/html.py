"""``planner report``: one self-contained HTML page from the output folders of solve, levers and
sweep (and a comparison when two or more plans are given).

The page works offline: plotly.js is inlined once from the ``plotly`` wheel, pictures are
base64 data URIs, nothing is fetched. Each chart has a static PNG in <noscript>. Every number
shown is read from the runs' files (see ``planner.report.runs`` and ``views``); a section whose
data a run lacks says so.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from planner.report import charts, views
from planner.report.runs import WHY, Run
from planner.report.views import fmt, with_units

PAGE_TITLE = "Planner report"
LONG_TABLE = 30  # rows; longer tables start folded


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _script_json(data) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(_json_safe(data), separators=(",", ":")).replace("</", "<\\/")


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


class Page:
    """Sections (for the table of contents) and charts of the page being built."""

    def __init__(self, fallbacks: bool = True):
        self.sections: list[tuple[str, str, str, int]] = []  # id, title, body, level
        self.n_charts = 0
        self.fallbacks = fallbacks

    def section(self, sid: str, title: str, body: str, level: int = 2) -> None:
        self.sections.append((sid, title, body, level))

    def chart(self, chart: dict, static_png: bytes | None = None, note: str = "") -> str:
        """A plotly chart with its static fallback (the run's own PNG if given)."""
        self.n_charts += 1
        cid = f"chart-{self.n_charts}"
        png = static_png if static_png is not None else (
            charts.fallback_png(chart) if self.fallbacks else None)
        fallback = (f'<noscript><img class="static" alt="{esc(chart["layout"]["title"]["text"])}" '
                    f'src="{_png_uri(png)}"></noscript>') if png else ""
        caption = f'<p class="caption">{esc(note)}</p>' if note else ""
        height = int(chart["layout"].get("height", 340))
        return (f'<figure class="chart-box"><div class="chart" id="{cid}" '
                f'style="height:{height}px"></div>{fallback}'
                f'<script type="application/json" id="{cid}-data">{_script_json(chart)}</script>'
                f'{caption}</figure>')


# ------------------------------------------------------------------------------------- tables

def table_html(table: pd.DataFrame, *, units: bool = True, classes=None, fold: bool | None = None,
               caption: str = "", name: str = "") -> str:
    """An HTML table with unit headers; ``classes(row_index, column) -> css class``."""
    if table is None or table.empty:
        return '<p class="missing">(empty table)</p>'
    shown = with_units(table) if units else table
    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    rows = []
    for i, (_, row) in enumerate(table.iterrows()):
        cells = []
        for col in table.columns:
            v = row[col]
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
                v, (bool, np.bool_))
            css = ["num"] if num else []
            if classes is not None:
                extra = classes(i, col, v)
                if extra:
                    css.append(extra)
            attr = f' class="{" ".join(css)}"' if css else ""
            text = fmt(v)
            if not num and len(text) > 40:
                css.append("long")
                attr = f' class="{" ".join(css)}"'
            cells.append(f"<td{attr}>{esc(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    body = (f'<div class="table-wrap"><table data-table="{esc(name)}"><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>')
    fold = len(table) > LONG_TABLE if fold is None else fold
    if fold:
        return (f"<details><summary>{esc(caption or 'table')} ({len(table)} rows)</summary>"
                f"{body}</details>")
    return (f'<p class="table-caption">{esc(caption)}</p>' if caption else "") + body


def missing(text: str) -> str:
    return f'<p class="missing">Not in this run: {esc(text)}</p>'


def cards(rows: list[dict], run_kind: str) -> str:
    """Headline figures; each value carries its summary.json key and raw value (data-*)."""
    out = []
    for r in rows:
        value = r["value"]
        raw = "" if value is None else esc(json.dumps(_json_safe(value)))
        shown = r.get("shown") or (fmt(value) if value is not None else "-")
        size = "" if isinstance(value, (int, float)) or len(shown) <= 16 else " small"
        note = f'<div class="note">{esc(r.get("note") or "")}</div>' if r.get("note") else ""
        out.append(f'<div class="card"><div class="label">{esc(r["label"])}</div>'
                   f'<div class="value{size}"><span class="figure" data-run="{run_kind}" '
                   f'data-key="{esc(r["key"])}" data-value="{raw}">{esc(shown)}</span> '
                   f'<span class="unit">{esc(r.get("unit") or "")}</span></div>{note}</div>')
    return f'<div class="cards">{"".join(out)}</div>'


# -------------------------------------------------------------------------------------- solve

def solve_sections(page: Page, run: Run, prefix: str) -> None:
    s = run.summary
    title = f"Plan: {run.label}"
    body = [f'<p class="path">{esc(run.path)}</p>']
    if run.feasible:  # what the reader must know first: the interval, projected hardware
        lead, flagged = views.trust_sentence(run)
        body.append(f'<p class="{"alert" if flagged else "note"} lead" data-key="trust" '
                    f'style="font-size:14px">{esc(lead)}</p>')
    body.append(cards(views.headline(run), "solve"))
    if run.missing:
        body += [missing(m) for m in run.missing]
    if not run.feasible:
        page.section(f"{prefix}-headline", title, "".join(body))
        diag = views.diagnosis_table(run)
        page.section(f"{prefix}-infeasible", "Why there is no plan",
                     f'<p class="alert">{esc(s.get("message", "infeasible"))}</p>'
                     + table_html(diag, name="diagnosis",
                                  caption="each blocking constraint with the closest value any "
                                          "plan reaches"), level=3)
        return
    peaks = views.site_peaks(run)
    if peaks is not None:
        body.append(table_html(peaks, name="sites", caption="Peak facility power per site "
                                                            "(maximum of the hourly table)"))
    units = views.units_table(run)
    if units is not None:
        lp = (s.get("provenance") or {}).get("formulation") == "lp"
        body.append(table_html(
            units, name="units", caption="Units per hardware per site: nodes planned, installed "
                                         "(inventory), to buy or rent"
                                         + (f" (node counts: {views.LP_NODES})" if lp else ""),
            classes=lambda i, c, v: "up" if c == "to_buy_or_rent" and v > 1e-9 else ""))
    page.section(f"{prefix}-headline", title, "".join(body))

    hourly = run.tables.get("hourly")
    if hourly is None:
        power = missing(WHY["hourly"])
    else:
        power = "".join(page.chart(charts.hourly_power(site, t))
                        for site, t in hourly.groupby("site", sort=False))
        power += table_html(hourly.pivot(index="hour", columns="site",
                                         values="facility_power_mw").reset_index()
                            .rename(columns=lambda c: c if c == "hour" else f"{c}_mw"),
                            name="hourly", caption="facility power per site by hour", fold=True)
    page.section(f"{prefix}-power", "Hourly facility power against the cap", power, level=3)

    body = []
    dep = views.deployments_table(run)
    if dep is not None and not dep.empty:
        sites = list(dict.fromkeys(dep["site"]))
        body.append(page.chart(charts.stacked(
            "Energy by deployment and site (GWh/day)", list(dep["deployment"]),
            {site: [g if s_ == site else 0 for g, s_ in zip(dep["gwh_per_day"], dep["site"])]
             for site in sites}, "GWh/day", horizontal=True)))
    assignment = run.tables.get("assignment")
    if assignment is not None and not assignment.empty:
        classes = list(dict.fromkeys(assignment["class"]))
        series = {}
        for d, t in assignment.groupby("deployment", sort=False):
            q = t.set_index("class")["queries_per_day"]
            series[d] = [float(q.get(c, 0.0)) for c in classes]
        body.append(page.chart(charts.stacked(
            "Queries/day by class and the deployment serving them (click a legend entry to "
            "toggle it)", classes, series, "queries/day")))
    cls = run.tables.get("classes")
    if cls is not None and not cls.empty:
        body.append(page.chart(charts.bar("Energy per query by class (Wh/query)",
                                          cls["class"], cls["wh_per_query"], "Wh/query")))
        body.append(table_html(views.readable_classes(cls), name="classes", caption="classes"))
    latency = run.tables.get("latency")
    if latency is not None and not latency.empty:  # issue 22
        body.append(table_html(latency, name="latency", caption=(
            "latency: each class's TTFT and TPOT at its SLO percentile, predicted (queueing "
            "model, worst deployment) and simulated (planner simulate, where run), against "
            "the SLO")))
    if assignment is not None:
        body.append(table_html(assignment, name="assignment", caption="assignment"))
    if dep is not None:
        body.append(table_html(dep, name="deployments", caption="deployments"))
    page.section(f"{prefix}-allocation", "Energy and units by class and deployment",
                 "".join(body) or missing("the assignment and deployments tables"), level=3)

    cons = views.constraints_table(run)
    if cons is None:
        body = missing("the constraints table")
    else:
        binding = cons[cons["binding"].astype(bool)]
        words = "".join(f"<li><b>{esc(r.constraint)} {esc(r.key)}</b>: "
                        f"{esc(r.in_plain_words)}</li>" for r in binding.itertuples())
        body = (f'<ul class="words">{words or "<li>no constraint binds</li>"}</ul>'
                + table_html(cons, name="constraints", caption="all constraints",
                             classes=lambda i, c, v: "hl" if c == "binding" and v else ""))
    page.section(f"{prefix}-constraints", "Binding constraints and what they cost", body,
                 level=3)

    cand = s.get("candidates") or {}
    body = []
    if cand:
        dropped = "".join(f"<li>{esc(k)}: {esc(fmt(v))}</li>" for k, v in
                          (cand.get("dropped") or {}).items())
        body.append(f"<p>Candidates: {esc(fmt(cand.get('generated')))} deployments generated, "
                    f"{esc(fmt(cand.get('kept')))} kept, {esc(fmt(cand.get('eligible_pairs')))} "
                    f"eligible (class, deployment) pairs. Dropped:</p><ul>{dropped}</ul>")
    table = views.coefficients_table(run)
    if table is not None:
        extrapolated = table[~table["calibrated"].astype(bool)]
        share = extrapolated["gwh_per_day"].sum() / table["gwh_per_day"].sum() \
            if table["gwh_per_day"].sum() > 0 else float("nan")
        body.append(
            f"<p>No coefficient of a plan is measured directly: every Wh/query, TTFT and TPOT "
            f"comes from the performance model. It is <b>modelled</b> where the hardware family "
            f"was calibrated on benchmark rows and <b>extrapolated</b> (spec sheet with "
            f"cross-family factors) where it was not; the stated error is the calibration's. "
            f"{esc(fmt(share * 100, 3))} % of this plan's GWh/day runs on extrapolated "
            f"coefficients.</p>")
        body.append(table_html(table, name="coefficients",
                               caption="where each deployment's coefficients came from",
                               classes=lambda i, c, v: "hl" if c == "basis" and
                               str(v).startswith("extrapolated") else ""))
    else:
        body.append(missing("per deployment, whether its coefficients were measured, modelled "
                            "or extrapolated and their stated error (this version of solve does "
                            "not write them)"))
    catalog = (s.get("provenance") or {}).get("catalog")
    if catalog:
        body.append(f"<p>Catalog digest {esc(catalog.get('digest'))}; calibration of "
                    f"{esc(catalog.get('calibration_date'))} on "
                    f"{esc(fmt(catalog.get('calibration_rows')))} benchmark rows.</p>")
    versions = (s.get("provenance") or {}).get("versions") or {}
    body.append("<p>Versions: " + esc(", ".join(f"{k} {v}" for k, v in versions.items()))
                + "</p>")
    page.section(f"{prefix}-provenance", "Where the coefficients came from", "".join(body),
                 level=3)


# ------------------------------------------------------------------------------------ roadmap

def roadmap_sections(page: Page, run: Run, prefix: str) -> None:
    """A ``planner roadmap`` run: the installed base by hardware over the periods (stacked),
    the order timeline, energy per period against doing nothing, binding constraints per
    period in words."""
    s = run.summary
    v = s.get("value_of_foresight") or {}
    rows = [{"label": "objective over the horizon", "key": "objective_value",
             "value": s.get("objective_value"), "unit": s.get("objective_unit")},
            {"label": "energy over the horizon", "key": "gwh", "value": s.get("gwh"),
             "unit": "GWh"},
            {"label": "value of foresight", "key": "value_of_foresight.value",
             "value": v.get("value"), "unit": s.get("objective_unit"),
             "note": v.get("note") or (f"myopic {fmt(v.get('myopic'))} vs perfect "
                                       f"{fmt(v.get('perfect'))}" if v else "not solved")},
            {"label": "formulation", "key": "formulation", "value": s.get("formulation"),
             "note": f"{s.get('foresight')} foresight; MIP gap {fmt(s.get('mip_gap'))}"}]
    body = [f'<p class="path">{esc(run.path)}</p>', cards(rows, "roadmap")]
    body += [missing(m) for m in run.missing]
    page.section(f"{prefix}-headline", f"Roadmap: {run.label}", "".join(body))
    if s.get("status") == "infeasible":
        return
    periods = [p["id"] for p in s.get("periods", [])]
    installed = run.tables.get("installed")
    body = []
    if installed is not None and not installed.empty:
        by_hw = installed.groupby(["period", "hardware"], sort=False)["nodes"].sum()
        series = {hw: [float(by_hw.get((p, hw), 0.0)) for p in periods]
                  for hw in dict.fromkeys(installed["hardware"])}
        body.append(page.chart(charts.stacked("Installed nodes by hardware (all sites)",
                                              periods, series, "nodes")))
        body.append(table_html(installed, name="installed", caption="installed, used and "
                               "spare nodes per period, site and hardware", fold=True))
    page.section(f"{prefix}-installed", "Installed base over the periods",
                 "".join(body) or missing("the installed table"), level=3)
    orders = run.tables.get("orders")
    body = []
    if orders is not None and not orders.empty:
        by_hw = orders.groupby(["arrives", "hardware"], sort=False)["nodes"].sum()
        series = {hw: [float(by_hw.get((p, hw), 0.0)) for p in periods]
                  for hw in dict.fromkeys(orders["hardware"])}
        body.append(page.chart(charts.stacked("Orders by arrival period", periods, series,
                                              "nodes")))
        body.append(table_html(orders, name="orders", caption="order timeline: nodes, where, "
                                                              "ordered, arriving"))
    page.section(f"{prefix}-orders", "Order timeline",
                 "".join(body) or "<p>no orders</p>", level=3)
    energy = run.tables.get("periods")
    base = run.tables.get("do_nothing")
    body = []
    if energy is not None:
        series = {"roadmap": list(energy["gwh_per_day"])}
        if base is not None:
            series["do nothing"] = list(base["gwh_per_day"])
        chart = charts.stacked("Energy per period (GWh/day) against doing nothing", periods,
                               series, "GWh/day")
        chart["layout"]["barmode"] = "group"
        body.append(page.chart(chart))
        body.append(f'<p class="note">Do nothing: {esc((s.get("do_nothing") or {}).get("rule"))}'
                    f'</p>')
        body.append(table_html(energy, name="periods", caption="per period"))
    page.section(f"{prefix}-energy", "Energy per period",
                 "".join(body) or missing("the periods table"), level=3)
    levers = run.tables.get("levers")
    if levers is not None and not levers.empty:
        series = {v: list(t["gwh_per_day"]) for v, t in levers.groupby("variant", sort=False)}
        chart = charts.stacked("Levers over time: GWh/day per period", periods, series,
                               "GWh/day")
        chart["layout"]["barmode"] = "group"
        page.section(f"{prefix}-levers", "Levers over time",
                     page.chart(chart) + table_html(levers, name="levers", caption=(
                         "each lever alone and all together on the roadmap, per period; "
                         "reduction = the baseline's GWh/day / the variant's")), level=3)
    words = "".join(f"<li><b>{esc(p['id'])}</b>: "
                    + (esc("; ".join(p.get("binding") or [])) or "nothing binds") + "</li>"
                    for p in s.get("periods", []))
    page.section(f"{prefix}-binding", "Binding constraints per period",
                 f'<ul class="words">{words}</ul>', level=3)


# ------------------------------------------------------------------------------------- levers

def levers_sections(page: Page, run: Run, prefix: str) -> None:
    s = run.summary
    body = [f'<p class="path">{esc(run.path)}</p>', cards(views.levers_headline(run), "levers"),
            f'<p class="note">Baseline: {esc(s.get("baseline_source", "not recorded"))}</p>']
    body += [missing(m) for m in run.missing]
    levers = run.tables.get("levers")
    if levers is not None and not levers.empty:
        order = levers.sort_values("shapley_gwh_per_day", ascending=False)
        labels = ["baseline", *order["name"], "all levers"]
        texts = [fmt(s["baseline_gwh_per_day"])] + [
            # steps under 2 % of the baseline keep their value in the hover only
            f"-{fmt(g, 3)} ({fmt(sh * 100, 2)} %)" if abs(g) >= 0.02 * s["baseline_gwh_per_day"]
            else "" for g, sh in zip(order["shapley_gwh_per_day"], order["shapley_share"])
        ] + [f"{fmt(s['all_levers_gwh_per_day'])} ({fmt(s['combined_reduction'], 3)}x)"]
        body.append(page.chart(
            charts.waterfall(labels, s["baseline_gwh_per_day"],
                             list(order["shapley_gwh_per_day"]), s["all_levers_gwh_per_day"],
                             texts), static_png=run.images.get("waterfall")))
        body.append(table_html(levers, name="levers", caption="levers: alone, left out, Shapley"))
    cats = run.tables.get("categories")
    if cats is not None and not cats.empty:
        body.append("<h4>Against the published ranges</h4>")
        body.append(page.chart(charts.ranges(cats)))
        body.append(table_html(cats, name="categories", caption="categories",
                               classes=lambda i, c, v: ("ok" if v else "bad")
                               if c == "in_published_range" else ""))
    rec = run.tables.get("reconciliation")
    if rec is not None and not rec.empty:
        body.append("<h4>Reconciliation to the paper's assumptions</h4>")
        body.append(page.chart(charts.bar(
            "Baseline moved step by step to the paper's assumptions (GWh/day after each step)",
            ["baseline", *rec["step"]], [s["baseline_gwh_per_day"], *rec["gwh_per_day"]],
            "GWh/day")))
        body.append(table_html(rec, name="reconciliation", caption="reconciliation steps "
                                                                   "(each on top of the previous)"))
    cls = run.tables.get("classes")
    if cls is not None and not cls.empty:
        body.append(table_html(cls.set_index("class").T.reset_index().rename(
            columns={"index": "per class"}), units=False, name="lever-classes",
            caption="per class"))
    subsets = run.tables.get("subsets")
    if subsets is not None:
        body.append(table_html(subsets, name="subsets", caption="every subset solved", fold=True))
    page.section(f"{prefix}-levers", f"Levers: {run.label}", "".join(body))


# -------------------------------------------------------------------------------- uncertainty

UNCERTAINTY_ROWS = (
    ("GWh/day at the point coefficients", ("uncertainty", "point_gwh_per_day"), 4),
    ("GWh/day median (plan fixed)", ("uncertainty", "gwh_per_day", "median"), 4),
    ("GWh/day P10", ("uncertainty", "gwh_per_day", "p10"), 4),
    ("GWh/day P90", ("uncertainty", "gwh_per_day", "p90"), 4),
    ("GWh/day P90, nodes restored", ("uncertainty", "gwh_per_day_reprovisioned", "p90"), 4),
    ("peak MW median", ("uncertainty", "peak_mw", "median"), 4),
    ("P(power cap exceeded)", ("uncertainty", "p_cap_exceeded"), 3),
    ("P(utilisation above ceiling)", ("uncertainty", "p_utilization_above_ceiling"), 3),
    ("P(demand not served)", ("uncertainty", "p_capacity_shortfall"), 3),
    ("draws", ("uncertainty", "draws"), 6),
)


def _dig(data: dict, keys: tuple[str, ...]):
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def uncertainty_sections(page: Page, run: Run, prefix: str) -> None:
    """The plan held fixed while the coefficients vary within their stated error: read from
    ``uncertainty_summary.json`` and the per-deployment tables, nothing recomputed."""
    plans = run.summary["plans"]
    rows = []
    for label, keys, digits in UNCERTAINTY_ROWS:
        row = {"measure": label}
        for name, plan in plans.items():
            value = _dig(plan, keys)
            row[name] = "not in this run" if value is None else fmt(value, digits)
        rows.append(row)
    body = [f'<p class="path">{esc(run.path)}</p>']
    model = _dig(next(iter(plans.values())), ("uncertainty", "error_model", "structure"))
    if model:
        body.append(f'<p class="note">Error structure: {esc(model)}</p>')
    body += [missing(m) for m in run.missing]
    body.append(table_html(pd.DataFrame(rows), units=False, name="uncertainty",
                           caption="plan held fixed over the coefficient draws"))
    if "comparison" in run.summary:
        body.append(table_html(views.uncertainty_comparison(run.summary["comparison"]),
                               units=False, name="uncertainty-comparison",
                               caption="robust against nominal (same draws)"))
    if "energy_distribution" in run.images:
        body.append(f'<img class="static" alt="energy distribution" '
                    f'src="{_png_uri(run.images["energy_distribution"])}">')
    for name, table in run.tables.items():
        body.append(table_html(table, name=f"uncertainty-{name}",
                               caption=f"{name} plan: deployments, coefficient source, stated "
                                       f"error, share of the energy variance"))
    page.section(f"{prefix}-uncertainty", f"Plan uncertainty: {run.label}", "".join(body))


# -------------------------------------------------------------------------------------- sweep

def sweep_sections(page: Page, run: Run, prefix: str) -> None:
    s = run.summary
    tables = views.sweep_tables(run)
    body = [f'<p class="path">{esc(run.path)}</p>']
    body += [missing(m) for m in run.missing]
    body.append(table_html(tables["headline"], units=False, name="sweep-headline",
                           caption=f"sweep {s.get('name', '')}"))
    table = run.tables.get("sweep")
    if table is None or table.empty:
        page.section(f"{prefix}-sweep", f"Sweep: {run.label}", "".join(body))
        return
    ok = table[table["status"].isin(("optimal", "time_limit"))]
    base = ok.loc[ok["kind"] == "base", "objective_value"]
    tornado = tables.get("tornado")
    if tornado is not None:
        center = float(base.iloc[0]) if len(base) else float(ok["objective_value"].median())
        note = "" if len(base) else "no base point in this run: centred on the median point"
        body.append("<h4>Tornado</h4>")
        body.append(page.chart(charts.tornado(tornado, center),
                               static_png=run.images.get("tornado"), note=note))
        body.append(table_html(tornado, name="tornado", caption="tornado rows"))
    scen = ok[ok["kind"] == "scenario"]
    if not scen.empty:
        names = ["base"] * len(base) + list(scen["scenario"])
        values = list(base) + list(scen["objective_value"])
        body.append("<h4>Scenarios</h4>")
        body.append(page.chart(charts.bar("Objective by scenario", names, values, "objective")))
    from planner.report.sweep import _numeric_columns, pareto_input

    grid = ok[ok["kind"] == "grid"]
    pareto = [c for c in _numeric_columns(table, grid) if pareto_input(c)]
    if pareto:
        body.append("<h4>Pareto fronts</h4>")
        import re

        for col in pareto:
            rows = grid[pd.to_numeric(grid[col], errors="coerce").notna()]
            png = run.images.get("pareto_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", col))
            body.append(page.chart(charts.pareto(col, rows[col], rows["objective_value"]),
                                   static_png=png))
    mc = ok[ok["kind"] == "monte_carlo"]
    if len(mc) >= 2:
        body.append("<h4>Distribution over the Monte Carlo</h4>")
        png = run.images.get("distribution")
        for col, unit in (("objective_gwh_per_day", "GWh/day"), ("wh_per_query", "Wh/query")):
            q = s.get(col) if isinstance(s.get(col), dict) else None
            title = f"Optimized fleet {unit} over {len(mc)} Monte Carlo points"
            if q:
                title += (f": median {fmt(q.get('median'))} (IQR {fmt(q.get('p25'))}-"
                          f"{fmt(q.get('p75'))})")
            body.append(page.chart(charts.histogram(mc[col], title, unit, q), static_png=png))
            png = b""  # one run picture holds both panels
    failed = tables.get("failed")
    if failed is not None:
        body.append(table_html(failed, name="failed", caption="failed points", fold=False))
    infeasible = table[table["status"] == "infeasible"]
    if not infeasible.empty and "error" in infeasible:
        body.append(table_html(infeasible[["point_id", "kind", "error"]], name="infeasible",
                               caption="infeasible points and why"))
    body.append(table_html(table, name="points", caption="every point", fold=True))
    page.section(f"{prefix}-sweep", f"Sweep: {run.label}", "".join(body))


# ------------------------------------------------------------------------------------ compare

def _delta_class(i, col, v) -> str:
    if not str(col).startswith("change ") or not isinstance(v, (int, float, np.number)) \
            or isinstance(v, (bool, np.bool_)) or math.isnan(float(v)) or abs(v) < 1e-12:
        return ""
    return "up" if v > 0 else "down"


def compare_sections(page: Page, solves: list[Run], levers: list[Run],
                     sweeps: list[Run] = ()) -> None:
    body = []
    if len(solves) >= 2:
        t = views.compare_tables(solves)
        first = solves[0].label
        body.append(f"<p>Differences are each plan minus <b>{esc(first)}</b>; "
                    f"<span class='up'>more</span> and <span class='down'>less</span> are "
                    f"highlighted.</p>")
        head = t["headline"]
        body.append(table_html(head.drop(columns=["key"]), units=False, name="compare-headline",
                               caption="headline", classes=_delta_class))
        energy = head[head["key"] == "objective_gwh_per_day"].iloc[0]
        body.append(page.chart(charts.bar(
            "Fleet energy by plan (GWh/day)", [r.label for r in solves],
            [energy[r.label] for r in solves], "GWh/day")))
        if "units" in t:
            body.append(table_html(
                t["units"], units=False, name="compare-units",
                caption="units per site and hardware (nodes): to buy or rent, or to retire",
                classes=lambda i, c, v: _delta_class(i, c, v) or (
                    "up" if str(v).startswith("buy") else "down" if str(v).startswith("retire")
                    else "")))
        if "assignment" in t:
            body.append(table_html(t["assignment"], units=False, name="compare-assignment",
                                   caption="what moved: the deployments serving each class",
                                   classes=lambda i, c, v: "hl" if c == "moved" and v else ""))
        if "classes" in t:
            body.append(table_html(t["classes"], name="compare-classes",
                                   caption="energy per query by class"))
    if len(sweeps) >= 2:
        body.append(table_html(views.compare_sweeps(sweeps), units=False,
                               name="compare-sweeps", caption="sweeps side by side"))
    if len(levers) >= 2:
        body.append(table_html(views.compare_levers_headline(levers), units=False,
                               name="compare-levers-headline", caption="lever runs side by side"))
        lev = views.compare_levers(levers)
        if lev is not None:
            body.append(table_html(lev, units=False, name="compare-levers",
                                   caption="levers side by side"))
    if body:
        page.section("compare", "Compare", "".join(body))


# --------------------------------------------------------------------------------------- page

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d2730;
background:#f6f7f8;font-size:14px;line-height:1.45}
header{background:#264653;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}header p{margin:2px 0;opacity:.85}
nav{background:#fff;border-bottom:1px solid #dde2e6;padding:8px 28px;font-size:13px}
nav a{margin-right:14px;color:#1f6f8b;text-decoration:none;white-space:nowrap;
display:inline-block}nav a.toc2{font-weight:600;margin-left:6px}nav a.toc3{font-size:12px}
main{max-width:1200px;margin:0 auto;padding:8px 24px 40px}
section{background:#fff;border:1px solid #dde2e6;border-radius:6px;margin:18px 0;padding:14px 20px}
h2{font-size:19px;margin:4px 0 10px;color:#264653}h3{font-size:16px;margin:4px 0 10px;
color:#264653}h4{font-size:14px;margin:16px 0 6px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px;margin:10px 0}
.card{border:1px solid #e3e7ea;border-radius:6px;padding:8px 12px;background:#fbfcfc}
.card .label{font-size:12px;color:#5b6770}.card .value{font-size:20px;font-weight:600;
overflow-wrap:anywhere}.card .unit{font-size:12px;font-weight:400;color:#5b6770}
.card .note{font-size:11px;color:#7a858d}.card .value.small{font-size:13px;font-weight:500}
td.long{min-width:220px;max-width:380px}
.table-wrap{overflow-x:auto;margin:6px 0 12px}
table{border-collapse:collapse;font-size:12px}th,td{border-bottom:1px solid #e6e9ec;
padding:3px 8px;text-align:left;vertical-align:top}th{background:#f0f3f5;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.up{background:#fde2dc}.down{background:#dcf2ec}.hl{background:#fff3c4}.ok{background:#dcf2ec}
.bad{background:#fde2dc}
.missing{color:#8a5a00;background:#fff6e0;border-left:3px solid #e9c46a;padding:4px 8px}
.alert{color:#8b1e1e;background:#fde2dc;border-left:3px solid #e76f51;padding:6px 10px}
.path,.caption,.table-caption,.note{color:#5b6770;font-size:12px}
.table-caption{margin:10px 0 0;font-weight:600}
figure.chart-box{margin:8px 0 14px;break-inside:avoid;overflow:hidden}.chart{width:100%;min-height:240px}
img.static{max-width:100%}.no-js div.chart{display:none}
ul.words li{margin:3px 0}
details summary{cursor:pointer;color:#1f6f8b;margin:6px 0}
@media print{body{background:#fff}nav{display:none}section{border:none;break-inside:auto}
header{background:#fff;color:#000}.modebar{display:none!important}}
"""

INIT_JS = """
(function(){
  document.documentElement.className = document.documentElement.className.replace('no-js', '');
  var boxes = document.querySelectorAll('div.chart');
  for (var i = 0; i < boxes.length; i++) {
    var el = boxes[i];
    var spec = JSON.parse(document.getElementById(el.id + '-data').textContent);
    Plotly.newPlot(el, spec.traces, spec.layout,
                   {responsive: true, displaylogo: false, toImageButtonOptions: {scale: 2}});
  }
  window.addEventListener('beforeprint', function(){
    var folded = document.querySelectorAll('details');
    for (var j = 0; j < folded.length; j++) { folded[j].open = true; }
    for (var i = 0; i < boxes.length; i++) { Plotly.Plots.resize(boxes[i]); }
  });
  document.body.setAttribute('data-charts-ready', String(boxes.length));
})();
"""


def render(runs: list[Run], fallbacks: bool = True) -> str:
    """The whole page as a string."""
    from plotly.offline import get_plotlyjs

    page = Page(fallbacks=fallbacks)
    solves = [r for r in runs if r.kind == "solve"]
    levers = [r for r in runs if r.kind == "levers"]
    compare_sections(page, solves, levers, [r for r in runs if r.kind == "sweep"])
    for i, run in enumerate(runs, start=1):
        prefix = f"r{i}"
        {"solve": solve_sections, "levers": levers_sections, "sweep": sweep_sections,
         "uncertainty": uncertainty_sections, "roadmap": roadmap_sections}[run.kind](
            page, run, prefix)
    toc = "".join(f'<a class="toc{level}" href="#{esc(sid)}">{esc(title)}</a>'
                  for sid, title, _, level in page.sections)
    body = "".join(f'<section id="{esc(sid)}" class="level{level}"><h{level}>{esc(title)}'
                   f'</h{level}>{content}</section>' for sid, title, content, level
                   in page.sections)
    instances = ", ".join(dict.fromkeys(r.instance for r in runs))
    kinds = ", ".join(f"{r.label} ({r.kind})" for r in runs)
    return (f'<!DOCTYPE html><html lang="en" class="no-js"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{esc(PAGE_TITLE)}: {esc(instances)}</title><style>{CSS}</style></head>'
            f'<body><header><h1>{esc(PAGE_TITLE)}: {esc(instances)}</h1><p>runs: {esc(kinds)}'
            f'</p></header><nav>{toc}</nav><main>{body}</main>'
            f'<script type="text/javascript">{get_plotlyjs()}</script>'
            f'<script type="text/javascript">{INIT_JS}</script></body></html>')


def write_html(runs: list[Run], out: Path | str, fallbacks: bool = True) -> Path:
    from planner.io import write_text_atomic

    return write_text_atomic(out, render(runs, fallbacks=fallbacks))
