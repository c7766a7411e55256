"""Pricing over a form, with no code per constraint type: reduced costs ``c - A^T y`` of the
pair columns, a dual of a larger form lifted from a smaller one's by the row blocks'
coordinates, and the slack columns that stand for the pairs a restricted problem leaves out.

Pair columns are the columns of every block with a ``pair`` coordinate (x, and any column a
constraint unit adds per pair, such as failover flows): a pair is priced by the least reduced
cost of its columns. Signs are HiGHS's: ``row_dual`` with ``c - A^T y`` the column duals (<= 0
on a binding <= row of a minimisation, >= 0 on a binding >= row).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from formulations.form import Form


def pair_blocks(form: Form) -> list[str]:
    """Names of the column blocks indexed by pair (x first)."""
    return [name for name, b in form.cols.items() if "pair" in b.coords.columns]


def _keys(coords: pd.DataFrame) -> pd.DataFrame:
    return coords.drop(columns=[k for k in ("constraint",) if k in coords.columns])


def row_map(source: Form, target: Form, deployment_map: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``source`` that ``target`` also has (the same block and coordinates; a
    ``deployment`` coordinate of ``source`` mapped through ``deployment_map``, -1 = absent):
    (source rows, target rows, as the hourly-to-block factor ``target.row_scale``)."""
    src_rows, tgt_rows, scale = [], [], []
    for name, sb in source.rows.items():
        tb = target.rows.get(name)
        if tb is None or sb.size == 0 or tb.size == 0:
            continue
        s_keys, t_keys = _keys(sb.coords).copy(), _keys(tb.coords).copy()
        if deployment_map is not None and "deployment" in s_keys:
            s_keys["deployment"] = deployment_map[s_keys["deployment"].to_numpy(int)]
        on = sorted(set(s_keys.columns) & set(t_keys.columns))
        if set(on) != set(s_keys.columns) or set(on) != set(t_keys.columns):
            continue  # differently shaped blocks of one name do not correspond
        merged = s_keys.assign(_s=np.arange(sb.size)).merge(
            t_keys.assign(_t=np.arange(tb.size)), on=on, how="inner")
        src_rows.append(sb.index.start + merged["_s"].to_numpy())
        tgt_rows.append(tb.index.start + merged["_t"].to_numpy())
        scale.append(np.full(len(merged), tb.row_scale / sb.row_scale))
    if not src_rows:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    return np.concatenate(src_rows), np.concatenate(tgt_rows), np.concatenate(scale)


def _pair_keyed(coords: pd.DataFrame, pair_key: np.ndarray) -> pd.DataFrame:
    """A block's coordinates with its ``pair`` (an index into one form's pairs) replaced by the
    pair's (class, deployment) key, which names the same pair in any form of the problem."""
    if "pair" not in coords.columns:
        return coords
    keyed = coords.drop(columns="pair")
    keyed["pair_key"] = pair_key[coords["pair"].to_numpy(int)]
    return keyed


def _pair_key(form: Form) -> np.ndarray:
    x = form.cols["x"].coords
    return (x["class"].to_numpy(np.int64) * max(form.n_deployments, 1)
            + x["deployment"].to_numpy(np.int64))


def _block_map(source: dict, target: dict, s_key: np.ndarray, t_key: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    src, tgt = [], []
    for name, sb in source.items():
        tb = target.get(name)
        if tb is None or sb.size == 0 or tb.size == 0:
            continue
        s_keys = _pair_keyed(_keys(sb.coords), s_key)
        t_keys = _pair_keyed(_keys(tb.coords), t_key)
        if set(s_keys.columns) != set(t_keys.columns):
            continue  # differently shaped blocks of one name do not correspond
        on = sorted(s_keys.columns)
        if not on:  # no coordinates: the i-th entries correspond where the sizes agree
            if sb.size == tb.size:
                src.append(sb.index.start + np.arange(sb.size))
                tgt.append(tb.index.start + np.arange(tb.size))
            continue
        merged = s_keys.assign(_s=np.arange(sb.size)).merge(
            t_keys.assign(_t=np.arange(tb.size)), on=on, how="inner")
        src.append(sb.index.start + merged["_s"].to_numpy())
        tgt.append(tb.index.start + merged["_t"].to_numpy())
    if not src:
        return np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(src), np.concatenate(tgt)


def form_map(source: Form, target: Form) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray]:
    """The columns and rows of ``source`` that ``target`` also has (same block, same
    coordinates; pairs matched by (class, deployment), so two restricted masters over different
    pair subsets correspond): (source cols, target cols, source rows, target rows). Carries a
    simplex basis from one master to the next."""
    s_key, t_key = _pair_key(source), _pair_key(target)
    s_cols, t_cols = _block_map(source.cols, target.cols, s_key, t_key)
    s_rows, t_rows = _block_map(source.rows, target.rows, s_key, t_key)
    return s_cols, t_cols, s_rows, t_rows


