#!/usr/bin/env python3
"""bench/load.sh's helper (standard library only): talks to the sandbox, signs the plan for
bench/callback.lua, waits for replies to land, and writes the report.

  helper.py port                                  a free loopback port
  helper.py info PLAYGROUND_URL                   shell assignments: SIM_URL, CLIENT_ID, CLIENT_SECRET
  helper.py plan PLAYGROUND_URL SECRET ROBOT SESSIONS OUT
                                                  opens SESSIONS session webhooks, signs a timestamp, writes OUT
  helper.py counter KIND URL                      callbacks accepted so far by the bot or the ceiling
  helper.py tally PLAYGROUND_URL [PREFIX]         the simulator's counts (JSON)
  helper.py sample PLAYGROUND_URL PREFIX           the body of a delivered reply to a sender with PREFIX
  helper.py snapshot PLAYGROUND_URL KIND COUNTER_URL
                                                  {"accepted": …, "tally": …} now
  helper.py settle PLAYGROUND_URL KIND COUNTER_URL PREFIX BEFORE_FILE TIMEOUT
                                                  waits until every accepted callback's reply landed
  helper.py record OUT KIND ROUND WRK_OUTPUT BASELINE_FILE BEFORE_FILE AFTER_FILE START_KB "IDLE_KB IDLE_ANON_KB" PEAK_KB CPU
                                                  appends one run to OUT (JSON lines); CPU is "HZ
                                                  target_before sim_before target_after sim_after" in ticks
  helper.py report RESULTS_JSONL                  the summary table; exits 1 when a check failed
"""

import base64
import hashlib
import hmac
import json
import re
import shlex
import socket
import statistics
import sys
import time
import urllib.request


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode("utf-8")


def post_json(url, body):
    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read().decode("utf-8"))


