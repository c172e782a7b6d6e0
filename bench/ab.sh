#!/usr/bin/env bash
# A/B: two server binaries under the same load generator, run after run in turns (A, B, A,
# B, ...), so both see the same machine state; then each one's medians and the ratio B/A of
# the headline figure. On a shared 2-core machine only ratios from one such run compare.
#
#   A=path/to/old/roomcast B=target/release/roomcast bench/ab.sh
#   RUNS=3 BACKENDS="sqlite postgres" ONLY='^send' bench/ab.sh
#   SCENARIO="fanout --receivers 1000 --messages 200 --senders 1" bench/ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."

: "${A:?A=path to the first (before) server binary}"
B=${B:-target/release/roomcast}
BENCH=${BENCH:-target/release/roomcast-bench}
RUNS=${RUNS:-3}
BACKENDS=${BACKENDS:-"sqlite postgres"}
OUT=${OUT:-target/bench-results/ab-$(date +%Y%m%d-%H%M%S).jsonl}
mkdir -p "$(dirname "$OUT")"

SCENARIOS=(
  "send --concurrency 64 --rooms 50 --seconds 3 --warmup-seconds 0.5"
  "fanout --receivers 1000 --messages 200"
)
# SCENARIO='fanout --receivers 1000 --messages 200 --senders 1' runs that line instead.
if [[ -n "${SCENARIO:-}" ]]; then SCENARIOS=("$SCENARIO"); fi

failed=0
for run in $(seq 1 "$RUNS"); do
  for backend in $BACKENDS; do
    for scenario in "${SCENARIOS[@]}"; do
      if [[ -n "${ONLY:-}" && ! $scenario =~ $ONLY ]]; then continue; fi
      for side in A B; do
        server=${!side}
        echo "=== run $run/$RUNS, $backend, $side: $scenario" >&2
        # shellcheck disable=SC2086 # the scenario line is split into arguments on purpose
        if ! "$BENCH" --spawn "$server" --backend "$backend" --label "$side" \
          --json-out "$OUT" --deadline-seconds 300 $scenario; then
          echo "bench: FAILED: run $run, $backend, $side: $scenario" >&2
          failed=$((failed + 1))
        fi
      done
    done
  done
done

echo "results: $OUT" >&2
for side in A B; do
  echo "## $side: ${!side}"
  "$BENCH" summarize --only-label "$side" "$OUT"
done
# The ratio B/A of each backend's median headline figure.
python3 - "$OUT" <<'PY'
import json, statistics, sys
head = {"send": "msgs_per_s", "fanout": "deliveries_per_s"}
runs = {}
for line in open(sys.argv[1]):
    v = json.loads(line)
    for cell in v.get("cells", []):
        metric = head.get(v.get("scenario"))
        x = cell.get("metrics", {}).get(metric)
        if metric and x is not None:
            runs.setdefault((v["scenario"], cell["key"], v["backend"]), {}).setdefault(v["label"], []).append(x)
print("\n| scenario | backend | A median | B median | B/A | runs A, B |\n|---|---|---|---|---|---|")
for (scenario, key, backend), by in sorted(runs.items()):
    a, b = statistics.median(by.get("A", [0])), statistics.median(by.get("B", [0]))
    ratio = f"{b / a:.2f}" if a else "-"
    print(f"| {scenario} {key} | {backend} | {a:,.0f} | {b:,.0f} | {ratio} | {len(by.get('A', []))}, {len(by.get('B', []))} |")
PY
if ((failed > 0)); then
  echo "bench: $failed run(s) failed their checks (see above)" >&2
  exit 1
fi
