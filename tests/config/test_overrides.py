"""Scenarios, --set, sweep points and lever overrides: one mechanism, every change logged."""

import logging

import pytest

from planner.config import (Change, apply_overrides, apply_scenario, apply_sets, multiply_values,
                            parse_set, set_values, union_overrides)
from planner.errors import InputError
from planner.problem.instance import load_planning_data, load_planning_instance
from planner.sweep.points import Point, point_data

FLEET = "instances/fleet-1b.yaml"
LOG = "planner.config.overrides"


def _data():
    return {"sites": [{"id": "a", "pue": 1.1}, {"id": "b", "pue": 1.3}],
            "scenarios": {"tight": {"sites.a.power_cap_mw": 0.3}, "bad": [1, 2], "empty": None}}


def _logged(caplog):
    return [r.getMessage() for r in caplog.records if r.name == LOG]


def test_set_values_logs_and_returns_each_change(caplog):
    data = _data()
    with caplog.at_level(logging.INFO, logger=LOG):
        changes = set_values(data, {"sites[*].pue": 1.2, "sites.b.power_cap_mw": 2},
                             "f.yaml", "--set")
    assert changes == [Change("sites[0].pue", 1.1, 1.2, "--set"),
                       Change("sites[1].pue", 1.3, 1.2, "--set"),
                       Change("sites.b.power_cap_mw", None, 2, "--set")]
    assert _logged(caplog) == ["override sites[0].pue: 1.1 -> 1.2 (--set)",
                               "override sites[1].pue: 1.3 -> 1.2 (--set)",
                               "override sites.b.power_cap_mw: None -> 2 (--set)"]
    assert changes[0].as_json() == {"path": "sites[0].pue", "old": 1.1, "new": 1.2,
                                    "source": "--set"}


def test_recorded_values_do_not_follow_later_changes():
    data = {"options": {}}
    first = set_values(data, {"options": {"hardware": ["a"]}}, "f", "scenario s")
    set_values(data, {"options.hardware": ["b"]}, "f", "--set")
    assert first[0].new == {"hardware": ["a"]}


def test_scenario_changes_are_named_by_the_scenario(caplog):
    data = _data()
    with caplog.at_level(logging.INFO, logger=LOG):
        changes = apply_scenario(data, "tight", "f.yaml")
    assert changes == [Change("sites.a.power_cap_mw", None, 0.3, "scenario tight")]
    assert _logged(caplog) == ["override sites.a.power_cap_mw: None -> 0.3 (scenario tight)"]
    assert apply_scenario(_data(), "empty", "f.yaml") == []


def test_unknown_scenario_names_file_field_and_value():
    with pytest.raises(InputError) as err:
        apply_scenario(_data(), "nope", "f.yaml")
    e = err.value
    assert (e.file, e.field, e.value) == ("f.yaml", "scenarios", "nope")
    assert e.reason == "unknown scenario; known: ['bad', 'empty', 'tight']"


def test_scenario_that_is_not_a_mapping_is_an_input_error():
    with pytest.raises(InputError) as err:
        apply_scenario(_data(), "bad", "f.yaml")
    e = err.value
    assert (e.file, e.field, e.value) == ("f.yaml", "scenarios.bad", [1, 2])
    assert e.reason == "a scenario is a mapping of {path: value}"


def test_scenario_path_errors_name_the_scenario():
    data = {"sites": [], "scenarios": {"s": {"sites[3].pue": 1}}}
    with pytest.raises(InputError) as err:
        apply_scenario(data, "s", "f.yaml")
    assert err.value.file == "f.yaml (scenario s)"


def test_sweep_point_scenario_errors_are_the_same_as_the_instance_ones():
    with pytest.raises(InputError) as sweep:
        point_data(_data(), Point("p", "scenario", "nope"), "spec.yaml")
    with pytest.raises(InputError) as instance:
        load_planning_data(FLEET, scenario="nope")
    assert sweep.value.reason.split(";")[0] == instance.value.reason.split(";")[0]
    assert (sweep.value.file, sweep.value.field) == ("spec.yaml", "scenarios")
    assert (instance.value.file, instance.value.field) == (FLEET, "scenarios")


def test_parse_set_and_apply_sets(caplog):
    assert parse_set("options.utilization_ceiling=0.7") == ("options.utilization_ceiling", 0.7)
    data = _data()
    with caplog.at_level(logging.INFO, logger=LOG):
        changes = apply_sets(data, ["sites.a.pue=1.05"], "f.yaml")
    assert changes == [Change("sites.a.pue", 1.1, 1.05, "--set")]
    with pytest.raises(InputError) as err:
        apply_sets(_data(), ["sites[9].pue=1"], "f.yaml")
    assert err.value.file == "f.yaml (--set)"
    with pytest.raises(InputError, match="needs PATH=VALUE"):
        parse_set("sites.pue", "f.yaml (--set)")


