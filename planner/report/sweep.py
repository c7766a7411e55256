"""Plots and text of a sweep: tornado, Pareto fronts, distribution of the optimized fleet."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from planner.config import split_path
from planner.errors import PlannerError
from planner.io import write_atomic
from planner.solve.result import SOLVED_VALUES

SOLVED = SOLVED_VALUES
# Swept inputs drawn as a Pareto front against the objective: limits a plan trades energy for
# (the last field of the swept path: sites[0].power_cap_mw, classes[*].slo.ttft_ms, ...).
PARETO_FIELDS = ("power_cap_mw", "ttft_ms", "tpot_ms")


def pareto_input(column: str) -> bool:
    try:
        return str(split_path(column)[-1]) in PARETO_FIELDS
    except PlannerError:  # a column that is not an instance path
        return False


def _numeric_columns(table: pd.DataFrame, points: pd.DataFrame) -> list[str]:
    skip = {"point_id", "kind", "scenario", "status", "error", "seconds"}
    first = table.columns.get_loc("status") if "status" in table else len(table.columns)
    swept = [c for c in table.columns[:first] if c not in skip]
    return [c for c in swept if pd.to_numeric(points[c], errors="coerce").notna().sum() >= 2]


def tornado_rows(table: pd.DataFrame, context: dict | None = None) -> pd.DataFrame:
    """Per swept input, the objective at its lowest and highest value and the swing.

    Product grids: one at a time around the base point: the other inputs of the block held at
    their base value (the instance's own value, schema defaults included, from
    ``base_values``). Where that value is not in the grid they are held at the grid value
    nearest it (the middle one when it is unknown) and ``method`` says so. Zip grids move
    their inputs together, so the bar is the joint change along the block. Monte Carlo: a main effect, the mean objective
    in the input's bottom and top decile (the other inputs averaged over).

    ``context`` (the sweep summary's ``tornado_context``): ``base_values`` {path: value} and
    ``zip_blocks`` [grid0, ...]."""
    ok = table[table["status"].isin(SOLVED)]
    context = context or {}
    base_values = context.get("base_values") or {}
    zip_blocks = set(context.get("zip_blocks") or ())
    rows = []
    grid_points = ok[ok["kind"] == "grid"]
    blocks = grid_points["point_id"].str.extract(r"^(grid\d+)-", expand=False)
    for block, points in grid_points.groupby(blocks):
        cols = [c for c in _numeric_columns(table, points) if points[c].notna().all()]
        if not cols:
            continue
        values = {c: pd.to_numeric(points[c], errors="coerce") for c in cols}
        is_zip = block in zip_blocks
        reference = {c: _reference(values[c], base_values.get(c)) for c in cols}
        y_all = points["objective_value"].astype(float)
        for col in cols:
            x = values[col]
            if is_zip or len(cols) == 1:
                mask = x.notna()
                method = "joint (zip block)" if is_zip else "one at a time"
            else:
                mask = x.notna()
                off_base = []
                for other in cols:
                    if other != col:
                        mask &= values[other] == reference[other]
                        if not _is_base(reference[other], base_values.get(other)):
                            off_base.append(f"{other} held at {reference[other]:.4g}, its "
                                            f"base value {_base_text(base_values.get(other))} "
                                            f"is not in the grid")
                method = ("one at a time around the base point" if not off_base else
                          f"{OFF_BASE} (" + "; ".join(off_base) + ")")
            xs, ys = x[mask], y_all[mask]
            if xs.nunique() < 2:
                continue
            low, high = ys[xs == xs.min()].mean(), ys[xs == xs.max()].mean()
            rows.append({"input": col, "kind": "grid", "method": method,
                         "low_value": xs.min(), "high_value": xs.max(),
                         "objective_at_low": low, "objective_at_high": high,
                         "swing": abs(high - low)})
    points = ok[ok["kind"] == "monte_carlo"]
    for col in _numeric_columns(table, points):
        x = pd.to_numeric(points[col], errors="coerce")
        y = points["objective_value"].astype(float)
        keep = x.notna()
        x, y = x[keep], y[keep]
        lo_q, hi_q = x.quantile(0.1), x.quantile(0.9)
        low, high = y[x <= lo_q].mean(), y[x >= hi_q].mean()
        rows.append({"input": col, "kind": "monte_carlo", "method": "main effect (decile means)",
                     "low_value": lo_q, "high_value": hi_q, "objective_at_low": low,
                     "objective_at_high": high, "swing": abs(high - low)})
    return pd.DataFrame(rows).sort_values("swing", ascending=False) if rows else pd.DataFrame()


def _is_base(held: float, base) -> bool:
    return _numeric(base) and bool(np.isclose(held, float(base), rtol=1e-9, atol=0.0))


def _numeric(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and bool(np.isfinite(value)))


def _base_text(base) -> str:
    return f"{float(base):.4g}" if _numeric(base) else "(unknown)"


def _reference(values: pd.Series, base) -> float:
    """The grid value the other inputs are held at: nearest the base value, else the middle."""
    unique = np.sort(values.dropna().unique())
    if _numeric(base):
        return float(unique[np.argmin(np.abs(unique - base))])
    return float(unique[(len(unique) - 1) // 2])


def write_plots(table: pd.DataFrame, out_dir: Path | str,
                context: dict | None = None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    written = []
    base = table.loc[(table["kind"] == "base") & table["status"].isin(SOLVED), "objective_value"]
    center = float(base.iloc[0]) if len(base) else float(
        table.loc[table["status"].isin(SOLVED), "objective_value"].median())
    tornado = tornado_rows(table, context)
    if not tornado.empty:
        written.append(_save(tornado_figure(tornado, center), out_dir / "tornado.png"))
    grid = table[(table["kind"] == "grid") & table["status"].isin(SOLVED)]
    for col in _numeric_columns(table, grid):
        if not pareto_input(col):
            continue
        x = pd.to_numeric(grid[col], errors="coerce")
        y = grid["objective_value"].astype(float)
        front = y.groupby(x).min().sort_index()
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.scatter(x, y, s=10, alpha=0.4, label="points")
        ax.step(front.index, front.to_numpy(), where="post", color="black", label="front")
        ax.set_xlabel(col)
        ax.set_ylabel("fleet GWh/day (objective)")
        ax.set_title(f"Pareto front: energy vs {col}", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", col)
        written.append(_save(fig, out_dir / f"pareto_{safe}.png"))
    mc = table[(table["kind"] == "monte_carlo") & table["status"].isin(SOLVED)]
    if len(mc) >= 2:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, col, unit in ((axes[0], "objective_gwh_per_day", "GWh/day"),
                              (axes[1], "wh_per_query", "Wh/query")):
            values = mc[col].astype(float)
            q25, q50, q75 = values.quantile([0.25, 0.5, 0.75])
            ax.hist(values, bins=min(40, max(5, len(values) // 3)), color="#8ab17d")
            for q, ls in ((q25, ":"), (q50, "--"), (q75, ":")):
                ax.axvline(q, color="black", ls=ls, lw=1)
            ax.set_title(f"optimized fleet {unit}: median {q50:.4g} (IQR {q25:.4g}-{q75:.4g})",
                         fontsize=9)
            ax.set_xlabel(unit)
        fig.tight_layout()
        written.append(_save(fig, out_dir / "distribution.png"))
    return written


OFF_BASE = "one at a time around the nearest grid point"


def tornado_names(rows: pd.DataFrame) -> list[str]:
    """Bar labels: the input, its kind where an input appears twice (grid and Monte Carlo),
    and a mark where the other inputs could not be held at the base point (not in the grid)."""
    dup = rows["input"].duplicated(keep=False)
    names = [f"{i} ({'Monte Carlo' if k == 'monte_carlo' else k})" if d else i
             for i, k, d in zip(rows["input"], rows["kind"], dup)]
    return [f"{n} [others off base: see method]" if str(m).startswith(OFF_BASE) else n
            for n, m in zip(names, rows.get("method", [""] * len(rows)))]


def tornado_figure(tornado: pd.DataFrame, center: float):
    """Low and high value of each input side by side (never one bar behind the other), each
    labelled with the input's value and the objective there; the base point is the zero line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = tornado.iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.62 * len(rows) + 1.6))
    h = 0.38
    lows = rows["objective_at_low"].astype(float).to_numpy() - center
    highs = rows["objective_at_high"].astype(float).to_numpy() - center
    span = float(np.nanmax(np.abs(np.concatenate([lows, highs, [0.0]])))) or 1.0
    for i, row in enumerate(rows.itertuples()):
        for d, width, color, value, y in ((-h / 2, lows[i], "#2a9d8f", row.low_value,
                                           row.objective_at_low),
                                          (h / 2, highs[i], "#e76f51", row.high_value,
                                           row.objective_at_high)):
            ax.barh(i + d, width, height=h, color=color)
            ax.annotate(f"{value:.3g} -> {y:.4g}", (width, i + d), fontsize=6.5, va="center",
                        ha="left" if width >= 0 else "right",
                        xytext=(3 if width >= 0 else -3, 0), textcoords="offset points")
    ax.set_yticks(range(len(rows)), tornado_names(rows), fontsize=8)
    both = np.concatenate([lows, highs, [0.0]])
    ax.set_xlim(min(0.0, float(np.nanmin(both))) - 0.35 * span,
                max(0.0, float(np.nanmax(both))) + 0.35 * span)  # room for the labels
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"objective change against the base point ({center:.4g}); teal: the input "
                  f"at its low value, orange: at its high value", fontsize=8)
    ax.set_title("Tornado: which input moves the fleet objective most "
                  "(label: input value -> objective)", fontsize=9)
    fig.tight_layout()
    return fig


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    out = write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return out


def sweep_text(summary: dict, table: pd.DataFrame) -> str:
    lines = [f"sweep {summary['name']}: {summary['points']} points, {summary['solved_now']} "
             f"solved now, {summary['skipped_done']} already done; engine {summary['engine']}; "
             f"{summary['seconds']:.1f} s ({summary['points_per_minute']:.0f} points/min)",
             "status: " + ", ".join(f"{k} {v}" for k, v in summary["status_counts"].items())]
    for col in ("objective_gwh_per_day", "wh_per_query"):
        if col in summary:
            d = summary[col]
            lines.append(f"Monte Carlo {col}: median {d['median']:.4g} "
                         f"(IQR {d['p25']:.4g}-{d['p75']:.4g})")
    tornado = tornado_rows(table, summary.get("tornado_context"))
    if not tornado.empty:
        lines += ["", "Tornado (objective at the low / high value of each input)",
                  tornado.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
    if summary["failed"]:
        lines += ["", f"{len(summary['failed'])} failed points:"]
        lines += [f"  {f['point_id']}: {f['error']}" for f in summary["failed"]]
    return "\n".join(lines)
