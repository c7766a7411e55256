"""Extract the AMD Instinct measurements shipped with the package from the shared measured data.

Writes two files under ``planner/catalog/data/benchmarks/``, every row with its ``source``:

- ``amd_mlperf.csv``: every MLPerf Inference v4.1/v5.1 row on AMD Instinct accelerators as
  published (accelerator name, precision, scenario, system, submitter, software stack), with the
  measured output tokens per sample (``TOKENS_PER_SAMPLE`` of the accuracy run). Nothing is
  dropped here: the loader (``planner.perf.amd.mlperf_rows``) names and skips the rows it cannot
  use (a mixed-accelerator system, a software stack without an engine version, no precision).
- ``inferencemax_amd.csv``: the SemiAnalysis InferenceMAX rows on MI300X/MI325X, same columns as
  ``inferencemax.csv`` (engine image and version as published).

    python scripts/extract_amd.py /work/shared/data/external
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_serving_latency import OUT, _note  # noqa: E402

log = logging.getLogger("extract_amd")


def _amd(table: pd.DataFrame) -> pd.Series:
    return table["accelerator"].astype(str).str.contains(r"\bMI3\d\d", regex=True)


def mlperf(external: Path) -> pd.DataFrame:
    table = pd.read_csv(external / "throughput_measurements.csv")
    rows = table[table["benchmark"].str.startswith("MLPerf", na=False) & _amd(table)].copy()
    notes = rows["notes"].astype(str)
    return pd.DataFrame({
        "benchmark": rows["benchmark"],
        "division": _note(notes, r"MLPerf Inference v[\d.]+ (\w+) datacenter"),
        "model": rows["model"].str.replace(r"\s*\(.*\)$", "", regex=True),
        "benchmark_model": rows["model"],
        "accelerator": rows["accelerator"], "num_accelerators": rows["num_accelerators"],
        "accelerators_per_node": pd.to_numeric(
            _note(notes, r"a# \(accelerators per node\)=([\d.]+)"), errors="coerce"),
        "precision": rows["precision"], "scenario": rows["scenario"],
        "tok_s_total": rows["tok_s_total"], "tok_s_per_accel": rows["tok_s_per_accel"],
        "tokens_per_sample": pd.to_numeric(_note(notes, r"TOKENS_PER_SAMPLE: ([\d.]+)"),
                                           errors="coerce"),
        "submitter": _note(notes, r"submitter=([^;]+);"),
        "system": _note(notes, r"system=([^;]+);").str.strip(),
        "software": _note(notes, r"software=([^;]+);"),
        "source": rows["source"]}).reset_index(drop=True)


def inferencemax(external: Path) -> pd.DataFrame:
    table = pd.read_csv(external / "throughput_measurements.csv")
    rows = table[table["benchmark"].str.contains("InferenceMAX", na=False) & _amd(table)].copy()
    notes = rows["notes"]
    image = _note(notes, r"image=([^;]+);")
    par = notes.str.extract(r"tp(\d+) ep(\d+) dp_attention=(\w+)")
    scen = rows["scenario"].str.extract(r"isl=(\d+);osl=(\d+);conc=(\d+)")
    return pd.DataFrame({
        "model": rows["model"].str.replace(r"\s*\(.*\)$", "", regex=True),
        "checkpoint": _note(notes, r"model ckpt=([^;]+);"),
        "gpu": rows["accelerator"], "num_gpus": rows["num_accelerators"].astype(int),
        "precision": rows["precision"],
        "tp": par[0].astype(int), "ep": par[1].astype(int),
        "dp_attention": par[2].str.lower() == "true",
        "isl": scen[0].astype(int), "osl": scen[1].astype(int),
        "concurrency": scen[2].astype(int),
        "engine": _note(notes, r"framework=([^;]+);"),
        "engine_version": image.str.extract(r":v?([0-9][0-9a-z.]*?)(?:-cu|-rocm|$)")[0],
        "image": image, "out_tok_s_total": rows["tok_s_total"],
        "median_ttft_ms": _note(notes, r"median TTFT s = ([0-9.]+)").astype(float) * 1e3,
        "median_tpot_ms": _note(notes, r"median TPOT s = ([0-9.]+)").astype(float) * 1e3,
        "source": rows["source"]}).reset_index(drop=True)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    external = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/external")
    ml = mlperf(external)
    ml.to_csv(OUT / "amd_mlperf.csv", index=False)
    log.info("MLPerf: %d AMD Instinct rows -> %s", len(ml), OUT / "amd_mlperf.csv")
    im = inferencemax(external)
    im.to_csv(OUT / "inferencemax_amd.csv", index=False)
    log.info("InferenceMAX: %d AMD rows -> %s", len(im), OUT / "inferencemax_amd.csv")


if __name__ == "__main__":
    main()
