"""One LP solve across a Dask cluster (issue 26): candidates in chunks of classes on the workers
and kept there, column generation's pricing as a map over the worker-held chunks, the master LP
on the client.

The client never holds the pairs. Each chunk (a range of classes) is evaluated on a worker
(:func:`planner.problem.candidates.evaluate_classes`) and its eligible pairs stay in that
worker's memory as a Dask future; what travels back is per deployment (which fit, which serve a
class, a digest of its numbers for :meth:`Coefficients.distinct`, the dominance relation within
each (site, hardware, model, precision) group over the chunk's classes) and per class (closest
values for the diagnosis). The dominance relation over all classes is the AND of the chunks'
(a deployment beats another on every class iff it does on every chunk's), so the kept
deployments are exactly one process's.

Column generation is :func:`planner.solve.colgen.solve_lp_colgen`'s, step for step: the first
master takes each chunk's 2 cheapest pairs per class (chunks are whole classes, so per class is
per chunk), the client solves the master, broadcasts its form and row duals, and every worker
prices its chunk with the same generic reduced cost (:func:`formulations.pricing.lift_duals`
onto the chunk's own pricing form, built once and kept on the worker, then
:func:`formulations.pricing.pair_reduced_costs`) and returns the rows of its most negative 8
pairs per class - kilobytes a round. The master's pairs are kept in one process's (class-major)
order, so every master is the same LP and the objective and plan are one process's.

Failures end in one line: an unreachable scheduler names its address, a worker lost mid-solve
names the worker, a cluster whose memory cannot hold the chunks says how much it needs. There
is no fallback to one process.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from formulations.coefficients import Coefficients
from formulations.constraints import demand_unit, objective_weights
from formulations.pricing import lift_duals, pair_reduced_costs
from planner.errors import InputError, PlannerError
from planner.solve.colgen import (RC_TOL, ColgenResult, column_generation,
                                  lowest_per_class, loop_result, pricing_form, rank_costs,
                                  standalone_cost)
from planner.solve.result import Result

log = logging.getLogger(__name__)

SCHEDULER = re.compile(r"^(local(:\d{1,3})?|((tcp|tls|inproc|ucx|ws|wss)://)?"
                       r"[A-Za-z0-9_.\-\[\]:]+:\d{1,5})$")
CHUNK_CLASSES = 100  # classes per chunk (about 2,500 pairs a class at most on the bench grid)
BYTES_PER_PAIR = 900  # a worker's memory per eligible pair it holds: the pair table (17
# columns), the chunk's Coefficients and pricing form, the Python base (measured at peak:
# 1.68 GB per worker holding 2.5M pairs, ~670 bytes a pair; 2.14 GB / ~850 before the
# candidates' screen; kept at 900 for headroom)
CONNECT_TIMEOUT_S = 10
PRUNE_DOMINATED = True  # as build_coefficients (benchmarks set False to keep every pair)
LOCAL_MEMORY_LIMIT = "3GB"  # per worker of ``local[:N]`` (the local cluster)


def check_scheduler(scheduler: str) -> None:
    """``local[:N]`` or a Dask address (tcp://host:8786, host:8786)."""
    if not SCHEDULER.match(scheduler):
        raise InputError("not a Dask scheduler address: give local[:N] or tcp://HOST:PORT",
                         field="--scheduler", value=scheduler, has_value=True)


def connect(scheduler: str):
    """(client, cluster or None, description). Raises a one-line InputError naming the address
    where the scheduler cannot be reached within CONNECT_TIMEOUT_S."""
    check_scheduler(scheduler)
    import dask
    from dask.distributed import Client, LocalCluster

    for name in ("distributed", "distributed.nanny", "distributed.scheduler",
                 "distributed.worker", "distributed.core", "distributed.http.proxy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # A task whose worker dies is not retried on the next one: the failure names the worker.
    dask.config.set({"distributed.scheduler.allowed-failures": 0})

    if scheduler.startswith("local"):
        n = int(scheduler.partition(":")[2] or 2)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               memory_limit=LOCAL_MEMORY_LIMIT, dashboard_address=None)
        return Client(cluster), cluster, f"dask LocalCluster ({n} workers, {LOCAL_MEMORY_LIMIT} each)"
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler} within "
                         f"{CONNECT_TIMEOUT_S} s ({type(exc).__name__})", field="--scheduler",
                         value=scheduler, has_value=True) from None
    return client, None, f"dask {scheduler}"


