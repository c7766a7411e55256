"""Issue 17: every malformed input of the report answered correctly, one test each.

Numbers asserted are exit codes, fields and values named in messages, and plan values against
the valid instance's own optimum.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from planner.cli import cli
from planner.errors import (EXIT_INFEASIBLE, EXIT_INPUT, EXIT_INTERNAL, InfeasibleError,
                            InputError, SolverNumericError)
from planner.config import parse_set
from planner.problem.instance import load_planning_data, load_planning_instance
from planner.pipeline import optimize
from planner.config.schema.loading import load_yaml_model, read_yaml
from tests.conftest import INSTANCES

SMALL = INSTANCES / "small"
ONE = str(SMALL / "one-deployment.yaml")
MILP_SMALL = str(SMALL / "milp-small.yaml")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def instance_with(tmp_path, sets=(), base=ONE, name="inst.yaml"):
    """A copy of a shipped instance with --set overrides applied, as a file."""
    data = load_planning_data(base, sets=list(sets))
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


# ------------------------------------------------------------- 1. planner throughput


CASE = "llama-3.1-70b,h100-sxm,fp8,8,1000,500"
HEADER = "model,hardware,precision,num_gpus,isl,osl"


def throughput(tmp_path, text):
    path = write(tmp_path, "cases.csv", text)
    result = run("throughput", "--cases", path)
    return result, (pd.read_csv(io.StringIO(result.stdout)) if result.exit_code == 0 else None)


def test_boolean_columns_are_parsed_strictly(tmp_path):
    """'no', '0', 'false' are False (they used to turn every row True); yes/1/TRUE are True."""
    rows = "\n".join(f"{CASE},{v}" for v in ["no", "0", "False", "yes", "1", "TRUE"])
    result, out = throughput(tmp_path, f"{HEADER},speculative\n{rows}\n")
    assert result.exit_code == 0, result.output
    plain, _ = throughput(tmp_path, f"{HEADER}\n{CASE}\n")
    base = pd.read_csv(io.StringIO(plain.stdout))["out_tok_s_total"][0]
    tok_s = out["out_tok_s_total"].to_numpy()
    assert tok_s[:3] == pytest.approx([base] * 3, rel=1e-12)
    assert np.all(tok_s[3:] != base) and tok_s[3:] == pytest.approx([tok_s[3]] * 3)


@pytest.mark.parametrize("column", ["speculative", "disaggregated"])
@pytest.mark.parametrize("cell", ["", "maybe", "on", "2", "nan"])
def test_non_boolean_cell_is_an_error(tmp_path, column, cell):
    result, _ = throughput(tmp_path, f"{HEADER},{column}\n{CASE},false\n{CASE},{cell}\n")
    assert result.exit_code == EXIT_INPUT
    assert f"row 2.{column}: must be a boolean" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("cell,shown", [("abc", "(got 'abc')"), ("0", "(got 0)"),
                                        ("-3", "(got -3)")])
def test_concurrency_must_be_a_number(tmp_path, cell, shown):
    """concurrency=abc used to be ignored silently (offline batch used instead)."""
    result, _ = throughput(tmp_path, f"{HEADER},concurrency\n{CASE},{cell}\n")
    assert result.exit_code == EXIT_INPUT and "row 1.concurrency" in result.stderr
    assert shown in result.stderr


def test_blank_concurrency_is_the_offline_regime(tmp_path):
    result, out = throughput(tmp_path, f"{HEADER},concurrency\n{CASE},\n{CASE},64\n")
    assert result.exit_code == 0, result.output
    assert out["batch"][0] > out["batch"][1] == 64


@pytest.mark.parametrize("row,field,value", [
    ("llama-3.1-70b,h100-sxm,fp8,8,1000,1e-9", "row 1.osl", "(got 1e-09)"),
    ("llama-3.1-70b,h100-sxm,fp8,1.5,1000,500", "row 1.num_gpus", "1.5"),
    ("llama-3.1-70b,h100-sxm,fp8,8,inf,500", "row 1.isl", "inf"),
    ("llama-3.1-70b,h100-sxm,fp8,8,nan,500", "row 1.isl", ""),
])
def test_numbers_out_of_range_are_refused(tmp_path, row, field, value):
    result, _ = throughput(tmp_path, f"{HEADER}\n{row}\n")
    assert result.exit_code == EXIT_INPUT and field in result.stderr, result.output
    assert value in result.stderr


def test_tensor_parallelism_must_divide_the_heads(tmp_path):
    """TP 3 on a 64-head model cannot run (TensorRT-LLM needs heads % TP == 0)."""
    result, out = throughput(tmp_path, f"{HEADER}\nllama-3.1-70b,h100-sxm,fp8,3,1000,500\n"
                                       f"llama-3.1-70b,h100-sxm,fp8,4,1000,500\n")
    assert result.exit_code == 0, result.output
    assert out["fits"].tolist() == [False, True]
    assert "does not divide the attention heads" in out["reason"][0]
    assert np.isnan(out["out_tok_s_total"][0])


@pytest.mark.parametrize("text,message", [
    (f"{HEADER}\n", "no cases"),
    (f"{HEADER}\nllama-3.1-70b,h100-sxm,fp8,8,1000\n", "row 1: has 5 fields, the header 6"),
    (f"{HEADER}\n{CASE},7,8\n", "row 1: has 8 fields, the header 6"),
    (f"{HEADER}\n{CASE}\n,h100-sxm,fp8,8,1000,500\n", "row 2.model: must not be blank"),
    ("", "malformed CSV"),
])
def test_malformed_csv_is_one_line(tmp_path, text, message):
    result, _ = throughput(tmp_path, text)
    assert result.exit_code == EXIT_INPUT and message in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------- 2. absurd "optimal" plans


@pytest.mark.parametrize("expr,field", [
    ("adjustments.throughput_scale=.inf", "adjustments.throughput_scale"),
    ("adjustments.throughput_scale=1e9", "adjustments.throughput_scale"),
    ("options.utilization_ceiling=1e-12", "options.utilization_ceiling"),
])
def test_physical_ranges(expr, field):
    result = run("solve", ONE, "--set", expr)
    assert result.exit_code == EXIT_INPUT, result.output
    assert f"{ONE}: {field}:" in result.stderr and "(got " in result.stderr


# ------------------------------------------------------------- 3. tracebacks


@pytest.mark.parametrize("path", [
    "classes[0].queries_per_day", "sites[0].overhead_factor", "sites[0].pue",
    "sites[0].power_cap_mw", "sites[0].electricity_usd_per_kwh", "sites[0].carbon_kg_per_kwh",
    "adjustments.demand_scale", "adjustments.power_scale", "adjustments.throughput_scale",
    "options.node_cost_usd_per_hour.h100-sxm", "classes[0].slo.ttft_ms",
    "classes[0].input_tokens.median", "classes[0].min_quality", "solver.time_limit_s",
])
@pytest.mark.parametrize("bad", [".inf", "-.inf", ".nan", "inf", "nan"])
def test_inf_and_nan_are_refused_with_file_field_value(path, bad):
    with pytest.raises(InputError) as err:
        load_planning_instance(ONE, sets=[f"{path}={bad}"])
    e = err.value
    assert e.file == ONE and e.field == path, str(e)
    assert "(got " in str(e) and ("inf" in str(e) or "nan" in str(e))


def test_inf_in_a_diurnal_profile():
    profile = "[" + ", ".join(["1"] * 23 + [".inf"]) + "]"
    with pytest.raises(InputError, match=r"classes\[0\]\.diurnal\[23\].*got inf"):
        load_planning_instance(ONE, sets=[f"classes[0].diurnal={profile}"])


def test_huge_overhead_factor_is_refused():
    with pytest.raises(InputError, match=r"sites\[0\]\.overhead_factor.*got '1e300'"):
        load_planning_instance(ONE, sets=["sites[0].overhead_factor=1e300"])


def test_empty_buckets_are_refused():
    with pytest.raises(InputError, match=r"classes\[0\]\.input_tokens\.buckets"):
        load_planning_instance(ONE, sets=["classes[0].input_tokens={buckets: []}"])


@pytest.mark.parametrize("expr", ["=5", ".=5", " =5", "a..b=5", "[0]=1", "sites[x]=1"])
def test_malformed_set_path(expr):
    result = run("solve", ONE, "--set", expr)
    assert result.exit_code == EXIT_INPUT and "error:" in result.stderr, result.output
    assert "Traceback" not in result.output


def test_sweep_spec_with_an_empty_path(tmp_path):
    spec = write(tmp_path, "spec.yaml", """
        grids:
          - parameters: {"": [1, 2]}
        """)
    from planner.sweep.spec import SweepSpec
    with pytest.raises(InputError, match="malformed path"):
        load_yaml_model(spec, SweepSpec)


def test_unwritable_out_is_refused_before_the_solve(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    import planner.pipeline

    def no_solve(*args, **kwargs):
        raise AssertionError("the solve ran before --out was checked")

    monkeypatch.setattr(planner.pipeline, "optimize", no_solve)
    result = run("solve", ONE, "--out", blocker / "sub")
    assert result.exit_code == EXIT_INPUT and "--out" in result.stderr, result.output
    result = run("solve", ONE, "--out", blocker)
    assert result.exit_code == EXIT_INPUT and "is a file" in result.stderr


def test_sweep_seed_must_not_be_negative(tmp_path):
    spec = write(tmp_path, "spec.yaml", """
        monte_carlo:
          samples: 2
          seed: -1
          inputs: [{path: adjustments.power_scale, p5: 0.9, p95: 1.1}]
        """)
    result = run("sweep", ONE, spec, "--out", tmp_path / "out")
    assert result.exit_code == EXIT_INPUT and "monte_carlo.seed" in result.stderr
    assert "(got -1)" in result.stderr


def test_unknown_scheduler_is_an_input_error(tmp_path):
    spec = write(tmp_path, "spec.yaml", "include_base: true\n")
    result = run("sweep", ONE, spec, "--out", tmp_path / "out", "--scheduler", "foo")
    assert result.exit_code == EXIT_INPUT and "--scheduler" in result.stderr
    assert "'foo'" in result.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize("path,multiply", [("options.models", False), ("options.models", True),
                                           ("options.models.x", True), ("sites", False),
                                           ("classes[0].diurnal", True)])
def test_monte_carlo_on_a_list_path(tmp_path, path, multiply):
    spec = write(tmp_path, "spec.yaml", f"""
        include_base: false
        monte_carlo:
          samples: 2
          inputs: [{{path: "{path}", p5: 0.9, p95: 1.1, multiply: {str(multiply).lower()}}}]
        """)
    result = run("sweep", ONE, spec, "--out", tmp_path / "out")
    assert result.exit_code == EXIT_INPUT, result.output
    assert spec in result.stderr and "Traceback" not in result.output


# ------------------------------------------------------------- 4. diagnoses and exit codes


def test_max_deployments_infeasible_only_as_milp():
    instance, digest = load_planning_instance(MILP_SMALL, sets=[
        "options.max_deployments=1", "classes[0].models=[llama-3.1-8b]",
        "classes[1].models=[llama-3.1-70b]"])
    optimize(instance, digest, "lp")  # the LP ignores the rule (with a warning)
    with pytest.raises(InfeasibleError) as err:
        optimize(instance, digest, "milp")
    detail = err.value.details[0]
    assert detail["constraint"] == "max_deployments"
    assert (detail["limit"], detail["closest"]) == (1, 2)
    assert "SLO and quality floor" not in str(err.value)


def test_min_replicas_above_inventory_only_as_milp():
    instance, digest = load_planning_instance(ONE, sets=[
        "sites[0].inventory={h100-sxm: 1}", "options.min_replicas=16"])
    with pytest.raises(InfeasibleError) as err:
        optimize(instance, digest, "milp")
    detail = err.value.details[0]
    # 1 GPU per replica, 8 GPUs per node: 16 replicas need 2 nodes, 1 is installed; 8 fit.
    assert detail["constraint"] == "min_replicas" and detail["closest"] == 8
    assert "min_replicas limit 16 replicas, closest achievable 8 replicas" in str(err.value)


def test_slo_reachable_only_below_the_quality_floor_gives_closest_values():
    instance, digest = load_planning_instance(ONE, sets=[
        "options.models=[llama-3.1-8b, llama-3.1-70b]", "classes[0].slo.tpot_ms=20",
        "classes[0].min_quality=75"])
    with pytest.raises(InfeasibleError) as err:
        optimize(instance, digest)
    by = {d["constraint"]: d for d in err.value.details}
    tpot = by["tpot_slo (with the quality floor)"]
    quality = by["quality_floor (with the SLO)"]
    assert tpot["limit"] == 20 and tpot["closest"] > 20  # the 70B model's best TPOT
    assert quality["limit"] == 75 and quality["closest"] < 75  # the 8B model's score
    text = str(err.value)
    parts = text.removeprefix("infeasible: ").split("; ")
    assert len(parts) == len(set(parts)) == 2  # each finding once


def test_no_repeated_messages():
    instance, digest = load_planning_instance(ONE, sets=["classes[0].slo.tpot_ms=1"])
    with pytest.raises(InfeasibleError) as err:
        optimize(instance, digest)
    parts = str(err.value).removeprefix("infeasible: ").split("; ")
    assert len(parts) == len(set(parts)) == 1


def test_tiny_power_cap_is_infeasible_not_bad_input():
    result = run("solve", ONE, "--set", "sites[0].power_cap_mw=1e-9")
    assert result.exit_code == EXIT_INFEASIBLE, result.output
    assert "power_cap limit 1e-09 MW" in result.stderr


def test_solver_numeric_error_is_internal_not_time_limit(monkeypatch):
    import planner.pipeline
    from planner.solve import Result, Status

    monkeypatch.setattr(planner.pipeline, "solve_lp_direct", lambda *a, **k: (
        Result(Status.ERROR, seconds=0.01), None, {"load": 0.0}))
    instance, digest = load_planning_instance(ONE)
    with pytest.raises(SolverNumericError, match="please report"):
        optimize(instance, digest)
    result = run("solve", ONE)
    assert result.exit_code == EXIT_INTERNAL and "internal error" in result.stderr


def test_verifier_failure_is_internal_not_bad_input(monkeypatch):
    import planner.pipeline

    monkeypatch.setattr(planner.pipeline, "verify_plan", lambda *a, **k: pd.DataFrame(
        [{"constraint": "demand", "where": "chat", "excess": 1.0}]))
    result = run("solve", ONE)
    assert result.exit_code == EXIT_INTERNAL, result.output
    assert "failed the independent re-check" in result.stderr and "report" in result.stderr


def test_unexpected_exception_is_internal_with_a_hint(monkeypatch):
    import planner.pipeline

    def boom(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(planner.pipeline, "optimize", boom)
    result = run("solve", ONE)
    assert result.exit_code == EXIT_INTERNAL and "please report" in result.stderr
    assert "Traceback" not in result.stderr
    debug = run("--debug", "solve", ONE)
    assert debug.exit_code == EXIT_INTERNAL and "Traceback" in debug.stderr


def test_debug_keeps_the_exit_code():
    plain = run("solve", ONE, "--set", "options.utilization_ceiling=2")
    debug = run("--debug", "solve", ONE, "--set", "options.utilization_ceiling=2")
    assert plain.exit_code == debug.exit_code == EXIT_INPUT
    assert "Traceback" in debug.stderr and "Traceback" not in plain.stderr
    # the same error line last (the --set override is noted before it in both)
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip().splitlines()[-1]
    assert plain.stderr.strip().splitlines()[0].startswith("NOTE ")
    infeasible = run("--debug", "solve", ONE, "--set", "classes[0].slo.tpot_ms=1")
    assert infeasible.exit_code == EXIT_INFEASIBLE


# ------------------------------------------------------------- 5. resource exhaustion


BOMB = """
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


