#!/usr/bin/env bash
# `make bench`: every benchmark in one go, then one summary table (bench/lib/summary.py) with
# each figure beside its peer, the ratio and the issue's target. About 25 minutes.
#
#   bench/all.sh                      # everything; results in build/bench/results/all-<timestamp>/
#   QUICK=1 bench/all.sh              # one round of each, shorter runs (~10 minutes)
#   PEERS="bufferevent evhttp epoll nio tornado" bench/all.sh   # more HTTP peers (see ../shared/bench)
# Each part is a script of its own (bench/README.md); a failing part is reported and the rest
# still runs; the exit status is 1 if any part failed.
set -uo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
ANCHORS="${ANCHORS:-$ROOT/../shared/bench}"
OUT="${OUT:-$ROOT/build/bench/results/all-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
export ANCHORS SKIP_SWIFT_BUILD=1
# QUICK: one round of each timed comparison, shorter runs. (ROUNDS means rounds of a comparison
# for most parts but rounds per process for timers.sh, hence per part.)
if [ "${QUICK:-0}" = 1 ]; then
  Q=(ROUNDS=1 DURATION=5 WARMUP=1); QT=(RUNS=3); HTTP_DUR=5s; HTTP_WARM=1s
else
  Q=(); QT=(); HTTP_DUR=10s; HTTP_WARM=2s
fi
PEERS="${PEERS:-bufferevent evhttp epoll}"

echo "== building (make build, the C peers)"
make -s -C "$ROOT" build >/dev/null || { echo "make build failed" >&2; exit 1; }
"$ANCHORS/build.sh" c >/dev/null || { echo "cannot build the C peers in $ANCHORS" >&2; exit 1; }

failed=()
part() {  # part NAME CMD...: run one benchmark, its output in OUT/NAME.log
  local name="$1"; shift
  echo "== $name: $* ($(date +%T))"
  if ! "$@" >"$OUT/$name.log" 2>&1; then
    failed+=("$name"); echo "   $name FAILED: see $OUT/$name.log"
  fi
  tail -n 3 "$OUT/$name.log" | sed 's/^/   /'
}

part http env "${Q[@]}" RESULTS_DIR="$OUT/http" PEERS="$PEERS" DURATION="$HTTP_DUR" WARMUP="$HTTP_WARM" \
  "$BENCH/http.sh"
part pipelined env "${Q[@]}" RESULTS_DIR="$OUT/pipelined" PEERS=bufferevent PIPELINE=16 HIGH_CONNS=0 \
  DURATION="$HTTP_DUR" WARMUP="$HTTP_WARM" "$BENCH/http.sh"
part loops env "${Q[@]}" RESULTS_DIR="$OUT/loops" "$BENCH/loops.sh"
# The bufferevent server's instructions per request (hello-server's are in loops/).
bufferevent_instructions() {
  local n
  n="$("$ANCHORS/instructions.sh" 24360 20000 -- /tmp/anchors-build/bufferevent-hello 24360 | sed -n 's/^instructions\/request: \([0-9]*\).*/\1/p')"
  [ -n "$n" ] || return 1
  printf 'name\tn\nbufferevent\t%s\n' "$n" >"$OUT/instructions.tsv"
  echo "bufferevent: $n instructions/request"
}
part instructions bufferevent_instructions
part memory env RESULTS_DIR="$OUT/memory" "$BENCH/http_memory.sh"
part idle env RESULTS_DIR="$OUT/idle" "$BENCH/idle.sh"
part echo env "${Q[@]}" RESULTS_DIR="$OUT/echo" "$BENCH/echo.sh"
part bulk env "${Q[@]}" RESULTS_DIR="$OUT/bulk" "$BENCH/bulk.sh"
part timers env "${QT[@]}" RESULTS_DIR="$OUT/timers" "$BENCH/timers.sh"

{
  echo "# make bench: $(date -Is)"
  echo
  echo "Machine: $(uname -srm), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo);"
  echo "libevent $(pkg-config --modversion libevent); $(swift --version 2>/dev/null | head -1); commit $(git -C "$ROOT" rev-parse --short HEAD)."
  echo "Servers pinned to CPU 0, load to CPU 1; medians of interleaved rounds. Each part's table: $OUT/<part>/table.md."
  [ ${#failed[@]} -gt 0 ] && echo && echo "Failed parts: ${failed[*]}"
  echo
  python3 "$BENCH/lib/summary.py" "$OUT"
} | tee "$OUT/summary.md"
echo "results: $OUT (summary.md; copy it into bench/RESULTS.md to record it)"
[ ${#failed[@]} -eq 0 ]
