"""Issue 17: a fuzz corpus of malformed inputs, run through the library entry points.

A seeded mutator (``tests/hardening/fuzz.py``) damages the shipped planning instances (tree
edits and text edits: duplicate keys, alias bombs, truncation), ``--set`` expressions, sweep
specs, throughput CSVs and the estimator instances. Every mutant must end in an ``InputError``
naming file, field and value on one line, an ``InfeasibleError`` naming class/site and
constraint, or a result whose numbers are finite and physically bounded (plans are verified by
the independent re-check inside ``optimize``). Never a bare exception, never a hang: each mutant
runs under an alarm.
"""

from __future__ import annotations

import logging
import random
import signal
import time
import traceback
from contextlib import contextmanager

import numpy as np
import pytest
import yaml

from planner.errors import InfeasibleError, InputError, NoSolutionError
from planner.problem.instance import instance_from_mapping, load_planning_data
from planner.pipeline import optimize
from planner.config.schema.loading import load_yaml_model, read_yaml
from tests.hardening import fuzz

SEED = int(__import__("os").environ.get("FUZZ_SEED", "17"))
COUNTS = {"instance-tree": 420, "instance-text": 160, "set": 300, "sweep": 130, "csv": 220,
          "estimate": 60, "levers": 60}
SCALE = float(__import__("os").environ.get("FUZZ_SCALE", "1"))
COUNTS = {k: max(1, int(v * SCALE)) for k, v in COUNTS.items()}
PER_MUTANT_S = 30
TOTAL_BUDGET_S = 180


class Hang(Exception):
    pass


