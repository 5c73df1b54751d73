#!/usr/bin/env bash
# Timers: scheduling and cancelling N one-shot timers through the Swift API
# (`loop.schedule(after:)` + `cancel()`, bench/swift timers-bench) against the same through
# libcore's C API (gale_timer_new + start, then gale_timer_free, bench/timers/c_timers.c),
# both on the loop thread. Side by side in one run.
#
#   bench/timers.sh
#   RUNS=9 N=100000 CALLGRIND=0 bench/timers.sh
# Knobs (env): MAX_OTHER=10 RETRIES=2 (see lib/common.sh)
#              N=1000000 RUNS=5 (fresh processes per side, interleaved) ROUNDS=2 (rounds per
#              process: round 1 is cold, the last is warm) CPU=0 CALLGRIND=1 CG_N=200000
#              RESULTS_DIR=... BUILD_DIR=<repo>/build/bench SKIP_SWIFT_BUILD=1
# Time: ns per timer, median of RUNS (min–max), for the first (cold: the process's heap grows
# as it goes) and the last round (warm: memory is reused) in each process.
# Instructions: callgrind on the whole program at CG_N and 2*CG_N timers (one round), the
# difference divided by CG_N: user-space instructions per timer (schedule + cancel), without
# start-up. The Swift binary runs as a copy with its DWARF stripped (valgrind 3.19 cannot read
# Swift's), symbols kept. (timers-bench waits on a semaphore instead of `await` so that no
# libdispatch worker thread starts: valgrind 3.19 crashes when Swift's dispatch threads start.)
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

N="${N:-1000000}"; RUNS="${RUNS:-5}"; ROUNDS="${ROUNDS:-2}"; CPU="${CPU:-$SERVER_CPU}"
CALLGRIND="${CALLGRIND:-1}"; CG_N="${CG_N:-200000}"
RESULTS_DIR="${RESULTS_DIR:-$BUILD_DIR/results/timers-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$RESULTS_DIR"

C_BIN="$BUILD_DIR/c_timers"
SWIFT_PKG="$BENCH/swift"
SWIFT_BIN="$SWIFT_PKG/.build/release/timers-bench"
cc_build "$C_BIN" "$BENCH/timers/c_timers.c" "${LIBCORE_SRCS[@]}" -- $LIBCORE_FLAGS || exit 1
if [ "${SKIP_SWIFT_BUILD:-0}" != 1 ] || [ ! -x "$SWIFT_BIN" ]; then
  echo "== (bench/swift) swift build -c release --static-swift-stdlib --product timers-bench" >&2
  (cd "$SWIFT_PKG" && swift build -c release --static-swift-stdlib --product timers-bench 2>&1 | tail -1) >&2
fi
[ -x "$SWIFT_BIN" ] || { echo "no $SWIFT_BIN" >&2; exit 1; }

{
  env_header
  echo "c:     taskset -c $CPU $C_BIN $N $ROUNDS"
  echo "swift: taskset -c $CPU $SWIFT_BIN $N $ROUNDS"
  echo "runs: $RUNS per side, interleaved; callgrind: ${CALLGRIND} at $CG_N and $((2 * CG_N)) timers"
} | tee "$RESULTS_DIR/env.txt"

