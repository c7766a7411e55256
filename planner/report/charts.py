"""Charts of ``planner report``: plotly.js figures (interactive: hover for values, click a legend
entry to toggle it) with a static PNG fallback for pages without JavaScript and for print.

A chart is a plain dict {"traces": [...], "layout": {...}} in plotly.js's own JSON schema, built
from a run's tables; the page draws it with the plotly.js bundle shipped in the ``plotly`` wheel
and inlined once (no CDN). The fallback is the PNG the run already wrote for that chart where
there is one (waterfall, tornado, Pareto, distribution), else a small matplotlib rendering of
the same traces.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd

COLORS = ["#1f6f8b", "#e76f51", "#2a9d8f", "#e9c46a", "#6d597a", "#8ab17d", "#b56576",
          "#264653", "#f4a261", "#577590"]
TEAL, ORANGE, GREY, DARK = "#2a9d8f", "#e76f51", "#777777", "#264653"


def layout(title: str, x_title: str = "", y_title: str = "", **extra) -> dict:
    base = {"title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left"},
            "xaxis": {"title": {"text": x_title}, "automargin": True},
            "yaxis": {"title": {"text": y_title}, "automargin": True, "rangemode": "tozero"},
            "margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "height": 340,
            "legend": {"orientation": "h", "y": -0.25}, "font": {"size": 11},
            "paper_bgcolor": "white", "plot_bgcolor": "white"}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def _list(values) -> list:
    out = []
    for v in values:
        if isinstance(v, (np.floating, float)):
            out.append(None if not math.isfinite(float(v)) else float(v))
        elif isinstance(v, np.integer):
            out.append(int(v))
        elif isinstance(v, np.bool_):
            out.append(bool(v))
        else:
            out.append(v)
    return out


def hourly_power(site: str, table: pd.DataFrame) -> dict:
    """Facility power of one site over the 24 hours against its cap."""
    t = table.sort_values("hour")
    traces = [{"type": "scatter", "mode": "lines+markers", "name": "facility power",
               "x": _list(t["hour"]), "y": _list(t["facility_power_mw"]),
               "line": {"color": COLORS[0], "width": 2}, "marker": {"size": 4},
               "hovertemplate": "hour %{x}: %{y:.4g} MW<extra></extra>"}]
    cap = t["power_cap_mw"]
    if cap.notna().any():
        traces.append({"type": "scatter", "mode": "lines", "name": "power cap",
                       "x": _list(t["hour"]), "y": _list(cap),
                       "line": {"color": ORANGE, "dash": "dash", "width": 2},
                       "hovertemplate": "cap %{y:.4g} MW<extra></extra>"})
    return {"traces": traces,
            "layout": layout(f"{site}: facility power by hour (MW)", "hour of day", "MW",
                             xaxis={"dtick": 2}, height=300)}


def bar(title: str, x, y, y_title: str, color=None, names=None, horizontal: bool = False,
        hover: str = "%{y:.4g}") -> dict:
    trace = {"type": "bar", "x": _list(x), "y": _list(y),
             "marker": {"color": color or COLORS[0]}, "hovertemplate": hover + "<extra></extra>"}
    if names is not None:
        trace["text"] = _list(names)
    lay = layout(title, "", y_title)
    if horizontal:
        trace.update({"orientation": "h", "x": _list(y), "y": _list(x),
                      "hovertemplate": hover.replace("%{y", "%{x") + "<extra></extra>"})
        lay = layout(title, y_title, "", yaxis={"automargin": True, "rangemode": "normal"},
                     height=max(260, 40 + 28 * len(trace["y"])))
    return {"traces": [trace], "layout": lay}


def stacked(title: str, categories: list, series: dict[str, list], y_title: str,
            horizontal: bool = False) -> dict:
    traces = []
    for i, (name, values) in enumerate(series.items()):
        t = {"type": "bar", "name": name, "x": _list(categories), "y": _list(values),
             "marker": {"color": COLORS[i % len(COLORS)]},
             "hovertemplate": f"{name}<br>%{{x}}: %{{y:.4g}}<extra></extra>"}
        if horizontal:
            t.update({"orientation": "h", "x": _list(values), "y": _list(categories),
                      "hovertemplate": f"{name}<br>%{{y}}: %{{x:.4g}}<extra></extra>"})
        traces.append(t)
    lay = layout(title, y_title if horizontal else "", "" if horizontal else y_title,
                 barmode="stack", legend={"orientation": "h", "y": -0.35})
    if horizontal:
        lay["height"] = max(280, 120 + 40 * len(categories))
        lay["yaxis"]["rangemode"] = "normal"
    return {"traces": traces, "layout": lay}


def waterfall(labels: list[str], start: float, steps: list[float], end: float,
              texts: list[str]) -> dict:
    """Baseline, one step down per lever (its Shapley GWh/day), and the all-levers level."""
    measure = ["absolute"] + ["relative"] * len(steps) + ["absolute"]
    trace = {"type": "waterfall", "x": _list(labels), "y": _list([start, *[-s for s in steps],
                                                                   end]),
             "measure": measure, "text": texts, "textposition": "outside",
             "textfont": {"size": 11},
             "decreasing": {"marker": {"color": TEAL}}, "increasing": {"marker":
                                                                       {"color": ORANGE}},
             "totals": {"marker": {"color": DARK}}, "connector": {"line": {"color": GREY}},
             "hovertext": [f"{v:.4g} GWh/day" if m == "absolute" else f"-{-v:.4g} GWh/day"
                           for m, v in zip(measure, [start, *[-s for s in steps], end])],
             "hovertemplate": "%{x}: %{hovertext}<extra></extra>", "cliponaxis": False}
    return {"traces": [trace], "layout": layout(
        "Lever attribution: baseline to all levers (Shapley GWh/day per lever)", "",
        "fleet GWh/day", height=420, xaxis={"tickangle": -30, "automargin": True},
        showlegend=False)}


def ranges(table: pd.DataFrame) -> dict:
    """Each published category: its range (bar from low to high) and the measured reduction."""
    cats = _list(table["category"])
    low, high = table["published_low"].astype(float), table["published_high"].astype(float)
    inside = table["in_published_range"].astype(bool)
    traces = [{"type": "bar", "orientation": "h", "name": "published range", "y": cats,
               "x": _list(high - low), "base": _list(low), "marker": {"color": "#cfe3ea"},
               "hovertemplate": "%{y}: published %{base:.3g}x to %{customdata:.3g}x"
                                "<extra></extra>", "customdata": _list(high)},
              {"type": "scatter", "mode": "markers", "name": "measured", "y": cats,
               "x": _list(table["reduction"]),
               "marker": {"size": 12, "symbol": "diamond",
                          "color": [TEAL if v else ORANGE for v in inside]},
               "hovertemplate": "%{y}: measured %{x:.3g}x<extra></extra>"}]
    return {"traces": traces, "layout": layout(
        "Categories: measured reduction against the published range (x-fold)", "x-fold",
        "", height=max(240, 90 + 45 * len(cats)),
        yaxis={"automargin": True, "rangemode": "normal", "autorange": "reversed"},
        xaxis={"type": "log", "range": [0, math.log10(max(1.5, float(high.max()),
                                                            float(table["reduction"].max()))
                                                        * 1.25)]})}


def tornado(rows: pd.DataFrame, center: float) -> dict:
    from planner.report.sweep import tornado_names

    names = tornado_names(rows)
    lo = rows["objective_at_low"].astype(float) - center
    hi = rows["objective_at_high"].astype(float) - center
    # Side by side ("group"): a low and a high bar pointing the same way both stay visible.
    traces = [{"type": "bar", "orientation": "h", "name": "at the low value", "y": names,
               "x": _list(lo), "marker": {"color": TEAL},
               "customdata": _list(rows["low_value"]),
               "hovertemplate": "%{y} = %{customdata:.4g}: %{x:+.4g}<extra></extra>"},
              {"type": "bar", "orientation": "h", "name": "at the high value", "y": names,
               "x": _list(hi), "marker": {"color": ORANGE},
               "customdata": _list(rows["high_value"]),
               "hovertemplate": "%{y} = %{customdata:.4g}: %{x:+.4g}<extra></extra>"}]
    return {"traces": traces, "layout": layout(
        f"Tornado: change in the objective against the base point ({center:.4g})",
        "objective change", "", barmode="group", height=max(280, 100 + 44 * len(names)),
        yaxis={"automargin": True, "rangemode": "normal", "autorange": "reversed"})}


def pareto(column: str, x, y) -> dict:
    x = pd.to_numeric(pd.Series(list(x)), errors="coerce")
    y = pd.Series(list(y), dtype=float)
    front = y.groupby(x).min().sort_index()
    traces = [{"type": "scatter", "mode": "markers", "name": "points", "x": _list(x),
               "y": _list(y), "marker": {"size": 7, "color": COLORS[0], "opacity": 0.55},
               "hovertemplate": f"{column} %{{x:.4g}}: %{{y:.4g}}<extra></extra>"},
              {"type": "scatter", "mode": "lines", "name": "front (lowest at each value)",
               "x": _list(front.index), "y": _list(front), "line": {"shape": "hv",
                                                                    "color": DARK}}]
    return {"traces": traces, "layout": layout(f"Pareto: fleet objective vs {column}", column,
                                               "objective", height=320,
                                               yaxis={"rangemode": "normal"})}


def histogram(values, title: str, unit: str, quantiles: dict | None) -> dict:
    traces = [{"type": "histogram", "x": _list(values), "name": unit,
               "marker": {"color": "#8ab17d"}, "nbinsx": 20,
               "hovertemplate": "%{x}: %{y} points<extra></extra>"}]
    shapes = []
    for q, dash in (("p25", "dot"), ("median", "dash"), ("p75", "dot")):
        if quantiles and quantiles.get(q) is not None:
            shapes.append({"type": "line", "x0": quantiles[q], "x1": quantiles[q], "y0": 0,
                           "y1": 1, "yref": "paper", "line": {"dash": dash, "color": "black",
                                                              "width": 1}})
    return {"traces": traces, "layout": layout(title, unit, "points", shapes=shapes,
                                               showlegend=False, height=300)}


# ------------------------------------------------------------------------------------ fallback

def fallback_png(chart: dict) -> bytes:
    """A static PNG of a chart's traces (matplotlib), for <noscript> and print."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lay = chart["layout"]
    fig, ax = plt.subplots(figsize=(7.5, max(2.6, lay.get("height", 340) / 110)), dpi=100)
    stack_v: dict = {}
    stack_h: dict = {}
    for i, t in enumerate(chart["traces"]):
        color = (t.get("marker") or {}).get("color") or (t.get("line") or {}).get("color") \
            or COLORS[i % len(COLORS)]
        color = color if isinstance(color, str) else COLORS[i % len(COLORS)]
        x = [np.nan if v is None else v for v in t.get("x", [])]
        y = [np.nan if v is None else v for v in t.get("y", [])]
        kind = t["type"]
        if kind == "scatter":
            mode = t.get("mode", "lines")
            style = ("--" if (t.get("line") or {}).get("dash") else "-") if "lines" in mode \
                else ""
            marker = "o" if "markers" in mode else ""
            ax.plot(x, y, linestyle=style or "None", marker=marker or None, color=color,
                    label=t.get("name"), markersize=4,
                    drawstyle="steps-post" if (t.get("line") or {}).get("shape") == "hv"
                    else "default")
        elif kind == "bar" and t.get("orientation") == "h" and lay.get("barmode") == "group":
            bars = [b for b in chart["traces"] if b["type"] == "bar"]
            k, h = bars.index(t), 0.8 / len(bars)
            pos = np.arange(len(y)) + (k - (len(bars) - 1) / 2) * h
            ax.barh(pos, x, height=h, color=color, label=t.get("name"))
            ax.set_yticks(np.arange(len(y)), [str(v) for v in y])
        elif kind == "bar" and t.get("orientation") == "h":
            base = t.get("base") or [stack_h.get(j, 0) if lay.get("barmode") == "stack" else 0
                                     for j in range(len(y))]
            ax.barh([str(v) for v in y], x, left=base, color=color, label=t.get("name"))
            if lay.get("barmode") == "stack":
                for j, v in enumerate(x):
                    stack_h[j] = stack_h.get(j, 0) + (0 if np.isnan(v) else v)
        elif kind == "bar":
            base = [stack_v.get(j, 0) if lay.get("barmode") == "stack" else 0
                    for j in range(len(x))]
            ax.bar([str(v) for v in x], y, bottom=base, color=color, label=t.get("name"))
            if lay.get("barmode") == "stack":
                for j, v in enumerate(y):
                    stack_v[j] = stack_v.get(j, 0) + (0 if np.isnan(v) else v)
        elif kind == "histogram":
            ax.hist([v for v in x if not np.isnan(v)], bins=20, color=color)
        elif kind == "waterfall":
            level, bottoms, heights = 0.0, [], []
            for m, v in zip(t["measure"], y):
                if m == "absolute":
                    bottoms.append(0.0)
                    heights.append(v)
                    level = v
                else:
                    bottoms.append(level + min(v, 0))
                    heights.append(abs(v))
                    level += v
            ax.bar([str(v) for v in x], heights, bottom=bottoms, color=TEAL)
    for shape in lay.get("shapes", []):
        ax.axvline(shape["x0"], color="black", lw=1, ls=":")
    if (lay.get("yaxis") or {}).get("autorange") == "reversed":
        ax.invert_yaxis()
    if (lay.get("xaxis") or {}).get("type") == "log":
        ax.set_xscale("log")
    ax.set_title(lay["title"]["text"], fontsize=9, loc="left")
    ax.set_xlabel(lay["xaxis"]["title"]["text"], fontsize=8)
    ax.set_ylabel(lay["yaxis"]["title"]["text"], fontsize=8)
    ax.tick_params(labelsize=7)
    if any(t["type"] == "bar" and t.get("orientation") != "h" for t in chart["traces"]) \
            or any(t["type"] == "waterfall" for t in chart["traces"]):
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    if sum(1 for t in chart["traces"] if t.get("name")) > 1:
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