@pytest.mark.parametrize("where", ["scenario", "unknown-key"])
def test_yaml_alias_bomb_is_refused(tmp_path, where):
    text = open(ONE).read()
    bomb = textwrap.indent(BOMB.strip(), "    ")
    if where == "scenario":
        text += f"scenarios:\n  unused:\n    bomb:\n{bomb}\n"
    else:
        text += f"bomb:\n{bomb}\n"
    path = write(tmp_path, "bomb.yaml", text)
    t0 = time.perf_counter()
    result = run("solve", path)
    assert time.perf_counter() - t0 < 10
    assert result.exit_code == EXIT_INPUT and "expands to more than" in result.stderr
    assert len(result.stderr) < 400


def test_echoed_values_are_truncated(tmp_path):
    text = open(ONE).read() + "unknown_key: " + json.dumps(["x" * 100] * 5000) + "\n"
    result = run("solve", write(tmp_path, "long.yaml", text))
    assert result.exit_code == EXIT_INPUT and "unknown_key" in result.stderr
    # short despite a 520,000-character value (the list of known top-level fields in the line
    # grows with the schema: 406 characters with issue 23's `roadmap`)
    assert len(result.stderr) < 500 and "characters)" in result.stderr


def test_moderate_anchors_still_work(tmp_path):
    text = open(ONE).read().replace("pue: 1.25", "pue: &p 1.25") + "description: x\n"
    assert load_planning_instance(write(tmp_path, "ok.yaml", text))[0].sites[0].pue == 1.25


