"""Bring your own measurements, hardware and models (issue 13).

* :func:`instance_catalog`: the shipped catalog extended with the instance's ``custom_hardware``
  and ``custom_models`` (a spec sheet, ``like:`` a catalog id with overrides, or profile only).
* :func:`build_profiles`: the instance's measured rows grouped by deployment key (model, hardware,
  precision, GPUs per replica), checked (unknown ids with the nearest ones, duplicate keys, one
  engine per key, a full grid of lengths [x concurrencies], the memory fit).
* :class:`MeasurementOverlay`: per (deployment, length bucket), where a profile covers it, the
  measured throughput (and TTFT, TPOT, power where measured) replaces the model's prediction,
  interpolated linearly in log space between measured lengths and concurrencies. Outside the
  measured range the model's value is scaled by measured / modelled at the nearest measured point
  (``extrapolated``; for a profile-only deployment, the nearest point's value), never silently:
  every such use is counted and stated.
* :func:`provisioning_ratio`: GPUs per provisioned unit / GPUs per node, per deployment.

Sources per (deployment, bucket): 0 modelled, 1 measured, 2 extrapolated.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from planner.catalog.aliases import nearest
from planner.catalog.loaders import (HARDWARE_NUMERIC, Catalog, extended_catalog,
                                     load_shipped_catalog)
from planner.errors import InputError
from planner.config.schema.custom import MeasurementRow

log = logging.getLogger(__name__)

MODELLED, MEASURED, EXTRAPOLATED = 0, 1, 2
SOURCE_NAMES = {MODELLED: "modelled", MEASURED: "measured", EXTRAPOLATED: "extrapolated"}
PROFILE_ONLY_FAMILY = "profile-only"
REL = 1e-9


# ---------------------------------------------------------------------------------------------
# The instance's catalog
# ---------------------------------------------------------------------------------------------

def instance_catalog(instance, file: str | None = None) -> Catalog | None:
    """The catalog with the instance's own hardware and models, or None when it has none."""
    if not (instance.custom_hardware or instance.custom_models):
        return None
    key = json.dumps([[h.model_dump(mode="json") for h in instance.custom_hardware],
                      [m.model_dump(mode="json") for m in instance.custom_models]],
                     sort_keys=True)
    return _extended(key, file)


def instance_catalog_context(instance, file: str | None = None):
    """``with instance_catalog_context(instance):`` catalog lookups see the instance's ids."""
    return extended_catalog(instance_catalog(instance, file))


