#!/usr/bin/env python3
"""One table from a `make bench` run: each figure next to its peer, the ratio, the target the
issues set, and whether it is met. Reads the result folders bench/all.sh wrote under OUT.

  summary.py OUT"""
import csv
import pathlib
import re
import statistics
import sys

OUT = pathlib.Path(sys.argv[1])


def tsv(path):
    p = OUT / path
    if not p.exists():
        return []
    with open(p) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def num(x):
    try:
        return float(str(x).replace(",", ""))
    except (TypeError, ValueError):
        return None


def wrk(path):
    """req/s, p99 in ms, errors (socket errors + non-2xx) from a wrk --latency output."""
    text = path.read_text() if path.exists() else ""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    lat = None
    if p99:
        lat = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errs = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errs += sum(int(g) for g in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errs += int(m.group(1))
    return (float(rps.group(1)) if rps else None), lat, errs


def http(folder, name, phase):
    rows = [r for r in tsv(f"{folder}/runs.tsv") if r["name"] == name and r["phase"] == phase and r["wrk_file"] != "-"]
    got = [wrk(OUT / folder / r["wrk_file"]) for r in rows]
    overflows = sum(int(r["listen_overflows"]) for r in rows if r["listen_overflows"].lstrip("-").isdigit())
    return med([g[0] for g in got]), med([g[1] for g in got]), sum(g[2] for g in got), overflows, len(rows)


rows = []


def row(what, gale, peer, ratio, target, met):
    verdict = "—" if met is None else ("met" if met else "**not met**")
    rows.append((what, gale, peer, ratio, target, verdict))


def f0(x):
    return "n/a" if x is None else f"{x:,.0f}"


def f1(x):
    return "n/a" if x is None else f"{x:,.1f}"


def f2(x):
    return "n/a" if x is None else f"{x:,.2f}"


def ratio(a, b):
    return a / b if a is not None and b else None


# HTTP keep-alive, -c64 and -c1000
g_rps, g_p99, g_err, _, _ = http("http", "gale", "main")
b_rps, b_p99, _, _, _ = http("http", "bufferevent", "main")
e_rps, _, _, _, _ = http("http", "evhttp", "main")
r = ratio(g_rps, b_rps)
row("HTTP req/s, wrk -c64 (vs libevent bufferevent)", f0(g_rps), f0(b_rps), f2(r), "≥ 0.95", None if r is None else r >= 0.95)
r = ratio(g_rps, e_rps)
row("HTTP req/s, wrk -c64 (vs libevent evhttp)", f0(g_rps), f0(e_rps), f2(r), "—", None)
r = ratio(g_p99, b_p99)
row("HTTP p99 latency ms, -c64 (vs bufferevent)", f2(g_p99), f2(b_p99), f2(r), "≤ 1.2", None if r is None else r <= 1.2)
h_rps, _, h_err, h_over, h_n = http("http", "gale", "high")
if h_n:
    row("HTTP -c1000: errors, listen overflows", f"{h_err} errors, {h_over} overflows ({f0(h_rps)} req/s)", "", "", "0 and 0", h_err == 0 and h_over == 0)
if g_err:
    row("HTTP -c64: errors", str(g_err), "", "", "0", False)

# Pipelined
pg, _, _, _, _ = http("pipelined", "gale", "main")
pb, _, _, _, _ = http("pipelined", "bufferevent", "main")
r = ratio(pg, pb)
row("HTTP req/s, 16 pipelined (vs bufferevent)", f0(pg), f0(pb), f2(r), "≥ 0.50", None if r is None else r >= 0.5)

# Instructions per request
ins = {r["name"]: num(r["n"]) for r in tsv("instructions.tsv")}
loops_ins = {r[0]: num(r[1]) for r in (l.split("\t") for l in (OUT / "loops/instructions.tsv").read_text().split("\n") if l)} \
    if (OUT / "loops/instructions.tsv").exists() else {}
g1 = loops_ins.get("loops1")
bi = ins.get("bufferevent")
row("instructions / request (callgrind)", f0(g1), f0(bi), f2(ratio(g1, bi)), "≤ 5,600", None if g1 is None else g1 <= 5600)

# Loops
lr = tsv("loops/runs.tsv")
u1 = med([num(r["us_per_req"]) for r in lr if r["name"] == "loops1" and r["ok"] == "yes"])
u2 = med([num(r["us_per_req"]) for r in lr if r["name"] == "loops2" and r["ok"] == "yes"])
r = ratio(u2, u1)
row("server µs / request, 2 loops on 2 cores (vs 1 loop)", f2(u2), f2(u1), f2(r), "≤ 1.10", None if r is None else r <= 1.1)
g2 = loops_ins.get("loops2")
r = ratio(g2, g1)
row("instructions / request, 2 loops (vs 1 loop)", f0(g2), f0(g1), f2(r), "≤ 1.10", None if r is None else r <= 1.1)

# Memory
mem = {r["name"]: r for r in tsv("memory/runs.tsv") if r["ok"] == "yes"}
for n, bound, enforced in (("1000", 6, False), ("10000", 40, True)):
    g, b = mem.get(f"gale@{n}"), mem.get(f"bufferevent@{n}")
    if g:
        held = num(g["held_mib"])
        row(f"RSS MiB holding {int(n):,} keep-alive connections (private MiB)",
            f"{f1(held)} ({g['anon_held_mib']})", f"{b['held_mib']} ({b['anon_held_mib']})" if b else "",
            f2(ratio(held, num(b["held_mib"]) if b else None)), f"≤ {bound}", held <= bound)
        row(f"RSS bytes / connection at {int(n):,}", g["bytes_per_conn"], b["bytes_per_conn"] if b else "", "", "—", None)

# Idle TCP echo connections (issue 2): memory per connection, gale echo-server vs the C echo server
idle = {r["name"]: r for r in tsv("idle/runs.tsv") if r["ok"] == "yes"}
for n in ("1000", "10000"):
    g, c = idle.get(f"gale@{n}"), idle.get(f"c@{n}")
    if g:
        row(f"echo-server bytes / idle connection at {int(n):,} (vs C libevent echo)", g["bytes_per_conn"],
            c["bytes_per_conn"] if c else "", f2(ratio(num(g["bytes_per_conn"]), num(c["bytes_per_conn"]) if c else None)),
            "—", None)

# Echo, bulk
er = tsv("echo/runs.tsv")
ge = med([num(r["mib_s"]) for r in er if r["name"] == "gale" and r["ok"] == "yes"])
ce = med([num(r["mib_s"]) for r in er if r["name"] == "c" and r["ok"] == "yes"])
le = med([num(r["mib_s"]) for r in er if r["name"] == "libcore" and r["ok"] == "yes"])
pe = med([num(r["mib_s"]) for r in er if r["name"] == "epoll" and r["ok"] == "yes"])
r = ratio(ge, ce)
row("echo MiB/s, 64 KiB writes (vs C libevent echo)", f0(ge), f0(ce), f2(r), "≥ 0.90", None if r is None else r >= 0.9)
row("echo MiB/s (vs libcore's C API / raw epoll)", f0(ge), f"{f0(le)} / {f0(pe)}", f"{f2(ratio(ge, le))} / {f2(ratio(ge, pe))}", "—", None)
br = tsv("bulk/runs.tsv")
gb = med([num(r["mib_s"]) for r in br if r["name"] == "gale" and r["ok"] == "yes"])
cb = med([num(r["mib_s"]) for r in br if r["name"] == "c" and r["ok"] == "yes"])
r = ratio(gb, cb)
row("bulk-client → sink-server MiB/s (vs C pair)", f0(gb), f0(cb), f2(r), "≥ 0.90", None if r is None else r >= 0.9)

# Timers
tr = tsv("timers/runs.tsv")
for col, label in (("warm_total", "warm"), ("cold_total", "cold")):
    s = med([num(r[col]) for r in tr if r["name"] == "swift" and r["ok"] == "yes"])
    c = med([num(r[col]) for r in tr if r["name"] == "c" and r["ok"] == "yes"])
    r = ratio(s, c)
    row(f"1M timers schedule+cancel, ns/timer, {label} (Swift vs C)", f0(s), f0(c), f2(r), "≤ 2.0", None if r is None else r <= 2.0)
ti = {}
if (OUT / "timers/instructions.tsv").exists():
    ti = {l.split("\t")[0]: num(l.split("\t")[1]) for l in (OUT / "timers/instructions.tsv").read_text().split("\n") if l}
if ti:
    r = ratio(ti.get("swift"), ti.get("c"))
    row("timers: instructions / timer (Swift vs C)", f0(ti.get("swift")), f0(ti.get("c")), f2(r), "≤ 2.0", None if r is None else r <= 2.0)

print("| measure | gale | peer | ratio | target | verdict |")
print("|---|---:|---:|---:|---:|---|")
for w in rows:
    print("| " + " | ".join(w) + " |")
