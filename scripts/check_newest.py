"""Dependency drift: install the newest release of every dependency (what a new user gets from
``pip install .``) into a fresh virtual environment, run the machine-output contract tests (or
the whole suite with ``--suite``), and report which packages moved past ``requirements.lock``.

    python scripts/check_newest.py            # contract tests on the newest versions
    python scripts/check_newest.py --suite    # the whole suite on the newest versions
    python scripts/check_newest.py --report-only  # drift table only, no tests

Exit status: 0 when the tests pass on the newest versions (drift alone is reported, not an
error), 1 when they fail (a user installing today would meet that failure: fix it, or add an
upper bound to ``pyproject.toml`` naming the break), 2 when the environment cannot be built.
CI runs it before the locked suite and reports, without failing, so an upstream release cannot
block a submission but cannot go unseen either."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
CONTRACT_TESTS = ["tests/cli/test_json_contract.py", "tests/cli/test_startup.py"]


def locked_versions(lock: Path = LOCK) -> dict[str, str]:
    """name -> version for this interpreter's lines of a uv/pip-tools lock (markers for other
    Python versions are skipped)."""
    pins: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)\s*(?:;\s*(.*))?$", line.strip())
        if not m:
            continue
        name, version, marker = m.group(1), m.group(2), m.group(3)
        if marker and not _marker_holds(marker):
            continue
        pins[_canonical(name.split("[")[0])] = version
    return pins


def _marker_holds(marker: str) -> bool:
    """Whether a lock line's environment marker holds for this interpreter."""
    try:
        from packaging.markers import Marker
    except ImportError:  # a bare venv (CI's, before the install) has pip's vendored copy
        from pip._vendor.packaging.markers import Marker
    return Marker(marker).evaluate()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    return {_canonical(p["name"]): p["version"] for p in json.loads(out)}


def drift(locked: dict[str, str], newest: dict[str, str]) -> list[tuple[str, str, str]]:
    """(package, locked, newest) for every locked package whose newest version differs."""
    return sorted((name, version, newest[name]) for name, version in locked.items()
                  if name in newest and newest[name] != version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="store_true", help="run the whole test suite")
    parser.add_argument("--report-only", action="store_true", help="drift table only")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="planner-newest-") as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        python = env_dir / "bin" / "python"
        install = [str(python), "-m", "pip", "install", "-q", "--upgrade",
                   "--upgrade-strategy", "eager", "-e", f"{ROOT}[test]"]
        if subprocess.run(install).returncode != 0:
            print("check_newest: could not install the newest versions", file=sys.stderr)
            return 2
        moved = drift(locked_versions(), installed_versions(python))
        print(f"dependency drift against {LOCK.name}: {len(moved)} package(s)")
        for name, old, new in moved:
            print(f"  {name:28s} {old:>14s} -> {new}")
        if args.report_only:
            return 0
        tests = ["tests"] if args.suite else CONTRACT_TESTS
        result = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 *tests], cwd=ROOT)
        verdict = "pass" if result.returncode == 0 else "FAIL"
        print(f"newest versions: {' '.join(tests)} {verdict}")
        return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
