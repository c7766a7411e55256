"""Extract the serving-latency rows shipped with the package from the shared measured data.

Writes ``planner/catalog/data/benchmarks/inferencemax.csv``: the SemiAnalysis InferenceMAX
nightly rows on NVIDIA GPUs without disaggregation or speculative decoding (concurrency sweeps;
median TTFT and TPOT, engine and engine image as published in each row's notes), and adds the
median and P99 inter-token latency of ML.ENERGY v3 (from its notes) to ``mlenergy_v3.csv``.

    python scripts/extract_serving_latency.py /work/shared/data/external
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pandas as pd

log = logging.getLogger("extract_serving_latency")
OUT = Path(__file__).resolve().parents[1] / "planner" / "catalog" / "data" / "benchmarks"


def _note(notes: pd.Series, pattern: str) -> pd.Series:
    return notes.str.extract(pattern)[0]


def inferencemax(external: Path) -> pd.DataFrame:
    table = pd.read_csv(external / "throughput_measurements.csv")
    rows = table[table["benchmark"].str.contains("InferenceMAX", na=False)
                 & table["accelerator"].str.startswith("NVIDIA")].copy()
    notes = rows["notes"]
    rows = rows[(_note(notes, r"spec_decoding=(\w+)") == "none")
                & (_note(notes, r"disagg=(\w+)") == "False")]
    notes = rows["notes"]
    image = _note(notes, r"image=([^;]+);")
    par = notes.str.extract(r"tp(\d+) ep(\d+) dp_attention=(\w+)")
    scen = rows["scenario"].str.extract(r"isl=(\d+);osl=(\d+);conc=(\d+)")
    engine = _note(notes, r"framework=([^;]+);").replace({"trt": "trtllm"})
    version = image.str.extract(r":v?([0-9][0-9a-z.]*?)(?:-cu|-rocm|$)")[0]
    out = pd.DataFrame({
        "model": rows["model"].str.replace(r"\s*\(.*\)$", "", regex=True),
        "checkpoint": _note(notes, r"model ckpt=([^;]+);"),
        "gpu": rows["accelerator"].str.replace("NVIDIA ", "", regex=False),
        "num_gpus": rows["num_accelerators"].astype(int),
        "precision": rows["precision"],
        "tp": par[0].astype(int), "ep": par[1].astype(int),
        "dp_attention": par[2].str.lower() == "true",
        "isl": scen[0].astype(int), "osl": scen[1].astype(int),
        "concurrency": scen[2].astype(int),
        "engine": engine, "engine_version": version, "image": image,
        "out_tok_s_total": rows["tok_s_total"],
        "median_ttft_ms": _note(notes, r"median TTFT s = ([0-9.]+)").astype(float) * 1e3,
        "median_tpot_ms": _note(notes, r"median TPOT s = ([0-9.]+)").astype(float) * 1e3,
        "source": rows["source"]})
    return out.reset_index(drop=True)


def mlenergy_itl(external: Path) -> pd.DataFrame:
    shipped = pd.read_csv(OUT / "mlenergy_v3.csv")
    energy = pd.read_csv(external / "energy_measurements.csv")
    energy = energy[energy["notes"].str.contains("median_ITL_ms", na=False)]
    keys = pd.DataFrame({
        "model": energy["model"], "gpu": energy["gpu"], "num_gpus": energy["num_gpus"],
        "task": _note(energy["notes"], r"task=([\w-]+)"),
        "max_num_seqs": _note(energy["notes"], r"max_num_seqs=(\d+)").astype(int),
        "tok_s": energy["tok_s"],
        "median_itl_ms": _note(energy["notes"], r"median_ITL_ms=([0-9.]+)").astype(float),
        "p99_itl_ms": _note(energy["notes"], r"p99_ITL_ms=([0-9.]+)").astype(float)})
    base = shipped.drop(columns=[c for c in ("median_itl_ms", "p99_itl_ms") if c in shipped])
    merged = base.merge(keys.drop_duplicates(["model", "gpu", "num_gpus", "task", "max_num_seqs",
                                              "tok_s"]),
                        on=["model", "gpu", "num_gpus", "task", "max_num_seqs", "tok_s"],
                        how="left")
    if len(merged) != len(shipped):
        raise SystemExit("ML.ENERGY rows did not match one to one")
    log.info("ML.ENERGY: %d of %d rows with an inter-token latency",
             merged["median_itl_ms"].notna().sum(), len(merged))
    return merged


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    external = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/external")
    im = inferencemax(external)
    im.to_csv(OUT / "inferencemax.csv", index=False)
    log.info("InferenceMAX: %d NVIDIA rows -> %s", len(im), OUT / "inferencemax.csv")
    mlenergy_itl(external).to_csv(OUT / "mlenergy_v3.csv", index=False)


if __name__ == "__main__":
    main()
