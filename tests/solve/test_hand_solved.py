"""Hand-solved optima: closed forms computed from the performance model directly."""

import numpy as np
import pandas as pd
import pytest

from planner.catalog.loaders import load_catalog
from planner.pipeline import optimize
from planner.perf.factors import load_calibration
from planner.perf.model import node_idle_kw, predict
from tests.solve.conftest import load


def perf(model, hardware, num_gpus, concurrency, isl, osl):
    row = predict(pd.DataFrame([dict(model=model, hardware=hardware, precision="fp8",
                                     num_gpus=num_gpus, isl=isl, osl=osl,
                                     concurrency=concurrency)])).iloc[0]
    gpn = load_catalog().hardware.loc[hardware, "gpus_per_node"]
    idle = node_idle_kw(load_catalog().hardware.loc[[hardware]], load_calibration())[0]
    node_seconds = osl / row["out_tok_s_total"] * num_gpus / gpn
    dynamic_kwh = (row["node_power_kw"] - idle) * node_seconds / 3600
    return node_seconds, dynamic_kwh, idle


def test_one_deployment_closed_form():
    instance, digest = load("small/one-deployment.yaml")
    plan = optimize(instance, digest, "lp")
    ns, dyn, idle = perf("llama-3.1-8b", "h100-sxm", 1, 64, 1000, 200)
    q, pue, rho = 1e7, 1.25, 0.8
    nodes = q / 24 * ns / (rho * 3600)
    energy_gwh = pue * (nodes * 24 * idle + q * dyn) / 1e6
    assert plan.summary["nodes"] == pytest.approx(nodes, rel=1e-6)
    assert plan.summary["objective_gwh_per_day"] == pytest.approx(energy_gwh, rel=1e-6)
    assert plan.deployments["utilization_peak"].iloc[0] == pytest.approx(0.8, rel=1e-6)
    # Peak facility power = PUE x (idle of all nodes + load-dependent power at the flat rate).
    peak_kw = pue * (nodes * idle + q / 24 * dyn)
    assert plan.summary["peak_power_mw"] == pytest.approx(peak_kw / 1e3, rel=1e-6)


def test_two_hardware_fill_cheaper_up_to_inventory():
    instance, digest = load("small/two-hardware.yaml")
    plan = optimize(instance, digest, "lp")
    q, pue, rho = 2e8, 1.2, 0.8
    ns1, dyn1, idle1 = perf("llama-3.1-70b", "h100-sxm", 8, 64, 200, 1000)
    ns2, dyn2, idle2 = perf("llama-3.1-70b", "h200-sxm", 8, 64, 200, 1000)
    per_query = lambda ns, dyn, idle: dyn + idle * 24 * ns / (rho * 86400)  # noqa: E731
    assert per_query(ns2, dyn2, idle2) < per_query(ns1, dyn1, idle1)  # H200 is cheaper
    x2 = 3 * rho * 86400 / ns2  # the 3 H200 nodes, full
    x1 = q - x2
    energy = pue * (x1 * per_query(ns1, dyn1, idle1) + x2 * per_query(ns2, dyn2, idle2)) / 1e6
    assert plan.summary["objective_gwh_per_day"] == pytest.approx(energy, rel=1e-6)
    by_hw = plan.deployments.set_index("hardware")["nodes"]
    assert by_hw["h200-sxm"] == pytest.approx(3.0, rel=1e-6)
    assert by_hw["h100-sxm"] == pytest.approx(x1 / 24 * ns1 / (rho * 3600), rel=1e-6)
    inventory = plan.constraints.query("constraint == 'inventory'").iloc[0]
    assert inventory["binding"] and inventory["shadow_price"] > 0


def test_milp_rounds_up_to_whole_nodes_and_lp_is_a_bound():
    instance, digest = load("small/one-deployment.yaml")
    lp = optimize(instance, digest, "lp")
    milp = optimize(instance, digest, "milp")
    assert milp.summary["nodes"] == np.ceil(lp.summary["nodes"])
    assert milp.summary["lp_bound_gwh_per_day"] == pytest.approx(lp.summary["objective_gwh_per_day"])
    assert lp.summary["objective_gwh_per_day"] <= milp.summary["objective_gwh_per_day"] + 1e-12


