#!/usr/bin/env bash
# Memory per idle connection: RSS of gale echo-server and of the C echo servers holding N
# connections that each echoed 16 bytes once (bench/idle_echo.py), then after closing them, then
# holding N again (growth the second time would be a leak: freed memory should be reused).
#
#   bench/idle.sh                       # N = 1000 and 10000, servers c libcore gale
#   NS="1000" ONLY="c gale" bench/idle.sh
# Knobs (env): NS="1000 10000" ONLY="c libcore gale" ROUNDS=1 SETTLE=1 (s) PORT=24330
#              SERVER_CPU=0 LOAD_CPU=1 RESULTS_DIR=... SKIP_SWIFT_BUILD=1
# ulimit -n is raised to the hard limit (20000 here); N must stay below it.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

NS="${NS:-1000 10000}"; ONLY="${ONLY:-c libcore gale}"; ROUNDS="${ROUNDS:-1}"
SETTLE="${SETTLE:-1}"; PORT="${PORT:-24330}"
RESULTS_DIR="${RESULTS_DIR:-$BUILD_DIR/results/idle-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$RESULTS_DIR"
raise_nofile
NOFILE="$(ulimit -n)"

E="$BENCH/echo"
cc_build "$BUILD_DIR/c_echo_server" "$E/c_echo_server.c" -- $LIBEVENT_FLAGS || exit 1
cc_build "$BUILD_DIR/libcore_echo_server" "$E/libcore_echo_server.c" "${LIBCORE_SRCS[@]}" -- $LIBCORE_FLAGS || exit 1
if [[ " $ONLY " == *" gale "* ]]; then build_gale || exit 1; fi

server_cmd() {
  case "$1" in
    c)       printf '%s\n' "$BUILD_DIR/c_echo_server" "$PORT" ;;
    libcore) printf '%s\n' "$BUILD_DIR/libcore_echo_server" "$PORT" ;;
    gale)    printf '%s\n' "$GALE_BIN" echo-server --quiet --port "$PORT" ;;
    *) return 1 ;;
  esac
}

trap 'stop_server' EXIT
trap 'stop_server; exit 130' INT TERM

{
  env_header
  echo "ulimit -n: $NOFILE"
  echo "client: taskset -c $LOAD_CPU python3 $BENCH/idle_echo.py <server pid> $PORT N $SETTLE   (N in: $NS)"
  for n in $ONLY; do echo "server $n: taskset -c $SERVER_CPU $(server_cmd "$n" | tr '\n' ' ')"; done
} | tee "$RESULTS_DIR/env.txt"

RUNS="$RESULTS_DIR/runs.tsv"
printf 'name\tround\tok\tconns\tidle_mib\theld_mib\tbytes_per_conn\tafter_close_mib\theld2_mib\n' >"$RUNS"

for r in $(seq 1 "$ROUNDS"); do
  for N in $NS; do
    if [ "$NOFILE" -lt $((N + 100)) ]; then echo "skip N=$N: ulimit -n is $NOFILE" | tee -a "$RESULTS_DIR/skipped.txt"; continue; fi
    for n in $ONLY; do
      mapfile -t cmd < <(server_cmd "$n")
      out="$RESULTS_DIR/$n.n$N.r$r.txt"
      echo "--- $n N=$N round $r ($(date +%T))"
      start_server "$PORT" "$RESULTS_DIR/$n.server.log" "${cmd[@]}" || { printf '%s@%s\t%s\tno\t%s\t\t\t\t\t\n' "$n" "$N" "$r" "$N" >>"$RUNS"; continue; }
      ok=yes
      taskset -c "$LOAD_CPU" python3 "$BENCH/idle_echo.py" "$SERVER_PID" "$PORT" "$N" "$SETTLE" >"$out" 2>&1 || ok=no
      kill -0 "$SERVER_PID" 2>/dev/null || ok=no
      stop_server
      res="$(grep '^result ' "$out")"
      get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$res"; }
      mib() { awk -v k="$1" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }'; }
      printf '%s@%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$N" "$r" "$ok" "$N" "$(mib "$(get rss_before_kib)")" \
        "$(mib "$(get rss_held_kib)")" "$(get bytes_per_conn)" "$(mib "$(get rss_after_close_kib)")" \
        "$(mib "$(get rss_held2_kib)")" >>"$RUNS"
      sed 's/^/    /' "$out" | grep -v '^    result '
    done
  done
done

order=""; for N in $NS; do for n in $ONLY; do order+="$n@$N "; done; done
{
  echo
  python3 "$BENCH/lib/table.py" "$RUNS" --name-header server@N --order "$order" \
    --title "### Idle connections: server RSS holding N connections (each echoed 16 bytes once)" \
    --col conns "N" 0 --col idle_mib "RSS idle MiB" 1 --col held_mib "RSS holding N MiB" 1 \
    --col bytes_per_conn "bytes / connection" 0 --col after_close_mib "RSS after closing MiB" 1 \
    --col held2_mib "RSS holding N again MiB" 1
} | tee "$RESULTS_DIR/table.md"
echo "raw results: $RESULTS_DIR"
