#!/usr/bin/env bash
# Regenerates the figures in BENCHMARKS.md: RUNS runs of every scenario on SQLite and on
# PostgreSQL (release build, a fresh server and database per run), all results appended to one
# JSON-lines file, then the medians as Markdown tables.
#
#   bench/run-baseline.sh                  # builds, runs (about 15 minutes), summarizes
#   SERVER=path/to/roomcast bench/run-baseline.sh   # benchmark another server binary
#   RUNS=1 BACKENDS=sqlite bench/run-baseline.sh    # a quick look
#   ONLY='^(send|fanout)' bench/run-baseline.sh      # some scenarios only
#
# Only one benchmark runs at a time. Before each, the script waits (at most QUIET_WAIT seconds)
# until the machine is nearly idle, since on 2 cores any other build or test skews the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
BACKENDS=${BACKENDS:-"sqlite postgres"}
LABEL=${LABEL:-baseline}
QUIET_WAIT=${QUIET_WAIT:-30}
OUT=${OUT:-target/bench-results/$LABEL-$(date +%Y%m%d-%H%M%S).jsonl}
mkdir -p "$(dirname "$OUT")"

# NO_BUILD=1 uses the binaries as they are (a long `cargo test` elsewhere holds target/'s lock).
if [[ -z "${SERVER:-}" ]]; then
  [[ -n "${NO_BUILD:-}" ]] || cargo build --release -p roomcast -p roomcast-bench
  SERVER=target/release/roomcast
else
  [[ -n "${NO_BUILD:-}" ]] || cargo build --release -p roomcast-bench
fi
BENCH=${BENCH:-target/release/roomcast-bench}

# The scenarios, one line each: every run takes 10-25 s.
SCENARIOS=(
  "send --concurrency 1,8,64 --rooms 1 --seconds 3 --warmup-seconds 0.5"
  "send --concurrency 1,8,64 --rooms 50 --seconds 3 --warmup-seconds 0.5"
  "fanout --receivers 1000 --messages 200"
  "fanout --receivers 5000 --messages 100"
  "latency --receivers 1000 --rate 200 --seconds 10"
  "latency --receivers 1000 --rate 20 --seconds 10"
  "idle --sockets 19000 --rest-seconds 10"
  "joins --joiners 1000 --capacity 100"
)

# Percent of both cores busy over 2 s, from /proc/stat.
busy_pct() {
  local a b
  read -r -a a < <(head -1 /proc/stat)
  sleep 2
  read -r -a b < <(head -1 /proc/stat)
  local total=0 idle=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  echo $(((total - idle) * 100 / (total > 0 ? total : 1)))
}

wait_quiet() {
  local waited=0 busy
  while busy=$(busy_pct); ((busy > 10)); do
    if ((waited >= QUIET_WAIT)); then
      echo "bench: machine still ${busy}% busy after ${waited} s; running anyway" >&2
      return
    fi
    echo "bench: machine ${busy}% busy; waiting" >&2
    sleep 8
    waited=$((waited + 10))
  done
}

failed=0
for run in $(seq 1 "$RUNS"); do
  for backend in $BACKENDS; do
    for scenario in "${SCENARIOS[@]}"; do
      # ONLY=<regex> runs just the matching scenario lines.
      if [[ -n "${ONLY:-}" && ! $scenario =~ $ONLY ]]; then continue; fi
      wait_quiet
      echo "=== run $run/$RUNS, $backend: $scenario" >&2
      # shellcheck disable=SC2086 # the scenario line is split into arguments on purpose
      if ! "$BENCH" --spawn "$SERVER" --backend "$backend" --label "$LABEL" \
        --json-out "$OUT" --deadline-seconds 300 $scenario; then
        echo "bench: FAILED: run $run, $backend: $scenario" >&2
        failed=$((failed + 1))
      fi
    done
  done
done

echo "results: $OUT" >&2
"$BENCH" summarize "$OUT"
if ((failed > 0)); then
  echo "bench: $failed run(s) failed their checks (see above)" >&2
  exit 1
fi
