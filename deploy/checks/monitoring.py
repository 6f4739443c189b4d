"""The monitoring component beyond promtool: every alert has a summary, a description and a
runbook in deploy/README.md, fires in one unit test and stays quiet in another; the dashboard
parses and every panel queries something; and, given a scrape of the real binary's /metrics,
every metric the rules and the dashboard name is one it exports.
Arguments: the PrometheusRule, the unit tests, the dashboard, the README, [the scrape]."""

import json
import re
import sys

import yaml

from common import check, docs, extra, finish

rule_path, tests_path, dashboard_path, readme_path = sys.argv[1:5]
scrape_path = sys.argv[5] if len(sys.argv) > 5 else None

(rule,) = docs(rule_path)
alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
check(bool(alerts), f"{rule_path}: {len(alerts)} alerts in {len(rule['spec']['groups'])} groups")

readme = open(readme_path, encoding="utf-8").read()
anchors = {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-")
           for h in re.findall(r"^#+ (.+)$", readme, re.M)}
unannotated, no_runbook = [], []
for a in alerts:
    ann = a.get("annotations", {})
    if not (ann.get("summary") and ann.get("description") and a.get("labels", {}).get("severity")):
        unannotated.append(a["alert"])
    url = ann.get("runbook_url", "")
    if not (url.startswith("deploy/README.md#") and url.split("#", 1)[1] in anchors):
        no_runbook.append(f"{a['alert']} -> {url or 'none'}")
check(not unannotated, f"every alert has a severity, a summary and a description{extra(unannotated)}")
check(not no_runbook, f"every alert's runbook_url names a section of {readme_path}{extra(no_runbook)}")

tests = yaml.safe_load(open(tests_path, encoding="utf-8"))
fired, quiet = set(), set()
for test in tests["tests"]:
    for case in test.get("alert_rule_test", []):
        (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
names = {a["alert"] for a in alerts}
check(names <= fired, f"{tests_path}: every alert fires in a test{extra(names - fired)}")
check(names <= quiet, f"{tests_path}: every alert stays quiet in a test{extra(names - quiet)}")

dashboard = json.load(open(dashboard_path, encoding="utf-8"))
panels = [p for p in dashboard["panels"] if p.get("type") != "row"]
empty = [p["title"] for p in panels if not [t for t in p.get("targets", []) if t.get("expr")]]
check(panels and not empty, f"{dashboard_path}: {len(panels)} panels, each with a query{extra(empty)}")
ids = [p["id"] for p in dashboard["panels"]]
check(len(ids) == len(set(ids)), f"{dashboard_path}: panel ids are unique")

metric = re.compile(r"\bdingmeet_[a-z0-9_]+")
used = {m for a in alerts for m in metric.findall(a["expr"])}
used_by_dashboard = {m for p in panels for t in p["targets"] for m in metric.findall(t["expr"])}
used_by_dashboard |= {m for v in dashboard.get("templating", {}).get("list", []) for m in metric.findall(json.dumps(v))}
if scrape_path:
    text = open(scrape_path, encoding="utf-8").read()
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    check(len(exported) > 20, f"the binary's /metrics exports {len(exported)} series names")
    check(used <= exported, f"the {len(used)} metrics the alerts use are all exported{extra(used - exported)}")
    check(used_by_dashboard <= exported,
          f"the {len(used_by_dashboard)} metrics the dashboard uses are all exported{extra(used_by_dashboard - exported)}")

finish()
