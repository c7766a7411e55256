"""The paper's estimator end to end: fits, per-model Monte Carlo, '>200B' blend, levers, fleet.

Every stage is vectorized; the only Python loops run over models, regimes and levers.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner.catalog.aliases import nearest
from planner.catalog.paper_db import load_paper_table, resolve_table_path
from planner.config.distributions import sample_lognormal, stream
from planner.paper.montecarlo import bootstrap_means, simulate_model, summarize, trim
from planner.paper.throughput_fit import ThroughputFit, fit_models
from planner.errors import InputError
from planner.config.schema.estimate import EstimateInstance
from planner.config.schema.loading import load_yaml_model

log = logging.getLogger(__name__)

WH_PER_GWH = 1e9
QUARTILE_KEYS = ("median_wh", "q1_wh", "q3_wh")


@dataclass
class EstimateResult:
    """Samples and summaries of one estimate; ``summary()`` is the JSON the CLI prints."""

    instance: EstimateInstance
    fits: dict[str, ThroughputFit]
    samples: dict[str, dict[str, np.ndarray]]  # regime -> model -> Wh/query draws
    blend_models: dict[str, list[str]]  # regime -> models pooled in the blend
    blend: dict[str, np.ndarray]  # regime -> pooled trimmed draws
    lever_samples: dict[str, dict[str, np.ndarray]]  # regime -> lever -> blend draws / divisor
    fleet: pd.DataFrame  # scenario x regime rows with GWh/day median, p5, p95
    timings_s: dict[str, float] = field(default_factory=dict)

    def model_table(self) -> pd.DataFrame:
        """One row per (model, regime): median, quartiles, mean of Wh/query."""
        rows = []
        for regime, by_model in self.samples.items():
            for model_id, draws in by_model.items():
                rows.append({"model": model_id, "regime": regime, **summarize(draws)})
        return pd.DataFrame(rows)

    def lever_table(self) -> pd.DataFrame:
        """One row per (regime, lever scenario): blended Wh/query and reduction vs the blend."""
        rows = []
        for regime, by_lever in self.lever_samples.items():
            base = float(np.median(self.blend[regime]))
            single = 1.0
            for name, draws in by_lever.items():
                stats = summarize(draws)
                reduction = base / stats["median_wh"]
                if name not in ("baseline", "combined"):
                    single *= reduction
                rows.append({"regime": regime, "scenario": name, **stats, "reduction": reduction})
            rows.append({"regime": regime, "scenario": "product-of-singles",
                         "median_wh": base / single, "reduction": single})
        return pd.DataFrame(rows)

    def fleet_value(self, scenario: str, regime: str, stat: str = "median_gwh") -> float:
        row = self.fleet[(self.fleet["scenario"] == scenario) & (self.fleet["regime"] == regime)]
        return float(row[stat].iloc[0])

    def summary(self) -> dict:
        """The JSON shape of ``planner estimate --format json``."""
        models = {m: {} for m in self.fits}
        for regime, by_model in self.samples.items():
            for model_id, draws in by_model.items():
                stats = summarize(draws)
                models[model_id][regime] = {k: stats[k] for k in (*QUARTILE_KEYS, "mean_wh")}
        blend = {}
        for regime, draws in self.blend.items():
            stats = summarize(draws)
            blend[regime] = {**{k: stats[k] for k in QUARTILE_KEYS},
                             "models": self.blend_models[regime]}
        levers = {}
        for regime, by_lever in self.lever_samples.items():
            base = float(np.median(self.blend[regime]))
            levers[regime] = {name: {"median_wh": float(np.median(d)),
                                     "reduction": base / float(np.median(d))}
                              for name, d in by_lever.items() if name != "baseline"}
        fleet_keys = {
            "traditional": ("baseline", "traditional"),
            "long": ("baseline", "long"),
            "mix": ("baseline", "mix"),
            "mix_with_levers": ("with_levers", "mix"),
            "mix_with_all_levers": ("all_levers", "mix"),
        }
        fleet, fleet_interval = {}, {}
        for key, (scenario, regime) in fleet_keys.items():
            row = self.fleet[(self.fleet["scenario"] == scenario) & (self.fleet["regime"] == regime)]
            if row.empty:
                continue
            fleet[key] = float(row["median_gwh"].iloc[0])
            fleet_interval[key] = {"p5": float(row["p5_gwh"].iloc[0]),
                                   "p95": float(row["p95_gwh"].iloc[0])}
        return {
            "instance": self.instance.name,
            "seed": self.instance.seed,
            "samples_per_model": self.instance.samples_per_model,
            "models": models,
            "blend": blend,
            "levers": levers,
            "fleet_gwh_per_day": fleet,
            "fleet_interval_gwh_per_day": fleet_interval,
            "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
        }


def load_estimate_instance(path: Path | str) -> tuple[EstimateInstance, pd.DataFrame]:
    """Read and validate an instance and its throughput table; unknown model ids are errors."""
    instance = load_yaml_model(path, EstimateInstance)
    table = load_paper_table(resolve_table_path(instance.throughput_table, Path(path)))
    check_models_known(instance, table, file=str(path))
    return instance, table


def check_models_known(instance: EstimateInstance, table: pd.DataFrame, file: str | None) -> None:
    """Every model must have rows of the instance's precision in the throughput table."""
    usable = table[(table["precision"] == instance.precision.lower())
                   & table["tps"].notna() & table["input_tokens"].notna()
                   & table["output_tokens"].notna()]
    known = set(usable["model_id"])
    for i, spec in enumerate(instance.models):
        if spec.id not in known:
            hint = nearest(spec.id, known)
            message = (f"unknown model: no {instance.precision} throughput rows in "
                       f"{instance.throughput_table}")
            if hint:
                message += f"; did you mean {', '.join(hint)}?"
            raise InputError(message, file=file, field=f"models[{i}].id", value=spec.id,
                             has_value=True)