# --- on the workers ---------------------------------------------------------------------------

_CONTEXT: dict[str, object] = {}  # per worker process: the grid context of an instance


def _context(instance):
    from planner.problem.candidates import candidate_context, candidate_key

    key = candidate_key(instance)
    if key not in _CONTEXT:
        _CONTEXT.clear()
        _CONTEXT[key] = candidate_context(instance)[0]
    return _CONTEXT[key]


def _chunk_candidates(instance, classes: list[int]):
    from planner.problem.candidates import evaluate_classes
    from planner.problem.measurements import instance_catalog_context

    with instance_catalog_context(instance):
        ctx = _context(instance)
        return evaluate_classes(ctx, classes)


def _chunk_summary(instance, chunk) -> dict:
    """What the client needs of a chunk: per grid deployment fit / serve flags, the dominance
    relation per group over the chunk's classes, the closest values per class, sizes."""
    from planner.problem.candidates import dominance_relation
    from planner.problem.measurements import instance_catalog_context

    with instance_catalog_context(instance):
        ctx = _context(instance)
        # Every grid deployment takes part (the kept ones are only known over all chunks); one
        # that serves no class is beaten by all and beats none that serves one.
        relation = dominance_relation(ctx.grid, chunk.pairs, np.ones(len(ctx.grid), bool))
    return {"any_fit": chunk.any_fit, "any_eligible": chunk.any_eligible,
            "best_rows": chunk.best_rows, "pairs": len(chunk.pairs), "relation": relation,
            "nbytes": int(chunk.pairs.memory_usage(index=False).sum())}


def _chunk_coefficients(skeleton: Coefficients, chunk, keep: np.ndarray, remap: np.ndarray
                        ) -> Coefficients:
    """The chunk's pairs on the kept deployments, as a Coefficients with the full problem's
    classes and deployments (so its rows and columns carry the whole problem's coordinates)."""
    pairs = chunk.pairs
    pairs = pairs[keep[pairs["dep_idx"].to_numpy()]].copy()
    pairs["dep_idx"] = remap[pairs["dep_idx"].to_numpy()]
    pairs = pairs.reset_index(drop=True)
    return replace(skeleton, pairs=pairs, pair_class=pairs["class_idx"].to_numpy(),
                   pair_dep=pairs["dep_idx"].to_numpy(),
                   node_seconds=pairs["node_seconds"].to_numpy(float),
                   dynamic_kwh=pairs["dynamic_kwh"].to_numpy(float))


def _distinct_digests(c: Coefficients) -> list[bytes]:
    """Per deployment, a digest of the numbers :meth:`Coefficients.distinct` compares."""
    order = np.lexsort((c.pair_class, c.pair_dep))
    bounds = np.searchsorted(c.pair_dep[order], np.arange(c.n_deployments + 1))
    numbers = np.column_stack([c.pair_class, c.node_seconds, c.dynamic_kwh,
                               c.distinct_ttft(), c.pairs["tpot_ms"].to_numpy(float)])[order]
    return [hashlib.blake2b(numbers[bounds[i]:bounds[i + 1]].tobytes(), digest_size=16).digest()
            for i in range(c.n_deployments)]


def _restrict(c: Coefficients, keep: np.ndarray) -> Coefficients:
    return c if keep.all() else c.restricted(keep)[0]


def _chunk_prices(c: Coefficients, unit: float) -> dict:
    per_query, _ = objective_weights(c, unit)
    return {"max_per_query": float(np.max(np.abs(per_query))) if per_query.size else 0.0}


def _rows(c: Coefficients, idx: np.ndarray) -> dict:
    return {"idx": idx, "pairs": c.pairs.iloc[idx].reset_index(drop=True),
            "pair_class": c.pair_class[idx], "pair_dep": c.pair_dep[idx],
            "node_seconds": c.node_seconds[idx], "dynamic_kwh": c.dynamic_kwh[idx]}