# ------------------------------------------------------------- 6. silently accepted nonsense


def test_max_tokens_below_the_median():
    with pytest.raises(InputError, match=r"output_tokens: max_tokens 1 is below the median 5000"):
        load_planning_instance(ONE, sets=["classes[0].output_tokens={median: 5000, max_tokens: 1}"])
    # a budget above the median is the token-budget lever and stays allowed
    load_planning_instance(ONE, sets=["classes[0].output_tokens={median: 5000, max_tokens: 8000}"])


def test_empty_class_models_is_not_all_models():
    with pytest.raises(InputError, match=r"classes\[0\]\.models"):
        load_planning_instance(ONE, sets=["classes[0].models=[]"])


def test_milp_rules_under_the_lp_are_warned(caplog):
    instance, digest = load_planning_instance(MILP_SMALL, sets=["options.max_deployments=3"])
    with caplog.at_level(logging.WARNING):
        plan = optimize(instance, digest, "lp")
    warnings = plan.summary["warnings"]
    assert any("min_replicas=2" in w for w in warnings)
    assert any("max_deployments=3" in w for w in warnings)
    assert optimize(instance, digest, "milp").summary["warnings"] == []


def test_duplicate_yaml_keys_are_refused(tmp_path):
    text = open(ONE).read() + "options:\n  models: [llama-3.1-70b]\n  hardware: [h100-sxm]\n"
    with pytest.raises(InputError, match=r"duplicate key 'options' \(first at line \d+\)"):
        read_yaml(write(tmp_path, "dup.yaml", text))


