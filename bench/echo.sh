#!/usr/bin/env bash
# Echo throughput: gale echo-server against the plain libevent C echo server, the same server
# on libcore's C API, and a raw-epoll ceiling, side by side in one run.
#
#   bench/echo.sh                          # 3 interleaved rounds, 4 connections, 64 KiB writes
#   ONLY="c gale" ROUNDS=5 bench/echo.sh   # a subset, more rounds
# Knobs (env): ROUNDS=3 DURATION=10 (s, measured) WARMUP=2 (s) CONNS=4 BLOCK=65536 PORT=24310
#              MAX_OTHER=10 RETRIES=2 RETRY_PAUSE=10: a run during which other processes used
#              more than MAX_OTHER % of a core is marked "noisy", left out of the medians, and
#              run again (up to RETRIES times, after RETRY_PAUSE s)
#              ONLY="c libcore gale epoll" SERVER_CPU=0 LOAD_CPU=1 RESULTS_DIR=... SKIP_SWIFT_BUILD=1
#              BUILD_DIR=<repo>/build/bench
# Optional servers (not in the default ONLY): libcore-notrim, gale-notrim = the same binaries
# with GLIBC_TUNABLES fixing malloc's trim and mmap thresholds (the allocator then neither
# returns freed heap to the kernel nor mmaps large blocks): shows what the page faults from
# per-write buffer allocation cost (see RESULTS-foundation.md).
# Method: one server at a time, started fresh for every run, `taskset -c SERVER_CPU`; the load
# generator (bench/echo/echo_load.c) `taskset -c LOAD_CPU`: CONNS full-duplex connections
# writing BLOCK-byte blocks and verifying every echoed byte; WARMUP s, then DURATION s counted,
# then it waits for every byte to come back. Rounds are round-robin (c libcore gale epoll, c ...).
# Columns: echoed MiB/s; server and load CPU % over the counted window (the process's own
# utime+stime, 100 = one core); core busy % = the whole CPU's non-idle share over the window
# from /proc/stat, softirq included (loopback TCP work that no process is charged for);
# peak RSS = the server's VmHWM after the run; threads = the server's thread count.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROUNDS="${ROUNDS:-3}"; DURATION="${DURATION:-10}"; WARMUP="${WARMUP:-2}"
CONNS="${CONNS:-4}"; BLOCK="${BLOCK:-65536}"; PORT="${PORT:-24310}"
ONLY="${ONLY:-c libcore gale epoll}"
RESULTS_DIR="${RESULTS_DIR:-$BUILD_DIR/results/echo-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$RESULTS_DIR"

NOTRIM="GLIBC_TUNABLES=glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=33554432"
E="$BENCH/echo"
cc_build "$BUILD_DIR/echo_load" "$E/echo_load.c" || exit 1
cc_build "$BUILD_DIR/c_echo_server" "$E/c_echo_server.c" -- $LIBEVENT_FLAGS || exit 1
cc_build "$BUILD_DIR/epoll_echo_server" "$E/epoll_echo_server.c" || exit 1
cc_build "$BUILD_DIR/libcore_echo_server" "$E/libcore_echo_server.c" "${LIBCORE_SRCS[@]}" -- $LIBCORE_FLAGS || exit 1
if [[ "$ONLY" == *gale* ]]; then build_gale || exit 1; fi

server_cmd() {  # server_cmd NAME -> the command, one word per line
  case "$1" in
    c)       printf '%s\n' "$BUILD_DIR/c_echo_server" "$PORT" ;;
    libcore) printf '%s\n' "$BUILD_DIR/libcore_echo_server" "$PORT" ;;
    gale)    printf '%s\n' "$GALE_BIN" echo-server --quiet --port "$PORT" ;;
    epoll)   printf '%s\n' "$BUILD_DIR/epoll_echo_server" "$PORT" ;;
    libcore-notrim) printf '%s\n' env "$NOTRIM" "$BUILD_DIR/libcore_echo_server" "$PORT" ;;
    gale-notrim)    printf '%s\n' env "$NOTRIM" "$GALE_BIN" echo-server --quiet --port "$PORT" ;;
    *) return 1 ;;
  esac
}

trap 'stop_server' EXIT
trap 'stop_server; exit 130' INT TERM

