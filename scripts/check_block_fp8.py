"""The block-scaled FP8 MoE factor (vLLM on DeepSeek / Qwen FP8 checkpoints) held out by model:
each model's vLLM rows predicted by the engine refit without them, against the shipped fit and
against no factor (MAPE, %). Prints the table; reads the shipped calibration.

    python scripts/check_block_fp8.py
"""

from planner.perf.calibrate import block_fp8_holdout
from planner.perf.factors import load_calibration

if __name__ == "__main__":
    print(block_fp8_holdout(load_calibration()).round(3).to_string(index=False))
