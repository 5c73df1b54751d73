# Shared by bench/*.sh (sourced, not run). Builds what the benchmarks need and starts/stops
# servers one at a time, pinned, the way ../shared/bench/run.sh does.
#
# Knobs (env): BUILD_DIR (default <repo>/build/bench), SKIP_SWIFT_BUILD=1 (use the existing
# .build/release/gale), SERVER_CPU=0 LOAD_CPU=1, CC=gcc, and for the timed benchmarks
# MAX_OTHER=10 RETRIES=2 RETRY_PAUSE=10: a run during which other processes used more than
# MAX_OTHER % of one core is marked noisy, left out of the medians and run again (up to
# RETRIES times, after RETRY_PAUSE s); before each run it waits up to QUIET_WAIT=120 s for the
# machine to be quiet (other processes at most MAX_OTHER % over 2 s). Ports are below 32768, outside Linux's ephemeral range,
# so TIME_WAIT client sockets from an earlier benchmark never hold them.

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build/bench}"
SERVER_CPU="${SERVER_CPU:-0}"; LOAD_CPU="${LOAD_CPU:-1}"
CC="${CC:-gcc}"
GALE_BIN="$ROOT/.build/release/gale"
CLK_TCK="$(getconf CLK_TCK)"
mkdir -p "$BUILD_DIR"

# cc_build OUT SRC... [-- EXTRA FLAGS]: compile with -O2 when a source is newer than OUT.
cc_build() {
  local out="$1"; shift
  local srcs=() flags=() f stale=no
  while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then shift; flags=("$@"); break; fi
    srcs+=("$1"); shift
  done
  [ -x "$out" ] || stale=yes
  for f in "${srcs[@]}" "$ROOT"/include/*.h; do [ "$f" -nt "$out" ] && stale=yes; done
  [ "$stale" = no ] && return 0
  echo "== cc -O2 $(basename "$out")" >&2
  # shellcheck disable=SC2068
  "$CC" -O2 -g -std=gnu11 -Wall -Wextra -o "$out" "${srcs[@]}" ${flags[@]}
}

LIBEVENT_FLAGS="$(pkg-config --cflags --libs libevent)"
LIBCORE_SRCS=("$ROOT"/CSources/*.c)
# libcore compiled straight into the benchmark (as CMake and SwiftPM both compile it: -O2, _GNU_SOURCE).
LIBCORE_FLAGS="-D_GNU_SOURCE -I$ROOT/include -Wno-unused-parameter $(pkg-config --cflags --libs libevent_pthreads libevent) -lpthread"

# build_gale [BIN]: `make build` (every product, release), skipped when SKIP_SWIFT_BUILD=1 and
# BIN (default $GALE_BIN; e.g. .build/release/hello-server) is already there; fails without BIN.
build_gale() {
  local bin="${1:-$GALE_BIN}"
  if [ "${SKIP_SWIFT_BUILD:-0}" = 1 ] && [ -x "$bin" ]; then return 0; fi
  echo "== make build (swift build -c release --static-swift-stdlib)" >&2
  (cd "$ROOT" && make -s build 2>&1 | tail -1) >&2
  [ -x "$bin" ] || { echo "no $bin after the build" >&2; return 1; }
}

cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }

# cpu_stat N -> "busy total" ticks of CPU N from /proc/stat (busy: all but idle and iowait,
# softirq included: loopback's TCP work is charged there, not to a process).
cpu_stat() { awk -v c="cpu$1" '$1 == c { t = $2+$3+$4+$5+$6+$7+$8+$9; print t - $5 - $6, t }' /proc/stat; }
# busy_pct "B0 T0" "B1 T1" -> percent busy between two cpu_stat samples
busy_pct() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; if (t > 0) printf "%.0f", 100 * (y[1] - x[1]) / t }'; }

# all_proc_ticks -> user+nice+system ticks of the whole machine (every process's CPU time)
all_proc_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 }' /proc/stat; }
# other_pct ALL0 ALL1 OWN_TICKS WALL_S -> % of one core other processes used (never below 0)
other_pct() { awk -v a="$1" -v b="$2" -v own="$3" -v w="$4" -v hz="$CLK_TCK" \
  'BEGIN { if (w <= 0) exit; o = 100 * ((b - a) - own) / hz / w; printf "%.0f", o < 0 ? 0 : o }'; }
MAX_OTHER="${MAX_OTHER:-10}"; RETRIES="${RETRIES:-2}"; RETRY_PAUSE="${RETRY_PAUSE:-10}"
QUIET_WAIT="${QUIET_WAIT:-120}"

# run_retrying CMD ARG...: run `CMD ARG... TRY` for TRY = 0, 1, ... RETRIES while it returns 2
# (a noisy run: other processes used more than MAX_OTHER % of a core), RETRY_PAUSE s apart.
# Any other status ends it; always returns 0 (CMD records failed runs itself).
run_retrying() {
  local try
  for try in $(seq 0 "$RETRIES"); do
    "$@" "$try"; [ $? -eq 2 ] || return 0
    [ "$try" -lt "$RETRIES" ] || break
    echo "    noisy (other processes above MAX_OTHER=$MAX_OTHER% of a core): again in $RETRY_PAUSE s"
    sleep "$RETRY_PAUSE"
  done
  echo "    still noisy after $RETRIES retries: left out of the medians"
}

# wait_quiet: before a timed run, wait (up to QUIET_WAIT s) until the other processes on the
# machine have used at most MAX_OTHER % of a core over 2 s. Nothing of ours runs meanwhile.
wait_quiet() {
  local waited=0 a0 a1 o=0
  while [ "$waited" -lt "$QUIET_WAIT" ]; do
    a0="$(all_proc_ticks)"; sleep 2; a1="$(all_proc_ticks)"
    o="$(other_pct "$a0" "$a1" 0 2)"
    [ "${o:-0}" -le "$MAX_OTHER" ] && { [ "$waited" -gt 0 ] && echo "    (waited ${waited} s for the machine to be quiet)"; return 0; }
    waited=$((waited + 2))
  done
  echo "    machine still busy after ${QUIET_WAIT} s (other processes ${o}% of a core): measuring anyway"
}

port_busy() { ss -Hltn "sport = :$1" | grep -q .; }

# wait_port PORT PID: until something accepts on 127.0.0.1:PORT (30 s), or PID dies.
wait_port() {
  local port="$1" pid="$2" t
  for t in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 1
    ss -Hltn "sport = :$port" | grep -q . && return 0
    sleep 0.1
  done
  return 1
}

SERVER_PID=""
# start_server PORT LOG CMD...: start CMD pinned to SERVER_CPU; sets SERVER_PID.
start_server() {
  local port="$1" log="$2"; shift 2
  if port_busy "$port"; then echo "port $port is already in use" >&2; return 1; fi
  taskset -c "$SERVER_CPU" "$@" >>"$log" 2>&1 &
  SERVER_PID=$!
  if ! wait_port "$port" "$SERVER_PID"; then
    echo "server did not start listening on $port: $*; see $log" >&2
    stop_server; return 1
  fi
}

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=""
}

raise_nofile() { ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; }

env_header() {
  echo "date: $(date -Is)"
  echo "host: $(uname -srm), $(nproc) cpus, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty)')"
  echo "libevent: $(pkg-config --modversion libevent); $(${CC} --version | head -1); $(swift --version 2>/dev/null | head -1)"
  echo "pinning: server taskset -c $SERVER_CPU, load taskset -c $LOAD_CPU"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number: check it is near 0)"
}
