#!/usr/bin/env bash
# A month in minutes: a month of a 2,000-person organisation (100 questions a day over 30 codes,
# 20 booked meetings a day moving from upcoming to in progress to ended, 10 reminders a day)
# replayed through the simulator's clock against the real bot, both on 127.0.0.1
# (examples/month), twice: with DingTalk's meeting events (every start, end, join and leave
# pushed to the bot, encrypted, to its /dingtalk/events) and without (the bot polls). Prints one
# `day {json}` line per simulated day and a `month {json}` per run: OpenAPI calls per purpose
# against DINGMEET_MONTHLY_CALL_BUDGET, interactive and markdown answers, the live share, and how
# long each start and end took to reach its live cards (p50, p95, longest).
#
#   bench/month.sh           build (release profile), replay 30 days each way (about 15 minutes)
#   bench/month.sh --smoke   replay 3 days each way
#
# Settings (environment): DAYS (30), SEED (13), EVENTS (both | http | stream | off),
# MONTH_BIN (a prebuilt examples/month).
# Exits non-zero when a run misses its targets: every question answered at once and the calls
# within the budget's share, both ways; with events also a live share of at least 80 % and every
# start and end on its cards within 5 s.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  --smoke) DAYS=${DAYS:-3} ;;
  "") ;;
  *) sed -n '2,18p' "$0"; exit 2 ;;
esac
DAYS=${DAYS:-30}
SEED=${SEED:-13}
EVENTS=${EVENTS:-both}
case "$EVENTS" in
  both) RUNS="http off" ;;
  http | stream | off) RUNS=$EVENTS ;;
  *) echo "EVENTS is both, http, stream or off" >&2; exit 2 ;;
esac

if [[ -z "${MONTH_BIN:-}" ]]; then
  echo "== building examples/month (release profile)" >&2
  cargo build --release --quiet --example month
  target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  MONTH_BIN="$target_dir/release/examples/month"
fi

OUT=$(mktemp "${TMPDIR:-/tmp}/dingmeet-month.XXXXXX")
trap 'rm -f "$OUT"' EXIT
for run in $RUNS; do
  echo "== events $run: $DAYS days, seed $SEED" >&2
  RUST_LOG=${RUST_LOG:-off} "$MONTH_BIN" "$DAYS" "$SEED" "$run" | tee -a "$OUT"
done

python3 - "$OUT" <<'PY'
import json, sys
months = [json.loads(l[6:]) for l in open(sys.argv[1]) if l.startswith("month ")]
failed = False
for month in months:
    events = month["events"] != "off"
    fails = []
    if month["answered_at_once"] != month["questions"]:
        fails.append(f"{month['questions'] - month['answered_at_once']} questions not answered at once")
    if month["calls_total"] > month["budget"] * month["days"] / 30:
        fails.append(f"{month['calls_total']} calls over the budget's share of {month['days']} days")
    s, e = month["starts"], month["ends"]
    if events:
        if month["live_share_pct"] < 80:
            fails.append(f"live share {month['live_share_pct']} % under 80 %")
        for name, shown in (("starts", s), ("ends", e)):
            if shown["within_5s"] != shown["on_live_cards"]:
                fails.append(f"{shown['on_live_cards'] - shown['within_5s']} {name} not on their cards within 5 s")
    calls = ", ".join(f"{p} {n}" for p, n in month["calls"].items())
    print(f"checks (events {month['events']}): {month['calls_total']} calls of {month['budget']} "
          f"({month['days']} days: {calls}); {month['answered_at_once']} of {month['questions']} answered at once; "
          f"{month['interactive']} interactive, {month['markdown']} markdown; live share {month['live_share_pct']} % "
          f"({month['live_when_could']} of {month['could_be_live']})")
    for name, shown in (("starts", s), ("ends", e)):
        print(f"  {name} on live cards: {shown['on_live_cards']}, within 5 s {shown['within_5s']}, within 60 s "
              f"{shown['within_60s']}, later {shown['later']}, never {shown['never']} "
              f"({shown['missed_while_paused']} missed while paused); p50 {shown['p50_s']} s, p95 {shown['p95_s']} s, "
              f"longest {shown['longest_s']} s")
    for late in month.get("late", [])[:5]:
        print(f"  late on its card: {json.dumps(late, ensure_ascii=False)}")
    for missed in month.get("missed", [])[:5]:
        print(f"  not answered at once: {json.dumps(missed, ensure_ascii=False)}")
    if fails:
        failed = True
        print(f"FAILED (events {month['events']}): " + "; ".join(fails))
sys.exit(1 if failed else 0)
PY
