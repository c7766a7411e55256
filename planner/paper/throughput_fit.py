"""The paper's throughput regression: log TPS = b0 + b1 log L_in + b2 log L_out, per model.

Predictions are capped at the highest TPS observed for the model (the 'piecewise' part of the
paper's regression). With fewer than three rows the model gets its highest observed TPS as a
constant, exactly as the released code does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_POINTS_FOR_REGRESSION = 3


@dataclass(frozen=True)
class ThroughputFit:
    """A fitted throughput curve of one model; ``coef`` is None for the constant fallback."""

    model_id: str
    coef: tuple[float, float, float] | None
    tps_cap: float
    n_points: int
    rows: pd.DataFrame  # the table rows it was fit on, with predictions and errors

    @property
    def kind(self) -> str:
        return "regression" if self.coef is not None else "constant-max"

    def predict(self, input_tokens, output_tokens) -> np.ndarray:
        """Tokens/s for arrays of lengths (broadcast), capped at the highest observed TPS."""
        l_in = np.asarray(input_tokens, dtype=float)
        l_out = np.asarray(output_tokens, dtype=float)
        if self.coef is None:
            return np.full(np.broadcast(l_in, l_out).shape, self.tps_cap)
        b0, b1, b2 = self.coef
        log_tps = b0 + b1 * np.log(l_in) + b2 * np.log(l_out)
        return np.minimum(np.exp(log_tps), self.tps_cap)

    @property
    def mape(self) -> float:
        """Mean absolute percentage error of the fit on its own rows (in-sample)."""
        return float(self.rows["abs_pct_error"].mean())


def fit_throughput(rows: pd.DataFrame, model_id: str) -> ThroughputFit:
    """Fit one model on rows with columns ``tps``, ``input_tokens``, ``output_tokens``."""
    rows = rows.dropna(subset=["tps", "input_tokens", "output_tokens"]).copy()
    if rows.empty:
        raise ValueError(f"no usable throughput rows for {model_id}")
    tps = rows["tps"].to_numpy(float)
    cap = float(tps.max())
    coef = None
    if len(rows) >= MIN_POINTS_FOR_REGRESSION:
        design = np.column_stack([np.ones(len(rows)), np.log(rows["input_tokens"].to_numpy(float)),
                                  np.log(rows["output_tokens"].to_numpy(float))])
        solution, *_ = np.linalg.lstsq(design, np.log(tps), rcond=None)
        coef = tuple(float(c) for c in solution)
    fit = ThroughputFit(model_id, coef, cap, len(rows), rows)
    predicted = fit.predict(rows["input_tokens"], rows["output_tokens"])
    rows["tps_predicted"] = predicted
    rows["abs_pct_error"] = np.abs(predicted / tps - 1.0) * 100.0
    return fit


def fit_models(table: pd.DataFrame, model_ids: list[str], precision: str) -> dict[str, ThroughputFit]:
    """Fit each model on the table rows of ``precision`` (the paper uses FP8 rows only)."""
    chosen = table[table["precision"] == precision.lower()]
    return {m: fit_throughput(chosen[chosen["model_id"] == m], m) for m in model_ids}


def fit_table(fits: dict[str, ThroughputFit]) -> pd.DataFrame:
    """Coefficients and in-sample error, one row per model."""
    records = []
    for model_id, fit in fits.items():
        b0, b1, b2 = fit.coef if fit.coef is not None else (np.nan, np.nan, np.nan)
        records.append({"model": model_id, "kind": fit.kind, "n_points": fit.n_points,
                        "b0": b0, "b1_log_input": b1, "b2_log_output": b2,
                        "tps_cap": fit.tps_cap, "mape_pct": fit.mape,
                        "max_ape_pct": float(fit.rows["abs_pct_error"].max())})
    return pd.DataFrame.from_records(records)
