"""Instance paths: parsing, reading, writing, [*] and by-id addressing (planner.config.paths)."""

import pytest

from planner.config import concrete_paths, get_path, set_path, split_path
from planner.errors import InputError


def _data():
    return {"sites": [{"id": "us-east", "pue": 1.1}, {"id": "eu-west", "pue": 1.3}],
            "options": {"hardware": ["h100-sxm"]}}


def test_split_path_indices_star_and_names():
    assert split_path("sites[0].power_cap_mw") == ["sites", 0, "power_cap_mw"]
    assert split_path("sites[*].pue") == ["sites", "*", "pue"]
    assert split_path(" sites.us-east.pue ") == ["sites", "us-east", "pue"]


@pytest.mark.parametrize("bad", ["", "a..b", ".x", "a[", "a[x]", "a[-1]", 3])
def test_split_path_rejects_malformed_paths_naming_the_file(bad):
    with pytest.raises(InputError, match="malformed path") as err:
        split_path(bad, "x.yaml")
    assert err.value.file == "x.yaml" and err.value.value == bad


def test_get_path_by_index_id_and_missing():
    data = _data()
    assert get_path(data, "sites[1].pue") == 1.3
    assert get_path(data, "sites.eu-west.pue") == 1.3
    assert get_path(data, "sites[5].pue") is None
    assert get_path(data, "sites.nowhere.pue") is None
    assert get_path(data, "options.hardware[0].x") is None


def test_set_path_by_index_id_and_star():
    data = _data()
    set_path(data, "sites.eu-west.pue", 1.2, "f")
    assert data["sites"][1]["pue"] == 1.2
    set_path(data, "sites[*].power_cap_mw", 5, "f")
    assert [s["power_cap_mw"] for s in data["sites"]] == [5, 5]
    set_path(data, "adjustments.power_scale", 1.1, "f")  # missing mappings are created
    assert data["adjustments"] == {"power_scale": 1.1}


def test_star_values_are_copies_per_item():
    data = _data()
    set_path(data, "sites[*].inventory", {"h100-sxm": 4}, "f")
    data["sites"][0]["inventory"]["h100-sxm"] = 9
    assert data["sites"][1]["inventory"] == {"h100-sxm": 4}


@pytest.mark.parametrize("path, reason, field", [
    ("sites[7].pue", "index out of range", "sites.7"),
    ("sites.nowhere.pue", "no list item with this id", "sites.nowhere"),
    ("options[*].x", "[*] needs a list", "options[*].x"),
    ("sites[0].pue.x", "cannot set a field inside a scalar", "sites[0].pue.x"),
])
def test_set_path_errors_name_file_and_field(path, reason, field):
    with pytest.raises(InputError) as err:
        set_path(_data(), path, 1, "inst.yaml (--set)")
    assert err.value.reason == reason
    assert (err.value.file, err.value.field) == ("inst.yaml (--set)", field)


def test_concrete_paths_expand_stars_for_the_instance_at_hand():
    data = {"sites": [{"inv": [1, 2]}, {"inv": [3]}]}
    assert concrete_paths(data, "sites[*].inv[*]") == ["sites[0].inv[0]", "sites[0].inv[1]",
                                                       "sites[1].inv[0]"]
    assert concrete_paths(data, "sites[0].pue") == ["sites[0].pue"]
    assert concrete_paths(data, "nothing[*].x") == []
    with pytest.raises(InputError, match=r"\[\*\] needs a list"):
        concrete_paths({"a": 1.0}, "a[*]", "f")
