"""Issue 26: the candidates' screen (a class is evaluated only on the deployments meeting its
quality floor and model list) changes nothing: the same pairs, bit for bit, the same report
(dropped counts: whether a deployment fits *some* class) and the same diagnosis values for a
class without an eligible pair, as evaluating every deployment for every class."""

from __future__ import annotations


import pandas as pd
import pytest

from planner.config.schema.plan import PlanningInstance
from planner.problem import candidates
from tests.conftest import synthetic_instance



def _synthetic(n):
    return synthetic_instance(n, 0)


def _variant(kind: str) -> PlanningInstance:
    data = _synthetic(20).model_dump(mode="json")
    classes = data["classes"]
    if kind == "infeasible":
        # no deployment meets the floor (diagnosis: quality), one SLO nobody meets (ttft)
        classes[0]["min_quality"] = 99.0
        classes[1]["slo"]["ttft_ms"] = 1.0
        classes[2]["models"] = ["llama-3.1-8b"]
        classes[2]["slo"]["tpot_ms"] = 1.0
    elif kind == "fit":
        # Long contexts only where every model meets the floor, short ones only for the
        # strongest: deployments that fit only the short class are never evaluated for it.
        for i, cls in enumerate(classes):
            if i % 2:
                cls["input_tokens"]["median"] = 60000.0
                cls["min_quality"] = 0.0
            else:
                cls["input_tokens"]["median"] = 50.0
                cls["min_quality"] = 88.0
    return PlanningInstance.model_validate(data)


@pytest.mark.parametrize("kind", ["synthetic", "infeasible", "fit"])
def test_screen_changes_nothing(kind, monkeypatch):
    instance = _variant(kind)
    runs = {}
    for screen in (False, True):
        monkeypatch.setattr(candidates, "SCREEN", screen)
        runs[screen] = candidates.candidate_pairs(instance, prune_dominated=False)
    (d0, p0, r0), (d1, p1, r1) = runs[False], runs[True]
    pd.testing.assert_frame_equal(p0, p1, check_exact=True)
    pd.testing.assert_frame_equal(d0, d1, check_exact=True)
    assert r0.dropped == r1.dropped and r0.kept == r1.kept and r0.pairs == r1.pairs
    b0, b1 = r0.class_best, r1.class_best
    # every value for a class without an eligible pair (the only ones the diagnosis reads);
    # the others agree but for the unscreened closest TTFT / TPOT over deployments below the floor
    none = b0["eligible"] == 0
    pd.testing.assert_frame_equal(b0[none], b1[none], check_exact=True)
    same = [c for c in b0.columns if c not in ("best_ttft_ms", "best_tpot_ms")]
    pd.testing.assert_frame_equal(b0[same], b1[same], check_exact=True)
    if kind == "infeasible":
        assert none[:3].all()
    if kind == "fit":  # the case the shortest-context rule is for
        assert r1.dropped["cannot run (memory, precision, parallelism)"] > 0
