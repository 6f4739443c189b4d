#!/usr/bin/env bash
# Load benchmark: the real `dingmeet serve` binary, as its own process, answering
# correctly signed callbacks driven by wrk (bench/callback.lua) and replying on session webhooks
# of the sandbox's DingTalk simulator, all on 127.0.0.1. In the same run, the same load against
# the ceiling (examples/ceiling.rs: acknowledge, post one fixed reply, nothing else), rounds
# alternating so drift hits both alike; then the bot's cold start (examples/coldstart.rs).
#
#   bench/load.sh            build the shipped (dist) binaries, run, print the figures (about 3 minutes)
#   bench/load.sh --smoke    one short round of the bot only: proves the callbacks are accepted
#                            and every reply arrives exactly once (used by the tests)
#
# Settings (environment): DURATION (s per run, 10), ROUNDS (5), CONNECTIONS (16), THREADS (wrk
# threads, 1), SESSIONS (session webhooks used in turn, 64), COLD_RUNS (20), OUT (the JSON lines
# of every run; default a temporary file), BOT_ENV (extra settings for the bot, e.g.
# "RUST_LOG=warn"; default none: the bot's defaults), JOURNAL_COST (1: each round also runs the
# bot with its journal off, DINGMEET_JOURNAL=false, to show what the journal costs; 0 skips it;
# default 1, 0 with --smoke), PERF_STAT (perf events counted on the target during each load,
# e.g. "task-clock,context-switches,cpu-migrations,page-faults"; shown per message), PERF_RECORD
# (a directory: each load is also sampled by `perf record`, into KIND-ROUND.data; PERF_RECORD_CALLS,
# default -g, e.g. "--call-graph dwarf,16384"; PERF_RECORD_FREQ, default 1999 Hz). Every bot
# run has a fresh DINGMEET_DATA_DIR under the work directory (the durable default: SQLite,
# journal on). BOT_BIN, CEILING_BIN and COLDSTART_BIN use prebuilt binaries instead of building
# them. BASELINE_BIN (another build of the bot, e.g. an earlier commit's): each round also runs
# it with its own defaults (beside the bot-nojournal run), so before and after are in the same run;
# BASELINE_JOURNAL=1 gives it the bot's store settings (a build that has the journal).
#
# Needs: cargo, wrk (apt-get install -y wrk), curl and python3. Exits non-zero when any callback
# is not answered 2xx, a socket error occurs, or a reply is missing, refused or duplicated.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
case "${1:-}" in
  --smoke) SMOKE=1 ;;
  "") ;;
  *) sed -n '2,28p' "$0"; exit 2 ;;
esac
if ((SMOKE)); then
  DURATION=${DURATION:-2} ROUNDS=${ROUNDS:-1} CONNECTIONS=${CONNECTIONS:-4} COLD_RUNS=0 JOURNAL_COST=0
fi
JOURNAL_COST=${JOURNAL_COST:-1}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
SESSIONS=${SESSIONS:-64}
COLD_RUNS=${COLD_RUNS:-20}
SETTLE_TIMEOUT=30

need() { command -v "$1" >/dev/null 2>&1 || { echo "bench/load.sh: $1 is missing ($2)" >&2; exit 2; }; }
need wrk "apt-get install -y wrk"
need curl "apt-get install -y curl"
need python3 "apt-get install -y python3"
helper() { python3 bench/helper.py "$@"; }
log() { printf '== %s\n' "$*" >&2; }

# --- Binaries -------------------------------------------------------------------------------
if [[ -z "${BOT_BIN:-}" ]]; then
  # The dist profile (fat LTO, one codegen unit) is what we ship, so it is what we measure.
  log "building dist binaries (dingmeet, examples/ceiling, examples/coldstart)"
  cargo build --profile dist --quiet --bin dingmeet --example ceiling --example coldstart
  target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  BOT_BIN="$target_dir/dist/dingmeet"
  CEILING_BIN="${CEILING_BIN:-$target_dir/dist/examples/ceiling}"
  COLDSTART_BIN="${COLDSTART_BIN:-$target_dir/dist/examples/coldstart}"
fi
if ((!SMOKE)) && [[ -z "${CEILING_BIN:-}" || -z "${COLDSTART_BIN:-}" ]]; then
  echo "bench/load.sh: with BOT_BIN, also set CEILING_BIN and COLDSTART_BIN (or use --smoke)" >&2
  exit 2
fi

