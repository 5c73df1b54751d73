#!/usr/bin/env bash
# Scaling across loops: hello-server's CPU per request with one loop on one core against two
# loops given both cores, under the same wrk load, side by side in interleaved rounds, plus the
# callgrind instructions per request of both (exact, whatever the load). Two loops should cost
# about what one does per request (no shared locks on the request path).
#
#   bench/loops.sh
# Knobs (env): ROUNDS=3 DURATION=10 (s) WARMUP=2 CONNS=64 PORT=24350 CALLGRIND=1 CG_N=20000
#              LOAD_CPU=1 RESULTS_DIR=... SKIP_SWIFT_BUILD=1
# Method: `taskset -c 0 hello-server --threads 1` or `taskset -c 0,1 hello-server --threads 2`;
# `taskset -c LOAD_CPU wrk -t1 -cCONNS -dDURATION`; server µs/request = the server's
# utime+stime over the measured run / the requests wrk completed. With two loops wrk shares a
# core with one of them, so req/s drops; the CPU per request is the figure to compare.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROUNDS="${ROUNDS:-3}"; DURATION="${DURATION:-10}"; WARMUP="${WARMUP:-2}"; CONNS="${CONNS:-64}"
PORT="${PORT:-24350}"; CALLGRIND="${CALLGRIND:-1}"; CG_N="${CG_N:-20000}"
ANCHORS="${ANCHORS:-$ROOT/../shared/bench}"
RESULTS_DIR="${RESULTS_DIR:-$BUILD_DIR/results/loops-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$RESULTS_DIR"
HELLO="$ROOT/.build/release/hello-server"
command -v wrk >/dev/null || { echo "bench/loops.sh: wrk is missing (scripts/deps.sh bench)" >&2; exit 1; }
build_gale "$HELLO" || exit 1

trap 'stop_server' EXIT
trap 'stop_server; exit 130' INT TERM
{
  env_header
  echo "load: taskset -c $LOAD_CPU wrk -t1 -c$CONNS -d${DURATION}s http://127.0.0.1:$PORT/ (after ${WARMUP}s of the same)"
  echo "loops1: taskset -c 0 $HELLO --port $PORT --threads 1"
  echo "loops2: taskset -c 0,1 $HELLO --port $PORT --threads 2"
} | tee "$RESULTS_DIR/env.txt"

RUNS="$RESULTS_DIR/runs.tsv"
printf 'name\tround\tok\trps\tsrv_cpu\tus_per_req\tother_cpu\n' >"$RUNS"
for r in $(seq 1 "$ROUNDS"); do
  for loops in 1 2; do
    name="loops$loops"; cpus=0; [ "$loops" = 2 ] && cpus=0,1
    out="$RESULTS_DIR/$name.r$r.wrk.txt"
    echo "--- $name round $r ($(date +%T))"
    wait_quiet
    SERVER_CPU="$cpus" start_server "$PORT" "$RESULTS_DIR/$name.server.log" "$HELLO" --port "$PORT" --threads "$loops" || {
      printf '%s\t%s\tno\t\t\t\t\n' "$name" "$r" >>"$RUNS"; continue; }
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "http://127.0.0.1:$PORT/" >/dev/null 2>&1
    a0="$(all_proc_ticks)"; t0="$(cpu_ticks "$SERVER_PID")"; s0=$(date +%s.%N)
    wrk_s="$( { TIMEFORMAT='%U %S'; time taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$PORT/" >"$out" 2>&1; } 2>&1 | awk '{ print $1 + $2 }')"
    t1="$(cpu_ticks "$SERVER_PID")"; a1="$(all_proc_ticks)"; s1=$(date +%s.%N)
    stop_server
    reqs="$(awk '/requests in/ { print $1 }' "$out")"
    wall="$(awk -v a="$s0" -v b="$s1" 'BEGIN { print b - a }')"
    rps="$(awk '/Requests\/sec/ { print $2 }' "$out")"
    own=$((t1 - t0))
    other="$(other_pct "$a0" "$a1" "$(awk -v o="$own" -v w="$wrk_s" -v hz="$CLK_TCK" 'BEGIN { printf "%d", o + w * hz }')" "$wall")"
    ok=yes; grep -q "Socket errors\|Non-2xx" "$out" && ok=no
    us="$(awk -v t="$own" -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { if (n > 0) printf "%.2f", 1e6 * t / hz / n }')"
    cpu="$(awk -v t="$own" -v hz="$CLK_TCK" -v w="$wall" 'BEGIN { printf "%.0f", 100 * t / hz / w }')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$r" "$ok" "$rps" "$cpu" "$us" "$other" >>"$RUNS"
    echo "    $rps req/s, server CPU $cpu%, $us µs/request (other processes $other% of a core)"
  done
done

{
  echo
  python3 "$BENCH/lib/table.py" "$RUNS" --name-header server --order "loops1 loops2" \
    --title "### One loop on one core vs two loops on two cores: hello-server under wrk -c$CONNS, median of $ROUNDS" \
    --col rps "req/s" 0 --col srv_cpu "server CPU %" 0 --col us_per_req "server µs / request" 2 \
    --col other_cpu "other procs CPU %" 0 --ratio us_per_req loops2 loops1
} | tee "$RESULTS_DIR/table.md"

if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null; then
  {
    echo
    echo "### Instructions per request (callgrind, ../shared/bench/instructions.sh, $CG_N and $((2 * CG_N)) requests)"
    echo
    echo "| server | instructions / request |"
    echo "|---|---:|"
  } | tee -a "$RESULTS_DIR/table.md"
  for loops in 1 2; do
    n="$("$ANCHORS/instructions.sh" "$PORT" "$CG_N" -- "$HELLO" --port "$PORT" --threads "$loops" 2>&1 | sed -n 's/^instructions\/request: \([0-9]*\).*/\1/p')"
    printf 'loops%s\t%s\n' "$loops" "$n" >>"$RESULTS_DIR/instructions.tsv"
    echo "| loops$loops | $n |" | tee -a "$RESULTS_DIR/table.md"
  done
fi
echo "raw results: $RESULTS_DIR"