def _initial(c: Coefficients, unit: float, k: int) -> dict:
    return _rows(c, np.flatnonzero(lowest_per_class(c, standalone_cost(c, unit), k)))


def _chunk_rc(c: Coefficients, pricing, form, row_dual) -> np.ndarray:
    """The chunk's reduced costs under the full-LP dual lifted from the master's onto the
    chunk's pricing form (kept on the worker: the priced MILP ranks pairs by them)."""
    y = lift_duals(form, row_dual, pricing)
    return pair_reduced_costs(pricing, y, c.n_pairs)


def _price(c: Coefficients, rc: np.ndarray, in_master: np.ndarray, tol: float, k: int) -> dict:
    """The chunk's pairs that price out: the k most negative reduced costs per class outside
    the master."""
    mask = np.zeros(c.n_pairs, dtype=bool)
    mask[in_master] = True
    negative = (rc < -tol) & ~mask
    out = _rows(c, np.flatnonzero(lowest_per_class(c, rc, k, negative)))
    out["min_rc"] = float(rc.min()) if rc.size else np.inf
    return out


def _lowest_rc(c: Coefficients, rc: np.ndarray, tol: float, k: int, candidates, classes
               ) -> np.ndarray:
    """The chunk's k lowest-rc pairs per class (among ``candidates``, of ``classes``), ranked
    as one process ranks them (:func:`planner.solve.colgen.rank_costs`)."""
    rc = rank_costs(rc, tol)
    if classes is not None:
        candidates = candidates & np.isin(c.pair_class, classes)
    return np.flatnonzero(lowest_per_class(c, rc, k, candidates))


def _fetch_rows(c: Coefficients, want, deployments, held: np.ndarray) -> dict | None:
    """The rows of the chunk's pairs in ``want`` (local indices) or of ``deployments``, less
    those the client holds already; None when there are none."""
    mask = np.zeros(c.n_pairs, dtype=bool)
    if want is not None:
        mask[want] = True
    if deployments is not None:
        mask |= deployments[c.pair_dep]
    mask[held] = False
    return _rows(c, np.flatnonzero(mask)) if mask.any() else None


def _hourly(c: Coefficients, unit: float):
    from formulations.form import Options, build

    return build(c, Options(unit=unit))


def _chunk_slack(pricing, c: Coefficients, outside: np.ndarray, target, dep_map) -> dict:
    """:func:`formulations.pricing.outside_slack` over the chunk's pairs outside K (whole
    classes, so the per-class minima and maxima are the whole problem's), in ``target``'s
    rows."""
    from formulations.pricing import outside_slack, slack_matrix

    slack = outside_slack(pricing, outside, c.pair_class)
    return {"blocks": [s["block"] for s in slack],
            "classes": np.array([s["class"] for s in slack], dtype=int),
            "cost": np.array([s["cost"] for s in slack], dtype=float),
            "matrix": slack_matrix(pricing, target, slack, dep_map)}


# --- on the client ----------------------------------------------------------------------------

@dataclass
class DaskSolve:
    c: Coefficients  # the problem over the last master's pairs (all classes and deployments)
    report: object
    colgen: ColgenResult
    where: str
    timings: dict
    workers_peak_rss: dict | None = None  # address -> bytes (max RSS of each worker process)


def _gather(client, futures, what: str):
    """client.gather that names the worker a failure came from, in one line."""
    from distributed import KilledWorker
    try:
        return client.gather(futures)
    except KilledWorker as exc:
        worker = getattr(exc, "last_worker", None)
        name = getattr(worker, "address", worker) or "unknown"
        raise PlannerError(f"dask worker {name} died during {what} (killed or out of memory); "
                           "the solve was stopped, nothing fell back to one process") from None
    except (OSError, TimeoutError) as exc:
        raise PlannerError(f"lost the dask cluster during {what}: {exc}") from None


