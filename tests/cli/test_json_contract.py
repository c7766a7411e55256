"""The machine-output contract, checked as a user meets it: the installed ``planner`` runs as
a subprocess (click's CliRunner cannot see what a native library writes to file descriptor 1),
every ``--format json`` output parses as a whole, and logs, progress and any dependency's
banner land on stderr only. highspy 1.16 printed its copyright banner into every solving
command's JSON before this test existed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import INSTANCES

SMALL = str(INSTANCES / "small" / "two-hardware.yaml")
MILP_SMALL = str(INSTANCES / "small" / "milp-small.yaml")
LEVERS_SMALL = str(INSTANCES / "small" / "levers-small.yaml")
CASES = """model,hardware,precision,num_gpus,isl,osl
llama-3.1-70b,h100-sxm,fp8,8,1000,1000
"""


def planner_command() -> list[str]:
    """The installed console script (what a user runs); the same entry point through the
    interpreter where the script is not on PATH (an uninstalled checkout)."""
    script = shutil.which("planner", path=os.path.dirname(sys.executable) + os.pathsep
                          + os.environ.get("PATH", ""))
    if script:
        return [script]
    return [sys.executable, "-c", "from planner.cli import main; main()"]


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    return subprocess.run([*planner_command(), *args], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)


def sweep_spec(tmp_path: Path) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"name": "contract", "grids": [
        {"mode": "product", "parameters": {"sites[0].pue": [1.1, 1.3]}}]}))
    return str(path)


def cases_csv(tmp_path: Path) -> str:
    path = tmp_path / "cases.csv"
    path.write_text(CASES)
    return str(path)


# (id, arguments; "{tmp}" helpers are filled in per test)
COMMANDS = [
    ("solve-lp", ["solve", SMALL, "--format", "json"]),
    ("solve-lp-verbose", ["-vv", "solve", SMALL, "--format", "json"]),
    ("solve-milp", ["solve", MILP_SMALL, "--formulation", "milp", "--format", "json"]),
    ("solve-robust", ["solve", SMALL, "--robust", "--format", "json"]),
    ("solve-cvxpy-highs", ["solve", SMALL, "--solver", "cvxpy:HIGHS", "--format", "json"]),
    ("solve-uncertainty", ["solve", SMALL, "--uncertainty", "20", "--format", "json"]),
    ("levers", ["levers", LEVERS_SMALL, "--format", "json"]),
    ("uncertainty", ["uncertainty", SMALL, "--samples", "20", "--format", "json"]),
    ("sweep", ["sweep", SMALL, "{spec}", "--out", "{tmp}/sweep", "--format", "json"]),
    ("estimate", ["estimate", str(INSTANCES / "paper-v2.yaml"), "--format", "json"]),
    ("throughput", ["throughput", "--cases", "{cases}", "--format", "json"]),
    ("roadmap", ["roadmap", str(INSTANCES / "small" / "roadmap-2p.yaml"), "--format", "json"]),
]


@pytest.mark.parametrize("name,args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_json_output_parses_whole(name, args, tmp_path):
    fill = {"{spec}": lambda: sweep_spec(tmp_path), "{cases}": lambda: cases_csv(tmp_path)}
    filled = [fill[a]() if a in fill else a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = run(filled, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)  # the whole of stdout, nothing before or after
    assert data, "empty JSON"
    if isinstance(data, dict) and "status" in data:
        assert data["status"] in ("optimal", "time_limit"), data["status"]


def test_logs_and_banners_go_to_stderr_only(tmp_path):
    """At -vv the library logs at debug level; none of it, and no solver banner, reaches
    stdout."""
    proc = run(["-vv", "solve", SMALL, "--format", "json"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    json.loads(proc.stdout)
    for marker in ("Running HiGHS", "Copyright", "DEBUG", "INFO", "WARNING"):
        assert marker not in proc.stdout, marker


def test_a_table_output_has_no_banner_either(tmp_path):
    proc = run(["solve", SMALL], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Running HiGHS" not in proc.stdout and "Copyright" not in proc.stdout


def test_errors_leave_stdout_empty(tmp_path):
    """Bad input is one line on stderr and exit 2; stdout stays empty, so a pipe into a JSON
    reader fails loudly instead of reading half an answer."""
    missing = str(tmp_path / "missing.yaml")
    proc = run(["solve", missing, "--format", "json"], tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "missing.yaml" in proc.stderr
