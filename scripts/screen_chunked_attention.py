#!/usr/bin/env python
# Issue 25, seventh round: first-order screen of planner.perf.chunked on the Maverick rows (the shipped
# calibration, no refit: new/old prediction ratio applied to the shipped leave-one-model-out error).
# Usage: python scripts/screen_chunked_attention.py [group 5] [both|hopper|bw] [pre]
"""Screen: TRT-LLM generation attention of Llama-4 chunked layers by edition and family.
v0.20: full attention by XQA (modelled as now). >= v0.21 (PR 4693: chunked attention in the
generation phase; PR 6306: XQA lacks chunked attention, MMHA does; XQA kept only when
max_seqlen < chunk): Hopper rows with isl+osl > chunk run the chunked layers on MMHA (KV read
once per query head of a group: x g), Blackwell rows run chunked attention (trtllm-gen)."""
import sys, numpy as np, pandas as pd
import planner.perf.model as M
from planner.perf.calibrate import load_throughput_rows
from planner.perf.factors import load_calibration
C = 8192.0; FULL, CH = 12.0, 36.0
g = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
mode = sys.argv[2] if len(sys.argv) > 2 else "both"
rows = load_throughput_rows(); cal = load_calibration()
m = rows[rows.model_id == "llama-4-maverick"].reset_index(drop=True)
hw = M.predict(m, calibration=cal)["hardware_id"].to_numpy()
def mean_chunk(isl, osl):
    p = np.arange(int(isl), int(isl + osl)); return np.mean(np.mod(p, C) + 1)
dec = []
for i, o, v, h in zip(m.isl, m.osl, m.version, hw):
    ctx = i + o/2; f = 1.0
    if v in ("v0.21", "v1.0", "v1.1+"):
        if h == "b200" and mode in ("both", "bw"):
            f = (FULL*ctx + CH*mean_chunk(i, o))/(48*ctx)
        elif h != "b200" and mode in ("both", "hopper") and i + o > C:
            f = (FULL*ctx + CH*g*mean_chunk(i, o))/(48*ctx)
    dec.append(f)
dec = np.array(dec)
def chunk_sq(i):
    n = int(i // C); r = i - n*C
    return n*C*C + r*r
withpre = len(sys.argv) > 3 and sys.argv[3] == "pre"
pre = np.array([(FULL*i*i + CH*chunk_sq(i))/(48*i*i) if (withpre and v in ("v0.21","v1.0","v1.1+")) else 1.0 for i, v in zip(m.isl, m.version)])
orig = M.decode_step_s
old = M.predict(m, calibration=cal)["out_tok_s_total"].to_numpy()
def patch(s, f, batch):
    s2 = dict(s); s2["kv_full_bytes"] = s["kv_full_bytes"]*dec; s2["decode_attn_width"] = s["decode_attn_width"]*dec
    return orig(s2, f, batch)
M.decode_step_s = patch
origp = M.prefill_compute_s
def ppatch(s, f, touched=None):
    s2 = dict(s); s2["attn_width"] = s["attn_width"]*pre
    return origp(s2, f, touched)
M.prefill_compute_s = ppatch
new = M.predict(m, calibration=cal)["out_tok_s_total"].to_numpy()
held = pd.read_csv("planner/catalog/data/calibration.heldout.csv")
h = held[(held.dataset=="trtllm") & (held.model_id=="llama-4-maverick")]
key = ["hardware_id","isl","osl","num_gpus","measured_tok_s"]
j = m.assign(hardware_id=hw, r=new/old, dec=dec).merge(h[key+["lomo_error_pct"]], on=key, how="left")
j["insample_old"] = (old/m.measured_tok_s.values - 1)*100; j["insample_new"] = (new/m.measured_tok_s.values-1)*100
j["lomo_new"] = ((1+j.lomo_error_pct/100)*j.r - 1)*100
pd.set_option("display.width", 200)
print(j[(j.dec != 1) | (j.r != 1)][["version","hardware_id","isl","osl","dec","r","insample_old","insample_new","lomo_error_pct","lomo_new"]].round(2).to_string(index=False))
others = held[(held.model_id=="llama-4-maverick") & (held.dataset!="trtllm")].lomo_error_pct.abs()
print("g=%g mode=%s Maverick LOMO old %.2f new %.2f; trtllm in-sample MAPE %.2f -> %.2f" % (g, mode,
      pd.concat([j.lomo_error_pct.abs(), others]).mean(), pd.concat([j.lomo_new.abs(), others]).mean(),
      j.insample_old.abs().mean(), j.insample_new.abs().mean()))
for (v,hh),gq in j.groupby(["version","hardware_id"]):
    print(" ", v, hh, len(gq), "LOMO %.1f -> %.1f (median %+.1f -> %+.1f)" % (gq.lomo_error_pct.abs().mean(), gq.lomo_new.abs().mean(), gq.lomo_error_pct.median(), gq.lomo_new.median()))
