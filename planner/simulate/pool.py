"""One pool of replicas under Poisson arrivals, simulated on simpy.

A pool is ``replicas`` replicas of ``slots`` slots each (continuous batching) and one prefill
server per replica. A request arrives (Poisson), waits for a free slot in the pool (FIFO; it
joins the replica with the fewest running requests), queues for its replica's prefill work,
gets its first token ``t0 - prefill`` after its prefill starts (``t0``: its bucket's unloaded
TTFT, which includes the prefill), then decodes and frees its slot. Its TPOT is the model's at
the replica's running batch when it is admitted (itself included; interpolated between the
occupancies its stream gives, the full-batch TPOT at a full replica), its decode time that
TPOT x its output length: a replica that is not full steps faster (issue 22).
Several classes may share a pool (a deployment serving several classes); each request carries
its class and length bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Stream:
    """A class's Poisson stream into a pool: rate, and per length bucket its weight, unloaded
    TTFT, prefill work, decode time and TPOT (seconds)."""

    rate_per_s: float
    weight: np.ndarray
    t0_s: np.ndarray
    prefill_s: np.ndarray
    decode_s: np.ndarray
    tpot_s: np.ndarray
    # TPOT at lower running batches (issue 22): running requests on the replica (ascending)
    # and per bucket the TPOT there (buckets x points). None: ``tpot_s`` at any occupancy.
    occupancy: np.ndarray | None = None
    tpot_at_occupancy_s: np.ndarray | None = None


def _arrivals(streams, requests, rates, rng):
    """Arrival times, stream and bucket of every request: ``rates`` streams x hours (requests/s
    in each hour of the day; ``requests`` None) or constant rates for ``requests`` requests."""
    if rates is None:
        rates = np.array([[s.rate_per_s] for s in streams], float)
    rates = np.asarray(rates, float).reshape(len(streams), -1)
    if requests is None:  # the day, hour by hour
        times, which = [], []
        for k in range(len(streams)):
            for h in range(rates.shape[1]):
                count = rng.poisson(rates[k, h] * 3600.0)
                times.append(rng.uniform(h * 3600.0, (h + 1) * 3600.0, count))
                which.append(np.full(count, k))
        times, which = np.concatenate(times), np.concatenate(which)
        order = np.argsort(times, kind="stable")
        times, which = times[order], which[order]
    else:
        total = rates[:, 0].sum()
        if total <= 0 or requests <= 0:
            return np.array([]), np.array([], int), np.array([], int)
        times = np.cumsum(rng.exponential(1 / total, requests))
        which = rng.choice(len(streams), size=requests, p=rates[:, 0] / total)
    buckets = np.empty(which.size, int)
    for k, stream in enumerate(streams):
        mine = which == k
        buckets[mine] = rng.choice(stream.weight.size, size=int(mine.sum()),
                                   p=stream.weight / stream.weight.sum())
    return times, which, buckets


def _steady_residuals(streams, rates, capacity, rng) -> list[float]:
    """Residual service times of the requests running in the steady state (Little's law:
    rate x mean service; bucket drawn by weight x service time; residual uniform)."""
    rate = np.asarray(rates if rates is not None else [[s.rate_per_s] for s in streams],
                      float).reshape(len(streams), -1)[:, 0]
    out: list[float] = []
    for k, stream in enumerate(streams):
        service = stream.t0_s + stream.decode_s
        busy = rate[k] * float(service @ (stream.weight / stream.weight.sum()))
        count = min(int(round(busy)), capacity - len(out))
        if count <= 0:
            continue
        p = stream.weight * service
        picks = rng.choice(service.size, size=count, p=p / p.sum())
        out.extend(rng.uniform(0, service[picks]).tolist())
    return out


def simulate_pool(streams: list[Stream], replicas: int, slots: int, requests: int | None,
                  seed: int = 0, warmup: float = 0.2, rates=None,
                  steady_start: bool = False) -> list[dict[str, np.ndarray]]:
    """Per stream: the TTFT and TPOT (seconds) of its requests after the warm-up fraction.

    ``rates`` (streams x hours, requests/s) with ``requests`` None simulates the day hour by
    hour; otherwise ``requests`` arrivals at the streams' (first-hour) rates. ``steady_start``
    fills the pool at time 0 with the requests Little's law says are running (each in a bucket
    drawn by weight x service time, at a uniform residual time), so that a short window at a
    large rate starts in its steady state."""
    import simpy

    rng = np.random.default_rng(seed)
    times, which, buckets = _arrivals(streams, requests, rates, rng)
    n = times.size
    env = simpy.Environment()
    capacity = max(int(replicas * slots), 1)
    prefilled = _steady_residuals(streams, rates, capacity, rng) if steady_start and n else []
    # The pool's free slots as a level (a Resource keeps a list of users: O(c) per release).
    pool = simpy.Container(env, capacity=capacity, init=capacity - len(prefilled))
    prefill = [simpy.Resource(env, capacity=1) for _ in range(max(int(replicas), 1))]
    running = np.zeros(len(prefill))
    ttft = np.full(n, np.nan)
    tpot = np.full(n, np.nan)
    for j in range(len(prefilled)):
        running[j % len(prefill)] += 1

    def drain():
        """The requests running at time 0 end at their residual times (one process)."""
        for j, residual in sorted(enumerate(prefilled), key=lambda item: item[1]):
            yield env.timeout(max(residual - env.now, 0.0))
            running[j % len(prefill)] -= 1
            yield pool.put(1)

    if prefilled:
        env.process(drain())

    def request(i: int, k: int, b: int):
        stream = streams[k]
        arrived = env.now
        yield pool.get(1)
        replica = int(np.argmin(running))
        running[replica] += 1
        with prefill[replica].request() as work:
            yield work
            yield env.timeout(stream.prefill_s[b])
        yield env.timeout(max(stream.t0_s[b] - stream.prefill_s[b], 0.0))
        ttft[i] = env.now - arrived
        tpot[i] = stream.tpot_s[b]
        if stream.occupancy is not None:
            tpot[i] = np.interp(running[replica], stream.occupancy,
                                stream.tpot_at_occupancy_s[b])
        yield env.timeout(stream.decode_s[b] * tpot[i] / stream.tpot_s[b])
        running[replica] -= 1
        yield pool.put(1)

    def arrivals():
        for i in range(n):
            yield env.timeout(max(times[i] - env.now, 0.0))
            env.process(request(i, int(which[i]), int(buckets[i])))

    env.process(arrivals())
    env.run()
    keep = np.arange(n) >= int(warmup * n)
    return [{"ttft_s": ttft[keep & (which == k)], "tpot_s": tpot[keep & (which == k)]}
            for k in range(len(streams))]