def test_multiply_values_scales_and_counts_absent_adjustments_as_one(caplog):
    data = {"sites": [{"pue": 1.0}, {"pue": 2.0}]}
    with caplog.at_level(logging.INFO, logger=LOG):
        changes = multiply_values(data, {"sites[*].pue": 1.5, "adjustments.power_scale": 0.9},
                                  "spec.yaml", "sweep point mc-00001")
    assert [s["pue"] for s in data["sites"]] == [1.5, 3.0]
    assert data["adjustments"]["power_scale"] == 0.9
    assert changes[-1] == Change("adjustments.power_scale", None, 0.9, "sweep point mc-00001")
    assert len(_logged(caplog)) == 3
    with pytest.raises(InputError, match="multiply needs a number") as err:
        multiply_values({"a": "x"}, {"a": 2}, "spec.yaml", "p")
    assert (err.value.file, err.value.field, err.value.value) == ("spec.yaml", "a", "x")


def test_sweep_point_changes_are_logged_with_the_point_id(caplog):
    point = Point("grid0-00001-abcd", "grid", "tight", {"sites[0].pue": 1.2},
                  {"sites[1].pue": 2.0})
    with caplog.at_level(logging.INFO, logger=LOG):
        data = point_data(_data(), point, "spec.yaml")
    assert data["sites"] == [{"id": "a", "pue": 1.2, "power_cap_mw": 0.3},
                             {"id": "b", "pue": 2.6}]
    assert _logged(caplog) == [
        "override sites.a.power_cap_mw: None -> 0.3 (sweep point grid0-00001-abcd "
        "(scenario tight))",
        "override sites[0].pue: 1.1 -> 1.2 (sweep point grid0-00001-abcd)",
        "override sites[1].pue: 1.3 -> 2.6 (sweep point grid0-00001-abcd)"]


def test_apply_overrides_returns_a_copy():
    data = _data()
    out = apply_overrides(data, {"sites.a.pue": 9}, "f (levers.x)", "lever x")
    assert out["sites"][0]["pue"] == 9 and data["sites"][0]["pue"] == 1.1


def test_union_overrides_combines_lists_and_none_absorbs():
    assert union_overrides([{"o.h": ["a"]}, {"o.h": ["b", "a"], "o.p": ["x"]}]) == {
        "o.h": ["a", "b"], "o.p": ["x"]}
    assert union_overrides([{"c.models": ["a"]}, {"c.models": None}, {"c.models": ["b"]}]) == {
        "c.models": None}


def test_instance_loading_reports_its_changes_and_keeps_the_hash(caplog):
    changes: list = []
    with caplog.at_level(logging.INFO, logger=LOG):
        data = load_planning_data(FLEET, "tight-cap", ["sites[0].pue=1.2"], changes=changes)
    assert [(c.path, c.new, c.source) for c in changes] == [
        ("sites[0].power_cap_mw", 0.3, "scenario tight-cap"), ("sites[0].pue", 1.2, "--set")]
    assert data["sites"][0]["power_cap_mw"] == 0.3
    assert len(_logged(caplog)) == 2
    # the shipped instance hashes (provenance) are those of the code before issue 15 (fleet-1b's
    # moved with its text when issue 25 added the `amd` scenario: 9846daa61b18aae1 ->
    # c1b030d380893410)
    assert load_planning_instance(FLEET)[1] == "c1b030d380893410"
    assert load_planning_instance(FLEET, "tight-cap", ["sites[*].pue=1.2"])[1] == \
        "50f2ccc0dbf86934"  # e9045cf120719cab before the amd scenario


def test_lever_overrides_are_logged_as_coming_from_the_lever(caplog):
    from planner.levers import LeverEngine
    from planner.problem.instance import instance_from_mapping

    path = "instances/small/levers-small.yaml"
    data = load_planning_data(path)
    instance, _ = instance_from_mapping(data, path)
    with caplog.at_level(logging.INFO, logger=LOG):
        engine = LeverEngine(data, path, instance.levers)
        engine.subset_instance(1)
    messages = _logged(caplog)
    assert any(m.endswith("(levers baseline)") for m in messages)
    first = engine.groups[0]
    expected = (f"(lever {first.name})" if engine.param_sets[0]
                else f"(levers {first.name} (options combined))")
    assert any(m.endswith(expected) for m in messages)