def run_estimate(instance: EstimateInstance, table: pd.DataFrame) -> EstimateResult:
    """Run the whole estimator; deterministic for a given instance (seeded named streams)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ids = [m.id for m in instance.models]
    fits = fit_models(table, ids, instance.precision)
    timings["fit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    samples: dict[str, dict[str, np.ndarray]] = {}
    pu = (instance.power_utilization.p5, instance.power_utilization.p95)
    pue = (instance.pue.p5, instance.pue.p95)
    for regime, spec in instance.regimes.items():
        samples[regime] = {}
        for model in instance.models:
            rng = stream(instance.seed, f"model/{regime}/{model.id}")
            samples[regime][model.id] = simulate_model(
                rng, fits[model.id], model.node_power_max_kw, pu, pue, spec.median_output_tokens,
                instance.input_tokens, instance.input_token_weight, instance.samples_per_model)
    timings["monte_carlo"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    blend_models, blend = {}, {}
    for regime, by_model in samples.items():
        ranked = sorted(by_model, key=lambda m: float(np.median(by_model[m])), reverse=True)
        chosen = ranked[: instance.blend.top_k]
        blend_models[regime] = chosen
        blend[regime] = np.concatenate([trim(by_model[m], instance.blend.trims) for m in chosen])
        log.info("blend %s: %s (%d pooled draws)", regime, ", ".join(chosen), blend[regime].size)
    lever_samples = {regime: apply_levers(instance, regime, draws) for regime, draws in blend.items()}
    timings["blend_and_levers"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    fleet = fleet_totals(instance, samples, blend_models)
    timings["fleet_bootstrap"] = time.perf_counter() - t0
    return EstimateResult(instance, fits, samples, blend_models, blend, lever_samples, fleet,
                          timings)


def apply_levers(instance: EstimateInstance, regime: str, draws: np.ndarray) -> dict[str, np.ndarray]:
    """Blend draws divided by each lever's lognormal divisor alone, and by all of them combined."""
    out = {"baseline": draws}
    combined = np.ones_like(draws)
    for lever in instance.levers:
        rng = stream(instance.seed, f"lever/{regime}/{lever.name}")
        divisor = sample_lognormal(rng, lever.reduction.p5, lever.reduction.p95, draws.size)
        out[lever.name] = draws / divisor
        combined *= divisor
    if instance.levers:
        out["combined"] = draws / combined
    return out


def fleet_totals(instance: EstimateInstance, samples: dict[str, dict[str, np.ndarray]],
                 blend_models: dict[str, list[str]]) -> pd.DataFrame:
    """GWh/day per scenario and regime: bootstrap of the mean of the untrimmed top-k draws.

    Scenarios: ``baseline``; ``with_levers`` (the fleet lever per regime, the paper's serving-only
    intervention); ``all_levers`` (every per-query lever combined, which the paper does not do).
    The mix is the share-weighted sum of each regime's median, P5 and P95, as in the paper.
    """
    fleet = instance.fleet
    rows = []
    for regime in instance.regimes:
        pooled = np.concatenate([samples[regime][m] for m in blend_models[regime]])
        factors = fleet.overhead_factors_by_regime.get(regime, fleet.overhead_factors)
        overhead = math.prod(factors)
        scenarios = {"baseline": pooled}
        if regime in fleet.levers:
            lever = fleet.levers[regime]
            rng = stream(instance.seed, f"fleet-lever/{regime}")
            scenarios["with_levers"] = pooled / sample_lognormal(rng, lever.p5, lever.p95,
                                                                 pooled.size)
        if instance.levers:
            divisor = np.ones_like(pooled)
            for lever in instance.levers:
                rng = stream(instance.seed, f"fleet-all-levers/{regime}/{lever.name}")
                divisor *= sample_lognormal(rng, lever.reduction.p5, lever.reduction.p95,
                                            pooled.size)
            scenarios["all_levers"] = pooled / divisor
        for scenario, draws in scenarios.items():
            rng = stream(instance.seed, f"bootstrap/{scenario}/{regime}")
            means = bootstrap_means(rng, draws, fleet.bootstrap_resamples)
            totals = means * fleet.queries_per_day * overhead / WH_PER_GWH
            p5, median, p95 = np.percentile(totals, [5, 50, 95])
            rows.append({"scenario": scenario, "regime": regime, "median_gwh": median,
                         "p5_gwh": p5, "p95_gwh": p95, "mean_wh_per_query": float(draws.mean()),
                         "overhead_factor": overhead})
    table = pd.DataFrame(rows)
    mix_rows = []
    for scenario, group in table.groupby("scenario", sort=False):
        regimes = set(group["regime"])
        if not set(fleet.mix) <= regimes:
            continue
        weights = group["regime"].map(fleet.mix).fillna(0.0).to_numpy()
        mix_rows.append({"scenario": scenario, "regime": "mix",
                         **{c: float((group[c].to_numpy() * weights).sum())
                            for c in ("median_gwh", "p5_gwh", "p95_gwh", "mean_wh_per_query")},
                         "overhead_factor": np.nan})
    return pd.concat([table, pd.DataFrame(mix_rows)], ignore_index=True)