# --- Processes: every one started here is stopped here, by its pid -------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dingmeet-load.XXXXXX")
OUT=${OUT:-$WORK/runs.jsonl}
: >"$OUT"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
stop() { # stop PID: SIGTERM, then wait for it
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # user + system, in clock ticks
rss_kb() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }
wait_http() { # wait_http URL WHAT PID: polls until 200, for at most 20 s
  for _ in $(seq 1 2000); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { echo "bench/load.sh: $2 exited; its log:" >&2; cat "$WORK/$2.log" >&2; exit 1; }
    sleep 0.01
  done
  echo "bench/load.sh: $2 did not answer $1 within 20 s" >&2
  exit 1
}

# --- The simulator (the sandbox, whose own in-process bot stays idle) -----------------------
# A fresh one for every run, so no run pays for the records of the ones before it.
start_simulator() {
  "$BOT_BIN" sandbox --port 0 --scenario bench/scenario.toml >"$WORK/sandbox.log" 2>&1 &
  SANDBOX_PID=$!
  PIDS+=("$SANDBOX_PID")
  PLAYGROUND=""
  for _ in $(seq 1 2000); do
    PLAYGROUND=$(grep -o 'Playground  *http://127\.0\.0\.1:[0-9]*/' "$WORK/sandbox.log" | grep -o 'http.*' || true)
    [[ -n "$PLAYGROUND" ]] && break
    kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$WORK/sandbox.log" >&2; exit 1; }
    sleep 0.01
  done
  [[ -n "$PLAYGROUND" ]] || { echo "bench/load.sh: the sandbox printed no playground URL" >&2; exit 1; }
  eval "$(helper info "$PLAYGROUND")"
  export DINGMEET_CLIENT_ID="$CLIENT_ID" DINGMEET_CLIENT_SECRET="$CLIENT_SECRET" DINGMEET_API_BASE="$SIM_URL"
}
log "the simulator: the sandbox with bench/scenario.toml, a fresh one for every run"
# The markdown path: the throughput of answers on the session webhook (live cards cost OpenAPI
# calls and are measured by the month benchmark instead).
export DINGMEET_WEBHOOK_HOSTS=127.0.0.1 DINGMEET_LOG_FORMAT=json DINGMEET_CARDS=markdown
for name in $(env | grep -o '^DINGMEET_[A-Z_]*' | grep -vE '^DINGMEET_(WEBHOOK_HOSTS|LOG_FORMAT|CARDS)$'); do
  unset "$name" # the bot's defaults, whatever this shell had set
done
unset RUST_LOG

