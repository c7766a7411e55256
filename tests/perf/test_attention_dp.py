"""Issue 25: the TensorRT-LLM v1.0 tables' MoE rows ran attention data parallel + expert
parallel (the perf overview's MoE recipe), and what that does to an 80 GB H100's KV cache."""

import numpy as np
import pandas as pd
import pytest

from planner.perf.datasets import ATTENTION_DP_MOE_VERSIONS, attention_dp_moe, trtllm_rows
from planner.perf.factors import FACTOR_NAMES, POWER_NAMES, PRIOR
from planner.perf.model import dep_moe_workspace_bytes, evaluate, gather_specs

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
    # Under DEP each GPU's KV cache is sized around TensorRT-LLM's MoE workspace for all 8
    # ranks' 8,192 profiling tokens (issue 25, seventh round): intermediate 386.016 B / (24 MoE
    # layers x 128 experts x 3 x 5,120) = 8,180.74; per row top-1 x (2 x 5,120 + 5 x 8,180.74)
    # + 3 x 5,120 = 66,503.7 bytes; x 8 x 8,192 rows = 4.358 GB.
    workspace = 8 * 8192 * (1 * (2 * 5120 + 5 * experts / (24 * 128 * 3 * 5120)) + 3 * 5120)
    assert workspace / 1e9 == pytest.approx(4.3584, abs=1e-4)
    tp_batch = np.floor((usable - w_tp) * 0.95 * 8 / per_sequence)
    dep_batch = 8 * np.floor((usable - w_dep - workspace) * 0.95 / per_sequence)
    assert (tp_batch, dep_batch) == (1031, 440)  # 592 without the workspace
    cases = pd.DataFrame({"model": "llama-4-maverick", "hardware": "h100-sxm",
                          "precision": "fp8", "num_gpus": 8, "isl": 128, "osl": 2048,
                          "parallelism": ["tp", "dep"]})
    s = gather_specs(cases)
    factors = {k: np.full(2, float(PRIOR[k])) for k in FACTOR_NAMES + POWER_NAMES}
    out = evaluate(s, factors)
    assert out["weights_gb_per_gpu"] == pytest.approx([w_tp / 1e9, w_dep / 1e9], rel=1e-9)
    assert out["max_batch_memory"].tolist() == [tp_batch, dep_batch]


def test_dep_moe_workspace_by_hand_and_only_for_trtllm_dep():
    # Qwen3-235B-A22B on 8 GPUs: hidden 4,096, top-8; intermediate from the catalog's expert
    # parameters over (94 MoE layers x 128 experts x 3 x 4,096).
    cases = pd.DataFrame({"model": "qwen3-235b-a22b", "hardware": "h200-sxm",
                          "precision": "fp8", "num_gpus": 8, "isl": 1000, "osl": 1000,
                          "parallelism": ["dep", "tp", "dep"],
                          "engine": ["trtllm", "trtllm", "vllm"]})
    s = gather_specs(cases)
    inter = s["expert_params"][0] / (94 * 128 * 3 * 4096)
    assert inter == pytest.approx(1536.7, abs=0.1)
    per_row = 8 * (2 * 4096 + 5 * inter) + 3 * 4096
    expected = 8 * 8192 * per_row
    assert expected / 1e9 == pytest.approx(9.128, abs=1e-3)
    got = dep_moe_workspace_bytes(s)
    assert got.tolist() == pytest.approx([expected, 0.0, 0.0], rel=1e-12)
    # A dense model under the same layout reserves nothing.
    dense = gather_specs(cases.assign(model="llama-3.3-70b", parallelism="tp"))
    assert dep_moe_workspace_bytes(dense).tolist() == [0.0, 0.0, 0.0]
