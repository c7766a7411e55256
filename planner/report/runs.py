"""Read the output folders of ``planner solve``, ``levers`` and ``sweep`` for ``planner report``.

Only reads: every number the report shows comes from a file of the run (summary.json, the
CSV/Parquet tables, the points of a sweep). What a run lacks is listed in ``Run.missing`` in
words, so the report can say so instead of showing something it did not read. A folder that is
no run, or a run of a format this version cannot read, is an ``InputError`` (one line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from planner.errors import InputError

SOLVE_TABLES = ("assignment", "deployments", "classes", "constraints", "hourly")
LEVERS_TABLES = ("levers", "classes", "subsets", "categories", "reconciliation")
SOLVE_KEYS = ("status", "objective", "objective_gwh_per_day", "peak_power_mw", "wh_per_query",
              "queries_per_day", "provenance")
LEVERS_KEYS = ("baseline_gwh_per_day", "all_levers_gwh_per_day", "combined_reduction", "levers")
SWEEP_KEYS = ("points", "status_counts", "failed")
# What each missing table means for the reader, and which version of the planner writes it.
WHY = {"hourly": "hourly facility power per site (written by `planner solve --out` since the "
                 "report was added; re-run the solve to get the power chart)",
       "reconciliation": "the reconciliation to the paper (the instance has no levers.reconcile)",
       "categories": "the published-range categories (the instance has no levers.categories)"}


@dataclass
class Run:
    """One output folder: its kind, summary, tables and pictures, and what it lacks."""

    path: Path
    kind: str  # "solve", "levers", "sweep", "uncertainty" or "roadmap"
    summary: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    label: str = ""
    # Runs written into the same folder: `solve --uncertainty N --out` adds the plan's
    # uncertainty run next to the plan; load_runs lists it right after the plan.
    companions: list["Run"] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return self.kind != "solve" or self.summary.get("status") not in ("infeasible",)

    @property
    def instance(self) -> str:
        s = self.summary
        if self.kind in ("solve", "roadmap"):
            return str(s.get("provenance", {}).get("instance", "?"))
        if self.kind in ("levers", "uncertainty"):
            return str(s.get("instance") or "?")
        return Path(str(s["instance"])).stem if s.get("instance") else str(s.get("name", "?"))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg} at line {exc.lineno})",
                         file=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("not a planner summary (expected a JSON object)", file=str(path))
    return data


def _read_table(folder: Path, name: str) -> pd.DataFrame | None:
    """Parquet if present (exact types), else CSV; None when neither exists."""
    for suffix, reader in ((".parquet", pd.read_parquet), (".csv", pd.read_csv)):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            try:
                return reader(path)
            except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
                raise InputError(f"unreadable table: {exc}", file=str(path)) from None
    return None


def _older_format(path: Path, kind: str, keys: tuple[str, ...], summary: dict) -> None:
    absent = [k for k in keys if k not in summary]
    if absent:
        raise InputError(f"a {kind} run of an older or unknown format: summary.json has no "
                         f"{', '.join(repr(k) for k in absent)}; re-run `planner {kind}` with "
                         f"this version", file=str(path / "summary.json"))


def _images(folder: Path, names: list[str]) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in sorted(folder.glob("*.png")) if p.stem in names
            or any(p.stem.startswith(n) for n in names if n.endswith("_"))}


def load_run(path: Path | str) -> Run:
    """Read one output folder of solve, levers or sweep (kind told by its files)."""
    folder = Path(path)
    if not folder.exists():
        raise InputError("no such folder", file=str(folder))
    if not folder.is_dir():
        raise InputError("not a folder (give the --out folder of planner solve, levers or "
                         "sweep)", file=str(folder))
    summary_path = folder / "summary.json"
    if (folder / "uncertainty_summary.json").is_file():
        summary = _read_json(summary_path) if summary_path.is_file() else {}
        if "status" not in summary or "status_counts" in summary:
            return _load_uncertainty(folder)
        # `planner solve --uncertainty N --out`: the plan, with its uncertainty beside it
        run = _load_solve(folder, summary)
        companion = _load_uncertainty(folder)
        companion.summary["instance"] = run.instance  # one instance, one name in the title
        run.companions.append(companion)
        return run
    manifest_path = folder / "manifest.json"
    if not summary_path.is_file():
        if manifest_path.is_file() or (folder / "points").is_dir():
            return _load_sweep(folder, None)
        raise InputError("not a planner run: no summary.json (give the --out folder of "
                         "planner solve, levers or sweep)", file=str(folder))
    summary = _read_json(summary_path)
    if summary.get("kind") == "roadmap":
        return _load_roadmap(folder, summary)
    if "baseline_gwh_per_day" in summary or "levers" in summary:
        return _load_levers(folder, summary)
    if "status_counts" in summary or manifest_path.is_file():
        return _load_sweep(folder, summary)
    if "status" in summary:
        return _load_solve(folder, summary)
    raise InputError("not a planner run: summary.json is not one of solve, levers or sweep",
                     file=str(summary_path))


def _load_solve(folder: Path, summary: dict) -> Run:
    run = Run(folder, "solve", summary)
    if summary.get("status") == "infeasible":
        _older_format(folder, "solve", ("diagnosis", "provenance"), summary)
        return run
    _older_format(folder, "solve", SOLVE_KEYS, summary)
    for name in SOLVE_TABLES:
        table = _read_table(folder, name)
        if table is None:
            run.missing.append(f"{name} table: " + WHY.get(name, f"no {name}.parquet or "
                                                               f"{name}.csv in the folder"))
        else:
            run.tables[name] = table
    if "provenance" in summary and "catalog" not in summary["provenance"]:
        run.missing.append("catalog/calibration version: not recorded by the planner that "
                           "wrote this run")
    latency = latency_table(folder, run.tables.get("classes"))
    if latency is not None:
        run.tables["latency"] = latency
    return run


def latency_table(folder: Path, classes: pd.DataFrame | None) -> pd.DataFrame | None:
    """Issue 22: each class's predicted TTFT/TPOT at its SLO percentile (the plan's classes
    table), the simulated ones (``simulation.json`` of ``planner simulate``, where run) and the
    SLO, with the headroom."""
    if classes is None or classes.empty:
        return None
    sim = {}
    path = folder / "simulation.json"
    if path.is_file():
        sim = {c["id"]: c for c in _read_json(path).get("classes", [])}
    rows = []
    for _, c in classes.iterrows():
        s = sim.get(c["class"], {})
        at = s.get("at_slo_percentile", {})
        rows.append({
            "class": c["class"], "percentile": c.get("slo_percentile"),
            "ttft_predicted_ms": c["worst_ttft_ms"],
            "ttft_model_on_plan_ms": s.get("analytic_at_plan_ttft_ms"),
            "ttft_simulated_ms": at.get("ttft_ms"),
            "ttft_slo_ms": c["ttft_slo_ms"], "ttft_headroom_ms": c["ttft_margin_ms"],
            "tpot_predicted_ms": c["worst_tpot_ms"], "tpot_simulated_ms": at.get("tpot_ms"),
            "tpot_slo_ms": c["tpot_slo_ms"], "tpot_headroom_ms": c["tpot_margin_ms"],
            "simulated_met": s.get("met")})
    return pd.DataFrame(rows)


ROADMAP_TABLES = ("periods", "installed", "orders", "retired", "deployments", "binding",
                  "do_nothing", "levers")


def _load_roadmap(folder: Path, summary: dict) -> Run:
    """A ``planner roadmap --out`` folder: summary.json (``kind: roadmap``) and the
    roadmap_*.parquet/csv tables."""
    _older_format(folder, "roadmap", ("status", "periods", "objective_value", "provenance"),
                  summary)
    run = Run(folder, "roadmap", summary)
    for name in ROADMAP_TABLES:
        table = _read_table(folder, f"roadmap_{name}")
        if table is None and name == "levers":
            continue  # only with `planner roadmap --levers`
        if table is None:
            run.missing.append(f"roadmap {name} table: no roadmap_{name}.parquet or .csv")
        else:
            run.tables[name] = table
    return run


def _load_levers(folder: Path, summary: dict) -> Run:
    _older_format(folder, "levers", LEVERS_KEYS, summary)
    run = Run(folder, "levers", summary)
    for name in LEVERS_TABLES:
        table = _read_table(folder, name)
        if table is None or (table.empty and name in WHY):
            run.missing.append(f"{name} table: " + WHY.get(name, f"no {name}.parquet or "
                                                               f"{name}.csv in the folder"))
        else:
            run.tables[name] = table
    run.images = _images(folder, ["waterfall"])
    return run


def _load_uncertainty(folder: Path) -> Run:
    """A ``planner uncertainty --out`` folder: the fixed-plan Monte Carlo of the nominal (and
    robust) plan, their per-deployment tables and the energy distribution picture."""
    summary = _read_json(folder / "uncertainty_summary.json")
    if "plans" not in summary or not isinstance(summary["plans"], dict):
        raise InputError("an uncertainty run of an older or unknown format: no 'plans'",
                         file=str(folder / "uncertainty_summary.json"))
    run = Run(folder, "uncertainty", summary)
    for name in summary["plans"]:
        table = _read_table(folder, f"uncertainty_deployments_{name}")
        if table is None:
            run.missing.append(f"per-deployment table of the {name} plan: not in the folder")
        else:
            run.tables[name] = table
    run.images = _images(folder, ["energy_distribution"])
    return run


def _load_sweep(folder: Path, summary: dict | None) -> Run:
    """A finished sweep (summary.json, sweep table) or a partial one (points/ only)."""
    manifest = _read_json(folder / "manifest.json") if (folder / "manifest.json").is_file() \
        else {}
    if summary is not None:
        _older_format(folder, "sweep", SWEEP_KEYS, summary)
        run = Run(folder, "sweep", summary)
        table = _read_table(folder, "sweep")
        if table is None:
            run.missing.append("sweep table: no sweep.parquet or sweep.csv in the folder")
        else:
            run.tables["sweep"] = table
    else:
        spec = manifest.get("spec", {}) if isinstance(manifest.get("spec"), dict) else {}
        run = Run(folder, "sweep", {"name": spec.get("name", folder.name), "partial": True})
        rows = _points_table(folder)
        expected = manifest.get("points")
        run.summary["points_done"] = len(rows)
        run.summary["points_expected"] = expected
        of = f" of {expected}" if expected is not None else ""
        run.missing.append(f"summary.json: the sweep did not finish ({len(rows)}{of} points "
                           f"written); the tables below show only the finished points; "
                           f"`planner sweep ... --out {folder} --resume` completes it")
        if not rows.empty:
            run.tables["sweep"] = rows
    run.images = _images(folder, ["tornado", "distribution", "pareto_"])
    run.summary.setdefault("instance", manifest.get("instance"))
    return run


def _points_table(folder: Path) -> pd.DataFrame:
    """The finished points of a sweep, as written by the sweep (points/<id>.json)."""
    rows, params, results = [], {}, {}
    for path in sorted((folder / "points").glob("*.json")):
        data = _read_json(path)
        point, result = data.get("point", {}), data.get("result", {})
        if not isinstance(point, dict) or not isinstance(result, dict):
            raise InputError("not a sweep point (no 'point' and 'result')", file=str(path))
        columns = point.get("columns") or {}
        params.update(dict.fromkeys(columns))
        results.update(dict.fromkeys(result))
        rows.append({"point_id": point.get("id", path.stem), "kind": point.get("kind"),
                     "scenario": point.get("scenario"), **columns, **result})
    # The sweep table's column order: the point, its swept inputs, then status and results.
    order = ["point_id", "kind", "scenario", *params, "status",
             *[k for k in results if k != "status"]]
    return pd.DataFrame(rows, columns=order)


def load_runs(paths: list[Path | str]) -> list[Run]:
    """Read every folder; labels are the folder names, made unique with their parents. A
    companion run (the uncertainty of `solve --uncertainty N --out`) follows its plan and
    carries its label."""
    runs = [load_run(p) for p in paths]
    names = [r.path.name or str(r.path) for r in runs]
    for run, name in zip(runs, names):
        run.label = name
        if names.count(name) > 1:
            run.label = f"{run.path.resolve().parent.name}/{name}"
    labels = [r.label for r in runs]
    for i, run in enumerate(runs):
        if labels.count(run.label) > 1:
            run.label = f"{run.label} ({i + 1})"
    for run in runs:
        for companion in run.companions:
            companion.label = run.label
    return [r for run in runs for r in (run, *run.companions)]
