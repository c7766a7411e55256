"""A seeded mutator over the shipped inputs (instances, ``--set`` expressions, sweep specs,
throughput CSVs) and the oracle every mutant is held to (issue 17).

Each mutant is run through the library entry points a CLI command uses. Allowed outcomes:

* ``InputError`` whose message is one line and names the file and (unless the whole file is
  unreadable) the field, with the value echoed truncated;
* ``InfeasibleError`` with a one-line message naming a class or site and a constraint;
* a result: a plan that the independent verifier passes with finite, physically bounded
  numbers, a throughput table with finite numbers on every row that fits, a sweep whose points
  all validate.

Anything else (a bare exception, an ``InternalError``, a hang) is a failure.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from planner.errors import InfeasibleError, InputError

ROOT = Path(__file__).resolve().parents[2]
INSTANCES = ROOT / "instances"
SMALL_INSTANCES = sorted((INSTANCES / "small").glob("*.yaml"))
PLANNING_INSTANCES = [INSTANCES / "fleet-1b.yaml", *SMALL_INSTANCES]
ESTIMATE_INSTANCES = [INSTANCES / "paper-v1.yaml", INSTANCES / "paper-v2.yaml"]
SWEEP_SPECS = sorted((INSTANCES / "sweeps").glob("*.yaml"))

SOLVE_TIME_LIMIT_S = 5.0
MAX_MESSAGE = 1500

LONG = "x" * 5000
BAD_VALUES = [
    None, "", " ", "abc", "maybe", "on", "yes", "no", True, False, 0, -1, -0.5, 1e-12, 1e-300,
    0.5, 1.5, 3, 99, 1e9, 1e300, -1e300, math.inf, -math.inf, math.nan, "inf", "nan", "1e999",
    2**70, -(2**70), [], [None], [1, 2], ["a"], {}, {"x": 1}, {"buckets": []}, LONG, "\u2603",
    "h100-sxm", "llama-3.1-8b", "fp8", "../etc/passwd", [math.inf], [0] * 24, [-1] * 24,
]
SCALES = [0.0, -1.0, 1e-9, 1e-3, 0.5, 2.0, 10.0, 1e3, 1e9, 1e300]


# ---------------------------------------------------------------- tree mutations


def leaf_paths(data, prefix=()) -> list[tuple]:
    """Every path into nested dicts/lists (containers and leaves)."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += leaf_paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += leaf_paths(v, prefix + (i,))
    return out


def get(data, path):
    for p in path:
        data = data[p]
    return data


def put(data, path, value):
    get(data, path[:-1])[path[-1]] = value