@lru_cache(maxsize=32)
def _extended(key: str, file: str | None) -> Catalog:
    from planner.config.schema.custom import CustomHardware, CustomModel

    hardware_in, models_in = json.loads(key)
    base = load_shipped_catalog()
    hardware = base.hardware.copy()
    for i, raw in enumerate(hardware_in):
        h = CustomHardware.model_validate(raw)
        where = f"custom_hardware[{i}]"
        _not_a_catalog_id(h.id, base.hardware.index, "hardware", file, where)
        if h.like is not None:
            like = base.hardware_id(h.like, file=file, field=f"{where}.like")
            row = hardware.loc[like].copy()
        else:
            row = pd.Series({c: np.nan for c in hardware.columns}, dtype=object)
            row["family"] = PROFILE_ONLY_FAMILY if h.profile_only else "custom"
            row["projected"] = False
            row["fp8_tflops"] = row["fp4_tflops"] = 0.0
            row["gpus_per_node"] = 1
            row["link_gb_s"] = 50.0  # [assumed] PCIe-class link when not given
        for name in ("gpus_per_node", "hbm_gb", "hbm_tb_s", "bf16_tflops", "fp8_tflops",
                     "fp4_tflops", "link_gb_s", "tdp_w", "node_max_kw"):
            value = getattr(h, name)
            if value is not None:
                row[name] = float(value)
        if h.family is not None:
            row["family"] = h.family
        if not h.profile_only and (h.node_max_kw is None and h.like is None):
            # No host power given: the node is its GPUs (stated in the docs).
            row["node_max_kw"] = float(row["tdp_w"]) * float(row["gpus_per_node"]) / 1e3
        hardware.loc[h.id] = row
    for col in HARDWARE_NUMERIC:
        hardware[col] = pd.to_numeric(hardware[col], errors="coerce")
    hardware["projected"] = hardware["projected"].fillna(False).astype(bool)
    models = base.models.copy()
    for i, raw in enumerate(models_in):
        m = CustomModel.model_validate(raw)
        where = f"custom_models[{i}]"
        _not_a_catalog_id(m.id, base.models.index, "model", file, where)
        if m.like is not None:
            like = base.model_id(m.like, file=file, field=f"{where}.like")
            row = models.loc[like].copy()
            for name, value in m.overrides.items():
                if name not in models.columns:
                    hint = nearest(name, list(models.columns))
                    raise InputError(f"unknown model field; nearest: {', '.join(hint)}",
                                     file=file, field=f"{where}.overrides", value=name,
                                     has_value=True)
                row[name] = value
        else:
            row = pd.Series({c: np.nan for c in models.columns}, dtype=object)
            row.update({"display_name": m.id, "attention": "gqa", "experts": 0.0,
                        "experts_active": 0.0, "score_needs_reasoning": False,
                        "quality_setting": "user", "total_params_b": m.total_params_b,
                        "active_params_b": m.total_params_b})
            row["quality_mmlu"] = 0.0
        if m.quality_mmlu is not None:
            row["quality_mmlu"] = m.quality_mmlu
        row["display_name"] = m.id if m.like is None else row["display_name"]
        models.loc[m.id] = row
    models["score_needs_reasoning"] = models["score_needs_reasoning"].fillna(False).astype(bool)
    return Catalog(hardware, base.hardware_sources, models, base.precisions, base.techniques,
                   base.kv_cache, base.weight_scaling)


def _not_a_catalog_id(name: str, known: pd.Index, kind: str, file, where: str) -> None:
    if name in known:
        raise InputError(f"already a catalog {kind} id (give another id, or `like: {name}` "
                         f"to derive from it)", file=file, field=f"{where}.id", value=name,
                         has_value=True)


def profile_only_hardware(instance) -> set[str]:
    return {h.id for h in instance.custom_hardware if h.profile_only}


def profile_only_models(instance) -> set[str]:
    return {m.id for m in instance.custom_models if m.profile_only}


# ---------------------------------------------------------------------------------------------
# Loading measured rows from a CSV the instance points to
# ---------------------------------------------------------------------------------------------

def expand_measurement_file(data: dict, instance_file: str | Path) -> dict:
    """Read ``measurements.file`` (relative to the instance file) into ``measurements.rows``."""
    m = data.get("measurements")
    if not isinstance(m, dict) or not m.get("file"):
        return data
    path = Path(m["file"])
    if not path.is_absolute():
        path = Path(instance_file).parent / path
    if not path.is_file():
        raise InputError("measurements file not found", file=str(instance_file),
                         field="measurements.file", value=m["file"], has_value=True)
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read CSV: {exc}", file=str(path)) from exc
    known = set(MeasurementRow.model_fields)
    unknown = [c for c in table.columns if c not in known]
    if unknown:
        hint = nearest(unknown[0], sorted(known))
        raise InputError(f"unknown column; nearest: {', '.join(hint)}", file=str(path),
                         field="header", value=unknown[0], has_value=True)
    rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items() if pd.notna(v)}
            for rec in table.to_dict(orient="records")]
    data = dict(data)
    data["measurements"] = {"file": str(path), "rows": list(m.get("rows") or []) + rows}
    return data


# ---------------------------------------------------------------------------------------------
# Profiles
# ---------------------------------------------------------------------------------------------