def solve_lp_dask(instance, scheduler: str, time_limit_s: float = 60.0,
                  chunk_classes: int | None = None, prune_dominated: bool | None = None,
                  milp: tuple[float, float] | None = None) -> DaskSolve:
    """The LP of ``instance`` on a Dask cluster; the same master sequence, objective and plan
    as one process's :func:`planner.solve.colgen.solve_lp_colgen` after
    :func:`planner.problem.candidates.build_coefficients` and ``distinct``."""
    chunk_classes = chunk_classes or CHUNK_CLASSES
    prune_dominated = PRUNE_DOMINATED if prune_dominated is None else prune_dominated
    client, cluster, where = connect(scheduler)
    try:
        out = _solve(client, where, instance, time_limit_s, chunk_classes, prune_dominated,
                     milp)
        out.workers_peak_rss = client.run(_peak_rss)
        return out
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def solve_milp_dask(instance, scheduler: str, time_limit_s: float = 60.0,
                    mip_gap: float = 0.005, chunk_classes: int | None = None,
                    prune_dominated: bool | None = None) -> DaskSolve:
    """The MILP of ``instance`` on a Dask cluster: :func:`planner.solve.milp_priced.priced_milp`
    over :class:`DaskPairs`, the same loop as one process's ``solve_milp_priced``. ``colgen``
    of the result holds the MILP's :class:`DirectMilpResult`."""
    return solve_lp_dask(instance, scheduler, time_limit_s, chunk_classes, prune_dominated,
                         milp=(time_limit_s, mip_gap))


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB


def _workers_memory(client) -> dict[str, int]:
    info = client.scheduler_info().get("workers", {})
    return {addr: int(w.get("memory_limit") or 0) for addr, w in info.items()}


