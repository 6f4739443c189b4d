"""Shared by deploy/validate's checks: one line per check, ok or FAIL, and the exit status."""

import sys

import yaml  # PyYAML: a dependency of kubernetes-validate

problems = []


def check(cond, message):
    print(("  ok    " if cond else "  FAIL  ") + message)
    if not cond:
        problems.append(message)
    return cond


def extra(names):
    return f": {sorted(names)}" if names else ""


def docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def env_file(path):
    """KEY=VALUE lines of a kustomize env file, and the keys of its commented `# KEY=` lines."""
    active, commented = {}, set()
    for line in open(path, encoding="utf-8").read().splitlines():
        if line.startswith("#"):
            name = line.lstrip("# ").split("=", 1)[0]
            if "=" in line and name.isupper() and name.replace("_", "").isalnum():
                commented.add(name)
        elif line.strip():
            key, _, value = line.partition("=")
            active[key] = value
    return active, commented


def finish():
    sys.exit(1 if problems else 0)