def mutate_tree(data: dict, rng: random.Random) -> dict:
    """One to three random edits of a parsed document."""
    data = copy.deepcopy(data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        paths = leaf_paths(data)
        if not paths:
            break
        path = rng.choice(paths)
        current = get(data, path)
        op = rng.random()
        numeric = isinstance(current, (int, float)) and not isinstance(current, bool)
        if numeric and rng.random() < 0.35:  # near-valid: a plausible number, often in range
            value = current * 10 ** rng.uniform(-3, 3)
            put(data, path, round(value) if isinstance(current, int) and value >= 1 else value)
        elif op < 0.40:
            put(data, path, copy.deepcopy(rng.choice(BAD_VALUES)))
        elif op < 0.55 and isinstance(current, (int, float)) and not isinstance(current, bool):
            put(data, path, current * rng.choice(SCALES))
        elif op < 0.65:
            parent = get(data, path[:-1])
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        elif op < 0.72:
            parent = get(data, path[:-1])
            if isinstance(parent, dict):
                parent[rng.choice(["unknown_field", "extra", "Options", "id "])] = 1
            else:
                parent.append(copy.deepcopy(parent[path[-1]]))
        elif op < 0.80 and isinstance(current, list):
            put(data, path, [])
        elif op < 0.88 and isinstance(current, (dict, list)):
            put(data, path, rng.choice(["x", 1, None]))
        elif op < 0.94 and isinstance(current, str):
            put(data, path, rng.choice(["", " ", current.upper(), current + "x", LONG]))
        else:
            put(data, path, copy.deepcopy(rng.choice(BAD_VALUES)))
    return data


BOMB = ('bomb:\n  a: &a ["l","l","l","l","l","l","l","l","l","l"]\n'
        + "".join(f'  {c}: &{c} [{", ".join([f"*{p}"] * 10)}]\n'
                  for p, c in zip("abcdefgh", "bcdefghi")))


def mutate_text(text: str, rng: random.Random) -> str:
    """Text-level damage a tree edit cannot make: duplicate keys, alias bombs, truncation,
    tabs, stray characters, anchors."""
    lines = text.splitlines()
    op = rng.randrange(8)
    if op == 0 and lines:  # duplicate a top-level block: duplicate keys
        starts = [i for i, l in enumerate(lines) if l and not l[0].isspace() and ":" in l
                  and not l.startswith("#")]
        i = rng.choice(starts) if starts else 0
        j = next((k for k in range(i + 1, len(lines)) if lines[k] and not lines[k][0].isspace()
                  and not lines[k].startswith("#")), len(lines))
        lines += lines[i:j]
    elif op == 1:
        lines += BOMB.splitlines()
    elif op == 2:
        lines = lines[: rng.randrange(max(len(lines), 1))]
    elif op == 3 and lines:
        i = rng.randrange(len(lines))
        lines[i] = "\t" + lines[i]
    elif op == 4 and lines:
        i = rng.randrange(len(lines))
        k = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:k] + rng.choice([":", "[", "{", "&x", "*nope", "'", "- ", "%"]) \
            + lines[i][k:]
    elif op == 5:
        return rng.choice(["", "- a\n- b\n", "42\n", "~\n", "!!python/object:os.system {}\n"])
    elif op == 6 and lines:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])  # a repeated line: often a duplicate key
    else:
        key = rng.choice(["seed", "name", "objective"])
        lines.append(f"{key}: {rng.choice(['-1', 'x', '.inf'])}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- --set expressions

SET_PATHS = [
    "classes[0].queries_per_day", "classes[0].diurnal", "classes[0].diurnal[3]",
    "classes[0].input_tokens", "classes[0].input_tokens.median", "classes[0].input_tokens.shape",
    "classes[0].input_tokens.sigma", "classes[0].input_tokens.n_buckets",
    "classes[0].output_tokens.max_tokens", "classes[0].output_tokens.buckets",
    "classes[0].slo.ttft_ms", "classes[0].slo.tpot_ms", "classes[0].slo.percentile",
    "classes[0].min_quality", "classes[0].models", "classes[0].test_time_scaling",
    "classes[0].id", "classes[*].queries_per_day", "sites[0].pue", "sites[*].pue",
    "sites[0].power_cap_mw", "sites[0].overhead_factor", "sites[0].inventory",
    "sites[0].inventory.h100-sxm", "sites[0].carbon_kg_per_kwh",
    "sites[0].electricity_usd_per_kwh", "sites[0].id", "options.models", "options.models[0]",
    "options.precisions", "options.hardware", "options.gpus_per_replica",
    "options.max_concurrency", "options.speculative_decoding", "options.disaggregation",
    "options.utilization_ceiling", "options.min_replicas", "options.max_deployments",
    "options.node_cost_usd_per_hour", "objective", "solver.time_limit_s", "solver.mip_gap",
    "adjustments.demand_scale", "adjustments.throughput_scale", "adjustments.power_scale",
    "seed", "name", "scenarios", "levers", "classes", "sites", "options",
    "", ".", "..", "a..b", "[0]", "classes[", "classes[x]", "classes[99].id", "sites.nope.pue",
    "classes[0].slo.tpot_ms.x", "options.models.x", " classes[0].min_quality ",
]
SET_VALUES = [
    "", "~", "null", "0", "-1", "1e-9", "1e-12", ".inf", "-.inf", ".nan", "inf", "1e300", "1.5",
    "abc", "[]", "[1, 2]", "{}", "{buckets: []}", "yes", "no", "on", "True", "'1'", "[",
    "{a: 1, a: 2}", "carbon", "cost", "energy", "[h100-sxm, nope]", "[llama-3.1-8b]", "0.5",
    "99", "1e13", "1e14", "[fp4]", "[0]", "[true, false]", "&a [*a]", "*nope", "x" * 3000,
    "{median: 5000, max_tokens: 1}", "{median: 1000, shape: lognormal, sigma: 0}", "2",
]


NUMERIC_SET_PATHS = {
    "classes[*].queries_per_day": (1e3, 1e11), "classes[0].slo.ttft_ms": (10, 1e5),
    "classes[0].slo.tpot_ms": (1, 500), "classes[0].slo.percentile": (2, 100),
    "classes[0].min_quality": (0, 95), "classes[0].input_tokens.median": (1, 1e5),
    "sites[*].pue": (1, 3), "sites[0].power_cap_mw": (1e-4, 1e3),
    "sites[0].overhead_factor": (1, 10), "options.utilization_ceiling": (0.05, 1),
    "options.min_replicas": (1, 50), "options.max_deployments": (1, 5),
    "adjustments.demand_scale": (1e-3, 1e3), "adjustments.throughput_scale": (0.01, 100),
    "adjustments.power_scale": (0.01, 100), "solver.mip_gap": (0, 0.5),
}


def random_sets(rng: random.Random) -> list[str]:
    """Malformed overrides, or (a third of the time) in-range numbers that stress the solve."""
    if rng.random() < 0.35:
        out = []
        for _ in range(rng.choice((1, 2, 3))):
            path = rng.choice(sorted(NUMERIC_SET_PATHS))
            lo, hi = NUMERIC_SET_PATHS[path]
            value = math.exp(rng.uniform(math.log(max(lo, 1e-6)), math.log(hi))) \
                if lo > 0 else rng.uniform(lo, hi)
            if path.startswith(("options.min_replicas", "options.max_deployments")):
                value = int(value)
            out.append(f"{path}={value!r}")
        return out
    return [f"{rng.choice(SET_PATHS)}={rng.choice(SET_VALUES)}"
            for _ in range(rng.choice((1, 1, 2, 3)))] + (["=5"] if rng.random() < 0.02 else [])


# ---------------------------------------------------------------- throughput CSVs

CSV_SEED = """model,hardware,precision,num_gpus,isl,osl,concurrency,speculative,disaggregated
llama-3.1-70b,h100-sxm,fp8,8,1000,500,64,false,false
llama-3.1-8b,h200-sxm,fp8,1,2000,200,,no,0
gpt-oss-120b,b200,fp4,1,1000,2000,16,yes,1
Llama-3.1-70B,H100-SXM-80GB,FP8,4,128,128,,False,False
qwen3-235b-a22b,gb200,fp4,4,5000,1000,256,true,no
"""
CSV_BAD_CELLS = ["", " ", "abc", "0", "-1", "1e-9", "1.5", "3", "inf", "nan", "1e300", "yes",
                 "maybe", "TRUE", "2", "h100", "nope", "llama", "fp3", "\u2603", "1,2", '"',
                 "9" * 400, "64.0", "0.5"]


def mutate_csv(text: str, rng: random.Random) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    for _ in range(rng.choice((1, 1, 2, 3))):
        if not rows:
            break
        op = rng.randrange(9)
        if op <= 3 and len(rows) > 1:  # a bad cell
            r = rng.randrange(1, len(rows))
            c = rng.randrange(len(rows[r]))
            rows[r][c] = rng.choice(CSV_BAD_CELLS)
        elif op == 4 and len(rows) > 1:  # ragged row
            r = rng.randrange(1, len(rows))
            rows[r] = rows[r][:-1] if rng.random() < 0.5 else rows[r] + ["7"]
        elif op == 5:  # header damage
            c = rng.randrange(len(rows[0]))
            rows[0][c] = rng.choice(["", "model", "osl", "Model", "extra", "concurrency"])
        elif op == 6:  # only the header, or nothing at all
            rows = rows[:1] if rng.random() < 0.8 else []
        elif op == 7 and len(rows[0]) > 1:  # drop a column
            c = rng.randrange(len(rows[0]))
            rows = [r[:c] + r[c + 1:] for r in rows]
        else:  # duplicate rows
            rows += rows[1:2] * 3
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


# ---------------------------------------------------------------- the oracle


@dataclass
class Tally:
    outcomes: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)

    def add(self, kind: str, outcome: str) -> None:
        key = (kind, outcome)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


