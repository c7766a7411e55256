"""Issue 25: the TensorRT-LLM v1.0 tables' MoE rows ran attention data parallel + expert
parallel (the perf overview's MoE recipe), and what that does to an 80 GB H100's KV cache."""

import numpy as np
import pandas as pd
import pytest

from planner.perf.datasets import ATTENTION_DP_MOE_VERSIONS, attention_dp_moe, trtllm_rows
from planner.perf.factors import FACTOR_NAMES, POWER_NAMES, PRIOR
from planner.perf.model import evaluate, gather_specs

GIB = 2.0**30


def test_v1_0_moe_rows_are_attention_data_parallel_and_nothing_else_moves():
    rows = trtllm_rows()
    v10 = rows["version"] == "v1.0"
    moe = rows["model_id"].isin(["llama-4-maverick", "qwen3-235b-a22b"])
    # 25 Maverick + 27 Qwen3-235B rows on 8 GPUs (H100, H200, B200), labelled TP8 in the table.
    assert ((rows["parallelism"] == "dep") & v10).sum() == 52
    assert (rows.loc[v10 & moe, "parallelism"] == "dep").all()
    assert (rows.loc[v10 & ~moe, "parallelism"] == "tp").all()  # dense v1.0 rows
    # The v0.20 Maverick rows (no attention-DP recipe in that edition) stay tensor parallel.
    v020 = (rows["version"] == "v0.20") & (rows["model_id"] == "llama-4-maverick")
    assert v020.sum() == 13 and (rows.loc[v020, "parallelism"] == "tp").all()
    assert ATTENTION_DP_MOE_VERSIONS == ("v1.0",)


def test_rule_leaves_single_gpu_dense_and_unknown_models_alone():
    cases = pd.DataFrame({
        "model_id": ["llama-4-maverick", "llama-4-maverick", "llama-3.3-70b", "", "gpt-oss-120b"],
        "version": ["v1.0", "v0.20", "v1.0", "v1.0", "v1.0"],
        "parallelism": ["tp", "tp", "tp", "tp", "tp"],
        "num_gpus": [8.0, 8.0, 4.0, 8.0, 1.0]})
    out = attention_dp_moe(cases)
    assert out["parallelism"].tolist() == ["dep", "tp", "tp", "tp", "tp"]
    assert cases["parallelism"].tolist() == ["tp"] * 5  # the input is not modified


def test_attention_dp_halves_maverick_kv_room_on_h100_by_hand():
    # Llama-4-Maverick FP8 on 8 x H100 80 GB at ISL/OSL 128/2048. Routed experts: (400 - 17) B
    # x 128 / 127 = 386.016 B parameters, the rest (13.984 B: attention, dense FFN layers,
    # shared experts, embeddings) is held by every GPU under attention DP.
    experts = 383e9 * 128 / 127
    shared = 400e9 - experts
    w_tp = 400e9 / 8
    w_dep = shared + experts / 8
    assert w_dep / 1e9 == pytest.approx(62.236, abs=1e-3)
    # KV room: 92 % of 80 GiB less the weights, 95 % of it for the KV cache; one sequence of
    # 2,176 tokens at 48 layers x 8 KV heads x 128 x 2 x 1 B (FP8) = 98,304 B per token.
    usable = 80 * GIB * 0.92
    per_sequence = 98304 * 2176
    tp_batch = np.floor((usable - w_tp) * 0.95 * 8 / per_sequence)
    dep_batch = 8 * np.floor((usable - w_dep) * 0.95 / per_sequence)
    assert (tp_batch, dep_batch) == (1031, 592)
    cases = pd.DataFrame({"model": "llama-4-maverick", "hardware": "h100-sxm",
                          "precision": "fp8", "num_gpus": 8, "isl": 128, "osl": 2048,
                          "parallelism": ["tp", "dep"]})
    s = gather_specs(cases)
    factors = {k: np.full(2, float(PRIOR[k])) for k in FACTOR_NAMES + POWER_NAMES}
    out = evaluate(s, factors)
    assert out["weights_gb_per_gpu"] == pytest.approx([w_tp / 1e9, w_dep / 1e9], rel=1e-9)
    assert out["max_batch_memory"].tolist() == [tp_batch, dep_batch]