RUNS_TSV="$RESULTS_DIR/runs.tsv"
printf 'name\tround\tok\tcold_sched\tcold_cancel\tcold_total\twarm_sched\twarm_cancel\twarm_total\tother_cpu\n' >"$RUNS_TSV"
run_side() {  # run_side c|swift RUN TRY -> appends a row; 2 if the machine was shared
  local side="$1" r="$2" try="$3" bin="$C_BIN" out tm ok a0 a1 w0 w1 e u s first last other
  [ "$side" = swift ] && bin="$SWIFT_BIN"
  out="$RESULTS_DIR/$side.r$r.t$try.txt"; tm="$out.time"
  wait_quiet
  ok=yes
  a0="$(all_proc_ticks)"; w0="$(date +%s.%N)"
  /usr/bin/time -f '%e %U %S' -o "$tm" taskset -c "$CPU" "$bin" "$N" "$ROUNDS" >"$out" 2>&1 || ok=no
  w1="$(date +%s.%N)"; a1="$(all_proc_ticks)"
  read -r e u s <"$tm" 2>/dev/null || true
  other="$(other_pct "$a0" "$a1" "$(awk -v u="${u:-0}" -v s="${s:-0}" -v hz="$CLK_TCK" 'BEGIN { print (u + s) * hz }')" \
           "$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')")"
  if [ "$ok" = yes ] && [ -n "$other" ] && [ "$other" -gt "$MAX_OTHER" ]; then ok=noisy; fi
  first="$(grep '^result round=1 ' "$out")"; last="$(grep '^result round=' "$out" | tail -1)"
  get() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$side" "$r" "$ok" \
    "$(get "$first" schedule_ns)" "$(get "$first" cancel_ns)" "$(get "$first" total_ns)" \
    "$(get "$last" schedule_ns)" "$(get "$last" cancel_ns)" "$(get "$last" total_ns)" "$other" >>"$RUNS_TSV"
  echo "--- $side run $r (try $try): cold $(get "$first" total_ns) ns/timer, warm $(get "$last" total_ns) ns/timer, other procs ${other:-?}%"
  [ "$ok" = noisy ] && return 2
  return 0
}
for r in $(seq 1 "$RUNS"); do
  for side in c swift; do
    run_retrying run_side "$side" "$r"
  done
done

{
  echo
  python3 "$BENCH/lib/table.py" "$RUNS_TSV" --name-header API --order "c swift" \
    --title "### Timers: $N one-shot timers scheduled then cancelled on the loop thread, ns per timer, median of $RUNS processes (min–max)" \
    --col cold_sched "schedule (cold)" 1 --col cold_cancel "cancel (cold)" 1 --col cold_total "total (cold)" 1 \
    --col warm_sched "schedule (warm)" 1 --col warm_cancel "cancel (warm)" 1 --col warm_total "total (warm)" 1 \
    --col other_cpu "other procs CPU %" 0 \
    --ratio cold_total swift c --ratio warm_total swift c --ratio warm_sched swift c --ratio warm_cancel swift c
} | tee "$RESULTS_DIR/table.md"

if [ "$CALLGRIND" = 1 ]; then
  command -v valgrind >/dev/null || { echo "valgrind missing: skipping instruction counts" | tee -a "$RESULTS_DIR/table.md"; exit 0; }
  # valgrind 3.19 cannot read the DWARF Swift emits: drop the debug info, keep the symbols.
  strip --strip-debug -o "$RESULTS_DIR/timers-bench.nodwarf" "$SWIFT_BIN"
  ir() {  # ir BIN COUNT -> total instructions
    local out="$RESULTS_DIR/callgrind.$(basename "$1").$2"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$1" "$2" 1 >"$out.log" 2>&1 || { echo "callgrind failed: $out.log" >&2; return 1; }
    grep -m1 '^summary:' "$out" | awk '{print $2}'
  }
  {
    echo
    echo "### Instructions per timer (callgrind, schedule + cancel, (Ir($((2 * CG_N))) - Ir($CG_N)) / $CG_N)"
    echo
    echo "| side | instructions / timer | Ir at $CG_N | Ir at $((2 * CG_N)) |"
    echo "|---|---:|---:|---:|"
  } | tee -a "$RESULTS_DIR/table.md"
  declare -A per
  for side in c swift; do
    bin="$C_BIN"; [ "$side" = swift ] && bin="$RESULTS_DIR/timers-bench.nodwarf"
    a="$(ir "$bin" "$CG_N")" || exit 1; b="$(ir "$bin" "$((2 * CG_N))")" || exit 1
    per[$side]=$(( (b - a) / CG_N ))
    printf '%s\t%s\n' "$side" "${per[$side]}" >>"$RESULTS_DIR/instructions.tsv"
    echo "| $side | ${per[$side]} | $a | $b |" | tee -a "$RESULTS_DIR/table.md"
  done
  echo "- **swift / c** (instructions): **$(awk -v s="${per[swift]}" -v c="${per[c]}" 'BEGIN { printf "%.2f", s / c }')**" | tee -a "$RESULTS_DIR/table.md"
  echo "callgrind files: $RESULTS_DIR/callgrind.* (callgrind_annotate --inclusive=yes FILE)"
fi
echo "raw results: $RESULTS_DIR"