def _solve(client, where, instance, time_limit_s, chunk_classes, prune_dominated, milp=None):
    from planner.problem.candidates import (candidate_context, dominated_from_relations,
                                            kept_deployments, assemble)
    from planner.problem.measurements import instance_catalog_context

    timings = {}
    t0 = time.perf_counter()
    with instance_catalog_context(instance):
        ctx, report = candidate_context(instance)
    if ctx.overlay is not None:
        raise InputError("measured profiles (issue 13) are evaluated in one process only (the "
                         "measurement overlay, its per-deployment coefficient sources and "
                         "warnings, is not split into chunks of classes); drop --scheduler for "
                         "this instance", field="--scheduler")
    n_classes = len(instance.classes)
    chunks = [list(range(s, min(s + chunk_classes, n_classes)))
              for s in range(0, n_classes, chunk_classes)]
    workers = _workers_memory(client)
    if not workers:
        raise PlannerError(f"the dask cluster at {where} has no workers")
    # Before anything runs: the chunks' pairs must fit the cluster's memory. At most every
    # (class, deployment) is eligible; a chunk needs BYTES_PER_PAIR a pair on its worker.
    bound = n_classes * len(ctx.grid) * BYTES_PER_PAIR
    limit = sum(workers.values())
    if limit and bound > limit:
        # Only a bound: check again with the real pair count below.
        log.info("up to %.1f GB of pairs for %.1f GB of worker memory; checked after the "
                 "candidates", bound / 1e9, limit / 1e9)
    # The instance goes to each worker once (not pickled into every task).
    instance_f = client.scatter(instance, broadcast=True)
    futures = [client.submit(_chunk_candidates, instance_f, cl, key=f"candidates-{i}",
                             pure=False) for i, cl in enumerate(chunks)]
    summaries = _gather(client, [client.submit(_chunk_summary, instance_f, f, pure=False)
                                 for f in futures], "the candidates")
    n_pairs = sum(s["pairs"] for s in summaries)
    need = n_pairs * BYTES_PER_PAIR
    biggest = max(workers.values())
    if limit and need > 0.8 * limit:
        raise PlannerError(f"the dask cluster at {where} has {limit / 1e9:.1f} GB of worker "
                           f"memory; {n_pairs:,} pairs need about {need / 1e9:.1f} GB "
                           f"(+ 20 % headroom): add workers or memory")
    if biggest and max(s["pairs"] for s in summaries) * BYTES_PER_PAIR > 0.6 * biggest:
        raise PlannerError("a chunk of classes needs more memory than a dask worker has "
                           f"({biggest / 1e9:.1f} GB): lower the chunk size")
    any_fit = np.logical_or.reduce([s["any_fit"] for s in summaries])
    any_eligible = np.logical_or.reduce([s["any_eligible"] for s in summaries])
    report.class_best = pd.DataFrame([r for s in summaries for r in s["best_rows"]])
    dominated = (dominated_from_relations(len(ctx.grid), [s["relation"] for s in summaries])
                 if prune_dominated else np.zeros(len(ctx.grid), dtype=bool))
    keep, remap, deployments = kept_deployments(ctx, report, any_fit, any_eligible, dominated)
    report.pairs = n_pairs  # corrected below to the kept deployments' pairs
    empty = pd.DataFrame({"class_idx": np.zeros(0, np.int64), "dep_idx": np.zeros(0, np.int64),
                          "node_seconds": np.zeros(0), "dynamic_kwh": np.zeros(0),
                          "ttft_ms": np.zeros(0), "tpot_ms": np.zeros(0)})
    skeleton = assemble(instance, deployments, empty)
    coef = [client.submit(_chunk_coefficients, skeleton, f, keep, remap, pure=False)
            for f in futures]
    del futures  # the raw chunks are released on the workers
    timings["candidates"] = time.perf_counter() - t0

    from planner.solve.diagnosis import explain_ineligible, message
    from planner.errors import InfeasibleError
    details = explain_ineligible(report)
    if details:
        raise InfeasibleError(message(details), details)

    # Coefficients.distinct over the chunks: a deployment's key is its own fields and the
    # chunks' digests of its numbers, in chunk order (equal iff the concatenations are).
    digests = _gather(client, [client.submit(_distinct_digests, f, pure=False) for f in coef],
                      "the candidates")
    sizes = _gather(client, [client.submit(lambda c: c.n_pairs, f, pure=False) for f in coef],
                    "the candidates")
    report.pairs = int(sum(sizes))
    distinct_keep = _distinct_keep(skeleton, [b"".join(d[i] for d in digests)
                                              for i in range(skeleton.n_deployments)])
    skeleton = _restrict(skeleton, distinct_keep)
    coef = [client.submit(_restrict, f, distinct_keep, pure=False) for f in coef]

    if milp is not None:
        sizes = _gather(client, [client.submit(lambda c: c.n_pairs, f, pure=False)
                                 for f in coef], "the candidates")
        from planner.solve.milp_priced import priced_milp

        pairs = DaskPairs(client, coef, skeleton, demand_unit(skeleton), sizes)
        time_limit_s, mip_gap = milp
        mres = priced_milp(pairs, time_limit_s, mip_gap)
        timings["solve"] = mres.result.seconds
        timings["milp_pairs_held"] = int(pairs.held_count())
        return DaskSolve(pairs.c, report, mres, where, timings)
    cg = _colgen(client, coef, skeleton, time_limit_s, report.pairs)
    timings["solve"] = cg.result.seconds
    timings["colgen_rounds"] = len(cg.rounds)
    timings["colgen_pairs"] = cg.pairs_in_master
    return DaskSolve(cg.master, report, cg, where, timings)


def _distinct_keep(c: Coefficients, numbers: list[bytes]) -> np.ndarray:
    """:meth:`Coefficients.distinct`'s choice with each deployment's numbers given as bytes."""
    d = c.deployments
    fixed = (c.dep_fixed_per_day if c.dep_fixed_per_day is not None
             else np.zeros(c.n_deployments))
    quality = d["quality"].to_numpy(float) if "quality" in d else np.zeros(len(d))
    best: dict[tuple, int] = {}
    for i in range(c.n_deployments):
        key = (int(c.dep_site[i]), str(c.dep_hardware[i]), float(c.dep_idle_kw[i]),
               float(c.dep_nodes_per_replica[i]), float(fixed[i]), numbers[i])
        j = best.get(key)
        if j is None or quality[i] > quality[j]:
            best[key] = i
    keep = np.zeros(c.n_deployments, dtype=bool)
    keep[list(best.values())] = True
    return keep