def test_inventory_for_hardware_not_in_options_is_warned(caplog):
    with caplog.at_level(logging.WARNING):
        load_planning_instance(ONE, sets=["sites[0].inventory={b200: 4}"])
    assert "sites[0].inventory.b200: hardware not in options.hardware" in caplog.text


@pytest.mark.parametrize("value", [0.5, 0.9, 1])
def test_percentile_as_a_fraction_is_refused(value):
    with pytest.raises(InputError, match=r"percentile is in percent") as err:
        load_planning_instance(ONE, sets=[f"classes[0].slo.percentile={value}"])
    assert f"write {value * 100:g}" in str(err.value)


@pytest.mark.parametrize("path", ["classes[0].id", "sites[0].id", "name", "options.models[0]"])
@pytest.mark.parametrize("value", ['""', '"  "'])
def test_empty_ids_are_refused(path, value):
    with pytest.raises(InputError) as err:
        load_planning_instance(ONE, sets=[f"{path}={value}"])
    assert err.value.field == path


def test_carbon_objective_with_zero_intensity_breaks_ties_by_energy():
    sets = ["options.models=[llama-3.1-8b, llama-3.1-70b]", "options.hardware=[h100-sxm, b200]",
            "options.gpus_per_replica=[1, 2, 4, 8]", "options.max_concurrency=[16, 64, 256]"]
    energy = optimize(*load_planning_instance(ONE, sets=sets)).summary
    carbon = optimize(*load_planning_instance(ONE, sets=sets + [
        "objective=carbon", "sites[0].carbon_kg_per_kwh=0"])).summary
    assert carbon["objective_value"] == 0.0
    assert carbon["objective_gwh_per_day"] == pytest.approx(energy["objective_gwh_per_day"],
                                                            rel=1e-6)
    # with an intensity the objective is that intensity x energy, exactly
    c2 = optimize(*load_planning_instance(ONE, sets=sets + [
        "objective=carbon", "sites[0].carbon_kg_per_kwh=0.4"])).summary
    assert c2["objective_value"] == pytest.approx(0.4 * c2["objective_gwh_per_day"], rel=1e-9)
    assert c2["objective_gwh_per_day"] == pytest.approx(energy["objective_gwh_per_day"],
                                                        rel=1e-6)