def test_carbon_objective_is_energy_times_intensity():
    instance, digest = load("small/one-deployment.yaml")
    energy = optimize(instance, digest).summary["objective_gwh_per_day"]
    carbon, _ = load("small/one-deployment.yaml",
                     sets=["objective=carbon", "sites[0].carbon_kg_per_kwh=0.4"])
    plan = optimize(carbon, digest)
    # GWh/day x kg/kWh = million kg (kt) CO2 per day.
    assert plan.summary["objective_value"] == pytest.approx(energy * 0.4, rel=1e-6)
    assert plan.summary["objective_unit"] == "kt CO2/day"
    assert plan.summary["objective_gwh_per_day"] == pytest.approx(energy, rel=1e-6)


def test_cost_objective_closed_form():
    sets = ["objective=cost", "sites[0].electricity_usd_per_kwh=0.08",
            "options.node_cost_usd_per_hour={h100-sxm: 25}"]
    instance, digest = load("small/one-deployment.yaml", sets=sets)
    plan = optimize(instance, digest, "lp")
    ns, dyn, idle = perf("llama-3.1-8b", "h100-sxm", 1, 64, 1000, 200)
    q, pue, rho = 1e7, 1.25, 0.8
    nodes = q / 24 * ns / (rho * 3600)
    energy_kwh = pue * (nodes * 24 * idle + q * dyn)
    usd = energy_kwh * 0.08 + nodes * 24 * 25
    assert plan.summary["objective_unit"] == "million USD/day"
    assert plan.summary["objective_value"] == pytest.approx(usd / 1e6, rel=1e-6)
    assert plan.summary["objective_gwh_per_day"] == pytest.approx(energy_kwh / 1e6, rel=1e-6)


def test_cost_objective_can_choose_against_energy():
    """Energy fills the 3 efficient H200 nodes; at 10x the H100's node cost, cost uses none."""
    energy_plan = optimize(*load("small/two-hardware.yaml"), "lp")
    sets = ["objective=cost", "sites[0].electricity_usd_per_kwh=0.08",
            "options.node_cost_usd_per_hour={h100-sxm: 20, h200-sxm: 200}"]
    cost_plan = optimize(*load("small/two-hardware.yaml", sets=sets), "lp")
    assert energy_plan.deployments.set_index("hardware")["nodes"]["h200-sxm"] == pytest.approx(3)
    assert "h200-sxm" not in set(cost_plan.deployments["hardware"])
    assert (cost_plan.summary["objective_gwh_per_day"]
            > energy_plan.summary["objective_gwh_per_day"])


def test_cost_objective_needs_its_data():
    from planner.errors import InputError
    with pytest.raises(InputError, match=r"node_cost_usd_per_hour\[h100-sxm\]"):
        load("small/one-deployment.yaml",
             sets=["objective=cost", "sites[0].electricity_usd_per_kwh=0.08"])


def test_reasoning_score_is_credited_only_to_test_time_scaling_classes():
    """gpt-oss-120b's MMLU (90, high reasoning effort) clears a floor of 88 only for a class
    whose output lengths include the chain of thought; a chat class gets the next model."""
    from planner.problem.candidates import candidate_pairs
    from planner.config.schema.plan import PlanningInstance

    def eligible_models(test_time_scaling):
        instance = PlanningInstance.model_validate({
            "name": "t", "classes": [{
                "id": "c", "queries_per_day": 1e6, "min_quality": 88,
                "test_time_scaling": test_time_scaling,
                "input_tokens": {"median": 500, "shape": "fixed"},
                "output_tokens": {"median": 300, "shape": "fixed"}}],
            "sites": [{"id": "s", "pue": 1.2}],
            "options": {"models": ["gpt-oss-120b", "llama-3.1-405b"], "hardware": ["h100-sxm"],
                        "gpus_per_replica": [8], "max_concurrency": [64]}})
        deployments, pairs, report = candidate_pairs(instance, prune_dominated=False)
        return set(deployments["model"]), report.class_best.iloc[0]["best_quality"]

    models, best = eligible_models(True)
    assert models == {"gpt-oss-120b", "llama-3.1-405b"}
    assert best == pytest.approx(90.0 * (1 - 0.38 / 100), rel=1e-6)  # FP8, large-model loss
    models, best = eligible_models(False)
    assert models == {"llama-3.1-405b"}
    assert best == pytest.approx(88.6 * (1 - 0.38 / 100), rel=1e-6)  # 405B FP8
