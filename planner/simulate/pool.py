"""One pool of replicas under Poisson arrivals, simulated on simpy.

A pool is ``replicas`` replicas of ``slots`` slots each (continuous batching) and one prefill
server per replica. A request arrives (Poisson), waits for a free slot in the pool (FIFO; it
joins the replica with the fewest running requests), queues for its replica's prefill work,
gets its first token ``t0 - prefill`` after its prefill starts (``t0``: its bucket's unloaded
TTFT, which includes the prefill), then decodes for ``decode`` seconds and frees its slot.
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


def simulate_pool(streams: list[Stream], replicas: int, slots: int, requests: int,
                  seed: int = 0, warmup: float = 0.2) -> list[dict[str, np.ndarray]]:
    """Per stream: the TTFT and TPOT (seconds) of its requests after the warm-up fraction."""
    import simpy

    rng = np.random.default_rng(seed)
    total_rate = sum(s.rate_per_s for s in streams)
    if total_rate <= 0 or requests <= 0:
        return [{"ttft_s": np.array([]), "tpot_s": np.array([])} for _ in streams]
    gaps = rng.exponential(1 / total_rate, requests)
    which = rng.choice(len(streams), size=requests,
                       p=np.array([s.rate_per_s for s in streams]) / total_rate)
    buckets = np.array([rng.choice(streams[k].weight.size, p=streams[k].weight / streams[k]
                                   .weight.sum()) for k in which]) if requests else np.array([])
    env = simpy.Environment()
    pool = simpy.Resource(env, capacity=max(int(replicas * slots), 1))
    prefill = [simpy.Resource(env, capacity=1) for _ in range(max(int(replicas), 1))]
    running = np.zeros(len(prefill))
    ttft = np.full(requests, np.nan)
    tpot = np.full(requests, np.nan)

    def request(i: int, k: int, b: int):
        stream = streams[k]
        arrived = env.now
        with pool.request() as slot:
            yield slot
            replica = int(np.argmin(running))
            running[replica] += 1
            with prefill[replica].request() as work:
                yield work
                yield env.timeout(stream.prefill_s[b])
            yield env.timeout(max(stream.t0_s[b] - stream.prefill_s[b], 0.0))
            ttft[i] = env.now - arrived
            tpot[i] = stream.tpot_s[b]
            yield env.timeout(stream.decode_s[b])
            running[replica] -= 1

    def arrivals():
        for i in range(requests):
            yield env.timeout(gaps[i])
            env.process(request(i, int(which[i]), int(buckets[i])))

    env.process(arrivals())
    env.run()
    keep = np.arange(requests) >= int(warmup * requests)
    return [{"ttft_s": ttft[keep & (which == k)], "tpot_s": tpot[keep & (which == k)]}
            for k in range(len(streams))]
