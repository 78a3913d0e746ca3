#!/usr/bin/env bash
# Issue 11's done-when check: the shipped search on two `kvopt worker` processes exports the same profile
# as on one machine, also when one worker is SIGKILLed in the middle of a job.
#   scripts/queue-check.sh [redis://127.0.0.1:6379/12] [experiments/search-stories260k.yaml]
# Prints each run's summary line and "same profile" (exit 0) or the diff (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."
QUEUE=${1:-redis://127.0.0.1:6379/12}
CFG=${2:-experiments/search-stories260k.yaml}
OUT=$(mktemp -d)
export KVOPT_CACHE_DIR=${KVOPT_CACHE_DIR:-$OUT/cache}
kvopt() { node bin/kvopt.mjs "$@"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

profile() { # db -> yaml
  kvopt export --db "$1" --run latest --format yaml --out "$1.profile.yaml" >/dev/null
  echo "$1.profile.yaml"
}

echo "== one machine (piscina)"
kvopt search --config "$CFG" --db "$OUT/local.db" --quiet | head -2
local_profile=$(profile "$OUT/local.db")

echo "== two workers"
kvopt worker --queue "$QUEUE" --name check-a --quiet & pids+=($!)
kvopt worker --queue "$QUEUE" --name check-b --quiet & pids+=($!)
kvopt search --config "$CFG" --db "$OUT/queue.db" --queue "$QUEUE" --quiet | head -2
queue_profile=$(profile "$OUT/queue.db")
cleanup; pids=()

echo "== two workers, one SIGKILLed in the middle of its 20th job"
KVOPT_FAULT_HOLD_JOB=20 kvopt worker --queue "$QUEUE" --name check-killed 2>"$OUT/killed.log" & killed=$!; pids+=($killed)
kvopt worker --queue "$QUEUE" --name check-c --quiet & pids+=($!)
kvopt search --config "$CFG" --db "$OUT/killed.db" --queue "$QUEUE" --quiet > "$OUT/killed.txt" &
search=$!
until grep -q 'holding job' "$OUT/killed.log" 2>/dev/null; do sleep 0.2; done
kill -KILL "$killed"
echo "SIGKILLed worker check-killed while it held: $(grep -o 'job .* of sample [^ ]*' "$OUT/killed.log")"
wait "$search"
head -2 "$OUT/killed.txt"
killed_profile=$(profile "$OUT/killed.db")

status=0
for p in "$queue_profile" "$killed_profile"; do
  if diff -u "$local_profile" "$p"; then echo "same profile: $p"; else status=1; fi
done
echo "left in Redis: $(redis-cli -u "$QUEUE" --scan --pattern 'kvopt:*' | wc -l) keys"
exit $status
