"""Chunked attention (planner.perf.chunked): hand-solved cases and a brute-force cross-check."""

import numpy as np
from hypothesis import given, strategies as st

from planner.perf.chunked import (chunk_square_sum, chunked_attention_factors,
                                  mean_chunk_context)


def test_mean_chunk_context_by_hand():
    # positions 0..3, chunk 2: attends 1, 2, 1, 2 tokens -> 1.5
    assert mean_chunk_context(np.array(0.0), np.array(4.0), np.array(2.0)) == 1.5
    # positions 3, 4, chunk 4: attends 4, 1 -> 2.5
    assert mean_chunk_context(np.array(3.0), np.array(2.0), np.array(4.0)) == 2.5


def test_chunk_square_sum_by_hand():
    assert chunk_square_sum(np.array(10.0), np.array(4.0)) == 2 * 16 + 4  # chunks 4, 4, 2


@given(st.integers(0, 300), st.integers(1, 100), st.integers(1, 64))
def test_mean_chunk_context_brute_force(isl, osl, chunk):
    brute = np.mean([p % chunk + 1 for p in range(isl, isl + osl)])
    got = mean_chunk_context(np.array(float(isl)), np.array(float(osl)), np.array(float(chunk)))
    assert np.isclose(got, brute)


def _row(family, on=True):
    return {"chunked_attention": np.array([on]), "attention_chunk": np.array([8192.0]),
            "chunked_layers": np.array([36.0]), "attention_layers": np.array([48.0]),
            "heads": np.array([40.0]), "kv_heads": np.array([8.0]),
            "family": np.array([family], dtype=object), "engine": np.array(["trtllm"], dtype=object),
            "isl": np.array([16384.0]), "osl": np.array([2.0])}


def test_factors_by_hand():
    # Positions 16384, 16385 attend 1 and 2 tokens of their chunk (mean 1.5); the step's mean
    # context is 16385; 12 full layers, 36 chunked; prefill: 2 whole chunks of 8192.
    context = 16385.0
    blackwell = chunked_attention_factors(_row("blackwell"))
    assert np.isclose(blackwell["decode_flops"], (12 * context + 36 * 1.5) / (48 * context))
    assert np.isclose(blackwell["decode_reads"], blackwell["decode_flops"])
    assert np.isclose(blackwell["prefill"], (12 + 36 * 0.5) / 48)
    # Hopper's MMHA fallback (assumed): the chunk's KV read once per query head of the group.
    hopper = chunked_attention_factors(_row("hopper"))
    assert np.isclose(hopper["decode_reads"], (12 * context + 36 * 5 * 1.5) / (48 * context))
    off = chunked_attention_factors(_row("hopper", on=False))
    assert off["decode_reads"] == off["decode_flops"] == off["prefill"] == 1.0