{
  env_header
  echo "load: taskset -c $LOAD_CPU $BUILD_DIR/echo_load -p $PORT -c $CONNS -w $WARMUP -d $DURATION -b $BLOCK -P <server pid>"
  for n in $ONLY; do echo "server $n: taskset -c $SERVER_CPU $(server_cmd "$n" | tr '\n' ' ')"; done
  echo "rounds: $ROUNDS (interleaved)"
} | tee "$RESULTS_DIR/env.txt"

RUNS="$RESULTS_DIR/runs.tsv"
printf 'name\tround\tok\tmib_s\tsrv_cpu\tload_cpu\tsrv_core\tload_core\tother_cpu\tconn_min\tconn_max\thwm_mib\tthreads\n' >"$RUNS"

# measure NAME ROUND TRY -> appends a row; returns 2 if the run shared the machine (other_cpu
# above MAX_OTHER), so the caller can run it again.
measure() {
  local n="$1" r="$2" try="$3" cmd log out ok hwm thr res
  mapfile -t cmd < <(server_cmd "$n")
  [ ${#cmd[@]} -gt 0 ] || { echo "unknown server $n" >&2; return 1; }
  log="$RESULTS_DIR/$n.server.log"; out="$RESULTS_DIR/$n.r$r.t$try.load.txt"
  echo "--- $n round $r (try $try) ($(date +%T))"
  wait_quiet
  if ! start_server "$PORT" "$log" "${cmd[@]}"; then
    printf '%s\t%s\tno\t\t\t\t\t\t\t\t\t\t\n' "$n" "$r" >>"$RUNS"; return 1
  fi
  ok=yes
  taskset -c "$LOAD_CPU" "$BUILD_DIR/echo_load" -p "$PORT" -c "$CONNS" -w "$WARMUP" -d "$DURATION" \
    -b "$BLOCK" -P "$SERVER_PID" >"$out" 2>&1 || ok=no
  hwm="$(status_kb "$SERVER_PID" VmHWM)"; thr="$(status_kb "$SERVER_PID" Threads)"
  kill -0 "$SERVER_PID" 2>/dev/null || ok=no
  stop_server
  res="$(grep '^result ' "$out")"
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$res"; }
  core() { tr ',' '\n' <<<"$(get core_busy)" | sed -n "s/^$1://p"; }
  [ "$(get verified)" = yes ] || ok=no
  local other; other="$(get other_cpu)"
  if [ "$ok" = yes ] && [ -n "$other" ] && [ "$other" != - ] && [ "$other" -gt "$MAX_OTHER" ]; then ok=noisy; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$r" "$ok" "$(get mib_s)" "$(get srv_cpu)" \
    "$(get load_cpu)" "$(core "$SERVER_CPU")" "$(core "$LOAD_CPU")" "$other" "$(get conn_min_mib_s)" "$(get conn_max_mib_s)" \
    "$(awk -v k="$hwm" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')" "$thr" >>"$RUNS"
  sed 's/^/    /' "$out" | grep -v '^    result '
  if [ "$ok" = noisy ]; then echo "    other processes used ${other}% of a core during the window (MAX_OTHER=$MAX_OTHER): noisy"; return 2; fi
  return 0
}

for r in $(seq 1 "$ROUNDS"); do
  for n in $ONLY; do
    run_retrying measure "$n" "$r"
  done
done

{
  echo
  python3 "$BENCH/lib/table.py" "$RUNS" --order "$ONLY" \
    --title "### Echo: $CONNS connections, $BLOCK-byte writes, ${DURATION} s after ${WARMUP} s warm-up; median of $ROUNDS (min–max)" \
    --col mib_s "MiB/s echoed" 1 --col srv_cpu "server CPU %" 0 --col srv_core "server core busy %" 0 \
    --col load_cpu "load CPU %" 0 --col load_core "load core busy %" 0 --col other_cpu "other procs CPU %" 0 \
    --col hwm_mib "peak RSS MiB" 1 --col threads "threads" 0 \
    --ratio mib_s gale c --ratio mib_s libcore c --ratio mib_s gale libcore --ratio mib_s gale epoll \
    --ratio mib_s libcore-notrim libcore --ratio mib_s gale-notrim gale
} | tee "$RESULTS_DIR/table.md"
echo "raw results: $RESULTS_DIR"
