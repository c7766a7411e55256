"""Build the measured datasets shipped with the package from ``../shared/data``.

Copies the TensorRT-LLM Blackwell/MoE table as is and extracts, from the external energy table,
the ML.ENERGY v3 rows (vLLM 0.11.1) with the fields their notes carry (task, TP/EP/DP, the
average running batch) and the MLPerf Power rows (whole-server wall power). Every row keeps its
``source``. Run: ``python scripts/import_measurements.py [SHARED_DATA_DIR]``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd

from planner.catalog import data_path


def mlenergy_v3(energy: pd.DataFrame) -> pd.DataFrame:
    rows = energy[energy["engine"].astype(str).str.contains("vLLM 0.11")].copy()
    notes = rows["notes"].astype(str)
    par = notes.str.extract(r"TP(\d+)/EP(\d+)/DP(\d+)").astype(float)
    out = pd.DataFrame({
        "model": rows["model"], "gpu": rows["gpu"], "num_gpus": rows["num_gpus"],
        "precision": rows["precision"], "engine": "vllm",
        "engine_version": rows["engine"],
        "task": notes.str.extract(r"task=(\S+)")[0],
        "tp": par[0], "ep": par[1], "dp": par[2],
        "max_num_seqs": rows["batch_or_concurrency"],
        "avg_batch": pd.to_numeric(notes.str.extract(r"avg_batch=([\d.]+)")[0]),
        "osl": rows["osl"], "tok_s": rows["tok_s"], "gpu_power_w": rows["avg_power_w"],
        "j_per_token": rows["j_per_token"], "source": rows["source"]})
    return out.reset_index(drop=True)


def mlperf_power(energy: pd.DataFrame) -> pd.DataFrame:
    rows = energy[energy["source"].astype(str).str.contains("mlcommons")].copy()
    notes = rows["notes"].astype(str)
    return pd.DataFrame({
        "model": rows["model"], "gpu": rows["gpu"], "num_gpus": rows["num_gpus"],
        "precision": rows["precision"], "engine": "trtllm",
        "maxq": notes.str.contains("MaxQ"),
        "tok_s": rows["tok_s"], "wall_power_w": rows["avg_power_w"],
        "tokens_per_sample": pd.to_numeric(
            notes.str.extract(r"TOKENS_PER_SAMPLE: ([\d.]+)")[0]),
        "source": rows["source"]}).reset_index(drop=True)


def main(shared: Path) -> None:
    target = data_path("benchmarks")
    shutil.copyfile(shared / "trtllm_throughput_blackwell_moe.csv",
                    target / "trtllm_throughput_blackwell_moe.csv")
    energy = pd.read_csv(shared / "external" / "energy_measurements.csv")
    mlenergy_v3(energy).to_csv(target / "mlenergy_v3.csv", index=False)
    mlperf_power(energy).to_csv(target / "mlperf_power.csv", index=False)
    print(f"wrote {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
         / "shared" / "data")