# ------------------------------------------------------------- 7. side effects


def test_calibrate_without_out_leaves_the_package_file_alone():
    from planner.catalog import data_path
    from planner.perf.factors import CALIBRATION_FILE

    path = data_path(CALIBRATION_FILE)
    before = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    result = run("calibrate", "--no-holdout")  # the held-out refits write nothing either
    assert result.exit_code == 0, result.output
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before
    assert "not written" in result.stdout


def test_output_files_are_0644(tmp_path):
    result = run("solve", ONE, "--out", tmp_path / "out", "--format", "json")
    assert result.exit_code == 0, result.output
    umask = os.umask(0o022)
    os.umask(umask)
    files = list((tmp_path / "out").iterdir())
    assert len(files) >= 9  # 4 tables x CSV + Parquet, summary.json (+ the hourly table)
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask, f


WORKER_SCRIPT = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from planner.sweep.worker import limit_threads

def pid_and_sleep(_):
    return os.getpid()

if __name__ == "__main__":
    pool = ProcessPoolExecutor(2, mp_context=get_context("spawn"), initializer=limit_threads,
                               initargs=(os.getpid(),))
    pids = set(pool.map(pid_and_sleep, range(8)))
    print(" ".join(map(str, pids)), flush=True)
    os.kill(os.getpid(), 9)  # die like kill -9: no cleanup, no atexit
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_sweep_workers_die_with_their_parent(tmp_path):
    script = write(tmp_path, "pool.py", WORKER_SCRIPT)
    proc = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=120)
    pids = [int(p) for p in proc.stdout.split()]
    assert pids, proc.stderr
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)


