"""The example settings (TOML, systemd env file, the Kubernetes config.env and secret.env.example)
against the fields of `Settings` in src/config/raw.rs: each parses, names only known settings,
and leaves none out. Argument: the settings being added (documented before the binary knows
them), space-separated."""

import re
import sys
import tomllib

from common import check, env_file, extra, finish

pending = set(sys.argv[1].split()) if len(sys.argv) > 1 else set()

source = open("src/config/raw.rs", encoding="utf-8").read()
body = re.search(r"struct Raw \{(.*?)\n\}", source, re.S)
fields = set(re.findall(r"^    (\w+):", body.group(1), re.M)) if body else set()
check(bool(fields), f"src/config/raw.rs: the flat settings (Raw) have {len(fields)} fields")
# Each secret may be read from a file instead: `<secret>_file` (src/config/secret_files.rs).
secrets = re.findall(r"^    (\w+): (?:Option|Vec)<SecretString>,", body.group(1), re.M) if body else []
fields |= {f"{name}_file" for name in secrets}
known = fields | pending
for name in sorted(pending & fields):
    print(f"  note  {name} is now in Settings: drop 'being added' from its docs in deploy/")

# The example TOML: parses; active keys are real settings; every setting appears.
path = "deploy/dingmeet.example.toml"
text = open(path, encoding="utf-8").read()
try:
    active = set(tomllib.loads(text))
    check(True, f"{path} parses as TOML ({len(active)} active keys)")
except tomllib.TOMLDecodeError as err:
    active = set()
    check(False, f"{path} parses as TOML: {err}")
commented = set(re.findall(r"^#\s*([a-z_]+)\s*=", text, re.M))
check(active <= fields, f"{path}: active keys are settings dingmeet knows{extra(active - fields)}")
check(commented <= known, f"{path}: commented keys are settings{extra(commented - known)}")
check(fields <= active | commented, f"{path}: lists every setting{extra(fields - active - commented)}")

# The systemd environment file.
path = "deploy/systemd/dingmeet.env.example"
text = open(path, encoding="utf-8").read()
names = {n.lower() for n in re.findall(r"^#?DINGMEET_([A-Z_]+)=", text, re.M)}
set_names = {n.lower() for n in re.findall(r"^DINGMEET_([A-Z_]+)=", text, re.M)}
check(set_names <= fields, f"{path}: uncommented variables are settings{extra(set_names - fields)}")
check(names <= known, f"{path}: commented variables are settings{extra(names - known)}")
check(fields <= names, f"{path}: lists every setting{extra(fields - names)}")

# config.env and secret.env.example: each key becomes an environment variable, and an unknown
# DINGMEET_* name stops the bot at start. A value in quotes would keep its quotes.
for path in ("deploy/kubernetes/base/config.env", "deploy/kubernetes/base/secret.env.example"):
    active, later = env_file(path)
    bad = sorted(k for k in active if not (k.startswith("DINGMEET_") and k[9:].lower() in fields))
    check(not bad, f"{path}: every key is DINGMEET_<setting>{extra(bad)}")
    quoted = sorted(k for k, v in active.items() if v[:1] in "\"'" and v)
    check(not quoted, f"{path}: no quoted values (kustomize keeps the quotes){extra(quoted)}")
    later_names = {k[9:].lower() for k in later if k.startswith("DINGMEET_")}
    check(later_names <= known, f"{path}: commented keys are settings{extra(later_names - known)}")

finish()
