"""Coefficients of the planning problem: per (class, deployment) energy, capacity, latency.

Everything a formulation needs is in :class:`Coefficients` as plain arrays, so formulations stay
pure functions of numbers. Units: queries/day, node-seconds per query, kWh per query (IT side,
above idle), kW per node idle, hours of a 24-hour profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

HOURS = 24
SECONDS_PER_HOUR = 3600.0
DUST = 1e-9  # of a class's demand: flows below it are the solver's tolerance, not a plan
TIE_BREAK = 1e-6  # energy's weight in a carbon/cost objective, relative to the mean weight


def objective_site_weight(weight: np.ndarray, fixed_costs: bool = False) -> np.ndarray:
    """Per-site objective weight per kWh as solved: the carbon intensity or price plus a small
    energy term, so that plans equal in carbon (cost) are told apart by energy, the least
    energy winning. Zero weight everywhere makes every plan optimal at 0: energy decides alone.
    Plain energy (all weights 1) is left exactly as it is."""
    weight = np.asarray(weight, dtype=float)
    if np.all(weight == 1.0):
        return weight
    positive = weight[weight > 0]
    if positive.size == 0:  # with node costs (objective: cost) those still decide first
        return np.full_like(weight, TIE_BREAK if fixed_costs else 1.0)
    return weight + TIE_BREAK * positive.mean()


@dataclass(frozen=True)
class Coefficients:
    """The numbers of one planning problem (P eligible pairs, D deployments, C classes)."""

    classes: pd.DataFrame  # C rows: id, queries_per_day, ...
    deployments: pd.DataFrame  # D rows: model, precision, hardware, num_gpus, ...
    pairs: pd.DataFrame  # P rows: class_idx, dep_idx, and the per-pair numbers below
    profile: np.ndarray  # C x 24, mean 1 per class
    demand: np.ndarray  # C, queries/day
    pair_class: np.ndarray  # P
    pair_dep: np.ndarray  # P
    node_seconds: np.ndarray  # P, node-seconds per query at the deployment's concurrency
    dynamic_kwh: np.ndarray  # P, IT energy per query above idle, kWh
    dep_idle_kw: np.ndarray  # D, idle IT power per node
    dep_site: np.ndarray  # D, site index
    dep_hardware: np.ndarray  # D, hardware id
    dep_nodes_per_replica: np.ndarray  # D
    site_pue: np.ndarray  # S
    site_overhead: np.ndarray  # S
    site_cap_kw: np.ndarray  # S, facility-side cap (inf when none)
    site_weight: np.ndarray  # S, objective per kWh: 1 (energy), kg CO2 (carbon) or USD (cost)
    inventory: pd.DataFrame  # rows: site_idx, hardware, nodes
    utilization_ceiling: float
    min_replicas: int = 1
    max_deployments: int | None = None
    site_ids: tuple = field(default_factory=tuple)
    dep_fixed_per_day: np.ndarray | None = None  # D, objective per node-day beyond energy (cost)
    min_site_share: np.ndarray | None = None  # C x S, least share of a class served at a site
    site_failover: np.ndarray | None = None  # S bool: the plan survives losing this site (N-1)
    failover_utilization: float = 0.95  # busy fraction the other sites may run at meanwhile

    @property
    def busy_seconds_per_node_hour(self) -> float:
        """Busy node-seconds a node may carry in one hour: the utilisation ceiling x 3600 (the
        right-hand side of every capacity row, per node)."""
        return self.utilization_ceiling * SECONDS_PER_HOUR

    @property
    def n_pairs(self) -> int:
        return int(self.pair_class.size)

    @property
    def n_deployments(self) -> int:
        return int(self.dep_idle_kw.size)

    def energy_weights(self, objective: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """GWh/day per query (per pair) and per node (per deployment), facility side; with
        ``objective`` the objective's units per day instead (x 1e6 kWh weight, + fixed cost)."""
        site_factor = self.site_pue * self.site_overhead
        if objective:
            site_factor = site_factor * objective_site_weight(
                self.site_weight, self.dep_fixed_per_day is not None)
        per_query = self.dynamic_kwh * site_factor[self.dep_site[self.pair_dep]] / 1e6
        per_node = self.dep_idle_kw * HOURS * site_factor[self.dep_site] / 1e6
        if objective and self.dep_fixed_per_day is not None:
            per_node = per_node + self.dep_fixed_per_day / 1e6
        return per_query, per_node

    def daily_objective(self, x: np.ndarray, n: np.ndarray) -> float:
        """GWh/day (kt CO2/day, million USD/day) of a plan (x in queries/day), without the
        tie-breaking energy term the solved objective carries."""
        factor = self.site_pue * self.site_overhead * self.site_weight
        total = float(np.sum(x * self.dynamic_kwh * factor[self.dep_site[self.pair_dep]]))
        total += float(np.sum(n * self.dep_idle_kw * HOURS * factor[self.dep_site]))
        if self.dep_fixed_per_day is not None:
            total += float(np.sum(n * self.dep_fixed_per_day))
        return total / 1e6

    def without_dust(self, x: np.ndarray, floor: float = 0.0) -> np.ndarray:
        """x (queries/day) with solver dust removed: a pair carrying less than DUST of its
        class's demand, or less than ``floor`` queries/day (the solver's feasibility tolerance
        in these units: a value the solver cannot tell from 0), is set to 0. Such a flow on a
        deployment of ~1e-8 nodes, or of none where a cap of a milliwatt rules the site out,
        breaks the re-check by more than its own size while meaning nothing."""
        x = np.asarray(x, float)
        return np.where(x < np.maximum(DUST * self.demand[self.pair_class], floor), 0.0, x)

    def hourly_load(self) -> np.ndarray:
        """P x 24: share of a pair's daily queries arriving in each hour."""
        return self.profile[self.pair_class] / HOURS

    def duplicate_suspects(self) -> np.ndarray:
        """Per deployment: whether :meth:`distinct` compares its pairs' TTFT values with
        another's - it shares with one the whole key of ``distinct`` except the TTFT (fields,
        classes, node-seconds, energy, TPOT) and is no performance twin (``twins``). Only
        these deployments' TTFT can change which deployments ``distinct`` keeps (issue 26:
        the candidates' deferred TTFT percentiles are computed for these pairs only)."""
        keys = self._duplicate_keys(("tpot_ms",))
        count: dict = {}
        for key in keys:
            count[key] = count.get(key, 0) + 1
        return np.array([count[key] > 1 for key in keys], dtype=bool) & ~self.twins()

    def twins(self) -> np.ndarray:
        """Per deployment: whether another has the same ``perf_inputs`` id (a deployments
        column, optional: equal performance-model inputs, so equal pair numbers up to the
        rounding of where each was computed). :meth:`distinct` compares twins without their
        TTFT (issue 26: which of two twins was kept turned on 1-ulp differences of it)."""
        if "perf_inputs" not in self.deployments:
            return np.zeros(self.n_deployments, dtype=bool)
        ids = self.deployments["perf_inputs"].to_numpy()
        _, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
        return counts[inverse.reshape(-1)] > 1

    def distinct_ttft(self) -> np.ndarray:
        """The pairs' TTFT as :meth:`distinct` compares it: NaN on the pairs of twins."""
        return np.where(self.twins()[self.pair_dep], np.nan,
                        self.pairs["ttft_ms"].to_numpy(float))

    def _duplicate_keys(self, latency: tuple[str, ...]) -> list[tuple]:
        """Per deployment, the key :meth:`distinct` merges on: (i,) where its cheap key is its
        own, else its fields and its pairs' class, node-seconds, energy and the pair table's
        ``latency`` columns, as bytes."""
        pairs, bounds, cheap, count = self._cheap_keys()
        fixed = (self.dep_fixed_per_day if self.dep_fixed_per_day is not None
                 else np.zeros(self.n_deployments))
        shared = [i for i in range(self.n_deployments) if count[cheap[i]] > 1]
        rows = (np.concatenate([pairs[bounds[i]:bounds[i + 1]] for i in shared]) if shared
                else np.zeros(0, dtype=np.int64))
        start = np.zeros(self.n_deployments + 1, dtype=np.int64)
        if shared:
            start[np.asarray(shared) + 1] = bounds[np.asarray(shared) + 1] - bounds[shared]
        start = np.cumsum(start)
        numbers = np.column_stack([self.pair_class[rows], self.node_seconds[rows],
                                   self.dynamic_kwh[rows]]
                                  + [(self.distinct_ttft() if k == "ttft_ms"
                                      else self.pairs[k].to_numpy(float))[rows]
                                     for k in latency])
        keys = []
        for i in range(self.n_deployments):
            if count[cheap[i]] == 1:
                keys.append((i,))
                continue
            keys.append((int(self.dep_site[i]), str(self.dep_hardware[i]),
                         float(self.dep_idle_kw[i]), float(self.dep_nodes_per_replica[i]),
                         float(fixed[i]), numbers[start[i]:start[i + 1]].tobytes()))
        return keys

    def _cheap_keys(self):
        """:meth:`distinct`'s pair order by deployment, its bounds, each deployment's cheap
        key and how many deployments share each key."""
        in_class_order = bool(np.all(self.pair_class[1:] >= self.pair_class[:-1]))
        if in_class_order:
            # pairs in class order (as the candidates give them): a stable sort by deployment
            # is the same order as the lexsort, at a fraction of its cost (issue 26)
            dep = self.pair_dep
            if self.n_deployments < 2**16:  # 16-bit keys: numpy's stable sort is a radix sort
                dep = dep.astype(np.uint16)
            pairs = np.argsort(dep, kind="stable")
        else:
            pairs = np.lexsort((self.pair_class, self.pair_dep))
        bounds = np.searchsorted(self.pair_dep[pairs], np.arange(self.n_deployments + 1))
        fixed = (self.dep_fixed_per_day if self.dep_fixed_per_day is not None
                 else np.zeros(self.n_deployments))
        # a cheap key first (its fields, pair count and per-deployment sums, which equal
        # numbers give equally: the same values added in the same order): only deployments
        # sharing it can be duplicates, so only theirs are compared byte by byte (issue 26)
        sums = [np.bincount(self.pair_dep, weights=w, minlength=self.n_deployments)
                for w in (self.node_seconds, self.dynamic_kwh)]
        if not in_class_order or not all(np.isfinite(w).all() for w in sums):
            sums = [np.zeros(self.n_deployments)] * 2  # other orders, NaN: no sums in the key
        cheap = [(int(self.dep_site[i]), str(self.dep_hardware[i]), float(self.dep_idle_kw[i]),
                  float(self.dep_nodes_per_replica[i]), float(fixed[i]),
                  int(bounds[i + 1] - bounds[i]), float(sums[0][i]), float(sums[1][i]))
                 for i in range(self.n_deployments)]
        count: dict[tuple, int] = {}
        for key in cheap:
            count[key] = count.get(key, 0) + 1
        return pairs, bounds, cheap, count

    def distinct(self) -> tuple["Coefficients", np.ndarray]:
        """The problem without exact duplicate deployments: where two deployments at one site
        on one hardware have the same idle power, node size and, for every class, the same
        node-seconds, energy and latency (two releases of one architecture, say), only the one
        of higher quality is kept (the first among equals). The two are interchangeable in
        every plan, so the optimum is unchanged; the choice among them is no longer left to
        the solver's pivoting. Performance twins (``twins``) are compared without their TTFT
        (equal but for rounding; issue 26). Returns (problem, kept deployment mask)."""
        d = self.deployments
        quality = d["quality"].to_numpy(float) if "quality" in d else np.zeros(len(d))
        best: dict[tuple, int] = {}
        for i, key in enumerate(self._duplicate_keys(("ttft_ms", "tpot_ms"))):
            j = best.get(key)
            if j is None or quality[i] > quality[j]:
                best[key] = i
        keep = np.zeros(self.n_deployments, dtype=bool)
        keep[list(best.values())] = True
        if keep.all():
            return self, keep
        return self.restricted(keep)[0], keep

    def restricted(self, keep: np.ndarray) -> tuple["Coefficients", np.ndarray]:
        """The same problem over the deployments where ``keep`` is True (and their pairs only),
        with the kept pairs' indices into this problem so that solutions map back."""
        keep = np.asarray(keep, dtype=bool)
        new_index = np.cumsum(keep) - 1
        pair_idx = np.flatnonzero(keep[self.pair_dep])
        pair_dep = new_index[self.pair_dep[pair_idx]]
        pairs = self.pairs.iloc[pair_idx].reset_index(drop=True).assign(dep_idx=pair_dep)
        return replace(
            self, deployments=self.deployments[keep].reset_index(drop=True), pairs=pairs,
            pair_class=self.pair_class[pair_idx], pair_dep=pair_dep,
            node_seconds=self.node_seconds[pair_idx], dynamic_kwh=self.dynamic_kwh[pair_idx],
            dep_idle_kw=self.dep_idle_kw[keep], dep_site=self.dep_site[keep],
            dep_hardware=self.dep_hardware[keep],
            dep_nodes_per_replica=self.dep_nodes_per_replica[keep],
            dep_fixed_per_day=None if self.dep_fixed_per_day is None
            else self.dep_fixed_per_day[keep]), pair_idx