def lift_duals(master: Form, row_dual: np.ndarray, full: Form) -> np.ndarray:
    """A dual of ``full`` from a dual of ``master``: each row of ``full`` that ``master`` has
    (same block and coordinates) takes master's dual, rescaled by the blocks' ``row_scale`` (an
    aggregated capacity row is the hourly row / load_seconds); every other row gets 0. Then the
    rows that define a column block (``Block.defined_by``: the aggregated form's load and
    energy) get the dual that prices their defined column at exactly 0,
    ``y_def = a^T y - c`` over the column's other rows: for the aggregated form that is
    ``y_L = sum_h f_g(h) lambda_dh`` (energy likewise), so the pairs are priced as in the hourly
    form where L and E are substituted out."""
    y = np.zeros(full.a.shape[0])
    f_rows, m_rows, scale = row_map(full, master)
    y[f_rows] = np.asarray(row_dual, float)[m_rows] / scale
    for block in full.cols.values():
        if block.defined_by is None or block.size == 0:
            continue
        rows = full.rows[block.defined_by].index
        y[rows] = 0.0
        y[rows] = full.a[:, block.index].T @ y - full.cost[block.index]
    return y


def pair_reduced_costs(form: Form, y: np.ndarray, n_pairs: int) -> np.ndarray:
    """Per pair, the least reduced cost ``c_j - a_j^T y`` over its columns (x and every other
    block with a ``pair`` coordinate)."""
    rc = np.full(n_pairs, np.inf)
    for name in pair_blocks(form):
        block = form.cols[name]
        idx = block.index
        col_rc = form.cost[idx] - form.a[:, idx].T @ y
        np.minimum.at(rc, block.coords["pair"].to_numpy(int), col_rc)
    return rc


def outside_slack(pricing: Form, outside: np.ndarray, pair_class: np.ndarray
                  ) -> list[dict]:
    """Columns that stand for the pairs outside a restricted problem, one per (pair block,
    class) with such pairs: ``cost`` the least cost of those columns, and per row of
    ``pricing`` (a form without definitional equalities: the hourly LP) a coefficient such that
    any nonnegative use of the outside columns maps onto the slack column at its total:

    * a <= row (or the <= side): min over the outside columns' coefficients, capped at 0 (a
      smaller coefficient only lowers the row's activity, so the row still holds);
    * a >= row: max over them (a larger coefficient only raises the activity);
    * an equality row: their common coefficient (demand: 1 for every pair of the class); a
      row where they differ cannot be stood for by one column and raises ValueError.

    A plan of the whole problem therefore maps onto the restricted problem plus these columns
    at no more cost, so the latter's optimum (and its MILP dual bound) is a lower bound of the
    whole problem's. Returns [{"block", "class", "cost", "rows", "values"}]."""
    out = []
    upper_only = ~np.isfinite(pricing.row_lower)
    lower_only = ~np.isfinite(pricing.row_upper)
    for name in pair_blocks(pricing):
        block = pricing.cols[name]
        pairs = block.coords["pair"].to_numpy(int)
        cols = np.flatnonzero(outside[pairs])
        classes = pair_class[pairs[cols]]
        for cls in np.unique(classes):
            mine = block.index.start + cols[classes == cls]
            sub = pricing.a[:, mine].tocsr()
            hi = np.asarray(sub.max(axis=1).todense()).ravel()
            lo = np.asarray(sub.min(axis=1).todense()).ravel()
            coef = np.where(upper_only, np.minimum(lo, 0.0), np.where(lower_only, hi, lo))
            both = ~upper_only & ~lower_only & (np.abs(hi - lo) > 1e-12 * np.maximum(
                np.abs(hi), 1.0))
            if both.any():
                raise ValueError(f"pairs of class {cls} outside the restricted problem differ "
                                 f"in an equality row ({int(np.flatnonzero(both)[0])}); one "
                                 "slack column cannot stand for them")
            rows = np.flatnonzero(coef != 0)
            out.append({"block": name, "class": int(cls),
                        "cost": float(pricing.cost[mine].min()), "rows": rows,
                        "values": coef[rows]})
    return out


def slack_matrix(pricing: Form, target: Form, slack: list[dict],
                 deployment_map: np.ndarray | None = None) -> sp.csc_matrix:
    """The slack columns of :func:`outside_slack` in the rows of ``target`` (a restricted form
    with other row shapes: an aggregated row gets the hourly coefficient / its row_scale). A
    slack coefficient in a row ``target`` lacks raises ValueError (the bound would not hold)."""
    p_rows, t_rows, scale = row_map(pricing, target, deployment_map)
    where = np.full(pricing.a.shape[0], -1)
    where[p_rows] = t_rows
    factor = np.ones(pricing.a.shape[0])
    factor[p_rows] = scale
    r, k, v = [], [], []
    for j, s in enumerate(slack):
        rows = where[s["rows"]]
        if np.any(rows < 0):
            missing = s["rows"][rows < 0][0]
            raise ValueError(f"slack of class {s['class']} needs row {missing} of the pricing "
                             "form, which the restricted form lacks")
        r.append(rows)
        k.append(np.full(rows.size, j))
        v.append(s["values"] / factor[s["rows"]])
    return sp.csc_matrix((np.concatenate(v) if v else np.zeros(0),
                          (np.concatenate(r) if r else np.zeros(0, int),
                           np.concatenate(k) if k else np.zeros(0, int))),
                         shape=(target.a.shape[0], len(slack)))