def test_time_limited_milp_has_a_deterministic_floor():
    """Under a time limit far below the solve's own time, what branch and bound adds before the
    clock stops depends on the clock; the plan returned is never worse than the deterministic
    floor (the LP rounded up, the first incumbent), and within 1 % of the full MILP here."""
    instance, digest = load_planning_instance(str(SMALL / "levers-small.yaml"), sets=[
        "solver.time_limit_s=0.05"])
    runs = [optimize(instance, digest, "milp").summary for _ in range(3)]
    floors = {s["mip_gap_history"][1]["upper"] for s in runs}
    assert len(floors) == 1 and runs[0]["mip_gap_history"][1]["stage"] == "rounding"
    floor = floors.pop()
    full = optimize(*load_planning_instance(str(SMALL / "levers-small.yaml")), "milp").summary
    for s in runs:
        assert s["objective_value"] <= floor * (1 + 1e-12)
        assert s["objective_value"] <= full["objective_value"] * 1.01


def test_rounded_lp_incumbent_is_feasible():
    from planner.problem.candidates import build_coefficients
    from formulations.constraints import demand_unit
    from planner.solve.lazy_milp import relax_lp, rounded_incumbent
    from planner.solve.verify import verify_plan

    instance, _ = load_planning_instance(MILP_SMALL)
    c, _ = build_coefficients(instance)
    unit = demand_unit(c)
    plan = rounded_incumbent(c, relax_lp(c, unit, 10), unit)
    assert plan is not None
    p, d = c.n_pairs, c.n_deployments
    assert verify_plan(c, plan[:p] * unit, plan[p:p + d], integer=True).empty


