#!/usr/bin/env bash
# A month in minutes: a month of a 2,000-person organisation (100 questions a day over 30 codes,
# 20 booked meetings a day moving from upcoming to in progress to ended, 10 reminders a day)
# replayed through the simulator's clock against the real bot, both on 127.0.0.1
# (examples/month). Prints one `day {json}` line per simulated day and a final `month {json}`:
# OpenAPI calls per purpose against DINGMEET_MONTHLY_CALL_BUDGET, interactive and markdown
# answers, how late live cards showed each start and end, and the live share.
#
#   bench/month.sh           build (release profile), replay 30 days (a few minutes)
#   bench/month.sh --smoke   replay 3 days
#
# Settings (environment): DAYS (30), SEED (13), MONTH_BIN (a prebuilt examples/month).
# Exits non-zero when a question went unanswered or the month spent more than the budget.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  --smoke) DAYS=${DAYS:-3} ;;
  "") ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
DAYS=${DAYS:-30}
SEED=${SEED:-13}

if [[ -z "${MONTH_BIN:-}" ]]; then
  echo "== building examples/month (release profile)" >&2
  cargo build --release --quiet --example month
  target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  MONTH_BIN="$target_dir/release/examples/month"
fi

OUT=$(mktemp "${TMPDIR:-/tmp}/dingmeet-month.XXXXXX")
trap 'rm -f "$OUT"' EXIT
RUST_LOG=${RUST_LOG:-off} "$MONTH_BIN" "$DAYS" "$SEED" | tee "$OUT"

python3 - "$OUT" <<'PY'
import json, sys
month = next(json.loads(l[6:]) for l in open(sys.argv[1]) if l.startswith("month "))
fails = []
if month["answered_at_once"] != month["questions"]:
    fails.append(f"{month['questions'] - month['answered_at_once']} questions not answered at once")
if month["calls_total"] > month["budget"] * month["days"] / 30:
    fails.append(f"{month['calls_total']} calls over the budget's share of {month['days']} days")
s = month["starts"]
print(f"checks: {month['calls_total']} calls of {month['budget']} ({month['days']} days); "
      f"{month['interactive']} interactive, {month['markdown']} markdown; live share {month['live_share_pct']} %; "
      f"starts shown within 60 s: {s['within_60s']} of {s['on_live_cards']} (longest {s['longest_s']} s)")
if fails:
    print("FAILED: " + "; ".join(fails))
    sys.exit(1)
PY
