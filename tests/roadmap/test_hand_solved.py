"""Hand-solved roadmaps: when buying the efficient generation now pays, and when waiting does.

Both instances (instances/small/roadmap-2p.yaml, roadmap-3p.yaml) have one class with flat
demand Q = 1e8 queries/day, one site (PUE 1.25, 0.1 USD/kWh), an installed H100 base that can
serve it all (spare nodes off: free), and newer hardware to buy (cost objective). With one
deployment per hardware h (node-seconds s_h, kWh above idle k_h, idle kW P_h per query / node,
from the candidates), serving everything on h for a day costs

    C_h = 0.1 x 1.25 x (Q k_h + 24 P_h n_h) / 1e6  million USD,   n_h = Q s_h / (0.8 x 86400)

(H100 ~103.9 USD/day on 5.62 nodes, B200 ~75.6 on 2.89, Rubin ~65.7 on 0.234 NVL72 racks;
on the calibration of issue 25's eighth round - the tests compute every figure from the
candidates).
The LP is linear in the share moved to each generation, so its optimum is a pure strategy:
a hardware h_t serving period t (available by t), each bought once at its first use, paying
K_h n_h / 1e6 there. A strategy costs

    sum_t delta_t D_t C_{h_t}  +  sum_{h bought} delta_{a_h} K_h n_h / 1e6,
    delta_t = (1 + r)^-(years from the start to period t),  D = 365, 366, 365 days.

2p (K_B200 = 6000 USD, r = 0): buy now saves S D1 + delta S D2 - K n with S = C_H100 - C_B200
~28.3 USD/day: 28.3 x 731 - 6000 x 2.894 ~ 20,722 - 17,361 > 0, so it buys at once. A year's
lead time (or a first delivery after 2027-01-01) leaves only delta (S D2 - K n) ~ 10,375 -
17,361 < 0: never. Buying now stops paying at delta* = (K n / S - D1) / D2 ~ 0.676, r* ~ 0.479,
and at K* = S (D1 + D2) / n ~ 7,161 USD with r = 0.

3p (K_B200 = 6000, K_Rubin = 50,000 so X_A = K n ~ 17,361 and X_B ~ 11,718 USD): with Rubin
from 2028, waiting for it saves S_B x 731 - X_B ~ 16,220 against B200 now 31,068 - 17,361 =
13,707: wait. With Rubin usable from 2029 only, B200 now beats B200 then Rubin and Rubin in
2029 (4,431 and 1,578 against 12,853 on issue 25's fifth-round calibration): buy now.
"""

import itertools
import math

import numpy as np
import pytest

from planner.config.schema.roadmap import DAYS_PER_YEAR
from planner.pipeline import eligible_coefficients
from planner.roadmap.solve import optimize_roadmap
from tests.solve.conftest import load


def per_hardware(instance):
    """(C_h million USD/day, n_h nodes) per hardware from the candidates."""
    c, _ = eligible_coefficients(instance, None, {})
    out = {}
    for d, hw in enumerate(c.dep_hardware):
        p = np.flatnonzero(c.pair_dep == d)
        assert p.size == 1
        q = c.demand[0]
        n = q * c.node_seconds[p[0]] / (0.8 * 86400)
        cost = 0.1 * 1.25 * (q * c.dynamic_kwh[p[0]] + 24 * c.dep_idle_kw[d] * n) / 1e6
        out[str(hw)] = (cost, n)
    return out


def best_strategy(instance, available: dict[str, int], capex: dict[str, float]):
    """Brute force over pure strategies: (cost, hardware per period)."""
    r = instance.roadmap
    days = r.days()
    start = r.periods[0].start
    delta = [(1 + r.discount_rate) ** -((p.start - start).days / DAYS_PER_YEAR)
             for p in r.periods]
    hw = per_hardware(instance)
    best = (math.inf, None)
    for seq in itertools.product(sorted(hw), repeat=len(days)):
        if any(available.get(h, 0) > t for t, h in enumerate(seq)):
            continue
        cost = sum(delta[t] * days[t] * hw[h][0] for t, h in enumerate(seq))
        for h in set(seq):
            first = seq.index(h)
            cost += delta[first] * capex.get(h, 0.0) * hw[h][1] / 1e6
        best = min(best, (cost, seq))
    return best


def plan(name, *sets, **kw):
    instance, digest = load(f"small/{name}.yaml", sets=list(sets))
    return instance, optimize_roadmap(instance, digest, **kw)


def bought(result) -> dict[str, str]:
    return {o["hardware"]: p["id"] for p in result.summary["periods"] for o in p["orders"]}