# ------------------------------------------------------------- 8. sweeps


def test_tornado_is_one_at_a_time_around_the_base_point():
    """A product grid where averaging over the other input flips the sign: y = a * (b - 15)
    with the base point at b = 10. One at a time, raising a from 1 to 2 lowers y by 5."""
    from planner.report.sweep import tornado_rows

    rows = []
    for k, (a, b) in enumerate([(1, 10), (1, 20), (1, 40), (2, 10), (2, 20), (2, 40)]):
        rows.append({"point_id": f"grid0-{k:05d}-x", "kind": "grid", "scenario": "", "a": a,
                     "b": b, "status": "optimal", "objective_value": a * (b - 15.0)})
    table = pd.DataFrame(rows)
    context = {"base_values": {"a": 1, "b": 10}, "zip_blocks": []}
    bars = tornado_rows(table, context).set_index("input")
    assert bars.loc["a", "objective_at_low"] == -5 and bars.loc["a", "objective_at_high"] == -10
    assert bars.loc["b", "objective_at_low"] == -5 and bars.loc["b", "objective_at_high"] == 25
    assert bars.loc["a", "method"] == "one at a time around the base point"
    # the old main-effect average would have said +8.33 for a
    mean_high = np.mean([2 * (b - 15.0) for b in (10, 20, 40)])
    mean_low = np.mean([1 * (b - 15.0) for b in (10, 20, 40)])
    assert mean_high - mean_low == pytest.approx(25 / 3)


def test_instance_errors_are_reported_against_the_instance(tmp_path):
    bad = instance_with(tmp_path, ["options.utilization_ceiling=0.01"], name="bad.yaml")
    spec = write(tmp_path, "spec.yaml", "grids:\n  - parameters:\n      sites[0].pue: [1.1, 1.2]\n")
    from planner.sweep.engine import run_sweep
    with pytest.raises(InputError) as err:
        run_sweep(bad, spec, tmp_path / "out")
    assert err.value.file == bad and err.value.field == "options.utilization_ceiling"


def test_sweep_grid_is_counted_before_anything_runs(tmp_path):
    values = list(range(100))
    params = {f"sites[0].p{i}": values for i in range(6)}
    spec = write(tmp_path, "spec.yaml", yaml.safe_dump({"grids": [{"parameters": params}]}))
    t0 = time.perf_counter()
    result = run("sweep", ONE, spec, "--out", tmp_path / "out")
    assert time.perf_counter() - t0 < 10
    assert result.exit_code == EXIT_INPUT and "1,000,000,000,001 points" in result.stderr
    assert "--max-points" in result.stderr and not (tmp_path / "out").exists()


def test_sweep_limit_is_overridable(tmp_path):
    spec = write(tmp_path, "spec.yaml", "grids:\n  - parameters:\n      sites[0].pue: [1.1, 1.2]\n")
    from planner.sweep.engine import run_sweep
    with pytest.raises(InputError, match="3 points, more than the limit of 2"):
        run_sweep(ONE, spec, tmp_path / "a", max_points=2)
    result = run_sweep(ONE, spec, tmp_path / "b", max_points=3)
    assert result.summary["points"] == 3