def sign(timestamp, secret):
    """DingTalk's callback signature: base64(HMAC-SHA256(secret, timestamp + "\\n" + secret))."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def cmd_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def cmd_info(playground):
    info = json.loads(get(playground + "api/sandbox"))
    for name, key in [("SIM_URL", "simulatorUrl"), ("CLIENT_ID", "clientId"), ("CLIENT_SECRET", "clientSecret")]:
        print(f"{name}={shlex.quote(info[key])}")


def cmd_plan(playground, secret, robot, sessions, out):
    webhooks = []
    for i in range(int(sessions)):
        answer = post_json(playground + "api/sessions", {"chat": "group", "conversationId": f"cidBenchSession{i}="})
        webhooks.append(answer["sessionWebhook"])
    timestamp = str(int(time.time() * 1000))
    lines = [
        f"timestamp {timestamp}",
        f"sign {sign(timestamp, secret)}",
        f"robot {robot}",
        "corp dingc5344d64bd47d252",
        "text /meeting 123456789",
    ]
    lines += [f"webhook {url}" for url in webhooks]
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def counter(kind, url):
    if kind == "ceiling":
        return int(get(url).strip())
    text = get(url)
    match = re.search(r'^dingmeet_callbacks_total\{outcome="accepted"\} (\d+)', text, re.M)
    return int(match.group(1)) if match else 0


def tally(playground, prefix=""):
    query = f"?mentions={prefix}" if prefix else ""
    return json.loads(get(playground + "api/stats" + query))


def cmd_sample(playground, prefix):
    sample = tally(playground, prefix)["mentioned"]["sample"]
    if sample is None:
        sys.exit(f"no delivered reply mentions a sender starting with {prefix}")
    sys.stdout.write(json.dumps(sample, ensure_ascii=False, separators=(",", ":")))


def snapshot(playground, kind, counter_url):
    return {"accepted": counter(kind, counter_url), "tally": tally(playground)}


def cmd_record(out, kind, round_, wrk_output, baseline, before, after, start_kb, idle_kb, peak_kb, cpu):
    lines = [line for line in open(wrk_output, encoding="utf-8") if line.startswith("wrk-result ")]
    if not lines:
        sys.exit(f"no wrk-result line in {wrk_output}: did wrk run the Lua script?")
    load = lambda path: json.load(open(path, encoding="utf-8"))
    run = {
        "kind": kind,
        "round": int(round_),
        "wrk": json.loads(lines[-1][len("wrk-result "):]),
        "baseline": load(baseline)["tally"],
        "before": load(before),
        "after": load(after),
        "start_kb": int(start_kb),
        "idle_kb": int(idle_kb.split()[0]),
        "idle_anon_kb": int(idle_kb.split()[1]) if len(idle_kb.split()) > 1 else None,
        "peak_kb": int(peak_kb),
    }
    hz, target_before, sim_before, target_after, sim_after = (int(x) for x in cpu.split())
    run["cpu_s"] = {"target": (target_after - target_before) / hz, "sim": (sim_after - sim_before) / hz}
    with open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps(run) + "\n")


def cmd_settle(playground, kind, counter_url, prefix, before_file, timeout):
    """Polls until the replies delivered since BEFORE equal the callbacks accepted since BEFORE;
    prints what it found and how long the replies took to drain after the load stopped."""
    before = json.load(open(before_file, encoding="utf-8"))
    started = time.monotonic()
    deadline = started + float(timeout)
    while True:
        accepted = counter(kind, counter_url) - before["accepted"]
        now = tally(playground)
        delivered = now["delivered"] - before["tally"]["delivered"]
        if delivered >= accepted or time.monotonic() > deadline:
            drain_ms = (time.monotonic() - started) * 1000
            # One more look a moment later: a reply arriving twice would show up now.
            time.sleep(0.2)
            accepted = counter(kind, counter_url) - before["accepted"]
            now = tally(playground, prefix if kind.startswith("bot") else "")
            print(json.dumps({"accepted": accepted, "drain_ms": round(drain_ms, 1), "tally": now}))
            return
        time.sleep(0.01)


def median(values):
    return statistics.median(values) if values else float("nan")


def cmd_report(path):
    runs = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    failures = []
    rows = {"bot": [], "ceiling": [], "bot-nojournal": []}
    for run in runs:
        kind, wrk = run["kind"], run["wrk"]
        before, after = run["before"]["tally"], run["after"]["tally"]
        accepted = run["after"]["accepted"]
        delivered = after["delivered"] - before["delivered"]
        refused = sum(after["refused"].values()) - sum(before["refused"].values())
        seconds = wrk["duration_us"] / 1e6
        errors = sum(wrk[k] for k in ("non_2xx", "connect_errors", "read_errors", "write_errors", "timeouts"))
        row = {
            "round": run["round"],
            "requests": wrk["requests"],
            "req_s": wrk["requests"] / seconds,
            "replies_s": delivered / (seconds + run["after"]["drain_ms"] / 1000),
            "p50_ms": wrk["p50_us"] / 1000,
            "p90_ms": wrk["p90_us"] / 1000,
            "p99_ms": wrk["p99_us"] / 1000,
            "accepted": accepted,
            "delivered": delivered,
            "errors": errors,
            "refused": refused,
            "drain_ms": run["after"]["drain_ms"],
            "peak_kb": run.get("peak_kb"),
            "idle_kb": run.get("idle_kb"),
            "idle_anon_kb": run.get("idle_anon_kb"),
            "start_kb": run.get("start_kb"),
            # CPU time per callback (acknowledged and answered) during the load, in µs.
            "cpu_us": run["cpu_s"]["target"] * 1e6 / max(accepted, 1),
            "sim_cpu_us": run["cpu_s"]["sim"] * 1e6 / max(accepted, 1),
        }
        label = f"{kind} round {run['round']}"
        if errors:
            failures.append(f"{label}: {errors} failed requests (non-2xx {wrk['non_2xx']}, socket errors or timeouts)")
        if refused:
            failures.append(f"{label}: the simulator refused {refused} replies: {after['refused']}")
        if delivered != accepted:
            failures.append(f"{label}: {accepted} callbacks accepted but {delivered} replies delivered")
        if accepted < wrk["requests"]:
            failures.append(f"{label}: wrk saw {wrk['requests']} answers but only {accepted} were accepted")
        if kind.startswith("bot"):
            mentioned = after["mentioned"]
            row["distinct"] = mentioned["distinct"]
            row["upstream_conference"] = after["conference_calls"] - run["baseline"]["conference_calls"]
            row["upstream_token"] = after["token_requests"] - run["baseline"]["token_requests"]
            if mentioned["delivered"] != accepted or mentioned["distinct"] != accepted:
                failures.append(
                    f"{label}: {accepted} accepted, {mentioned['delivered']} replies to this run's senders, "
                    f"{mentioned['distinct']} distinct: not every message answered exactly once"
                )
        rows[kind].append(row)

    def show(kind):
        print(f"\n{kind}: round  req/s  replies/s  p50 ms  p90 ms  p99 ms  accepted  delivered  errors  drain ms"
              "  cpu µs/msg  sim cpu µs/msg")
        for r in rows[kind]:
            print(
                f"  {r['round']:>11}  {r['req_s']:6.0f}  {r['replies_s']:9.0f}  {r['p50_ms']:6.2f}  {r['p90_ms']:6.2f}"
                f"  {r['p99_ms']:6.2f}  {r['accepted']:8d}  {r['delivered']:9d}  {r['errors']:6d}  {r['drain_ms']:8.0f}"
                f"  {r['cpu_us']:10.1f}  {r['sim_cpu_us']:14.1f}"
            )

    for kind in ("ceiling", "bot", "bot-nojournal"):
        if rows[kind]:
            show(kind)
    summary = {}
    for kind in ("ceiling", "bot", "bot-nojournal"):
        if rows[kind]:
            summary[kind] = {key: median([r[key] for r in rows[kind]]) for key in
                             ("req_s", "replies_s", "p50_ms", "p90_ms", "p99_ms", "cpu_us", "sim_cpu_us")}
    bot = rows["bot"]
    if bot:
        summary["bot"].update({
            "peak_rss_mb": median([r["peak_kb"] / 1024 for r in bot]),
            "idle_rss_mb": median([r["idle_kb"] / 1024 for r in bot]),
            "idle_rss_anon_mb": median([r["idle_anon_kb"] / 1024 for r in bot]),
            "start_rss_mb": median([r["start_kb"] / 1024 for r in bot]),
            "replies_delivered": sum(r["delivered"] for r in bot),
            "callbacks_accepted": sum(r["accepted"] for r in bot),
            "distinct_senders_answered": sum(r["distinct"] for r in bot),
            "conference_calls_per_process": [r["upstream_conference"] for r in bot],
            "token_requests_per_process": [r["upstream_token"] for r in bot],
        })
    if "bot" in summary and "ceiling" in summary:
        summary["ratio_replies_s"] = summary["bot"]["replies_s"] / summary["ceiling"]["replies_s"]
        summary["ratio_req_s"] = summary["bot"]["req_s"] / summary["ceiling"]["req_s"]
    if "bot-nojournal" in summary and "ceiling" in summary:
        # The same bot with the journal off (DINGMEET_JOURNAL=false), in the same rounds.
        nojournal = summary["bot-nojournal"]
        summary["ratio_replies_s_without_journal"] = nojournal["replies_s"] / summary["ceiling"]["replies_s"]
        if "bot" in summary:
            summary["journal_cost_replies_s"] = summary["bot"]["replies_s"] / nojournal["replies_s"]
            summary["journal_cost_cpu_us"] = summary["bot"]["cpu_us"] - nojournal["cpu_us"]
    print("\nsummary (medians over rounds) " + json.dumps(summary, indent=1))
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("\nchecks: every request answered 2xx, no socket error, every accepted callback answered exactly once")


def main():
    args = sys.argv[1:]
    commands = {
        "port": (cmd_port, 0),
        "info": (cmd_info, 1),
        "plan": (cmd_plan, 5),
        "counter": (lambda kind, url: print(counter(kind, url)), 2),
        "tally": (lambda pg, prefix="": print(json.dumps(tally(pg, prefix))), None),
        "sample": (cmd_sample, 2),
        "snapshot": (lambda pg, kind, url: print(json.dumps(snapshot(pg, kind, url))), 3),
        "settle": (cmd_settle, 6),
        "record": (cmd_record, 11),
        "report": (cmd_report, 1),
    }
    if not args or args[0] not in commands:
        sys.exit(__doc__)
    function, arity = commands[args[0]]
    if arity is not None and len(args) - 1 != arity:
        sys.exit(__doc__)
    function(*args[1:])


if __name__ == "__main__":
    main()