WHOLE_FILE = ("malformed YAML", "top level must be a mapping", "cannot read file",
              "file not found", "malformed CSV", "no cases", "not a file")


def check_input_error(exc: InputError, file: str) -> str | None:
    """Why this InputError breaks the rule, or None."""
    text = str(exc)
    if "\n" in text or len(text) > MAX_MESSAGE:
        return f"not one short line ({len(text)} characters)"
    if file not in text:
        return f"does not name the file {file!r}"
    if not exc.field and not any(w in exc.reason for w in WHOLE_FILE):
        return "names no field"
    return None


def check_infeasible(exc: InfeasibleError) -> str | None:
    text = str(exc)
    if "\n" in text or len(text) > 4000 or not text.startswith("infeasible: "):
        return "malformed infeasibility message"
    if not ("class " in text or "site " in text or "fleet" in text):
        return "names no class or site"
    parts = text.removeprefix("infeasible: ").split("; ")
    if len(parts) != len(set(parts)):
        return "repeats a finding"
    return None


def check_plan(instance, plan) -> str | None:
    """The plan passes the verifier (re-run here) and its numbers are finite and bounded."""
    s = plan.summary
    numbers = {k: s[k] for k in ("objective_value", "objective_gwh_per_day", "peak_power_mw",
                                 "wh_per_query", "queries_per_day", "nodes")}
    for k, v in numbers.items():
        if v is None or not np.isfinite(v) or v < 0:
            return f"{k} is {v}"
    if not 1e-6 < s["wh_per_query"] < 1e6:
        return f"wh_per_query {s['wh_per_query']} outside (1e-6, 1e6)"
    expected_queries = sum(c.queries_per_day for c in instance.classes) \
        * instance.adjustments.demand_scale
    if abs(s["queries_per_day"] - expected_queries) > 1e-6 * expected_queries:
        return "queries_per_day differs from the demand"
    if abs(s["wh_per_query"] * s["queries_per_day"] / 1e9 - s["objective_gwh_per_day"]) > \
            1e-6 * s["objective_gwh_per_day"]:
        return "Wh/query x queries != GWh/day"
    caps = [site.power_cap_mw for site in instance.sites]
    if all(c is not None for c in caps) and s["peak_power_mw"] > sum(caps) * (1 + 1e-4):
        return "peak power above the sum of the caps"
    if s["status"] not in ("optimal", "time_limit"):
        return f"status {s['status']}"
    return None