def test_2p_buys_now_and_matches_the_hand_calculation():
    instance, result = plan("roadmap-2p")
    cost, seq = best_strategy(instance, {"h100-sxm": 0, "b200": 0}, {"b200": 6000})
    assert seq == ("b200", "b200")
    assert result.summary["objective_value"] == pytest.approx(cost, rel=1e-6)
    assert bought(result) == {"b200": "2027"}
    hw = per_hardware(instance)
    order = result.summary["periods"][0]["orders"][0]
    assert order["nodes"] == pytest.approx(hw["b200"][1], rel=1e-6)
    # Myopia: period 1 alone does not repay the capex (S D1 < K n), nor period 2 alone.
    v = result.summary["value_of_foresight"]
    assert v["myopic"] == pytest.approx(731 * hw["h100-sxm"][0], rel=1e-6)
    assert v["value"] == pytest.approx(v["myopic"] - cost, rel=1e-6) and v["value"] > 0


@pytest.mark.parametrize("setting,buys", [
    ("roadmap.hardware.b200.lead_time_days=0", True),
    ("roadmap.hardware.b200.lead_time_days=1", False),  # arrives in 2028: never pays
    ("roadmap.hardware.b200.lead_time_days=365", False),
    ("roadmap.hardware.b200.first_delivery=2027-01-01", True),
    ("roadmap.hardware.b200.first_delivery=2027-01-02", False),
])
def test_2p_lead_time_and_availability_flip(setting, buys):
    instance, result = plan("roadmap-2p", setting)
    available = {"b200": 0 if buys else 1}
    cost, seq = best_strategy(instance, available, {"b200": 6000})
    assert result.summary["objective_value"] == pytest.approx(cost, rel=1e-6)
    assert bought(result) == ({"b200": "2027"} if buys else {})


def _thresholds():
    instance, _ = load("small/roadmap-2p.yaml")
    hw = per_hardware(instance)
    s = hw["h100-sxm"][0] - hw["b200"][0]
    kn = 6000 * hw["b200"][1] / 1e6
    delta_star = (kn / s - 365) / 366
    r_star = delta_star ** -(DAYS_PER_YEAR / 365) - 1
    k_star = s * 731 / hw["b200"][1] * 1e6
    return r_star, k_star


def test_2p_discount_rate_flips_at_the_hand_threshold():
    r_star, _ = _thresholds()
    # 0.39-0.40 before issue 25's second-round recalibration, 0.34-0.35 before its third round
    # (the Hopper refit at 0.86 of its rated math: H100's energy per query, hence B200's
    # saving, moved), 0.44-0.45 before its fourth round (the v1.0 MoE rows read as attention
    # DP move the Hopper and Blackwell refits: B200's saving on Llama-3.1-8B, k*, +11 %),
    # 0.93-0.95 before its fifth (the vLLM block-FP8 MoE factor moves the families' joint
    # refit: B200's saving on Llama-3.1-8B, k*, -12 %), 0.37-0.39 before its eighth (the DEP MoE
    # workspace and chunked attention move the Hopper and Blackwell refits: H100 +1.6 % nodes,
    # B200 +1.1 %, the saving S +3.5 %)
    assert 0.47 < r_star < 0.49
    _, below = plan("roadmap-2p", f"roadmap.discount_rate={r_star * 0.99}")
    _, above = plan("roadmap-2p", f"roadmap.discount_rate={r_star * 1.01}")
    assert bought(below) == {"b200": "2027"} and bought(above) == {}


def test_2p_capex_flips_at_the_hand_threshold():
    _, k_star = _thresholds()
    # 6900-7100 before issue 25's second-round recalibration, 6800-6950 before its third round,
    # 7050-7150 before its fourth, 7850-7990 before its fifth, 6900-7000 before its eighth
    assert 7100 < k_star < 7220
    _, below = plan("roadmap-2p", f"roadmap.hardware.b200.capex_usd_per_node={k_star * 0.99}")
    _, above = plan("roadmap-2p", f"roadmap.hardware.b200.capex_usd_per_node={k_star * 1.01}")
    assert bought(below) == {"b200": "2027"} and bought(above) == {}


@pytest.mark.parametrize("delivery,expect", [("2028-01-01", {"rubin": "2028"}),
                                             ("2028-01-02", {"b200": "2027"})])
def test_3p_waits_for_the_next_generation_only_when_it_comes_in_time(delivery, expect):
    instance, result = plan("roadmap-3p", f"roadmap.hardware.rubin.first_delivery={delivery}")
    rubin_from = 1 if delivery == "2028-01-01" else 2
    cost, seq = best_strategy(instance, {"rubin": rubin_from},
                              {"b200": 6000, "rubin": 50000})
    assert result.summary["objective_value"] == pytest.approx(cost, rel=1e-6)
    assert bought(result) == expect
    assert seq == (("h100-sxm", "rubin", "rubin") if rubin_from == 1 else
                   ("b200", "b200", "b200"))


