#!/usr/bin/env bash
# Bulk transfer over one loopback connection: `gale bulk-client` -> `gale sink-server` against
# the plain-socket C pair (bench/bulk/), plus the two mixed pairs, which tell which side of
# gale costs what. Side by side in one run.
#
#   bench/bulk.sh                               # 2 GiB per run, 5 interleaved rounds
#   BYTES=$((4<<30)) PAIRS="c gale" bench/bulk.sh
# Knobs (env): BYTES=2147483648 ROUNDS=5 PORT=24320 MAX_OTHER=10 RETRIES=2 SERVER_CPU=0 LOAD_CPU=1 RESULTS_DIR=...
#              PAIRS="c gale gale-client+c-sink c-client+gale-sink c-256k" SKIP_SWIFT_BUILD=1
# Pairs: c = C client -> C sink (65,533-byte writes, the target's baseline); gale = gale -> gale;
# the two mixed pairs; c-256k = the C pair with 262,132-byte writes, the size gale's stream hands
# to writev (its bufferevent coalesces queued chunks up to 256 KiB), i.e. C batching like gale.
# Method: per run a fresh sink `taskset -c SERVER_CPU`, the client `taskset -c LOAD_CPU` under
# /usr/bin/time. MiB/s is the client's figure: BYTES / (connected -> server closed, after the
# client's shutdown(SHUT_WR)), which both clients compute the same way. The sink must report
# exactly BYTES received. Sink CPU % is its utime+stime over the client's run; client CPU %
# and peak RSS come from /usr/bin/time (whole process, start-up included); core busy % is each
# pinned CPU's non-idle share over the client's run from /proc/stat, softirq included.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

BYTES="${BYTES:-2147483648}"; ROUNDS="${ROUNDS:-5}"; PORT="${PORT:-24320}"
PAIRS="${PAIRS:-c gale gale-client+c-sink c-client+gale-sink c-256k}"
RESULTS_DIR="${RESULTS_DIR:-$BUILD_DIR/results/bulk-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$RESULTS_DIR"

cc_build "$BUILD_DIR/c_sink_server" "$BENCH/bulk/c_sink_server.c" || exit 1
cc_build "$BUILD_DIR/c_bulk_client" "$BENCH/bulk/c_bulk_client.c" || exit 1
if [[ "$PAIRS" == *gale* ]]; then build_gale || exit 1; fi

sink_cmd() {  # sink_cmd c|gale
  case "$1" in
    c) printf '%s\n' "$BUILD_DIR/c_sink_server" "$PORT" ;;
    gale) printf '%s\n' "$GALE_BIN" sink-server --port "$PORT" ;;
  esac
}
client_cmd() {  # client_cmd c|c256|gale
  case "$1" in
    c) printf '%s\n' "$BUILD_DIR/c_bulk_client" "$PORT" "$BYTES" ;;
    c256) printf '%s\n' "$BUILD_DIR/c_bulk_client" "$PORT" "$BYTES" 262144 ;;
    gale) printf '%s\n' "$GALE_BIN" bulk-client --port "$PORT" --bytes "$BYTES" --no-progress ;;
  esac
}
sides() {  # sides PAIR -> "client sink"
  case "$1" in
    c) echo "c c" ;;
    gale) echo "gale gale" ;;
    gale-client+c-sink) echo "gale c" ;;
    c-client+gale-sink) echo "c gale" ;;
    c-256k) echo "c256 c" ;;
    *) return 1 ;;
  esac
}
for p in $PAIRS; do sides "$p" >/dev/null || { echo "unknown pair $p" >&2; exit 2; }; done

trap 'stop_server' EXIT
trap 'stop_server; exit 130' INT TERM

{
  env_header
  echo "bytes per run: $BYTES"
  for p in $PAIRS; do
    read -r cl sk < <(sides "$p")
    echo "pair $p: taskset -c $SERVER_CPU $(sink_cmd "$sk" | tr '\n' ' ')  <-  taskset -c $LOAD_CPU $(client_cmd "$cl" | tr '\n' ' ')"
  done
  echo "rounds: $ROUNDS (interleaved)"
} | tee "$RESULTS_DIR/env.txt"

RUNS="$RESULTS_DIR/runs.tsv"
printf 'name\tround\tok\tmib_s\tsink_mib_s\tsrv_cpu\tclient_cpu\tsrv_core\tclient_core\tother_cpu\tsink_hwm_mib\tclient_hwm_mib\n' >"$RUNS"

