#!/usr/bin/env bash
# Issue 14's targets, each as a ratio measured in the same pass: RUNS rounds, and in each round
# every scenario once per backend, one after the other, so the figures a ratio compares come
# from the same minutes. Then each target's median and its ratio.
#
#   bench/issue14.sh                                   # target/release/roomcast, 3 rounds
#   SERVER=target/roomcast-abc RUNS=1 bench/issue14.sh  # a quick look at another build
#   SERVER_ENV="ROOMCAST_WORKERS=4" bench/issue14.sh     # extra server settings
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER=${SERVER:-target/release/roomcast}
BENCH=${BENCH:-target/release/roomcast-bench}
RUNS=${RUNS:-3}
BACKENDS=${BACKENDS:-"sqlite postgres"}
OUT=${OUT:-target/bench-results/issue14-$(date +%Y%m%d-%H%M%S).jsonl}
mkdir -p "$(dirname "$OUT")"

env_args=()
for kv in ${SERVER_ENV:-}; do env_args+=(--server-env "$kv"); done

SCENARIOS=(
  # Item 2: one speaker (each send waits for its 201), the raw ceiling right after it.
  "fanout --receivers 1000 --messages 200 --senders 1 --with-raw"
  # Item 2's yardsticks: four speakers, and one speaker with nobody listening.
  "fanout --receivers 1000 --messages 200 --senders 4"
  "send --concurrency 1 --rooms 1 --seconds 3 --warmup-seconds 0.5"
  # Item 4.
  "send --concurrency 64 --rooms 50 --seconds 3 --warmup-seconds 0.5"
  # Item 7.
  "latency --receivers 1000 --rate 20 --seconds 10"
  "latency --receivers 1000 --rate 200 --seconds 10"
)
# Item 3: the durable-write floor and send c=1 in one run (SQLite only: the floor is SQLite's).
COMMIT="commit --with-send --seconds 5"

run() {
  local backend=$1
  shift
  echo "=== $backend: $*" >&2
  # shellcheck disable=SC2068 # the scenario line is split into arguments on purpose
  "$BENCH" --spawn "$SERVER" --backend "$backend" --label issue14 --json-out "$OUT" \
    --deadline-seconds 300 ${env_args[@]+"${env_args[@]}"} $@ >/dev/null ||
    echo "bench: FAILED: $backend: $*" >&2
}

for round in $(seq 1 "$RUNS"); do
  echo "### round $round/$RUNS" >&2
  for backend in $BACKENDS; do
    for scenario in "${SCENARIOS[@]}"; do run "$backend" $scenario; done
    if [[ $backend == sqlite ]]; then run sqlite $COMMIT; fi
  done
done

echo "results: $OUT" >&2
python3 bench/issue14_targets.py "$OUT"
