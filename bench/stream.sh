#!/usr/bin/env bash
# Stream-mode benchmark, side by side with DingTalk's official Python Stream SDK: the same robot
# messages pushed down the simulator's Stream gateway to (a) the real `dingmeet serve` binary in
# stream mode and (b) bench/peers/sdk_bot.py, a meeting bot written on dingtalk-stream 0.24.3,
# each its own process, rounds alternating which goes first (examples/stream_load.rs drives it
# and runs the simulator).
#
#   bench/stream.sh            build, make the SDK's venv, run, print the figures (about 2 minutes)
#   bench/stream.sh --smoke    one short round of each: every message acknowledged and answered
#                              exactly once (used by the tests); no timings
#
# Settings (environment): DURATION (s per run, 10), ROUNDS (3), WINDOW (messages waiting for
# their reply at once, 16), OUT (the JSON lines of every run; default a temporary file), BOT_ENV
# (extra settings for the bot), BOT_BIN and DRIVER_BIN (prebuilt binaries), SDK_VENV (a venv
# with dingtalk-stream 0.24.3 and requests, used as it is; default: one made here from
# bench/peers/requirements.txt), PYTHON (python3).
#
# Needs: cargo, python3 with venv, and PyPI (or a pip mirror) the first time the venv is made.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
case "${1:-}" in
  --smoke) SMOKE=1 ;;
  "") ;;
  *) sed -n '2,19p' "$0"; exit 2 ;;
esac
if ((SMOKE)); then
  DURATION=${DURATION:-1} ROUNDS=1 WINDOW=${WINDOW:-4}
fi
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
WINDOW=${WINDOW:-16}
PYTHON=${PYTHON:-python3}
log() { printf '== %s\n' "$*" >&2; }

# --- Binaries -------------------------------------------------------------------------------
if [[ -z "${BOT_BIN:-}" || -z "${DRIVER_BIN:-}" ]]; then
  # The dist profile (fat LTO, one codegen unit) is what we ship, so it is what we measure.
  log "building dist binaries (dingmeet, examples/stream_load)"
  cargo build --profile dist --quiet --bin dingmeet --example stream_load
  target_dir=$(cargo metadata --format-version 1 --no-deps |
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  BOT_BIN=${BOT_BIN:-$target_dir/dist/dingmeet}
  DRIVER_BIN=${DRIVER_BIN:-$target_dir/dist/examples/stream_load}
fi

# --- The SDK's venv ---------------------------------------------------------------------------
# One given (scripts/test passes the SDK suite's, which pins the same versions) is used as it is;
# else one is made from bench/peers/requirements.txt, and remade when that file changes.
if [[ -n "${SDK_VENV:-}" ]]; then
  if ! "$SDK_VENV/bin/python" -c 'import sys, importlib.metadata as m, requests
sys.exit(m.version("dingtalk-stream") != "0.24.3")'; then
    echo "bench/stream.sh: FAILED: SDK_VENV=$SDK_VENV has no dingtalk-stream 0.24.3 with requests" >&2
    exit 2
  fi
else
  requirements=bench/peers/requirements.txt
  SDK_VENV=$(dirname "$(dirname "$BOT_BIN")")/bench-sdk-venv
  stamp="$SDK_VENV/.requirements.sha256"
  wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [[ ! -x "$SDK_VENV/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
    log "making the SDK's venv in $SDK_VENV ($requirements)"
    rm -rf "$SDK_VENV"
    "$PYTHON" -m venv "$SDK_VENV" || { echo "bench/stream.sh: FAILED: python3 -m venv (apt-get install -y python3-venv)" >&2; exit 2; }
    if ! "$SDK_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"; then
      echo "bench/stream.sh: FAILED to install $requirements into $SDK_VENV (is PyPI reachable?)" >&2
      rm -rf "$SDK_VENV"
      exit 2
    fi
    echo "$wanted" >"$stamp"
  fi
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dingmeet-stream.XXXXXX")
OUT=${OUT:-$WORK/runs.jsonl}
args=(--bot "$BOT_BIN" --sdk "$SDK_VENV/bin/python" --rounds "$ROUNDS" --duration "$DURATION"
  --window "$WINDOW" --out "$OUT" --work "$WORK" --bot-env "${BOT_ENV:-}")
((SMOKE)) && args+=(--smoke)

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo); load average $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
"$DRIVER_BIN" "${args[@]}" || status=$?
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "runs: $OUT (targets' logs in $WORK)"
exit "$status"
