"""Invariants the bot depends on, in one rendered variant (kustomize output).
Arguments: the variant's label, its shape (`replicas`: the HPA keeps several; `single`: one
replica on a persistent volume), whether it ships Redis (`redis` or `no-redis`), and the file."""

import sys

import yaml

from common import check, docs, finish

label, shape, redis, path = sys.argv[1:5]
objs = {(d["kind"], d["metadata"]["name"]): d for d in docs(path)}
base = yaml.safe_load(open("deploy/kubernetes/base/kustomization.yaml", encoding="utf-8"))
(image,) = [i for i in base["images"] if i["name"] == "dingmeet"]
version = str(image["newTag"])


def named(kind, prefix):
    """The object of `kind` whose name is `prefix` plus kustomize's content hash."""
    found = [d for (k, n), d in objs.items() if k == kind and (n == prefix or n.startswith(prefix + "-"))]
    return found[0] if len(found) == 1 else None


def say(message):
    return f"{label}: {message}"


dep = objs.get(("Deployment", "dingmeet"))
check(dep is not None, say("has Deployment dingmeet"))
if dep is None:
    finish()
pod = dep["spec"]["template"]["spec"]
labels = dep["spec"]["template"]["metadata"]["labels"]
(c,) = [c for c in pod["containers"] if c["name"] == "dingmeet"]
sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
check(pod.get("enableServiceLinks") is False,
      say("Deployment: enableServiceLinks false (service links add DINGMEET_* variables the bot refuses)"))
check(psc.get("runAsNonRoot") is True and sc.get("runAsNonRoot") is True, say("Deployment: runAsNonRoot"))
check(sc.get("readOnlyRootFilesystem") is True, say("Deployment: readOnlyRootFilesystem"))
check(sc.get("allowPrivilegeEscalation") is False, say("Deployment: no privilege escalation"))
check(sc.get("capabilities", {}).get("drop") == ["ALL"], say("Deployment: drops ALL capabilities"))
check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", say("Deployment: seccomp RuntimeDefault"))
probes = {p: c.get(p, {}).get("httpGet", {}).get("path") for p in ("startupProbe", "livenessProbe", "readinessProbe")}
check(probes == {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"},
      say("Deployment: startup and liveness probes on /healthz, readiness on /readyz"))
res = c.get("resources", {})
check(all(k in res.get("requests", {}) for k in ("cpu", "memory")) and "memory" in res.get("limits", {}),
      say("Deployment: cpu/memory requests and a memory limit"))

config = named("ConfigMap", "dingmeet-config")
secret = named("Secret", "dingmeet-secrets")
check(config is not None and config["metadata"]["name"] != "dingmeet-config",
      say("ConfigMap dingmeet-config is generated, its name carrying the content's hash (a change rolls the pods)"))
check(secret is not None and secret["metadata"]["name"] != "dingmeet-secrets",
      say("Secret dingmeet-secrets is generated (from the git-ignored secret.env), its name hashed"))
data = (config or {}).get("data", {})
grace = int(data.get("DINGMEET_SHUTDOWN_GRACE_SECS", 10))
pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
pre_secs = int(pre[1]) if pre[:1] == ["sleep"] else 0
tgps = pod.get("terminationGracePeriodSeconds", 30)
check(tgps > grace + pre_secs,
      say(f"Deployment: terminationGracePeriodSeconds {tgps} > preStop {pre_secs} s + shutdown grace {grace} s"))
refs = sorted([("ConfigMap", e["configMapRef"]["name"]) for e in c.get("envFrom", []) if "configMapRef" in e]
              + [("Secret", e["secretRef"]["name"]) for e in c.get("envFrom", []) if "secretRef" in e])
made = sorted((d["kind"], d["metadata"]["name"]) for d in (config, secret) if d)
check(refs == made and len(refs) == 2, say(f"Deployment: envFrom the generated ConfigMap and Secret {refs}"))
if redis == "redis":
    check(data.get("DINGMEET_REDIS_URL") == "redis://dingmeet-redis:6379/0"
          and ("Service", "dingmeet-redis") in objs, say("Redis: its Service, and DINGMEET_REDIS_URL in the ConfigMap"))
    sts = objs.get(("StatefulSet", "dingmeet-redis"), {}).get("spec", {})
    args = [a for c in sts.get("template", {}).get("spec", {}).get("containers", []) for a in c.get("args", [])]
    claims = [t["metadata"]["name"] for t in sts.get("volumeClaimTemplates", [])]
    check("--appendonly" in args and args[args.index("--appendonly") + 1] == "yes" and claims == ["data"],
          say("Redis: a StatefulSet with append-only persistence on its PersistentVolumeClaim"))
else:
    check("DINGMEET_REDIS_URL" not in data and not any(n.startswith("dingmeet-redis") for _, n in objs),
          say("no Redis and no DINGMEET_REDIS_URL"))

ann = dep["spec"]["template"]["metadata"].get("annotations", {})
check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/path") == "/metrics",
      say("Deployment: Prometheus scrape annotations"))