@dataclass
class Profile:
    """The measured grid of one deployment key: axes (log space) and log values."""

    key: tuple
    engine: str
    axes: dict[str, np.ndarray]  # isl, osl[, concurrency] -> sorted unique measured values
    values: dict[str, np.ndarray]  # tok_s, ttft_ms, tpot_ms, power_w on the grid (NaN: not given)
    rows: list[int]
    exact: bool = False  # not a full grid (profile-only deployments): measured points only

    def _interp(self, name: str, points: dict[str, np.ndarray]) -> np.ndarray:
        grid = self.values[name]
        if np.isnan(grid).all():
            return np.full(len(next(iter(points.values()))), np.nan)
        names = [a for a in self.axes if self.axes[a].size > 1]
        log_grid = np.log(grid)
        if not names:
            return np.full(len(next(iter(points.values()))), float(np.exp(log_grid.ravel()[0])))
        # Axes with one measured value are squeezed (the query is clamped onto them).
        index = tuple(slice(None) if self.axes[a].size > 1 else 0 for a in self.axes)
        from scipy.interpolate import RegularGridInterpolator  # only with measurements

        interp = RegularGridInterpolator([np.log(self.axes[a]) for a in names], log_grid[index],
                                         method="linear", bounds_error=False, fill_value=None)
        q = np.column_stack([np.log(points[a]) for a in names])
        return np.exp(interp(q))

    def _exact(self, points: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(points["isl"])
        out = {name: np.full(n, np.nan) for name in self.values}
        for idx in np.ndindex(*self.values["tok_s"].shape):
            at = np.ones(n, dtype=bool)
            for axis, a in zip(idx, self.axes):
                v = self.axes[a][axis]
                at &= np.abs(points[a] - v) <= REL * v
            for name in self.values:
                out[name][at] = self.values[name][idx]
        out["inside"] = np.ones(n, dtype=bool)
        out["clamped"] = dict(points)
        return out

    def query(self, isl: np.ndarray, osl: np.ndarray, conc: np.ndarray) -> dict[str, np.ndarray]:
        """Values at the points; ``inside`` per point, and the clamped (nearest) point."""
        points = {"isl": isl, "osl": osl, "concurrency": conc}
        if self.exact:
            return self._exact(points)
        inside = np.ones(isl.size, dtype=bool)
        clamped = {}
        for a, values in self.axes.items():
            p = points[a]
            lo, hi = values[0], values[-1]
            inside &= (p >= lo * (1 - REL)) & (p <= hi * (1 + REL))
            clamped[a] = np.clip(p, lo, hi)
        out = {name: self._interp(name, clamped) for name in self.values}
        out["inside"] = inside
        out["clamped"] = {a: clamped.get(a, points[a]) for a in points}
        return out


def build_profiles(instance, file: str | None = None) -> dict[tuple, Profile]:
    """The instance's measured rows as profiles, keyed by (model, hardware, precision, GPUs)."""
    if instance.measurements is None or not instance.measurements.rows:
        return {}
    where = instance.measurements.file or file
    catalog = instance_catalog(instance, file) or load_shipped_catalog()
    recs = []
    for i, r in enumerate(instance.measurements.rows):
        f = f"measurements.rows[{i}]"
        recs.append({
            "row": i,
            "model": catalog.model_id(r.model, file=where, field=f"{f}.model"),
            "hardware": catalog.hardware_id(r.hardware, file=where, field=f"{f}.hardware"),
            "precision": catalog.precision_id(r.precision, file=where, field=f"{f}.precision"),
            "num_gpus": int(r.num_gpus), "engine": r.engine.strip().lower(),
            "isl": float(r.input_tokens), "osl": float(r.output_tokens),
            "concurrency": np.nan if r.concurrency is None else float(r.concurrency),
            "tok_s": r.tokens_per_s,
            "ttft_ms": np.nan if r.ttft_ms is None else r.ttft_ms,
            "tpot_ms": np.nan if r.tpot_ms is None else r.tpot_ms,
            "power_w": np.nan if r.power_w is None else r.power_w})
    table = pd.DataFrame(recs)
    only_hw, only_model = profile_only_hardware(instance), profile_only_models(instance)
    keys = ["model", "hardware", "precision", "num_gpus"]
    profiles = {}
    for key, g in table.groupby(keys, sort=True):
        label = "/".join(str(k) for k in key)
        first = f"measurements.rows[{int(g['row'].iloc[0])}]"
        engines = sorted(set(g["engine"]))
        if len(engines) > 1:
            raise InputError(f"measurements for {label} give engines {engines}; keep one per "
                             f"deployment key (the planner has no engine choice)", file=where,
                             field=first)
        has_conc = g["concurrency"].notna()
        if has_conc.any() and not has_conc.all():
            raise InputError(f"measurements for {label}: give concurrency on every row or on "
                             f"none", file=where, field=first)
        axes_names = ["isl", "osl"] + (["concurrency"] if has_conc.all() else [])
        dup = g.duplicated(axes_names, keep=False)
        if dup.any():
            rows = g.loc[dup, "row"].tolist()
            raise InputError(f"duplicate measurement key {label} at "
                             f"{dict(g.loc[dup, axes_names].iloc[0])}: rows {rows}",
                             file=where, field=f"measurements.rows[{rows[1]}]")
        axes = {a: np.sort(g[a].unique()) for a in axes_names}
        shape = tuple(axes[a].size for a in axes_names)
        exact = False
        if int(np.prod(shape)) != len(g) and (key[0] in only_model or key[1] in only_hw):
            # Profile only: no model to interpolate against; measured points are used as they
            # are, and a bucket between them cannot be served there (stated at solve time).
            exact = True
            full = pd.MultiIndex.from_product([axes[a] for a in axes_names], names=axes_names)
            g = g.set_index(axes_names).reindex(full).reset_index()
            g["row"] = g["row"].fillna(-1)
        elif int(np.prod(shape)) != len(g):
            full = pd.MultiIndex.from_product([axes[a] for a in axes_names])
            have = pd.MultiIndex.from_frame(g[axes_names])
            missing = [p for p in full if p not in have][:3]
            raise InputError(f"measurements for {label} do not form a grid of "
                             f"{' x '.join(axes_names)}: missing {missing} (interpolation needs "
                             f"every combination of the measured values)", file=where,
                             field=first)
        g = g.sort_values(axes_names)
        values = {name: g[name].to_numpy(float).reshape(shape)
                  for name in ("tok_s", "ttft_ms", "tpot_ms", "power_w")}
        for name in ("ttft_ms", "tpot_ms", "power_w"):
            if np.isnan(values[name]).any() and not np.isnan(values[name]).all():
                log.warning("measurements for %s give %s on some rows only; it is modelled "
                            "where missing", label, name)
                values[name] = np.full(shape, np.nan)
        profiles[key] = Profile(key, engines[0], axes, values,
                                [int(r) for r in g["row"] if r >= 0], exact)
    return profiles


# ---------------------------------------------------------------------------------------------
# The overlay on candidate generation
# ---------------------------------------------------------------------------------------------

@dataclass
class MeasurementOverlay:
    """Replaces predictions by measurements per (deployment, bucket); collects provenance."""

    profiles: dict[tuple, Profile]
    grid_keys: list[tuple]
    profile_only: np.ndarray  # D: no model can predict this deployment
    gpus_per_node: np.ndarray  # D
    tdp_w: np.ndarray  # D
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {v: 0 for v in SOURCE_NAMES.values()})
    dep_source: np.ndarray | None = None  # D x C of pair sources (-1: does not fit)

    @classmethod
    def for_instance(cls, instance, grid: pd.DataFrame, hw: pd.DataFrame,
                     calibration=None) -> "MeasurementOverlay | None":
        profiles = build_profiles(instance)
        only_hw, only_model = profile_only_hardware(instance), profile_only_models(instance)
        profile_only = (grid["hardware"].isin(only_hw) | grid["model"].isin(only_model)).to_numpy()
        if not profiles and not profile_only.any():
            return None
        keys = list(zip(grid["model"], grid["hardware"], grid["precision"],
                        grid["num_gpus"].astype(int)))
        overlay = cls(profiles, keys, profile_only, hw["gpus_per_node"].to_numpy(float),
                      hw["tdp_w"].to_numpy(float))
        overlay.check_memory_fit(calibration)
        for key in profiles:
            if key not in keys:
                overlay.warn(f"measurements for {'/'.join(str(k) for k in key)} match no "
                             f"deployment of the options (model, precision, hardware, "
                             f"gpus_per_replica): unused")
        for k in sorted({k[:2] for k, p in zip(keys, profile_only) if p}):
            if not any(pk[:2] == k for pk in profiles):
                overlay.warn(f"{k[0]} on {k[1]} is profile only and no measurement row covers "
                             f"it: not a candidate")
        return overlay

    def engines(self, default: np.ndarray) -> np.ndarray:
        """Per deployment: its profile's engine where one covers it, else ``default``."""
        out = np.asarray(default, dtype=object).copy()
        for i, key in enumerate(self.grid_keys):
            if key in self.profiles:
                out[i] = self.profiles[key].engine
        return out

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            log.warning("measurements: %s", message)

    def check_memory_fit(self, calibration) -> None:
        """A measured concurrency the memory model says cannot fit is stated (the measurement
        is trusted where it covers the deployment)."""
        from planner.perf.model import evaluate, factor_arrays, gather_specs

        rows = []
        for key, p in self.profiles.items():
            if "concurrency" not in p.axes or key not in self.grid_keys:
                continue
            d = self.grid_keys.index(key)
            if self.profile_only[d]:
                continue
            for isl in p.axes["isl"]:
                for osl in p.axes["osl"]:
                    rows.append((*key, isl, osl, float(p.axes["concurrency"][-1])))
        if not rows:
            return
        cases = pd.DataFrame(rows, columns=["model", "hardware", "precision", "num_gpus", "isl",
                                            "osl", "concurrency"])
        specs = gather_specs(cases, calibration=calibration)
        out = evaluate(specs, factor_arrays(specs["family"], calibration or _calibration(),
                                            specs["kind"]))
        for i, r in enumerate(cases.itertuples()):
            cap = out["max_batch_memory"][i]
            if not out["fits"][i] or cap < r.concurrency:
                self.warn(f"profile {r.model}/{r.hardware}/{r.precision}/x{r.num_gpus} runs "
                          f"{int(r.concurrency)} concurrent requests at {int(r.isl)}/{int(r.osl)} "
                          f"tokens but the memory model fits "
                          f"{0 if not out['fits'][i] else int(cap)}: the measurement is used")

    def apply(self, class_idx: int, n_classes: int, tiled: dict, f: dict, out: dict,
              fits_b: np.ndarray, node_s: np.ndarray, node_kw: np.ndarray, ttft: np.ndarray,
              tpot: np.ndarray, shape: tuple[int, int], conc: np.ndarray):
        """Per-bucket arrays (D x B) with measurements in place of predictions where covered."""
        from planner.perf.model import evaluate

        d, b = shape
        if self.dep_source is None:
            self.dep_source = np.full((d, n_classes), -1, dtype=int)
        isl = tiled["isl"].reshape(shape)
        osl = tiled["osl"].reshape(shape)
        source = np.full(shape, MODELLED, dtype=int)
        tok_s = np.full(shape, np.nan)
        ttft_m, tpot_m, power_m = (np.full(shape, np.nan) for _ in range(3))
        clamped = {a: np.stack([isl, osl, np.repeat(conc[:, None], b, axis=1)])[i].copy()
                   for i, a in enumerate(("isl", "osl", "concurrency"))}
        index_of = {}
        for i, k in enumerate(self.grid_keys):
            index_of.setdefault(k, []).append(i)
        for key, profile in self.profiles.items():
            rows = np.asarray(index_of.get(key, []), dtype=int)
            if rows.size == 0:
                continue
            q = profile.query(isl[rows].ravel(), osl[rows].ravel(),
                              np.repeat(conc[rows][:, None], b, axis=1).ravel())
            sub = (rows.size, b)
            tok_s[rows] = q["tok_s"].reshape(sub)
            ttft_m[rows] = q["ttft_ms"].reshape(sub)
            tpot_m[rows] = q["tpot_ms"].reshape(sub)
            power_m[rows] = q["power_w"].reshape(sub)
            source[rows] = np.where(q["inside"].reshape(sub), MEASURED, EXTRAPOLATED)
            for a in clamped:
                clamped[a][rows] = q["clamped"][a].reshape(sub)
        covered = np.isfinite(tok_s)
        has_profile = np.array([k in self.profiles for k in self.grid_keys])
        gaps = self.profile_only[:, None] & has_profile[:, None] & ~covered
        for i, j in zip(*np.nonzero(gaps)):
            self.warn(f"{'/'.join(str(k) for k in self.grid_keys[i])}: no measured point at "
                      f"{isl[i, j]:g}/{osl[i, j]:g} tokens (profile only, measured points only): "
                      f"it cannot serve class {class_idx}")
        if not covered.any() and not self.profile_only.any():
            self.dep_source[:, class_idx] = np.where(fits_b.all(axis=1), MODELLED, -1)
            return fits_b, node_s, node_kw, ttft, tpot
        model_tok = out["out_tok_s_total"].reshape(shape)
        ratio = np.ones(shape)  # measured / modelled throughput at the covering point
        extrap = covered & (source == EXTRAPOLATED) & ~self.profile_only[:, None]
        if extrap.any():
            # The model at the nearest measured point, to scale it (never silent: counted).
            t2 = dict(tiled)
            t2["isl"], t2["osl"] = clamped["isl"].ravel(), clamped["osl"].ravel()
            t2["concurrency"] = clamped["concurrency"].ravel()
            out2 = evaluate(t2, f)
            near = out2["out_tok_s_total"].reshape(shape)
            scale = tok_s / near
            new_tok = np.where(np.isfinite(scale) & np.isfinite(model_tok), model_tok * scale,
                               tok_s)
            tok_s = np.where(extrap, new_tok, tok_s)
            for m, name in ((ttft_m, "ttft_ms"), (tpot_m, "tpot_ms")):
                lat = out2[name].reshape(shape)
                model_lat = out[name].reshape(shape)
                m[:] = np.where(extrap & np.isfinite(m),
                                np.where(np.isfinite(lat) & np.isfinite(model_lat),
                                         model_lat * m / lat, m), m)
        ok_model = np.isfinite(model_tok) & (model_tok > 0)
        ratio = np.where(covered & ok_model, model_tok / tok_s, np.nan)
        num_gpus = tiled["num_gpus"].reshape(shape)
        gpn = self.gpus_per_node[:, None]
        new_node_s = osl / tok_s * num_gpus / gpn
        node_s = np.where(covered, new_node_s, node_s)
        # Latency: measured where given, else the model's scaled by the throughput ratio.
        ttft = np.where(covered, np.where(np.isfinite(ttft_m), ttft_m, ttft * ratio), ttft)
        tpot = np.where(covered, np.where(np.isfinite(tpot_m), tpot_m, tpot * ratio), tpot)
        measured_kw = power_m / 1e3 * gpn / num_gpus
        tdp_kw = np.where(np.isfinite(self.tdp_w), self.tdp_w * self.gpus_per_node / 1e3, np.nan)
        fallback_kw = np.where(self.profile_only[:, None], tdp_kw[:, None], node_kw)
        at_tdp = covered & self.profile_only[:, None] & ~np.isfinite(measured_kw) & np.isfinite(
            tdp_kw[:, None])
        for i in np.unique(np.nonzero(at_tdp)[0]):
            self.warn(f"{'/'.join(str(k) for k in self.grid_keys[i])}: no measured power; its "
                      f"GPUs are counted at TDP while serving [assumed]")
        node_kw = np.where(covered, np.where(np.isfinite(measured_kw), measured_kw, fallback_kw),
                           node_kw)
        unknown_energy = covered & ~np.isfinite(node_kw)
        if unknown_energy.any():
            node_kw = np.where(unknown_energy, 0.0, node_kw)
            for i in np.unique(np.nonzero(unknown_energy)[0]):
                self.warn(f"{'/'.join(str(k) for k in self.grid_keys[i])}: no measured power and "
                          f"no TDP: its energy is counted as 0")
        fits_b = np.where(covered, True, fits_b & ~self.profile_only[:, None])
        for i in np.unique(np.nonzero(covered & (source == EXTRAPOLATED))[0]):
            what = "the model scaled to the nearest" if not self.profile_only[i] else "the nearest"
            self.warn(f"{'/'.join(str(k) for k in self.grid_keys[i])}: lengths or concurrency "
                      f"outside the measured grid; {what} measured point is used (extrapolated)")
        source = np.where(covered, source, MODELLED)
        fits_all = fits_b.all(axis=1)
        pair_source = np.where(
            (source == EXTRAPOLATED).any(axis=1), EXTRAPOLATED,
            np.where((source == MEASURED).all(axis=1), MEASURED,
                     np.where((source == MEASURED).any(axis=1), EXTRAPOLATED, MODELLED)))
        self.dep_source[:, class_idx] = np.where(fits_all, pair_source, -1)
        return fits_b, node_s, node_kw, ttft, tpot

    def deployment_sources(self) -> np.ndarray:
        """Per deployment: 'measured', 'modelled' or 'extrapolated' (the worst over its classes;
        a deployment measured for some classes and modelled for others is 'extrapolated')."""
        s = self.dep_source
        out = []
        for row in s:
            used = row[row >= 0]
            if used.size == 0 or (used == MODELLED).all():
                out.append("modelled")
            elif (used == MEASURED).all():
                out.append("measured")
            else:
                out.append("extrapolated")
        return np.asarray(out, dtype=object)


