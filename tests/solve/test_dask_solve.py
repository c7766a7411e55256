"""Issue 26: one LP solve on a Dask cluster - the same objective and plan as one process, and
bad input (unreachable scheduler, a worker that dies, too little memory) ends in one line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.cli.test_json_contract import planner_command
from tests.conftest import synthetic_instance

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "instances" / "fleet-1b.yaml"


def _synthetic(n):
    return synthetic_instance(n, 0)


@pytest.fixture(scope="module")
def cluster():
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      memory_limit="3GB", dashboard_address=None) as c:
        yield c


def test_dask_lp_equals_one_process(cluster):
    """Column generation with the pairs on 2 workers (chunks of 7 classes): the same objective
    (1e-9 relative), candidates report and plan tables as one process's colgen."""
    from planner.pipeline import optimize
    from planner.solve import distributed

    instance = _synthetic(30)
    one = optimize(instance, solve_path="colgen")
    old = distributed.CHUNK_CLASSES
    distributed.CHUNK_CLASSES = 7
    try:
        dask = optimize(instance, scheduler=cluster.scheduler_address)
    finally:
        distributed.CHUNK_CLASSES = old
    assert dask.summary["solve_path"] == "colgen-dask"
    assert dask.summary["objective_value"] == pytest.approx(one.summary["objective_value"],
                                                            rel=1e-9)
    a, b = one.summary["candidates"], dask.summary["candidates"]
    assert {k: v for k, v in a.items() if k != "seconds"} == \
        {k: v for k, v in b.items() if k != "seconds"}
    for table in ("assignment", "deployments", "classes"):
        pd.testing.assert_frame_equal(getattr(one, table), getattr(dask, table), rtol=1e-9)


def test_cli_scheduler_local_json():
    """The installed CLI with --scheduler local:2: JSON on stdout, fleet-1b's objective."""
    one = subprocess.run([*planner_command(), "solve", str(FLEET), "--format",
                          "json"], capture_output=True, text=True, check=True)
    run = subprocess.run([*planner_command(), "solve", str(FLEET), "--format",
                          "json", "--scheduler", "local:2"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    got, want = json.loads(run.stdout), json.loads(one.stdout)
    assert got["objective_value"] == pytest.approx(want["objective_value"], rel=1e-9)
    assert got["solve_path"] == "colgen-dask"


def test_unreachable_scheduler_one_line():
    run = subprocess.run([*planner_command(), "solve", str(FLEET), "--scheduler",
                          "127.0.0.1:9"], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    lines = [ln for ln in run.stderr.strip().splitlines() if ln.startswith("error")]
    assert len(lines) == 1 and "127.0.0.1:9" in lines[0], run.stderr
    assert run.stdout == ""


def test_bad_scheduler_address():
    run = subprocess.run([*planner_command(), "solve", str(FLEET), "--scheduler",
                          "no such host"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "--scheduler" in run.stderr


def _die():
    os._exit(1)


def test_worker_death_names_the_worker(cluster):
    from dask.distributed import Client

    import dask
    from planner.errors import PlannerError
    from planner.solve.distributed import _gather

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            Client(cluster.scheduler_address) as client:
        with pytest.raises(PlannerError) as err:
            _gather(client, [client.submit(_die, pure=False)], "the candidates")
        client.wait_for_workers(2, timeout=60)
    text = str(err.value)
    assert "died during the candidates" in text and "\n" not in text
    # the worker it died on (a restarted worker has a new address: not in ``workers``)
    assert "dask worker tcp://127.0.0.1:" in text, text


def test_too_little_memory_says_how_much(cluster, monkeypatch):
    from planner.errors import PlannerError
    from planner.solve import distributed

    monkeypatch.setattr(distributed, "BYTES_PER_PAIR", 10**9)  # as if a pair needed 1 GB
    with pytest.raises(PlannerError) as err:
        distributed.solve_lp_dask(_synthetic(3), cluster.scheduler_address)
    text = str(err.value)
    assert "GB of worker memory" in text and "need about" in text and "\n" not in text


def _small(name):
    from planner.problem.instance import instance_from_mapping, load_planning_data

    path = ROOT / "instances" / "small" / name
    return instance_from_mapping(load_planning_data(path), str(path))[0]


@pytest.mark.parametrize("name", ["milp-small.yaml", "every-constraint.yaml"])
def test_dask_milp_equals_one_process(cluster, name):
    """The priced MILP with its pairs on 2 workers (chunks of 1 class: every per-class
    reduction crosses chunks) against one process's priced MILP: the same objective (1e-9
    relative), bound, plan tables; twice on Dask, the same plan (deterministic)."""
    from planner.pipeline import optimize
    from planner.solve import distributed

    instance = _small(name)
    one = optimize(instance, formulation="milp", milp_solver="priced")
    old = distributed.CHUNK_CLASSES
    distributed.CHUNK_CLASSES = 1
    try:
        runs = [optimize(instance, formulation="milp", scheduler=cluster.scheduler_address)
                for _ in range(2)]
    finally:
        distributed.CHUNK_CLASSES = old
    for dask in runs:
        assert dask.summary["solve_path"] == "priced-dask"
        assert dask.summary["status"] == one.summary["status"]
        assert dask.summary["objective_value"] == pytest.approx(
            one.summary["objective_value"], rel=1e-9)
        assert dask.summary["lp_bound"] == pytest.approx(one.summary["lp_bound"], rel=1e-9)
        assert dask.summary["mip_gap"] == pytest.approx(one.summary["mip_gap"], abs=1e-9)
        # The same rounds: stage by stage, the same plan and bound (times aside).
        steps = [[(h["stage"], h["upper"], h["lower"]) for h in s.summary["mip_gap_history"]]
                 for s in (one, dask)]
        assert len(steps[0]) == len(steps[1]) > 1
        for a, b in zip(*steps):
            assert a[0] == b[0]
            assert (a[1] is None) == (b[1] is None)
            assert a[1] is None or a[1] == pytest.approx(b[1], rel=1e-9)
            assert a[2] == pytest.approx(b[2], rel=1e-9)
        for table in ("assignment", "deployments", "classes"):
            pd.testing.assert_frame_equal(getattr(one, table), getattr(dask, table), rtol=1e-9)
    for table in ("assignment", "deployments", "classes", "constraints"):
        pd.testing.assert_frame_equal(getattr(runs[0], table), getattr(runs[1], table))