# run_pair PAIR ROUND TRY -> appends a row; returns 2 if other processes shared the machine.
run_pair() {
  local p="$1" r="$2" try="$3" cl sk scmd ccmd log out tm ok t0 t1 w0 w1 s0 s1 l0 l1 a0 a1 hwm
  read -r cl sk < <(sides "$p")
  mapfile -t scmd < <(sink_cmd "$sk")
  mapfile -t ccmd < <(client_cmd "$cl")
  log="$RESULTS_DIR/$p.r$r.t$try.sink.log"; out="$RESULTS_DIR/$p.r$r.t$try.client.txt"; tm="$RESULTS_DIR/$p.r$r.t$try.time"
  echo "--- $p round $r (try $try) ($(date +%T))"
  wait_quiet
  if ! start_server "$PORT" "$log" "${scmd[@]}"; then
    printf '%s\t%s\tno\t\t\t\t\t\t\t\t\t\t\n' "$p" "$r" >>"$RUNS"; return 1
  fi
  ok=yes
  t0="$(cpu_ticks "$SERVER_PID")"; w0="$(date +%s.%N)"; s0="$(cpu_stat "$SERVER_CPU")"; l0="$(cpu_stat "$LOAD_CPU")"; a0="$(all_proc_ticks)"
  /usr/bin/time -f '%e %U %S %M' -o "$tm" taskset -c "$LOAD_CPU" "${ccmd[@]}" >"$out" 2>&1 || ok=no
  w1="$(date +%s.%N)"; t1="$(cpu_ticks "$SERVER_PID")"; s1="$(cpu_stat "$SERVER_CPU")"; l1="$(cpu_stat "$LOAD_CPU")"; a1="$(all_proc_ticks)"
  # the sink prints its line when the connection ends; give it a moment
  for _ in $(seq 1 50); do grep -q 'All Data Received' "$log" && break; sleep 0.1; done
  hwm="$(status_kb "$SERVER_PID" VmHWM)"
  stop_server
  local sent got sent_b sent_t got_b got_t e u s m mib_s sink_mib_s srv cli own other
  sent="$(sed -n 's/^Sent \([0-9]*\) bytes in \([0-9.]*\) s.*/\1 \2/p' "$out")"
  got="$(sed -n 's/^All Data Received: \([0-9]*\) bytes in \([0-9.]*\) s.*/\1 \2/p' "$log" | tail -1)"
  read -r sent_b sent_t <<<"$sent"; read -r got_b got_t <<<"$got"
  [ "${sent_b:-}" = "$BYTES" ] && [ "${got_b:-}" = "$BYTES" ] || { ok=no; echo "    byte counts: sent ${sent_b:-?}, received ${got_b:-?}, expected $BYTES" >&2; }
  read -r e u s m <"$tm" 2>/dev/null || true
  mib_s="$(awk -v b="$BYTES" -v t="${sent_t:-0}" 'BEGIN { if (t > 0) printf "%.1f", b / t / 1048576 }')"
  sink_mib_s="$(awk -v b="$BYTES" -v t="${got_t:-0}" 'BEGIN { if (t > 0) printf "%.1f", b / t / 1048576 }')"
  srv="$(awk -v a="$t0" -v b="$t1" -v w0="$w0" -v w1="$w1" -v hz="$CLK_TCK" 'BEGIN { if (a != "" && b != "") printf "%.0f", 100 * (b - a) / hz / (w1 - w0) }')"
  cli="$(awk -v e="${e:-0}" -v u="${u:-0}" -v s="${s:-0}" 'BEGIN { if (e > 0) printf "%.0f", 100 * (u + s) / e }')"
  own="$(awk -v a="$t0" -v b="$t1" -v u="${u:-0}" -v s="${s:-0}" -v hz="$CLK_TCK" 'BEGIN { print (b - a) + (u + s) * hz }')"
  other="$(other_pct "$a0" "$a1" "$own" "$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')")"
  if [ "$ok" = yes ] && [ -n "$other" ] && [ "$other" -gt "$MAX_OTHER" ]; then ok=noisy; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$r" "$ok" "$mib_s" "$sink_mib_s" "$srv" "$cli" \
    "$(busy_pct "$s0" "$s1")" "$(busy_pct "$l0" "$l1")" "$other" \
    "$(awk -v k="${hwm:-}" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')" \
    "$(awk -v k="${m:-}" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')" >>"$RUNS"
  echo "    client: $(tail -1 "$out") | sink: $(grep 'All Data Received' "$log" | tail -1) | other procs ${other:-?}%"
  [ "$ok" = noisy ] && return 2
  return 0
}

for r in $(seq 1 "$ROUNDS"); do
  for p in $PAIRS; do
    run_retrying run_pair "$p" "$r"
  done
done

{
  echo
  python3 "$BENCH/lib/table.py" "$RUNS" --name-header pair --order "$PAIRS" \
    --title "### Bulk: $BYTES bytes over one loopback connection, median of $ROUNDS (min–max)" \
    --col mib_s "MiB/s (client)" 1 --col sink_mib_s "MiB/s (sink)" 1 --col srv_cpu "sink CPU %" 0 \
    --col client_cpu "client CPU %" 0 --col srv_core "sink core busy %" 0 --col client_core "client core busy %" 0 \
    --col other_cpu "other procs CPU %" 0 \
    --col sink_hwm_mib "sink peak RSS MiB" 1 --col client_hwm_mib "client peak RSS MiB" 1 \
    --ratio mib_s gale c --ratio mib_s gale-client+c-sink c --ratio mib_s c-client+gale-sink c \
    --ratio mib_s gale c-256k
} | tee "$RESULTS_DIR/table.md"
echo "raw results: $RESULTS_DIR"
