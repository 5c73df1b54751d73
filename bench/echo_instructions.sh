#!/usr/bin/env bash
# Echo cost in user-space instructions, counted by callgrind: what each echo server executes per
# MiB echoed, repeatable whatever else the machine is doing (bench/echo.sh's MiB/s is not).
# Kernel work (the socket copies, TCP) is not counted: this isolates what the server's own code
# and its libraries add, which is where gale, libcore and libevent differ.
#
#   bench/echo_instructions.sh
#   ONLY="libcore gale" BYTES_PER_CONN=33554432 bench/echo_instructions.sh
# Knobs (env): ONLY="c libcore gale epoll" CONNS=4 BYTES_PER_CONN=16777216 BLOCK=65536 PORT=24340
#              RESULTS_DIR=... SKIP_SWIFT_BUILD=1
# Method: each server runs under `valgrind --tool=callgrind` twice; echo_load -n sends
# BYTES_PER_CONN (then twice that) on each of CONNS connections in BLOCK-byte writes, checks every
# byte that comes back, and the server is stopped with SIGTERM. Instructions per MiB echoed =
# (Ir(2B) - Ir(B)) / (B * CONNS / 1 MiB): start-up and shut-down cancel out.
# gale: the `gale` binary cannot run under valgrind 3.19 here (its top-level `await` starts
# libdispatch threads, which crash valgrind), so this runs bench/swift's echo-bench: the same
# TCPServer and handler as `gale echo-server` (for try await chunk in stream { write(chunk) })
# with a main that never awaits; a copy with its DWARF stripped (valgrind cannot read Swift's).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ONLY="${ONLY:-c libcore gale epoll}"; CONNS="${CONNS:-4}"; BYTES_PER_CONN="${BYTES_PER_CONN:-16777216}"
BLOCK="${BLOCK:-65536}"; PORT="${PORT:-24340}"
RESULTS_DIR="${RESULTS_DIR:-$BUILD_DIR/results/echo-instructions-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$RESULTS_DIR"
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

E="$BENCH/echo"
cc_build "$BUILD_DIR/echo_load" "$E/echo_load.c" || exit 1
cc_build "$BUILD_DIR/c_echo_server" "$E/c_echo_server.c" -- $LIBEVENT_FLAGS || exit 1
cc_build "$BUILD_DIR/epoll_echo_server" "$E/epoll_echo_server.c" || exit 1
cc_build "$BUILD_DIR/libcore_echo_server" "$E/libcore_echo_server.c" "${LIBCORE_SRCS[@]}" -- $LIBCORE_FLAGS || exit 1
ECHO_BENCH="$BENCH/swift/.build/release/echo-bench"
if [[ " $ONLY " == *" gale "* ]]; then
  if [ "${SKIP_SWIFT_BUILD:-0}" != 1 ] || [ ! -x "$ECHO_BENCH" ]; then
    echo "== (bench/swift) swift build -c release --static-swift-stdlib --product echo-bench" >&2
    (cd "$BENCH/swift" && swift build -c release --static-swift-stdlib --product echo-bench 2>&1 | tail -1) >&2
  fi
  [ -x "$ECHO_BENCH" ] || { echo "no $ECHO_BENCH" >&2; exit 1; }
  strip --strip-debug -o "$RESULTS_DIR/echo-bench.nodwarf" "$ECHO_BENCH"
fi

server_cmd() {
  case "$1" in
    c)       printf '%s\n' "$BUILD_DIR/c_echo_server" "$PORT" ;;
    libcore) printf '%s\n' "$BUILD_DIR/libcore_echo_server" "$PORT" ;;
    gale)    printf '%s\n' "$RESULTS_DIR/echo-bench.nodwarf" "$PORT" ;;
    epoll)   printf '%s\n' "$BUILD_DIR/epoll_echo_server" "$PORT" ;;
    *) return 1 ;;
  esac
}

trap 'stop_server' EXIT
trap 'stop_server; exit 130' INT TERM

{
  env_header
  echo "load: $BUILD_DIR/echo_load -p $PORT -c $CONNS -b $BLOCK -n BYTES (BYTES = $BYTES_PER_CONN and $((2 * BYTES_PER_CONN)) per connection)"
  for n in $ONLY; do echo "server $n: valgrind --tool=callgrind $(server_cmd "$n" | tr '\n' ' ')"; done
} | tee "$RESULTS_DIR/env.txt"

count() {  # count NAME BYTES -> total Ir of the server
  local n="$1" bytes="$2" cmd out="$RESULTS_DIR/callgrind.$1.$2"
  mapfile -t cmd < <(server_cmd "$n")
  start_server "$PORT" "$out.log" valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" || return 1
  if ! "$BUILD_DIR/echo_load" -p "$PORT" -c "$CONNS" -b "$BLOCK" -n "$bytes" >"$out.load" 2>&1; then
    echo "echo_load failed against $n: $(tail -2 "$out.load")" >&2; stop_server; return 1
  fi
  stop_server
  grep -m1 '^summary:' "$out" | awk '{print $2}'
}

{
  echo
  echo "### Echo: user-space instructions per MiB echoed (callgrind; $CONNS connections, $BLOCK-byte writes; (Ir($((2 * BYTES_PER_CONN))) − Ir($BYTES_PER_CONN)) per connection)"
  echo
  echo "| server | instructions / MiB | instructions / 64 KiB | Ir at $BYTES_PER_CONN B/conn | Ir at $((2 * BYTES_PER_CONN)) B/conn |"
  echo "|---|---:|---:|---:|---:|"
} | tee "$RESULTS_DIR/table.md"
declare -A per
for n in $ONLY; do
  echo "--- $n ($(date +%T))" >&2
  a="$(count "$n" "$BYTES_PER_CONN")" || continue
  b="$(count "$n" "$((2 * BYTES_PER_CONN))")" || continue
  per[$n]="$(awk -v a="$a" -v b="$b" -v x="$BYTES_PER_CONN" -v c="$CONNS" 'BEGIN { printf "%.0f", (b - a) / (x * c / 1048576) }')"
  printf '| %s | %s | %s | %s | %s |\n' "$n" "$(printf "%'d" "${per[$n]}")" \
    "$(printf "%'d" "$((per[$n] / 16))")" "$(printf "%'d" "$a")" "$(printf "%'d" "$b")" | tee -a "$RESULTS_DIR/table.md"
done
{
  echo
  for pair in "gale c" "libcore c" "gale libcore" "gale epoll"; do
    read -r x y <<<"$pair"
    [ -n "${per[$x]:-}" ] && [ -n "${per[$y]:-}" ] && [ "${per[$y]}" -gt 0 ] &&
      echo "- **$x / $y** (instructions per MiB): **$(awk -v a="${per[$x]}" -v b="${per[$y]}" 'BEGIN { printf "%.2f", a / b }')**"
  done
} | tee -a "$RESULTS_DIR/table.md"
echo "callgrind files: $RESULTS_DIR/callgrind.* (callgrind_annotate --inclusive=yes FILE)"
echo "raw results: $RESULTS_DIR"
