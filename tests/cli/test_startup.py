"""Startup stays light: ``planner --help`` and ``planner solve`` on a small instance load no
heavy module they do not use (cvxpy, scipy.stats, plotting, dask), measured in a fresh
interpreter."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import INSTANCES

HEAVY = ("cvxpy", "scipy.stats", "scipy.interpolate", "matplotlib", "plotly", "dask", "simpy")

PROBE = """
import sys
from click.testing import CliRunner
from planner.cli import cli
result = CliRunner().invoke(cli, {args!r})
assert result.exit_code == 0, result.output
print(",".join(m for m in {heavy!r} if m in sys.modules))
"""


def loaded(args: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
                         capture_output=True, text=True, check=True).stdout.strip()
    return [m for m in out.split(",") if m]


def test_help_loads_nothing_heavy():
    assert loaded(["--help"]) == []


def test_small_solve_loads_nothing_heavy():
    assert loaded(["solve", str(INSTANCES / "small" / "one-deployment.yaml")]) == []
