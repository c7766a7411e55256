"""TTFT percentiles under Poisson arrivals to a pool of replicas with continuous batching.

A class's requests arrive as a Poisson stream of rate lambda to ``n`` replicas of ``B`` slots
each (continuous batching: a request holds a slot from admission until its last token). Its
TTFT is

    TTFT = W_slot + W_prefill + T0

- ``W_slot``: waiting for one of the c = n x B slots, M/G/c. The probability of waiting is
  Erlang C (exact for M/M/c, computed through the regularised incomplete gamma function so that
  c may be 10^6 and non-integer); its tail is exponential (Whitt 1993's form P(W > t) = C
  exp(-t C / E[W])) with the M/G/c mean wait of Cosmetatos (1976): E[W] = f E[W_M/M/c],
  f = Cs^2 + (1 - Cs^2) f_D, where f_D = (1/2) (1 + (1 - rho)(c - 1)(sqrt(4 + 5c) - 2) /
  (16 rho c)) is his M/D/c-to-M/M/c ratio (at most 1: deterministic service never waits longer
  than exponential). So P(W > t) = C exp(-t (c mu - lambda) / f). In heavy traffic f_D -> 1/2
  and f is the Allen-Cunneen (1 + Cs^2)/2 (Allen 1990; Gross and Harris) used before issue 22's
  fourth round; at moderate load and small c the M/D/c term is larger than 1/2 (for c = 1 it is
  1/2 at every load: Pollaczek-Khinchine), which Allen-Cunneen's heavy-traffic factor misses
  (it was optimistic by up to 15 % on 8 slots at rho 0.5). For Cs^2 > 1, outside the
  interpolation, f stays Allen-Cunneen's (1 + Cs^2)/2. Either way Erlang C's pooling is kept (a
  pool of 2,000 replicas waits far less than one of 2 at the same utilisation).
- ``W_prefill``: a prompt queues for its replica's prefill work (a single server per replica fed
  at lambda / n): M/G/1 with the Pollaczek-Khinchine mean and Kingman's exponential tail,
  P(W > t) = rho_p exp(-t / theta), theta = E[tp^2] / (2 E[tp] (1 - rho_p)).
- ``T0``: the unloaded TTFT of the request's length bucket (server overhead, scheduling behind a
  decode step, the prefill, the first step: ``planner.perf.model``).

The two waits are independent exponential-tailed variables with atoms at zero, so their sum's
tail is closed-form; the class's percentile is the root of the bucket mixture's tail, by
bisection (vectorised over pairs). A pair's usable utilisation is the largest rho (at most the
user's ceiling) at which the percentile meets the SLO, with the pool sized for the class alone
at its peak hour, in whole replicas: n = ceil(lambda E[S] / (B rho)) - a class with more demand
gets more replicas and a higher usable utilisation (pooling). After a solve the same function
runs on the plan's own pools (every class a deployment serves, its whole replicas) and the plan
is re-solved until those stop moving (``planner.problem.pooling``, ``planner.pipeline``);
``planner simulate`` checks the result by simulation.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaincc, gammaln

MIN_UTILIZATION = 0.05  # below it a pair is not worth planning (the schema's lowest ceiling)


def erlang_c(c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Probability of waiting in M/M/c with c servers (real, >= 1) and offered load a < c."""
    c = np.asarray(c, float)
    a = np.asarray(a, float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        log_pmf = c * np.log(np.maximum(a, 1e-300)) - a - gammaln(c + 1)
        cdf = gammaincc(c + 1, a)  # P(Poisson(a) <= c)
        blocking = np.exp(log_pmf) / np.maximum(cdf, 1e-300)  # Erlang B
        rho = a / c
        out = blocking / (1 - rho * (1 - blocking))
    return np.where(a >= c, 1.0, np.clip(np.nan_to_num(out, nan=1.0), 0.0, 1.0))


def wait_tail(t: np.ndarray, p_slot, r_slot, p_prefill, r_prefill) -> np.ndarray:
    """P(W_slot + W_prefill > t) for t >= 0: each wait is 0 with probability 1 - p, else
    exponential of rate r."""
    t = np.maximum(t, 0.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        e1, e2 = np.exp(-r_slot * t), np.exp(-r_prefill * t)
        # Sum of the two exponentials (rates kept apart by a relative 1e-6 to stay closed-form).
        close = np.abs(r_prefill - r_slot) < 1e-6 * r_slot
        r_p = np.where(close, r_slot * (1 + 1e-6), r_prefill)
        # exp(-r_p t) is e2 wherever the rates are apart (issue 26: one exponential less).
        e_p = np.where(close, np.exp(-r_p * t), e2) if np.any(close) else e2
        both = (r_p * e1 - r_slot * e_p) / (r_p - r_slot)
    tail = ((1 - p_slot) * p_prefill * e2 + p_slot * (1 - p_prefill) * e1
            + p_slot * p_prefill * both)
    return np.where(t <= 0, 1 - (1 - p_slot) * (1 - p_prefill), tail)


def slot_wait_factor(rho, c, scv) -> np.ndarray:
    """M/G/c mean wait over M/M/c's at utilisation rho, c servers, service SCV ``scv``:
    Cosmetatos (1976, Oper. Res. Q. 27(3) 615-620) interpolation between M/M/c and his M/D/c
    approximation, Cs^2 + (1 - Cs^2) f_D, f_D = (1 + (1 - rho)(c - 1)(sqrt(4 + 5c) - 2) /
    (16 rho c)) / 2 (capped at 1, M/M/c); Allen-Cunneen's (1 + Cs^2)/2 for Cs^2 > 1 (the two
    agree at Cs^2 = 1 and in heavy traffic, where f_D -> 1/2)."""
    rho = np.clip(np.asarray(rho, float), 1e-12, 1.0)
    c = np.maximum(np.asarray(c, float), 1.0)
    f_d = np.minimum(0.5 * (1 + (1 - rho) * (c - 1) * (np.sqrt(4 + 5 * c) - 2)
                            / (16 * rho * c)), 1.0)
    scv = np.asarray(scv, float)
    return (1 + scv) / 2 + np.maximum(1 - scv, 0.0) * (f_d - 0.5)


def _pool(rho, replicas, slots, mean_s, scv_s, mean_p, second_p):
    """Parameters of the two waits at utilisation rho of a pool of ``replicas`` x ``slots``."""
    c = np.maximum(replicas * slots, 1.0)
    a = rho * c
    p_slot = erlang_c(c, a)
    r_slot = c * (1 - rho) / mean_s / slot_wait_factor(rho, c, scv_s)
    rho_p = np.clip(rho * slots * mean_p / mean_s, 0.0, 0.999)
    theta = second_p / (2 * np.maximum(mean_p, 1e-12) * (1 - rho_p))
    r_prefill = 1 / np.maximum(theta, 1e-12)
    return p_slot, r_slot, np.where(mean_p > 0, rho_p, 0.0), r_prefill


def _tail_constants(q, t0_s, rho, replicas, slots, mean_s, scv_s, mean_p, second_p) -> dict:
    """Per-row constants of the mixture's tail (``wait_tail``'s, once per call) and the
    bisection's starting bracket."""
    col = lambda v: np.broadcast_to(np.asarray(v, float), (t0_s.shape[0],))[:, None]  # noqa: E731
    p1, r1, p2, r2 = _pool(col(rho), col(replicas), col(slots), col(mean_s), col(scv_s),
                           col(mean_p), col(second_p))
    lo = np.min(t0_s, axis=1)
    # An upper bracket: the largest T0 plus a wait whose tail is below 1 - q in each part.
    bound = np.log(4 / max(1 - q, 1e-12))
    hi = np.max(t0_s, axis=1) + bound / np.minimum(r1, r2)[:, 0]
    hi = np.where(np.isfinite(hi), hi, np.max(t0_s, axis=1) * 1e6)
    close = np.abs(r2 - r1) < 1e-6 * r1
    r_p = np.where(close, r1 * (1 + 1e-6), r2)
    per_row = {"r1": r1, "r_p": r_p, "neg_r1": -r1, "neg_r2": -r2, "neg_rp": -r_p,
               "den": r_p - r1, "c_e2": (1 - p1) * p2, "c_e1": p1 * (1 - p2),
               "c_both": p1 * p2, "at_zero": 1 - (1 - p1) * (1 - p2)}
    k = _with_columns({"t0": t0_s, "close": close,
                       "stack": np.hstack([per_row[name] for name in PER_ROW])})
    return {"k": k, "lo": lo, "hi": hi, "any_close": bool(np.any(close))}


def _exceed(x: np.ndarray, k: dict, weight: np.ndarray, any_close: bool) -> np.ndarray:
    """P(TTFT > x) per row of ``k`` (the bucket mixture of T0 + the waits): ``wait_tail``'s
    operations in its order, on preallocated arrays (issue 26: the same numbers, 1.7x faster
    than with the temporaries). Elementwise per row, so a subset of rows gives those rows'
    values bit for bit."""
    t0_s = k["t0"]
    gap, t, e1, e2, both, tail, tmp = (np.empty(t0_s.shape) for _ in range(7))
    np.subtract(x[:, None], t0_s, out=gap)
    np.maximum(gap, 0.0, out=t)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        np.exp(np.multiply(k["neg_r1"], t, out=e1), out=e1)
        np.exp(np.multiply(k["neg_r2"], t, out=e2), out=e2)
        e_p = np.where(k["close"], np.exp(k["neg_rp"] * t), e2) if any_close else e2
        np.multiply(k["r_p"], e1, out=both)
        np.subtract(both, np.multiply(k["r1"], e_p, out=tmp), out=both)
        np.divide(both, k["den"], out=both)
        np.multiply(k["c_e2"], e2, out=tail)
        np.add(tail, np.multiply(k["c_e1"], e1, out=tmp), out=tail)
        np.add(tail, np.multiply(k["c_both"], both, out=tmp), out=tail)
    np.copyto(tail, np.broadcast_to(k["at_zero"], t0_s.shape), where=t <= 0)
    np.copyto(tail, 1.0, where=gap < 0)
    return tail @ weight


# the tail's per-row constants, kept as the columns of one (rows x 10) array so that a subset
# of rows is one gather rather than ten (issue 26: the same numbers)
PER_ROW = ("r1", "r_p", "neg_r1", "neg_r2", "neg_rp", "den", "c_e2", "c_e1", "c_both",
           "at_zero")


def _with_columns(k: dict) -> dict:
    """``k`` with each per-row constant a (rows x 1) view of its column of ``k["stack"]``."""
    stack = k["stack"]
    return k | {name: stack[:, i:i + 1] for i, name in enumerate(PER_ROW)}


def _rows(k: dict, idx: np.ndarray) -> dict:
    return _with_columns({"t0": k["t0"][idx], "close": k["close"][idx],
                          "stack": k["stack"][idx]})


# bracketing secant steps before the bisection is replayed (the rows that converge do so
# in 3-4; the others sit where the tail is flat at 1 - q, which only evaluation decides)
ROOT_STEPS = 5
# Fewer rows: plain bisection (per-call overhead outweighs the evaluations saved).
REPLAY_ROWS = 2000


def ttft_quantile(q: float, t0_s: np.ndarray, weight: np.ndarray, rho, replicas, slots,
                  mean_s, scv_s, mean_p, second_p, iterations: int = 48,
                  replay_rows: int = REPLAY_ROWS) -> np.ndarray:
    """The q-quantile (0-1) of TTFT in seconds, per row: ``t0_s`` (rows x buckets) unloaded
    TTFT per bucket with bucket weights ``weight`` (buckets); the other arguments per row.

    The answer is that of ``iterations`` bisection steps on the tail (``ttft_quantile_bisection``,
    the definition), computed with fewer tail evaluations (issue 26: the bisection was a quarter
    of a large solve). The tail P(TTFT > t) is non-increasing in t, so a point where it was
    evaluated above 1 - q (``vlo``) decides every bisection midpoint at or below it ("over")
    and one evaluated at or below 1 - q (``vhi``) every midpoint at or above it. The bracket
    (vlo, vhi) is narrowed around the root in three steps: the sorted T0s with more than
    1 - q of the weight above them are over without evaluation (the tail is at least that
    weight: a bound, exact up to rounding, used with a 1e-9 margin); a bisection over the
    remaining sorted T0s finds the segment between two jumps that holds the root, and a
    probe one ulp below the upper jump whether the root is that jump; inside a segment (the
    tail smooth there) a bracketing secant on log P (Illinois' rule, at most ROOT_STEPS
    evaluations on the rows not yet bracketed to the bisection's final width). The
    bisection is then replayed, evaluating the tail only at the midpoints that fall inside
    (vlo, vhi) - on those rows, typically one or two steps per row. Every decision is
    therefore the bisection's own (same midpoints, same tail arithmetic, same comparison)
    wherever the computed tail is non-increasing; rounding can break that only where the tail
    is within a few ulps of 1 - q, i.e. within the tail's rounding of the root, so the result
    then differs from the bisection's by no more than that ambiguity."""
    t0_s = np.atleast_2d(t0_s)
    if t0_s.shape[0] < replay_rows:  # (``replay_rows``: from how many rows it replays)
        return ttft_quantile_bisection(q, t0_s, weight, rho, replicas, slots, mean_s, scv_s,
                                       mean_p, second_p, iterations)
    base = _tail_constants(q, t0_s, rho, replicas, slots, mean_s, scv_s, mean_p, second_p)
    k, lo, hi, any_close = base["k"], base["lo"], base["hi"], base["any_close"]
    threshold = 1 - q + 1e-12
    rows = t0_s.shape[0]
    vlo = np.full(rows, -np.inf)  # largest point evaluated "over" (tail > threshold)
    vhi = np.full(rows, np.inf)   # smallest point evaluated not over
    g_lo = np.zeros(rows)  # log(tail / threshold) at vlo (> 0) and vhi (<= 0)
    g_hi = np.zeros(rows)

    def evaluate_at(x, idx):
        kk = k if idx is None else _rows(k, idx)
        f = _exceed(x, kk, weight, any_close)
        return f, f > threshold

    def record(idx, x, f, over):
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.log(f / threshold)
        up = over & (x > vlo[idx])
        vlo[idx[up]], g_lo[idx[up]] = x[up], g[up]
        down = ~over & (x < vhi[idx])
        vhi[idx[down]], g_hi[idx[down]] = x[down], g[down]

    everything = np.arange(rows)
    # At lo (the least T0) every bucket's tail is 1 (T0 above lo) or the waits' atom (T0 at
    # lo): what _exceed gives there, without its exponentials.
    f = np.where(t0_s > lo[:, None], 1.0, np.broadcast_to(k["at_zero"], t0_s.shape)) @ weight
    record(everything, lo, f, f > threshold)
    f, over = evaluate_at(hi, None)
    record(everything, hi, f, over)
    final = (hi - lo) * 2.0 ** -iterations
    # The tail jumps at each bucket's T0 (from 1 to the waits' atom) and is smooth between:
    # find the segment (s_j, s_j+1] of the sorted T0s (and hi) holding the root by bisection
    # over the indices, then whether the root is the jump at s_j+1 (the tail one ulp below it
    # still above 1 - q).
    order = np.argsort(t0_s, axis=1)
    s = np.concatenate([np.take_along_axis(t0_s, order, axis=1), hi[:, None]], axis=1)
    # The tail at x is at least the weight of the buckets with T0 above x (theirs is 1, every
    # other bucket's >= 0), so a sorted T0 with more than 1 - q of the weight above it (by a
    # margin far above rounding) is over without evaluating the tail there: the index
    # bisection starts at the last such one (the unloaded quantile's neighbour). The weight
    # above the j-th sorted T0: the sorted weights after it, read at the last of its ties.
    b = t0_s.shape[1]
    after = np.cumsum(weight[order][:, ::-1], axis=1)[:, ::-1] - weight[order]
    last = np.where(np.append(s[:, 1:b] != s[:, :b - 1], np.ones((rows, 1), bool), axis=1),
                    np.arange(b), b)
    last = np.minimum.accumulate(last[:, ::-1], axis=1)[:, ::-1]
    above = np.take_along_axis(after, last, axis=1)  # rows x buckets
    sure = above > threshold + 1e-9
    # s[j_lo] over (or lo, unverified): the last of the leading sure ones
    j_lo = np.maximum(np.logical_and.accumulate(sure, axis=1).sum(axis=1) - 1, 0)
    known = np.flatnonzero(j_lo > 0)
    if known.size:
        x = s[known, j_lo[known]]
        record(known, x, above[known, j_lo[known]], np.ones(known.size, bool))
    j_hi = np.full(rows, s.shape[1] - 1)        # s[j_hi] not over (or hi unverified)
    while True:
        open_ = np.flatnonzero(j_hi - j_lo > 1)
        if not open_.size:
            break
        j = (j_lo[open_] + j_hi[open_]) // 2
        x = s[open_, j]
        f, over = evaluate_at(x, open_)
        record(open_, x, f, over)
        j_lo[open_[over]] = j[over]
        j_hi[open_[~over]] = j[~over]
    edge = s[everything, j_hi]
    jump = np.flatnonzero((j_hi < s.shape[1] - 1) & (vhi == edge) & (vlo < edge))
    if jump.size:
        x = np.nextafter(edge[jump], -np.inf)
        f, over = evaluate_at(x, jump)
        record(jump, x, f, over)
    last = np.zeros(rows, dtype=np.int8)  # the end the last secant point replaced (1 lo, -1 hi)
    for _ in range(ROOT_STEPS):
        open_ = np.flatnonzero(np.isfinite(vlo) & np.isfinite(vhi) & (vhi - vlo > final))
        if not open_.size:
            break
        a, b, ga, gb = vlo[open_], vhi[open_], g_lo[open_], g_hi[open_]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            x = a + (b - a) * (ga / (ga - gb))
        x = np.where(np.isfinite(x) & (x > a) & (x < b), x, (a + b) / 2)
        f, over = evaluate_at(x, open_)
        record(open_, x, f, over)
        # Illinois: an end kept twice in a row has its value halved (it then moves too)
        moved = np.where(over, 1, -1).astype(np.int8)
        again = moved == last[open_]
        g_hi[open_[again & over]] /= 2
        g_lo[open_[again & ~over]] /= 2
        last[open_] = moved

    lo, hi = lo.copy(), hi.copy()
    mid, over, inside = np.empty(rows), np.empty(rows, bool), np.empty(rows, bool)
    for _ in range(iterations):  # (in place: the same arithmetic as the bisection's)
        np.divide(np.add(lo, hi, out=mid), 2, out=mid)
        np.less_equal(mid, vlo, out=over)
        np.logical_and(~over, np.less(mid, vhi, out=inside), out=inside)
        need = np.flatnonzero(inside)
        if need.size:
            f, o = evaluate_at(mid[need], need)
            record(need, mid[need], f, o)
            over[need] = o
        np.copyto(lo, mid, where=over)
        np.copyto(hi, mid, where=~over)
    return hi


def ttft_quantile_bisection(q: float, t0_s: np.ndarray, weight: np.ndarray, rho, replicas,
                            slots, mean_s, scv_s, mean_p, second_p,
                            iterations: int = 48) -> np.ndarray:
    """``ttft_quantile`` by plain bisection: ``iterations`` halvings of [min T0, upper bound],
    the tail evaluated on every row at every step (the definition ``ttft_quantile`` replays;
    kept for the tests)."""
    t0_s = np.atleast_2d(t0_s)
    base = _tail_constants(q, t0_s, rho, replicas, slots, mean_s, scv_s, mean_p, second_p)
    k, lo, hi = base["k"], base["lo"], base["hi"]
    for _ in range(iterations):
        mid = (lo + hi) / 2
        over = _exceed(mid, k, weight, base["any_close"]) > 1 - q + 1e-12
        lo = np.where(over, mid, lo)
        hi = np.where(over, hi, mid)
    return hi


def meets_slo(q: float, slo_s: np.ndarray, t0_s: np.ndarray, weight: np.ndarray, rho, replicas,
              slots, mean_s, scv_s, mean_p, second_p, iterations: int = 48) -> np.ndarray:
    """Per row: True where ``ttft_quantile``'s answer (and ``ttft_quantile_bisection``'s) is
    certainly <= ``slo_s``, decided with at most one tail evaluation (issue 26: most pairs meet
    their SLO at the ceiling, and only that is needed of them). False: undecided (the row may
    or may not meet it; the caller computes its quantile).

    The bisection keeps lo (min T0, or a point evaluated over 1 - q) and hi (the bracket's
    upper end, or a point evaluated not over) and returns hi, within its final width w =
    (hi0 - lo0) 2^-iterations of lo. (a) hi0 <= slo: the answer, never above hi0, meets it.
    (b) Else the tail at x = slo - 4 w (4 w: the final width plus the midpoints' rounding):
    if it is at or below 1 - q + 1e-12, every point evaluated over lies below x (the tail is
    non-increasing), so the answer is at most x + w < slo. The same caveat as
    ``ttft_quantile``: it holds wherever the computed tail is non-increasing."""
    t0_s = np.atleast_2d(t0_s)
    base = _tail_constants(q, t0_s, rho, replicas, slots, mean_s, scv_s, mean_p, second_p)
    lo, hi = base["lo"], base["hi"]
    slo_s = np.broadcast_to(np.asarray(slo_s, float), lo.shape)
    sure = hi <= slo_s
    x = slo_s - 4 * (hi - lo) * 2.0 ** -iterations
    test = np.flatnonzero(~sure & (x > lo) & np.isfinite(x))
    if test.size:
        f = _exceed(x[test], _rows(base["k"], test), weight, base["any_close"])
        sure[test] = f <= 1 - q + 1e-12
    return sure


def service_moments(t0_s: np.ndarray, decode_s: np.ndarray, prefill_s: np.ndarray,
                    weight: np.ndarray) -> dict[str, np.ndarray]:
    """Slot holding time S = T0 + decode (mean, squared coefficient of variation) and the
    prefill work's first two moments, per row over the weighted buckets."""
    s = t0_s + decode_s
    mean_s = s @ weight
    second_s = (s**2) @ weight
    return {"mean_s": mean_s, "scv_s": np.maximum(second_s / mean_s**2 - 1, 0.0),
            "mean_p": prefill_s @ weight, "second_p": (prefill_s**2) @ weight}


def usable_utilization(q: float, slo_s, ceiling: float, rate_per_s: np.ndarray,
                       t0_s: np.ndarray, weight: np.ndarray, slots: np.ndarray,
                       moments: dict, iterations: int = 40, search_steps: int = 16,
                       replay: bool = True, defer: bool = False
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the largest utilisation in [MIN_UTILIZATION, ceiling] whose q-quantile TTFT
    meets ``slo_s`` with the pool sized for ``rate_per_s`` at that utilisation (NaN where even
    MIN_UTILIZATION does not), and the TTFT quantile there (at the ceiling when there is no
    SLO). ``slo_s``: seconds, one for all rows or one per row (inf: none), or None.
    ``replay`` False: the quantiles by plain bisection (``ttft_quantile_bisection``).
    ``defer`` (issue 26): where one tail evaluation proves the ceiling meets the SLO
    (``meets_slo``) the quantile is not computed: usable is the ceiling and the TTFT NaN
    (``ceiling_ttft`` gives it later for the rows that need it, the same function on the
    same rows)."""
    rows = t0_s.shape[0]
    quantile = ttft_quantile if replay else ttft_quantile_bisection

    def replicas(rho, rows=slice(None)):
        # Whole replicas (the MILP's integers): as many as the class needs at rho, at least one.
        busy = rate_per_s[rows] * moments["mean_s"][rows] / slots[rows]
        return busy, np.maximum(np.ceil(busy / rho - 1e-9), 1.0)

    def at_replicas(busy, n, rows=slice(None), **how):
        # The quantile with n replicas, at the utilisation they then run at.
        return quantile(q, t0_s[rows], weight, busy / n, n, slots[rows],
                        **{k: v[rows] for k, v in moments.items()}, iterations=iterations,
                        **how)

    top = np.full(rows, float(ceiling))
    if defer and slo_s is not None:
        slo_s = np.broadcast_to(np.asarray(slo_s, float), (rows,))
        busy, n = replicas(top)
        sure = meets_slo(q, slo_s, t0_s, weight, busy / n, n, slots, **moments,
                         iterations=iterations)
        ttft_top = np.full(rows, np.nan)
        rest = np.flatnonzero(~sure)
        if rest.size:
            # the way the call on every row would have computed them (replayed from
            # REPLAY_ROWS rows, else plain bisection), so that the undecided rows' quantiles
            # and the search they start are the undeferred call's, bit for bit
            how = ({"replay_rows": 0 if rows >= REPLAY_ROWS else REPLAY_ROWS} if replay
                   else {})
            ttft_top[rest] = at_replicas(busy[rest], n[rest], rest, **how)
        usable = np.where(sure | (ttft_top <= slo_s), top, np.nan)
        ttft = np.where(sure, np.nan, np.where(ttft_top <= slo_s, ttft_top, np.inf))
        return _search(usable, ttft, rest[~(ttft_top[rest] <= slo_s[rest])], slo_s, ceiling,
                       search_steps, replicas, at_replicas)
    ttft_top = at_replicas(*replicas(top))
    if slo_s is None:
        return top, ttft_top
    slo_s = np.broadcast_to(np.asarray(slo_s, float), (rows,))
    usable = np.where(ttft_top <= slo_s, top, np.nan)
    ttft = np.where(ttft_top <= slo_s, ttft_top, np.inf)
    # Only pairs that miss the SLO at the ceiling are searched (most meet it there).
    return _search(usable, ttft, np.flatnonzero(ttft_top > slo_s), slo_s, ceiling,
                   search_steps, replicas, at_replicas)


def _search(usable, ttft, search, slo_s, ceiling, search_steps, replicas, at_replicas):
    """``usable_utilization``'s search below the ceiling on the rows ``search`` (those that
    miss the SLO there): ``usable`` and ``ttft`` filled in on them."""
    if search.size:
        lo = np.full(search.size, MIN_UTILIZATION)
        busy, n_lo = replicas(lo, search)
        t_lo = at_replicas(busy, n_lo, search)
        feasible = t_lo <= slo_s[search]
        search, lo, busy = search[feasible], lo[feasible], busy[feasible]
        n_lo, t_lo = n_lo[feasible], t_lo[feasible]
        hi = np.full(search.size, float(ceiling))
        n_hi = replicas(hi, search)[1]
        slo_search = slo_s[search]
        # The quantile depends on rho only through the whole replicas n(rho) (the pool runs at
        # busy / n): a midpoint with lo's n meets the SLO (lo's quantile), one with hi's does
        # not, so only the midpoints with a new n are evaluated (issue 26: most are not).
        for _ in range(search_steps):
            mid = (lo + hi) / 2
            n_mid = np.maximum(np.ceil(busy / mid - 1e-9), 1.0)
            t_mid = np.where(n_mid == n_lo, t_lo, np.inf)
            new = np.flatnonzero((n_mid != n_lo) & (n_mid != n_hi))
            if new.size:
                t_mid[new] = at_replicas(busy[new], n_mid[new], search[new])
            good = t_mid <= slo_search
            lo = np.where(good, mid, lo)
            n_lo = np.where(good, n_mid, n_lo)
            t_lo = np.where(good, t_mid, t_lo)
            hi = np.where(good, hi, mid)
            n_hi = np.where(good, n_hi, n_mid)
        usable[search] = lo
        ttft[search] = t_lo
    return usable, ttft
