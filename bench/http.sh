#!/usr/bin/env bash
# hello-server against the C peers (libevent bufferevent and evhttp) from ../shared/bench, in one
# run: wrk pinned to one core, each server to the other, started fresh per run, rounds
# interleaved; prints the peers' table plus gale's ratios. A benchmark, not a test.
#   bench/http.sh                       # 3 rounds at -c64, one run at -c1000
#   ROUNDS=5 DURATION=10s bench/http.sh
#   PIPELINE=16 HIGH_CONNS=0 bench/http.sh
# Knobs are those of ../shared/bench/run.sh (DURATION, WARMUP, CONNS, HIGH_CONNS, ROUNDS,
# PIPELINE, SERVER_CPU, WRK_CPU); PEERS picks the peers (default "bufferevent evhttp").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ANCHORS="${ANCHORS:-$ROOT/../shared/bench}"
[ -x "$ANCHORS/run.sh" ] || { echo "bench/http.sh: the peers' harness is not at $ANCHORS (set ANCHORS)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench/http.sh: wrk is missing (scripts/deps.sh bench)" >&2; exit 1; }

make -s -C "$ROOT" build >/dev/null
"$ANCHORS/build.sh" c >/dev/null
PORT="${PORT:-5010}"
RESULTS_DIR="${RESULTS_DIR:-/tmp/gale-bench/http-$(date +%Y%m%d-%H%M%S)}"
export RESULTS_DIR
ONLY="${PEERS:-bufferevent evhttp}" EXTRA_NAME=gale EXTRA_PORT="$PORT" \
  EXTRA_CMD="$ROOT/.build/release/hello-server --port $PORT" "$ANCHORS/run.sh"

# Ratios from the medians the harness wrote (runs.tsv + wrk outputs), same run.
python3 - "$RESULTS_DIR" <<'PY'
import re, statistics, sys, pathlib
d = pathlib.Path(sys.argv[1])
rows = [l.split("\t") for l in (d / "runs.tsv").read_text().splitlines()[1:]]
def rps(name, phase):
    out = []
    for r in rows:
        if r[0] == name and r[1] == phase and r[4] != "-":
            m = re.search(r"Requests/sec:\s+([\d.]+)", (d / r[4]).read_text())
            if m: out.append(float(m.group(1)))
    return statistics.median(out) if out else None
for phase in ("main", "high"):
    g = rps("gale", phase)
    if not g: continue
    for peer in ("bufferevent", "evhttp"):
        p = rps(peer, phase)
        if p: print(f"{phase}: gale / {peer} = {g / p:.2f}  ({g:,.0f} vs {p:,.0f} req/s, medians)")
PY
