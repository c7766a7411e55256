"""The same TensorRT-LLM configuration measured in two editions of the perf overview: for every
(model, GPU, precision, GPU count, ISL, OSL) present in both, the later edition's measured
throughput over the earlier one's, summarised per model and GPU (count, median, min, max).

An engine-version effect the model should carry would show on every model present in both
editions, not on one. Reads the shipped TensorRT-LLM tables only; prints the table.

    python scripts/check_editions.py
"""

import pandas as pd

from planner.perf.calibrate import load_throughput_rows

PAIRS = (("v0.17", "v0.19"), ("v0.19", "v0.20"), ("v0.20", "v0.21"), ("v0.20", "v1.0"),
         ("v0.21", "v1.0"), ("v1.0", "v1.1+"))
KEYS = ["model", "hardware", "precision", "num_gpus", "isl", "osl"]


def edition_ratios(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model and GPU, later / earlier edition measured throughput on identical configs."""
    rows = rows.drop_duplicates(KEYS + ["version"])
    wide = rows.pivot_table(index=KEYS, columns="version", values="measured_tok_s")
    out = []
    for early, late in PAIRS:
        if early not in wide or late not in wide:
            continue
        ratio = (wide[late] / wide[early]).dropna()
        if ratio.empty:
            continue
        summary = ratio.groupby(level=["model", "hardware"]).agg(
            ["count", "median", "min", "max"]).reset_index()
        out.append(summary.assign(editions=f"{early} -> {late}"))
    return pd.concat(out, ignore_index=True)[["editions", "model", "hardware", "count",
                                              "median", "min", "max"]]


if __name__ == "__main__":
    print(edition_ratios(load_throughput_rows()).round(2).to_string(index=False))
