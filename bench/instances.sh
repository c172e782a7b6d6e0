#!/usr/bin/env bash
# Many instances (issue 13): one instance against two on one PostgreSQL database with a Redis
# of the bench's own as their bus (and one instance with that bus), under the same latency load
# (same machine, same cores), and the bus's recovery after Redis is killed; RUNS runs of each,
# in turns, then the medians.
#
#   cargo build --release -p roomcast -p roomcast-bench
#   bench/instances.sh
#   RUNS=1 LATENCY="latency --receivers 200 --rate 100 --seconds 5" bench/instances.sh
#   LATENCY="latency --receivers 1000 --rate 20" RECOVERY= bench/instances.sh   # latency only
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER=${SERVER:-target/release/roomcast}
BENCH=${BENCH:-target/release/roomcast-bench}
RUNS=${RUNS:-3}
LATENCY=${LATENCY:-"latency --receivers 1000 --rate 200 --seconds 10"}
RECOVERY=${RECOVERY-"bus-recovery --receivers 100 --rate 50"}  # empty: none
OUT=${OUT:-target/bench-results/instances-$(date +%Y%m%d-%H%M%S).jsonl}
mkdir -p "$(dirname "$OUT")"

failed=0
run() {
  echo "=== $*" >&2
  if ! "$BENCH" --spawn "$SERVER" --backend postgres --json-out "$OUT" --deadline-seconds 300 "$@"; then
    echo "bench: FAILED: $*" >&2
    failed=$((failed + 1))
  fi
}
for i in $(seq 1 "$RUNS"); do
  echo "### run $i/$RUNS" >&2
  # shellcheck disable=SC2086 # the scenario lines are split into arguments on purpose
  {
    run --instances 1 $LATENCY
    # One instance that still publishes every event to Redis: the bus's own cost, apart
    # from the second instance's.
    run --instances 1 --bus redis $LATENCY
    run --instances 2 $LATENCY
    if [[ -n $RECOVERY ]]; then run --instances 2 $RECOVERY; fi
  }
done

echo "results: $OUT" >&2
"$BENCH" summarize "$OUT"
if ((failed > 0)); then
  echo "bench: $failed run(s) failed their checks (see above)" >&2
  exit 1
fi