@contextmanager
def alarm(seconds: int):
    def handler(signum, frame):
        raise Hang(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _solve_capped(instance, digest, formulation):
    solver = instance.solver.model_copy(update={"time_limit_s": min(
        instance.solver.time_limit_s, fuzz.SOLVE_TIME_LIMIT_S)})
    return optimize(instance.model_copy(update={"solver": solver}), digest, formulation)


def run_planning(path, sets, solve, rng):
    data = load_planning_data(path, sets=sets)
    instance, digest = instance_from_mapping(data, str(path))
    if not solve:
        return "valid (not solved)", None
    formulation = "milp" if rng.random() < 0.25 else "lp"
    plan = _solve_capped(instance, digest, formulation)
    return f"plan ({formulation})", fuzz.check_plan(instance, plan)


def run_sweep_spec(spec_path, instance_path, base, rng):
    from planner.sweep.points import expand, point_data
    from planner.sweep.spec import SweepSpec

    spec = load_yaml_model(spec_path, SweepSpec)
    count = spec.count_points()
    if count > 40:
        return "counted (too many to expand here)", None
    points = expand(spec, base, str(spec_path), instance_file=str(instance_path))
    if len(points) != count:
        return "expanded", f"{len(points)} points expanded, {count} counted"
    if points and rng.random() < 0.3:
        point = rng.choice(points)
        instance, digest = instance_from_mapping(point_data(base, point, str(spec_path)),
                                                 str(spec_path))
        plan = _solve_capped(instance, digest, spec.formulation)
        return "expanded, one point solved", fuzz.check_plan(instance, plan)
    return "expanded", None


def run_csv(path):
    from planner.perf.model import predict
    from planner.config.validation import read_cases_csv

    out = predict(read_cases_csv(path), file=str(path))
    fits = out["fits"].to_numpy(bool)
    for col in ("out_tok_s_total", "ttft_ms", "tpot_ms", "node_power_kw", "wh_per_query"):
        values = out[col].to_numpy(float)[fits]
        if not (np.all(np.isfinite(values)) and np.all(values > 0)):
            return "table", f"{col} not finite and positive on a row that fits"
    if np.any(np.isfinite(out["out_tok_s_total"].to_numpy(float)[~fits])):
        return "table", "a row that cannot run has a throughput"
    return "table", None


def run_estimate(path, rng, budget):
    from planner.paper.estimator import load_estimate_instance, run_estimate as estimate

    instance, table = load_estimate_instance(path)
    if budget["estimate_runs"] <= 0:
        return "valid (not run)", None
    budget["estimate_runs"] -= 1
    small = instance.model_copy(update={
        "samples_per_model": min(instance.samples_per_model, 300),
        "fleet": instance.fleet.model_copy(update={"bootstrap_resamples": 50})})
    result = estimate(small, table)
    values = result.fleet[["median_gwh", "p5_gwh", "p95_gwh", "mean_wh_per_query"]].to_numpy(float)
    if not np.all(np.isfinite(values)):
        return "estimate", "fleet numbers not finite"
    return "estimate", None


def run_levers(path, budget):
    from planner.levers import LeverEngine, attribute_levers

    data = load_planning_data(path)
    if not data.get("levers"):
        raise InputError("the instance has no 'levers' section", file=str(path), field="levers")
    instance, _ = instance_from_mapping(data, str(path))
    if budget["lever_runs"] <= 0:
        LeverEngine(data, str(path), instance.levers)
        return "lever engine built", None
    budget["lever_runs"] -= 1
    result = attribute_levers(data, str(path))
    shares = result.levers.select_dtypes("number").to_numpy(float)
    if not np.all(np.isfinite(shares[~np.isnan(shares)])):
        return "levers", "lever numbers not finite"
    base, full = (result.summary["baseline_gwh_per_day"], result.summary["all_levers_gwh_per_day"])
    if not (np.isfinite(base) and np.isfinite(full) and 0 < full <= base * (1 + 1e-6)):
        return "levers", f"baseline {base} / all levers {full}"
    return "levers", None


def outcome_of(kind, call, file, tally):
    """Run one mutant and hold it to the oracle."""
    t0 = time.perf_counter()
    try:
        with alarm(PER_MUTANT_S):
            result, problem = call()
    except InputError as exc:
        problem = fuzz.check_input_error(exc, file)
        result = "InputError"
    except InfeasibleError as exc:
        problem = fuzz.check_infeasible(exc)
        result = "InfeasibleError"
    except NoSolutionError as exc:
        problem = None if "\n" not in str(exc) else "multi-line"
        result = "NoSolutionError"
    except Exception as exc:  # noqa: BLE001 - the failure being tested for
        problem = f"{type(exc).__name__}: {str(exc)[:300]}\n{traceback.format_exc()[-1500:]}"
        result = "exception"
    tally.add(kind, result)
    tally.seconds[kind] = tally.seconds.get(kind, 0.0) + time.perf_counter() - t0
    if problem:
        tally.failures.append(f"[{kind}] {file}: {result}: {problem}")


def test_fuzz_corpus(tmp_path):
    rng = random.Random(SEED)
    tally = fuzz.Tally()
    t0 = time.perf_counter()
    logging.getLogger("planner").setLevel(logging.ERROR)
    try:
        _run_corpus(tmp_path, rng, tally)
    finally:
        logging.getLogger("planner").setLevel(logging.NOTSET)
    seconds = time.perf_counter() - t0
    summary = ", ".join(f"{k}/{o} {n}" for (k, o), n in sorted(tally.outcomes.items()))
    print(f"\nfuzz corpus: {tally.total} mutants in {seconds:.1f} s: {summary}")
    print("seconds by kind: " + ", ".join(f"{k} {v:.1f}" for k, v in tally.seconds.items()))
    assert not tally.failures, f"{len(tally.failures)} failures:\n" + "\n".join(
        tally.failures[:20])
    assert tally.total >= 1000
    assert seconds < TOTAL_BUDGET_S
    # The corpus reaches every outcome: refusals, infeasibility and verified plans.
    results = {o for (_, o) in tally.outcomes}
    assert {"InputError", "InfeasibleError", "plan (lp)", "plan (milp)", "table", "levers",
            "estimate"} <= results


def _run_corpus(tmp_path, rng, tally):
    small = fuzz.SMALL_INSTANCES
    parsed = {p: read_yaml(p) for p in fuzz.PLANNING_INSTANCES}
    texts = {p: p.read_text() for p in fuzz.PLANNING_INSTANCES}

    for k in range(COUNTS["instance-tree"]):
        base = rng.choice(small) if rng.random() < 0.85 else fuzz.INSTANCES / "fleet-1b.yaml"
        path = tmp_path / f"tree-{k}.yaml"
        path.write_text(yaml.safe_dump(fuzz.mutate_tree(parsed[base], rng), allow_unicode=True))
        solve = base in small
        outcome_of("instance-tree", lambda: run_planning(path, (), solve, rng), str(path), tally)

    for k in range(COUNTS["instance-text"]):
        base = rng.choice(fuzz.PLANNING_INSTANCES)
        path = tmp_path / f"text-{k}.yaml"
        path.write_text(fuzz.mutate_text(texts[base], rng))
        solve = base in small
        outcome_of("instance-text", lambda: run_planning(path, (), solve, rng), str(path), tally)

    for k in range(COUNTS["set"]):
        base = rng.choice(small)
        sets = fuzz.random_sets(rng)
        outcome_of("set", lambda: run_planning(base, sets, True, rng), str(base), tally)

    one = fuzz.INSTANCES / "small" / "one-deployment.yaml"
    fleet = fuzz.INSTANCES / "fleet-1b.yaml"
    small_spec = {"name": "fuzz", "formulation": "lp",
                  "grids": [{"mode": "product", "parameters": {
                      "sites[0].pue": [1.1, 1.3], "options.utilization_ceiling": [0.6, 0.8]}},
                            {"mode": "zip", "parameters": {
                                "classes[0].slo.ttft_ms": [500, 2000],
                                "classes[0].queries_per_day": [1e6, 1e7]}}],
                  "monte_carlo": {"samples": 4, "seed": 3, "inputs": [
                      {"path": "adjustments.power_scale", "p5": 0.8, "p95": 1.2},
                      {"path": "sites[*].pue", "p5": 0.95, "p95": 1.05, "multiply": True}]}}
    specs = [(small_spec, one)] + [(read_yaml(p), fleet) for p in fuzz.SWEEP_SPECS]
    bases = {one: load_planning_data(one), fleet: load_planning_data(fleet)}
    for k in range(COUNTS["sweep"]):
        spec, instance_path = specs[0] if rng.random() < 0.7 else rng.choice(specs[1:])
        path = tmp_path / f"spec-{k}.yaml"
        path.write_text(yaml.safe_dump(fuzz.mutate_tree(spec, rng), allow_unicode=True))
        outcome_of("sweep", lambda: run_sweep_spec(path, instance_path, bases[instance_path],
                                                   rng), str(path), tally)

    for k in range(COUNTS["csv"]):
        path = tmp_path / f"cases-{k}.csv"
        path.write_text(fuzz.mutate_csv(fuzz.CSV_SEED, rng))
        outcome_of("csv", lambda: run_csv(path), str(path), tally)

    levers_base = fuzz.INSTANCES / "small" / "levers-small.yaml"
    levers_data = read_yaml(levers_base)
    lever_budget = {"lever_runs": 3}
    for k in range(COUNTS["levers"]):
        mutated = dict(levers_data)
        if k:  # the first one is the unmutated control: a full attribution must pass
            mutated["levers"] = fuzz.mutate_tree({"levers": levers_data["levers"]},
                                                 rng).get("levers")
        path = tmp_path / f"levers-{k}.yaml"
        path.write_text(yaml.safe_dump(mutated, allow_unicode=True))
        outcome_of("levers", lambda: run_levers(path, lever_budget), str(path), tally)

    budget = {"estimate_runs": 4}
    estimates = {p: read_yaml(p) for p in fuzz.ESTIMATE_INSTANCES}
    for k in range(COUNTS["estimate"]):
        base = rng.choice(fuzz.ESTIMATE_INSTANCES)
        path = tmp_path / f"estimate-{k}.yaml"
        path.write_text(yaml.safe_dump(fuzz.mutate_tree(estimates[base], rng),
                                       allow_unicode=True))
        outcome_of("estimate", lambda: run_estimate(path, rng, budget), str(path), tally)


@pytest.mark.parametrize("seed", range(5))
def test_mutators_are_deterministic(seed):
    a = fuzz.mutate_tree({"x": [1, 2, {"y": "z"}]}, random.Random(seed))
    b = fuzz.mutate_tree({"x": [1, 2, {"y": "z"}]}, random.Random(seed))
    assert repr(a) == repr(b)
