"""Chunked attention (Llama 4: ``attention_chunk_size`` on the RoPE layers): what the engine's
attention kernels cost on those layers, as multipliers on the full-attention cost.

A token at position p of a chunked layer attends to the ``p mod C + 1`` tokens of its own chunk of
C, not to all p + 1. The KV cache is held in full either way (TensorRT-LLM allocates the largest
window: NVIDIA/TensorRT-LLM docs/source/features/long-sequence.md), so only time moves.

What TensorRT-LLM ran, by edition (rows carry ``chunked_attention``; other cases run full
attention, the conservative reading, as before):
- up to v0.20 every layer ran full attention in the generation phase (chunked attention in the
  generation phase was enabled by default by PR 4693, "Fix the bug of setting
  attention_chunk_size and enable chunked-attention in the generation-phase by default",
  2025-05-27; the v0.21 release notes list "Added support for chunked attention on Blackwell and
  Hopper" and, as a known issue, "full chunked attention support has been added to make sure
  LLaMA4 model can functionally run with > 8K seq length, while there is a known performance
  regression ... on Hopper");
- from v0.21 the chunked layers run chunked attention in the context and the generation phase;
  on the GPUs whose generation kernel is XQA (Ampere, Ada, Hopper) XQA has no chunked attention
  and MMHA runs those layers, "slower" (PR 6306, 2025-07-23: "XQA does not support chunked
  attention at the moment, while MMHA supports chunked attention but is slower", which keeps XQA
  where max_seqlen < chunk; the XQA JIT's ``supportConfigCommon`` refuses any
  ``chunked_attention_size``). ASSUMPTION (not measured, no source found for MMHA's KV
  traffic): MMHA runs one thread block per query head and each block reads its KV head itself
  (XQA's point is to read a KV head once for its whole query-head group), so the MMHA fallback
  is modelled as reading the chunk's KV once per query head of the group (heads / kv_heads: 5x
  for Llama 4's 40 / 8), with no sharing through L2. Were the group's reads shared, the Hopper
  rows' chunked-layer KV reads would be 1/5 of this.
"""

import numpy as np

from planner.perf.factors import is_reference_engine

# Families whose TensorRT-LLM generation attention is XQA (Blackwell runs TRTLLM-Gen kernels,
# which have chunked attention): there chunked layers fall back to MMHA (module docstring).
XQA_FAMILIES = ("ampere", "ada", "hopper")


def _chunk_position_sum(x: np.ndarray, chunk: np.ndarray) -> np.ndarray:
    """Sum of (p mod chunk) over positions p = 0 .. x - 1 (whole chunks, then the rest)."""
    whole = np.floor(x / chunk)
    rest = x - whole * chunk
    return whole * chunk * (chunk - 1) / 2 + rest * (rest - 1) / 2


def mean_chunk_context(isl: np.ndarray, osl: np.ndarray, chunk: np.ndarray) -> np.ndarray:
    """Mean number of tokens a decode position of a chunked layer attends to, over the
    positions isl .. isl + osl - 1 (``p mod chunk + 1``)."""
    chunk = np.maximum(chunk, 1.0)
    osl = np.maximum(osl, 1.0)
    return (_chunk_position_sum(isl + osl, chunk) - _chunk_position_sum(isl, chunk)) / osl + 1


def chunk_square_sum(isl: np.ndarray, chunk: np.ndarray) -> np.ndarray:
    """Sum over a prompt's chunks of (chunk length)^2: the causal attention work of a prompt of
    ``isl`` tokens when each token attends only within its chunk (isl^2 without chunking)."""
    chunk = np.maximum(chunk, 1.0)
    whole = np.floor(isl / chunk)
    rest = isl - whole * chunk
    return whole * chunk**2 + rest**2


def chunked_attention_factors(s: dict) -> dict[str, np.ndarray]:
    """Multipliers on the full-attention decode KV reads, decode attention FLOPs and prefill
    attention FLOPs of each row (1 where a row runs full attention).

    ``s`` needs: ``chunked_attention`` (bool), ``attention_chunk``, ``chunked_layers``,
    ``attention_layers``, ``heads``, ``kv_heads``, ``family``, ``engine``, ``isl``, ``osl``
    (the MMHA fallback is TensorRT-LLM's).
    """
    if not np.any(s["chunked_attention"]):  # planning cases: full attention, no array work
        return {"decode_reads": 1.0, "decode_flops": 1.0, "prefill": 1.0}
    chunk = s["attention_chunk"]
    layers = np.maximum(s["attention_layers"], 1.0)
    chunked = np.minimum(s["chunked_layers"], layers)
    on = s["chunked_attention"] & (chunk > 0) & (chunked > 0)
    isl, osl = s["isl"], s["osl"]
    context = isl + osl / 2  # the decode step's mean context (planner.perf.model.decode_step_s)
    attended = mean_chunk_context(isl, osl, chunk)
    full = layers - chunked
    trtllm = is_reference_engine(s["engine"])
    mmha = (on & trtllm & np.isin(np.asarray(s["family"], dtype=object), XQA_FAMILIES)
            & (isl + osl > chunk))
    # ASSUMPTION (module docstring): MMHA reads the KV once per query head of the group.
    group = np.where(mmha, s["heads"] / np.maximum(s["kv_heads"], 1.0), 1.0)
    decode_flops = (full * context + chunked * attended) / (layers * context)
    decode_reads = (full * context + chunked * group * attended) / (layers * context)
    prefill = (full * isl**2 + chunked * chunk_square_sum(isl, chunk)) / (layers * isl**2)
    return {"decode_reads": np.where(on, decode_reads, 1.0),
            "decode_flops": np.where(on, decode_flops, 1.0),
            "prefill": np.where(on, prefill, 1.0)}