def _master(skeleton: Coefficients, pieces: list[dict]) -> Coefficients:
    pairs = pd.concat([p["pairs"] for p in pieces], ignore_index=True)
    return replace(skeleton, pairs=pairs,
                   pair_class=np.concatenate([p["pair_class"] for p in pieces]),
                   pair_dep=np.concatenate([p["pair_dep"] for p in pieces]),
                   node_seconds=np.concatenate([p["node_seconds"] for p in pieces]),
                   dynamic_kwh=np.concatenate([p["dynamic_kwh"] for p in pieces]))


def _merge(held: list[dict], add: list[dict]) -> list[dict]:
    """Each chunk's master pairs united with ``add``'s, in the chunk's own order."""
    out = []
    for h, a in zip(held, add):
        idx = np.concatenate([h["idx"], a["idx"]])
        _, order = np.unique(idx, return_index=True)  # sorted, each pair once
        merged = {"idx": idx[order],
                  "pairs": pd.concat([h["pairs"], a["pairs"]], ignore_index=True)
                  .iloc[order].reset_index(drop=True)}
        for k in ("pair_class", "pair_dep", "node_seconds", "dynamic_kwh"):
            merged[k] = np.concatenate([h[k], a[k]])[order]
        out.append(merged)
    return out


@dataclass
class _CG:
    result: Result
    rounds: list
    pairs_in_master: int
    master: Coefficients
    unit: float
    form: object


class DaskPricer:
    """:class:`planner.solve.colgen.LocalPricer`'s interface over worker-held chunks: each
    chunk's master pairs are kept here (only they travel), pricing is a map over the chunks
    (each returns its k most negative pairs per class outside the master), and the master's
    pairs stay in one process's (chunk, then pair) order, so every master is the same LP."""

    def __init__(self, client, coef: list, skeleton: Coefficients, unit: float, n_pairs: int):
        self.client, self.coef, self.skeleton, self.unit = client, coef, skeleton, unit
        self.n_pairs = n_pairs
        self.pricing = [client.submit(pricing_form, f, unit, pure=False) for f in coef]
        self.held = self.pending = self.rc = None

    def max_per_query(self) -> float:
        prices = _gather(self.client, [self.client.submit(_chunk_prices, f, self.unit,
                                                          pure=False) for f in self.coef],
                         "pricing")
        return max((p["max_per_query"] for p in prices), default=0.0)

    def _lowest(self, k: int) -> list[dict]:
        return _gather(self.client, [self.client.submit(_initial, f, self.unit, k, pure=False)
                                     for f in self.coef], "the first master")

    def start(self, k: int) -> None:
        self.held = self._lowest(k)

    def master(self) -> Coefficients:
        return _master(self.skeleton, self.held)

    def widen(self, k: int) -> bool:
        if sum(len(h["idx"]) for h in self.held) >= self.n_pairs:
            return False
        self.held = _merge(self.held, self._lowest(k))
        return True

    def price(self, form, row_dual, tol: float, k: int) -> tuple[int, float]:
        client = self.client
        form_f, dual_f = client.scatter([form, np.asarray(row_dual)], broadcast=True)
        self.rc = [client.submit(_chunk_rc, f, p, form_f, dual_f, pure=False)
                   for f, p in zip(self.coef, self.pricing)]
        self.pending = _gather(client, [client.submit(_price, f, r, h["idx"], tol, k,
                                                      pure=False)
                                        for f, r, h in zip(self.coef, self.rc, self.held)],
                               "pricing")
        return (int(sum(len(a["idx"]) for a in self.pending)),
                min(a["min_rc"] for a in self.pending))

    def admit(self) -> None:
        self.held = _merge(self.held, self.pending)


def _colgen(client, coef, skeleton: Coefficients, time_limit_s: float, n_pairs: int) -> _CG:
    """:func:`planner.solve.colgen.column_generation` with the pairs on the workers."""
    unit = demand_unit(skeleton)
    loop = column_generation(DaskPricer(client, coef, skeleton, unit, n_pairs), unit,
                             time_limit_s, label="colgen (dask)")
    out = loop.result if loop.stopped else loop_result(loop, loop.result.x, loop.result.flows)
    return _CG(out, loop.rounds, loop.master.n_pairs, loop.master, unit, loop.form)


def _no_rows(held: dict) -> dict:
    """``held``'s rows, none of them (the same columns and dtypes)."""
    return {k: (v.iloc[0:0] if isinstance(v, pd.DataFrame) else v[:0]) for k, v in held.items()}