def test_parse_set_value_uses_the_strict_loader():
    assert parse_set("options.speculative_decoding=[yes, no]")[1] == [True, False]
    assert parse_set("a=on")[1] == "on"  # YAML 1.1 'on' is not a boolean here
    with pytest.raises(InputError, match="must be a boolean"):
        load_planning_instance(ONE, sets=["options.speculative_decoding=[on]"])


def test_demand_beyond_the_solver_resolution_is_refused():
    """Found by the fuzz corpus: 10 queries/day next to 1e11 was served 0 (HiGHS tolerance) and
    the plan failed the re-check; it is now refused up front with the field and the value."""
    with pytest.raises(InputError) as err:
        load_planning_instance(MILP_SMALL, sets=["classes[0].queries_per_day=1e11",
                                                 "classes[1].queries_per_day=10"])
    assert err.value.field == "classes[1].queries_per_day" and err.value.value == 10
    plan = optimize(*load_planning_instance(MILP_SMALL, sets=[
        "classes[0].queries_per_day=1e11", "classes[1].queries_per_day=1000"]))
    assert plan.summary["queries_per_day"] == pytest.approx(1e11 + 1000, rel=1e-12)
    assert plan.classes.set_index("class").loc["long", "queries_per_day"] == \
        pytest.approx(1000, rel=1e-5)


def test_option_lever_with_a_scalar_is_an_input_error(tmp_path):
    """Found by the fuzz corpus: a lever setting options.hardware to a number was a TypeError."""
    data = load_planning_data(str(SMALL / "levers-small.yaml"))
    data["levers"]["groups"][0]["set"] = {"options.precisions": 3}
    path = tmp_path / "levers.yaml"
    path.write_text(yaml.safe_dump(data))
    result = run("levers", path)
    assert result.exit_code == EXIT_INPUT, result.output
    assert "set.options.precisions: an option lever sets a list" in result.stderr


@pytest.mark.parametrize("sets", [["classes[0].queries_per_day=1e-300"],
                                  ["adjustments.demand_scale=1e-6",
                                   "classes[0].queries_per_day=1000"]])
def test_vanishing_demand_is_refused(sets):
    with pytest.raises(InputError) as err:
        load_planning_instance(ONE, sets=sets)
    assert err.value.field == "classes[0].queries_per_day"


@pytest.mark.parametrize("sets,constraint,limit,closest", [
    # 0.56 nodes serve the demand (the LP; 0.5528 before issue 25's recalibration of Hopper,
    # 0.5583 before its third round's power-limited clocks: Hopper refit at 0.86 of its peak;
    # 0.5500 before its eighth round's Hopper refit); a whole node exceeds 0.6 installed
    (["sites[0].inventory={h100-sxm: 0.6}"], "inventory[h100-sxm] (whole nodes)", 0.6, 1.0),
    # the LP's half node stays under 5 kW; one whole node draws 5.49 kW at the peak (5.47 before
    # issue 25's third round: the Hopper refit at 0.86 of its rated math draws more per query;
    # 5.43 kW before its eighth round's Hopper refit)
    (["sites[0].power_cap_mw=0.005"], "power_cap (whole nodes)", 0.005, 0.0054937),
])
def test_whole_nodes_infeasible_only_as_milp(sets, constraint, limit, closest):
    instance, digest = load_planning_instance(ONE, sets=sets)
    assert optimize(instance, digest, "lp").summary["nodes"] == pytest.approx(0.56244, rel=1e-4)
    with pytest.raises(InfeasibleError) as err:
        optimize(instance, digest, "milp")
    detail = err.value.details[0]
    assert detail["constraint"] == constraint and detail["limit"] == limit
    assert detail["closest"] == pytest.approx(closest, rel=1e-4)