svc = objs.get(("Service", "dingmeet"), {}).get("spec", {})
check(svc.get("selector") and svc["selector"].items() <= labels.items(), say("Service: selects the bot's pods"))
netpol = objs.get(("NetworkPolicy", "dingmeet"), {}).get("spec", {})
ports = [p.get("port") for rule in netpol.get("ingress", []) for p in rule.get("ports", [])]
check(netpol.get("podSelector", {}).get("matchLabels", {}).items() <= labels.items() and netpol
      and 8080 in ports and {"Ingress", "Egress"} <= set(netpol.get("policyTypes", [])),
      say("NetworkPolicy dingmeet: selects the bot's pods, lets the HTTP port in, limits egress"))

wanted = {"app.kubernetes.io/name": "dingmeet", "app.kubernetes.io/part-of": "dingmeet",
          "app.kubernetes.io/version": version}
unlabelled = [f"{k}/{n}" for (k, n), d in objs.items()
              if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") in ("bot", None)
              and not wanted.items() <= d["metadata"].get("labels", {}).items()]
check(not unlabelled and wanted.items() <= labels.items(),
      say(f"the bot's objects and pods carry app.kubernetes.io/name, part-of and version {version} {unlabelled or ''}"))
selector = dep["spec"]["selector"]["matchLabels"]
check("app.kubernetes.io/version" not in selector, say("Deployment: the version is not in the selector (immutable)"))

hpa = objs.get(("HorizontalPodAutoscaler", "dingmeet"), {}).get("spec")
pdb = objs.get(("PodDisruptionBudget", "dingmeet"), {}).get("spec")
volumes = {v["name"]: v for v in pod.get("volumes", [])}
if shape == "replicas":
    check("replicas" not in dep["spec"], say("Deployment: no replicas (the HPA owns the count; apply would reset it)"))
    check(hpa is not None and hpa.get("scaleTargetRef", {}).get("name") == "dingmeet" and hpa.get("minReplicas", 0) >= 2,
          say("HorizontalPodAutoscaler: targets the Deployment, at least 2 replicas"))
    check(pdb is not None and pdb.get("maxUnavailable") == 1 and "minAvailable" not in pdb
          and pdb.get("unhealthyPodEvictionPolicy") == "AlwaysAllow"
          and pdb.get("selector", {}).get("matchLabels", {}).items() <= labels.items(),
          say("PodDisruptionBudget: maxUnavailable 1, unhealthy pods always evictable, selects the bot's pods"))
else:
    claim = volumes.get("data", {}).get("persistentVolumeClaim", {}).get("claimName")
    check(dep["spec"].get("replicas") == 1 and dep["spec"].get("strategy", {}).get("type") == "Recreate",
          say("Deployment: one replica, Recreate (one store, one process)"))
    check(hpa is None and pdb is None, say("no HorizontalPodAutoscaler and no PodDisruptionBudget"))
    check(claim is not None and ("PersistentVolumeClaim", claim) in objs and "emptyDir" not in volumes.get("data", {}),
          say(f"the store is on the PersistentVolumeClaim {claim}"))
    check(psc.get("fsGroup") == psc.get("runAsGroup") and psc.get("fsGroup"),
          say("fsGroup is the bot's group, so a fresh volume is writable"))

backup = objs.get(("CronJob", "dingmeet-backup"))
if backup is not None:
    bpod = backup["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (bc,) = bpod["containers"]
    bvolumes = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in bpod.get("volumes", [])}
    mounts = {m["mountPath"]: m["name"] for m in bc.get("volumeMounts", [])}
    claim = volumes.get("data", {}).get("persistentVolumeClaim", {}).get("claimName")
    script = " ".join(bc.get("args", []))
    check(bvolumes.get(mounts.get("/var/lib/dingmeet")) == claim and claim is not None
          and ("PersistentVolumeClaim", bvolumes.get(mounts.get("/backup"))) in objs
          and bvolumes.get(mounts.get("/backup")) != claim,
          say("CronJob dingmeet-backup: the bot's store claim at /var/lib/dingmeet, a claim of its own at /backup"))
    check("dingmeet backup --data-dir /var/lib/dingmeet" in script and backup["spec"].get("concurrencyPolicy") == "Forbid",
          say("CronJob dingmeet-backup: runs `dingmeet backup` of the data dir, one at a time"))
    affinity = bpod.get("affinity", {}).get("podAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])
    check(any(t.get("topologyKey") == "kubernetes.io/hostname"
              and t.get("labelSelector", {}).get("matchLabels", {}).items() <= labels.items() for t in affinity),
          say("CronJob dingmeet-backup: on the bot's node (the store's claim is ReadWriteOnce)"))
    check(bc.get("securityContext", {}).get("readOnlyRootFilesystem") is True
          and bpod.get("securityContext", {}).get("runAsUser") == psc.get("runAsUser"),
          say("CronJob dingmeet-backup: read-only root, the bot's user (its store is mode 0700)"))

finish()