class DaskPairs:
    """:class:`planner.solve.milp_priced.LocalPairs`'s interface over worker-held chunks, so
    that the priced MILP's loop runs unchanged on a Dask cluster. The LP is
    :class:`DaskPricer`'s column generation; each chunk keeps its reduced costs (under the
    final full-LP dual) and its hourly pricing form on its worker. The per-pair work is per
    class, and chunks are whole classes, so each is a map over the chunks: the lowest-rc pairs
    per class (indices travel), :func:`formulations.pricing.outside_slack`'s per-class minima
    and maxima (the slack columns travel, already in the restricted form's rows). The client
    holds only the pairs the loop has touched (K, the pairs of the deployments a repair or a
    floor MILP opens), in one process's order; plans are checked on the aggregated MILP over
    those pairs (every other pair is 0 in the plan, and every deployment is kept)."""

    def __init__(self, client, coef: list, skeleton: Coefficients, unit: float, sizes: list):
        self.client, self.coef, self.skeleton, self.unit = client, coef, skeleton, unit
        self.sizes = np.asarray(sizes, dtype=int)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(int)
        self.n_pairs, self.n_deployments = int(self.sizes.sum()), skeleton.n_deployments
        self.max_deployments, self.demand = skeleton.max_deployments, skeleton.demand
        self.held = [_rows(skeleton, np.zeros(0, dtype=int)) for _ in coef]
        self.rc = self.hourly = None
        self._cache = {}

    # the pairs the client holds
    def held_count(self) -> int:
        return int(sum(len(h["idx"]) for h in self.held))

    def _held(self):
        key = self.held_count()
        if self._cache.get("key") != key:
            idx = np.concatenate([o + h["idx"] for o, h in zip(self.offsets, self.held)])
            self._cache = {"key": key, "idx": idx.astype(int),
                           "c": _master(self.skeleton, self.held), "form": None}
        return self._cache

    @property
    def c(self) -> Coefficients:
        return self._held()["c"]

    def _chunks(self, mask: np.ndarray):
        return [mask[o:o + s] for o, s in zip(self.offsets, self.sizes)]

    def _fetch(self, want: np.ndarray | None = None, deployments: np.ndarray | None = None):
        wants = self._chunks(want) if want is not None else [None] * len(self.coef)
        futures = [self.client.submit(_fetch_rows, f, None if w is None else np.flatnonzero(w),
                                      deployments, h["idx"], pure=False)
                   for f, w, h in zip(self.coef, wants, self.held)
                   if w is None or w.any()]
        if not futures:
            return
        got = iter(_gather(self.client, futures, "the MILP's pairs"))
        add = [next(got) if (w is None or w.any()) else None for w in wants]
        if any(a is not None for a in add):
            self.held = _merge(self.held, [_no_rows(h) if a is None else a
                                           for h, a in zip(self.held, add)])

    # LocalPairs' interface
    def lp(self, time_limit_s: float) -> Result:
        from formulations.form import map_flows

        pricer = DaskPricer(self.client, self.coef, self.skeleton, self.unit, self.n_pairs)
        loop = column_generation(pricer, self.unit, time_limit_s, label="colgen (dask)")
        if loop.stopped:
            return loop.result
        self.held, self.rc, self._cache = pricer.held, pricer.rc, {}
        self.tol = RC_TOL * pricer.max_per_query()
        idx = self._held()["idx"]
        x = np.zeros(self.n_pairs)
        x[idx] = loop.result.x
        return loop_result(loop, x, map_flows(loop.result.flows, idx, self.n_pairs))

    def lowest(self, k: int, candidates: np.ndarray | None = None,
               classes: np.ndarray | None = None) -> np.ndarray:
        parts = self._chunks(candidates) if candidates is not None else [None] * len(self.coef)
        got = _gather(self.client, [self.client.submit(_lowest_rc, f, r, self.tol, k, m, classes,
                                                       pure=False)
                                    for f, r, m in zip(self.coef, self.rc, parts)],
                      "the MILP's pricing")
        out = np.zeros(self.n_pairs, dtype=bool)
        for o, idx in zip(self.offsets, got):
            out[o + idx] = True
        return out

    def subset(self, keep: np.ndarray) -> Coefficients:
        from planner.solve.colgen import pair_subset

        self._fetch(want=keep)
        h = self._held()
        return pair_subset(h["c"], keep[h["idx"]])

    def restricted(self, deployments: np.ndarray) -> tuple[Coefficients, np.ndarray]:
        self._fetch(deployments=np.asarray(deployments, dtype=bool))
        h = self._held()
        sub, pair_idx = h["c"].restricted(deployments)
        return sub, h["idx"][pair_idx]

    def slack(self, outside: np.ndarray, target, dep_map: np.ndarray):
        import scipy.sparse as sp

        client = self.client
        if self.hourly is None:
            self.hourly = [client.submit(_hourly, f, self.unit, pure=False) for f in self.coef]
        target_f, map_f = client.scatter([target, dep_map], broadcast=True)
        parts = _gather(client, [client.submit(_chunk_slack, h, f, o, target_f, map_f,
                                               pure=False)
                                 for h, f, o in zip(self.hourly, self.coef,
                                                    self._chunks(outside))],
                        "the MILP's slack columns")
        # One process's order: pair blocks (in the forms' order), then classes.
        names: list[str] = []
        for part in parts:
            names += [b for b in dict.fromkeys(part["blocks"]) if b not in names]
        rank = np.array([names.index(b) for part in parts for b in part["blocks"]], dtype=int)
        classes = np.concatenate([part["classes"] for part in parts])
        cost = np.concatenate([part["cost"] for part in parts])
        order = np.lexsort((classes, rank))
        n_rows = target.a.shape[0]
        matrix = sp.hstack([part["matrix"] for part in parts], format="csc") \
            if classes.size else sp.csc_matrix((n_rows, 0))
        return matrix[:, order].tocsc(), cost[order], classes[order]

    def _form(self):
        from formulations.form import Options, build

        h = self._held()
        if h["form"] is None:
            h["form"] = build(h["c"], Options(aggregated=True, integer=True, unit=self.unit))
        return h["form"]

    def _vector(self, x, n, flows):
        from formulations.form import map_flows, plan_vector

        idx = self._held()["idx"]
        return plan_vector(self._form(), x[idx], n, map_flows(flows, idx, None))

    def _plan(self, v):
        from formulations.form import map_flows, pair_flows

        form, idx = self._form(), self._held()["idx"]
        x = np.zeros(self.n_pairs)
        x[idx] = v[form.col_groups["x"]]
        return x, v[form.col_groups["n"]], map_flows(pair_flows(form, v), idx, self.n_pairs)

    def _cover(self, x, flows):
        used = x != 0
        for dense in (flows or {}).values():
            used |= (dense != 0).any(axis=0)
        held = np.zeros(self.n_pairs, dtype=bool)
        held[self._held()["idx"]] = True
        if (used & ~held).any():
            self._fetch(want=used)

    def check(self, x, n, flows):
        from planner.solve.milp_direct import _row_feasible

        self._cover(x, flows)
        v = self._vector(x, n, flows)
        form = self._form()
        return _row_feasible(form, v), float(form.cost @ v), self._plan(v)

    def rounded(self, lp: Result):
        from types import SimpleNamespace

        from planner.solve.milp_direct import rounded_incumbent

        self._cover(lp.x, None)
        v = rounded_incumbent(self.c, self._form(),
                              SimpleNamespace(x=lp.x[self._held()["idx"]], n=lp.n))
        return None if v is None else (float(self._form().cost @ v), self._plan(v))

    def result(self, best, upper, lower, mip_gap, seconds, unit, lp, history, stages):
        """As one process's, over the held pairs (the pipeline's problem), with every pair of
        the plan's deployments held (so the duals' LP with the plan's nodes fixed sees them
        all)."""
        from planner.solve.milp_direct import milp_result

        v = None
        if best is not None:
            self._fetch(deployments=best[1] > 0)
            v = self._vector(*best)
        return milp_result(self._form(), v, upper, lower, mip_gap, seconds, unit, lp, history,
                           stages)