def _calibration():
    from planner.perf.factors import load_calibration

    return load_calibration()


# ---------------------------------------------------------------------------------------------
# Provisioning units
# ---------------------------------------------------------------------------------------------

def gpus_per_unit(instance, hardware: np.ndarray, gpus_per_node: np.ndarray) -> np.ndarray:
    """GPUs in the unit each deployment's hardware is bought or rented in."""
    units = {h.id: h.provisioning for h in instance.custom_hardware if h.provisioning}
    catalog = instance_catalog(instance) or load_shipped_catalog()
    for name, p in instance.provisioning.items():
        units[catalog.hardware_id(name)] = p
    out = np.asarray(gpus_per_node, dtype=float).copy()
    for i, hw in enumerate(hardware):
        p = units.get(hw)
        if p is None or p.unit == "node":
            continue
        out[i] = 1.0 if p.unit == "gpu" else float(p.gpus)
    return out


def provisioning_unit_names(instance, hardware: np.ndarray) -> np.ndarray:
    units = {h.id: h.provisioning.unit for h in instance.custom_hardware if h.provisioning}
    catalog = instance_catalog(instance) or load_shipped_catalog()
    for name, p in instance.provisioning.items():
        units[catalog.hardware_id(name)] = p.unit
    return np.asarray([units.get(h, "node") for h in hardware], dtype=object)


def unit_prices(instance) -> dict[str, float]:
    """Per hardware id: price per provisioned unit per hour (custom hardware's own price, then
    options.node_cost_usd_per_hour)."""
    catalog = instance_catalog(instance) or load_shipped_catalog()
    prices = {h.id: h.price_usd_per_hour for h in instance.custom_hardware
              if h.price_usd_per_hour is not None}
    for hw, usd in instance.options.node_cost_usd_per_hour.items():
        prices[catalog.hardware_id(hw)] = usd
    return prices


def check_measurement_ids(instance, file: str | None) -> None:
    """Measurement rows and profile-only options are checked at load time (errors name the row
    and the nearest ids)."""
    build_profiles(instance, file)
    catalog = instance_catalog(instance, file) or load_shipped_catalog()
    for name in instance.provisioning:
        catalog.hardware_id(name, file=file, field=f"provisioning.{name}")