def test_3p_myopic_strands_what_it_bought():
    """B200 at 3000 USD (X_A ~ 8,588 < S_A D1 ~ 10,000: it repays within 2027) and Rubin at
    10,000 USD (X_B ~ 2,382 < (S_B - S_A) x 366 ~ 3,587: worth switching to even from B200).
    Myopia buys B200 for 2027 alone, then Rubin for 2028, stranding the B200 nodes in 2028 and
    2029. Foresight does the same here: B200-then-Rubin beats waiting for Rubin by
    S_A D1 - X_A > 0, so the value of foresight is 0 (exactly the brute-force optimum)."""
    instance, result = plan("roadmap-3p", "roadmap.hardware.b200.capex_usd_per_node=3000",
                            "roadmap.hardware.rubin.capex_usd_per_node=10000",
                            foresight="myopic")
    assert bought(result) == {"b200": "2027", "rubin": "2028"}
    cost, seq = best_strategy(instance, {"rubin": 1}, {"b200": 3000, "rubin": 10000})
    assert seq == ("b200", "rubin", "rubin")
    assert result.summary["objective_value"] == pytest.approx(cost, rel=1e-6)
    v = result.summary["value_of_foresight"]
    b200 = per_hardware(instance)["b200"][1]
    stranded = {(s["period"], s["hardware"]): s["nodes"] for s in v["myopic_stranded"]}
    assert stranded == pytest.approx({("2028", "b200"): b200, ("2029", "b200"): b200})
    assert v["value"] == pytest.approx(0.0, abs=1e-9)


def test_infeasible_order_too_late_is_one_line():
    from planner.errors import InfeasibleError

    instance, digest = load("small/roadmap-2p.yaml", sets=[
        "sites[0].inventory.h100-sxm=2", "roadmap.hardware.b200.lead_time_days=365"])
    with pytest.raises(InfeasibleError) as err:
        optimize_roadmap(instance, digest)
    text = str(err.value)
    # 2 H100 nodes serve 2 x 0.8 x 86400 / s_H100 queries/day; the rest needs B200 nodes.
    hw = per_hardware(instance)
    c, _ = eligible_coefficients(instance, None, {})
    unmet = 1e8 - 2 * 0.8 * 86400 / c.node_seconds[c.dep_hardware[c.pair_dep] == "h100-sxm"][0]
    nodes = math.ceil(unmet * c.node_seconds[c.dep_hardware[c.pair_dep] == "b200"][0]
                      / (0.8 * 86400))
    assert text == (f"class chat in 2027 needs {nodes} more nodes; the earliest order of b200 "
                    f"arrives 2028")
    assert err.value.details[0]["unmet_queries_per_day"] == pytest.approx(unmet, rel=1e-6)
    assert hw  # the per-hardware numbers exist for both


def test_embodied_carbon_is_counted_on_arrival():
    """Carbon objective at 0.4 kg/kWh: B200 (k_B, P_B) needs no capex to win on carbon alone,
    so it is bought in 2027; its embodied t CO2 per node x n_B / 1e3 kt is added to the
    horizon's operations, kt CO2 = GWh x 0.4."""
    sets = ["objective=carbon", "sites[0].carbon_kg_per_kwh=0.4"]
    instance, result = plan("roadmap-2p", *sets)
    with_embodied, more = plan("roadmap-2p", *sets,
                               "roadmap.hardware.b200.embodied_t_co2_per_node=2")
    n_b = per_hardware(instance)["b200"][1]
    assert result.summary["objective_value"] == pytest.approx(result.summary["gwh"] * 0.4,
                                                              rel=1e-6)
    assert more.summary["objective_value"] == pytest.approx(
        result.summary["objective_value"] + 2 * n_b / 1e3, rel=1e-6)
    assert bought(more) == {"b200": "2027"}


def test_falling_capex_makes_waiting_pay():
    """B200 at 6,000 USD in 2027 but 1,000 from 2028: buying now saves S x 731 - 6000 n
    ~ 2,843 USD, waiting S x 366 - 1000 n ~ 7,157: it waits, and the horizon costs
    365 C_H100 + 366 C_B200 + 1000 n / 1e6."""
    instance, result = plan("roadmap-2p", 'roadmap.hardware.b200.capex_by_period={"2028": 1000}')
    assert bought(result) == {"b200": "2028"}
    hw = per_hardware(instance)
    expect = 365 * hw["h100-sxm"][0] + 366 * hw["b200"][0] + 1000 * hw["b200"][1] / 1e6
    assert result.summary["objective_value"] == pytest.approx(expect, rel=1e-6)


def test_site_price_changes_from_a_period_on():
    """Electricity at 0.2 USD/kWh from 2028 doubles 2028's operations (C_h is linear in the
    price); B200 is still bought at once."""
    instance, result = plan("roadmap-2p", 'roadmap.site_changes=[{"site": "site-a", '
                                          '"period": "2028", "electricity_usd_per_kwh": 0.2}]')
    assert bought(result) == {"b200": "2027"}
    hw = per_hardware(instance)
    expect = (365 + 2 * 366) * hw["b200"][0] + 6000 * hw["b200"][1] / 1e6
    assert result.summary["objective_value"] == pytest.approx(expect, rel=1e-6)