# --- One measured run -----------------------------------------------------------------------
# run KIND ROUND: starts the bot or the ceiling, warms it up, loads it for DURATION seconds,
# waits for every reply to land, records the figures, stops it.
run() {
  local kind=$1 round=$2 port pid url counter_url prefix start_kb idle_kb idle_anon_kb peak_kb cpu_before cpu_after
  start_simulator
  port=$(helper port)
  url="http://127.0.0.1:$port"
  helper tally "$PLAYGROUND" | python3 -c 'import json,sys; print(json.dumps({"accepted":0,"tally":json.load(sys.stdin)}))' >"$WORK/baseline.json"
  helper plan "$PLAYGROUND" "$CLIENT_SECRET" "$CLIENT_ID" "$SESSIONS" "$WORK/plan"
  if [[ $kind == bot* ]]; then
    local store=(DINGMEET_DATA_DIR="$WORK/data-$kind-$round" DINGMEET_JOURNAL=true) binary=$BOT_BIN
    [[ $kind == bot-nojournal ]] && store[1]=DINGMEET_JOURNAL=false
    if [[ $kind == bot-baseline && ${BASELINE_JOURNAL:-0} == 1 ]]; then
      binary=$BASELINE_BIN
      store=(-u DINGMEET_CARDS "${store[@]}")
    elif [[ $kind == bot-baseline ]]; then
      binary=$BASELINE_BIN
      # An earlier build may know none of these settings, and refuses what it does not know.
      store=(-u DINGMEET_CARDS)
    fi
    # shellcheck disable=SC2086 # BOT_ENV is a list of NAME=value words
    env "${store[@]}" ${BOT_ENV:-} DINGMEET_LISTEN="127.0.0.1:$port" "$binary" serve >"$WORK/$kind.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_http "$url/readyz" "$kind" "$pid"
    counter_url="$url/metrics"
  else
    CEILING_LISTEN="127.0.0.1:$port" CEILING_REPLY_FILE="$WORK/reply.json" \
      CEILING_WEBHOOK="$(awk '$1 == "webhook" { print $2 }' "$WORK/plan" | paste -sd, -)" \
      "$CEILING_BIN" >"$WORK/$kind.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_http "$url/healthz" "$kind" "$pid"
    counter_url="$url/count"
  fi
  start_kb=$(rss_kb "$pid" VmRSS)

  # A warm-up of 200 messages: the token, the lookup cache and the connection pools.
  wrk -t1 -c2 -d5s -s bench/callback.lua "$url/dingtalk/callback" -- "$WORK/plan" "warm$round$kind" 200 >"$WORK/warm.out"
  helper settle "$PLAYGROUND" "$kind" "$counter_url" "" "$WORK/baseline.json" "$SETTLE_TIMEOUT" >/dev/null
  idle_kb=$(rss_kb "$pid" VmRSS)
  idle_anon_kb=$(rss_kb "$pid" RssAnon)

  prefix="r$round$kind$RANDOM"
  helper snapshot "$PLAYGROUND" "$kind" "$counter_url" >"$WORK/before.json"
  log "round $round: $kind, ${DURATION}s, $CONNECTIONS connections, $THREADS wrk thread(s)"
  cpu_before="$(cpu_ticks "$pid") $(cpu_ticks "$SANDBOX_PID")"
  local perf_pid=""
  rm -f "$WORK/perf.csv"
  if [[ -n "${PERF_STAT:-}" ]]; then # software counters of the target during the load
    perf stat -x, -e "$PERF_STAT" -p "$pid" -o "$WORK/perf.csv" &
    perf_pid=$!
  fi
  local record_pid=""
  if [[ -n "${PERF_RECORD:-}" ]]; then # where the target's time goes, for perf report
    mkdir -p "$PERF_RECORD"
    perf record -q ${PERF_RECORD_CALLS:--g} -F ${PERF_RECORD_FREQ:-1999} -p "$pid" -o "$PERF_RECORD/$kind-$round.data" 2>/dev/null &
    record_pid=$!
  fi
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s bench/callback.lua "$url/dingtalk/callback" \
    -- "$WORK/plan" "$prefix" >"$WORK/wrk.out"
  cpu_after="$(cpu_ticks "$pid") $(cpu_ticks "$SANDBOX_PID")"
  if [[ -n "$record_pid" ]]; then
    kill -INT "$record_pid"
    wait "$record_pid" || true
  fi
  if [[ -n "$perf_pid" ]]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
  fi
  helper settle "$PLAYGROUND" "$kind" "$counter_url" "$prefix-" "$WORK/before.json" "$SETTLE_TIMEOUT" >"$WORK/after.json"
  peak_kb=$(rss_kb "$pid" VmHWM)
  if [[ $kind == bot* ]]; then
    # The journal's group commit: appends and records per append over the whole run (warm-up included).
    curl -fsS "$url/metrics" | awk -v kind="$kind" -v round="$round" '
      /^dingmeet_journal_batch_records_sum/ { sum = $2 }
      /^dingmeet_journal_batch_records_count/ { count = $2 }
      /^dingmeet_journal_batch_records_bucket/ { match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); buckets = buckets " <=" le ":" $2 }
      END { if (count > 0) printf "    journal batches (%s %s): %d appends, %d records, %.2f per append;%s\n", kind, round, count, sum, sum / count, buckets }' >&2 || true
  fi
  PERF_CSV="$WORK/perf.csv" helper record "$OUT" "$kind" "$round" "$WORK/wrk.out" "$WORK/baseline.json" "$WORK/before.json" \
    "$WORK/after.json" "$start_kb" "$idle_kb $idle_anon_kb" "$peak_kb" "$(getconf CLK_TCK) $cpu_before $cpu_after"

  if [[ $kind == bot && $round == 0 ]]; then
    # The ceiling posts the bytes of one of the bot's real replies.
    helper sample "$PLAYGROUND" "$prefix-" >"$WORK/reply.json"
  fi
  stop "$pid"
  stop "$SANDBOX_PID"
}

if ((SMOKE)); then
  run bot 1
else
  # The ceiling's reply is a real reply of the bot: one bot run first, not measured.
  saved_out=$OUT
  OUT=$WORK/primer.jsonl DURATION=1 run bot 0
  OUT=$saved_out
  for round in $(seq 1 "$ROUNDS"); do
    if ((round % 2)); then run ceiling "$round"; run bot "$round"; else run bot "$round"; run ceiling "$round"; fi
    if ((JOURNAL_COST)); then run bot-nojournal "$round"; fi
    if [[ -n "${BASELINE_BIN:-}" ]]; then run bot-baseline "$round"; fi
  done
fi

echo
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) memory; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "load: ${DURATION}s per run, $ROUNDS round(s), $CONNECTIONS connections, $THREADS wrk thread(s), $SESSIONS session webhooks"
status=0
helper report "$OUT" || status=$?

if ((COLD_RUNS > 0)); then
  echo
  log "cold start: $COLD_RUNS starts of dingmeet serve"
  start_simulator
  "$COLDSTART_BIN" "$BOT_BIN" "$COLD_RUNS" | tail -1
  stop "$SANDBOX_PID"
fi
echo "runs: $OUT"
exit "$status"
