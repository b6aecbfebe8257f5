#!/usr/bin/env bash
# Check the deployment files under deploy/ without a Docker engine or a cluster.
#
# Usage: scripts/test-deploy.sh          (called by `make test`)
#
# - Installs promtool when missing (Debian package `prometheus`; idempotent, quiet).
# - promtool check rules / test rules on deploy/prometheus/alerts{,_test}.yml.
# - promtool check config on deploy/prometheus/prometheus.yml and on the
#   Kubernetes scrape snippet deploy/k8s/prometheus-scrape-config.yml.
# - The Grafana dashboard parses as JSON (python3 -m json.tool), every PromQL
#   expression in it parses (promtool, after substituting Grafana variables),
#   and every panel uses the templated data source.
# - Every govstream_* metric name used in the rules, their tests and the
#   dashboard is in the contract table of docs/metrics.md.
# - The other YAML files (compose, Kubernetes, Grafana provisioning) parse, and
#   the govstream config embedded in compose and the ConfigMap is valid TOML,
#   when PyYAML is available (skipped otherwise).
#
# Not covered (no Docker engine here): building deploy/Dockerfile, running
# deploy/compose.yml.
#
# Runs every check, prints the output of the failed ones, exits 1 if any failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PROM_DIR=deploy/prometheus
DASHBOARD=deploy/grafana/govstream-dashboard.json
K8S_SCRAPE=deploy/k8s/prometheus-scrape-config.yml

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

say() { printf 'test-deploy: %s\n' "$*"; }

# --------------------------------------------------------------- promtool
install_promtool() {
    command -v promtool >/dev/null 2>&1 && return 0
    say "promtool not found: installing the Debian package 'prometheus'"
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || { say "error: need root (or sudo) to install promtool" >&2; return 1; }
        sudo=(sudo)
    fi
    local log="$WORK/apt.log"
    if ! { "${sudo[@]}" apt-get update -qq \
           && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -qq --no-install-recommends prometheus; } >"$log" 2>&1; then
        cat "$log" >&2
        say "error: installing promtool failed" >&2
        return 1
    fi
    # The package also installs a prometheus service. In containers it is not
    # started (policy-rc.d); on a systemd host it would be, and would hold port
    # 9090: stop and disable the service we have just installed.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
        "${sudo[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
    command -v promtool >/dev/null 2>&1 || { say "error: promtool still missing after install" >&2; return 1; }
}

install_promtool

# ------------------------------------------------------------ check runner
passed=0
failed=0
failed_names=()

# check NAME CMD...: run CMD quietly; on failure print its output.
check() {
    local name="$1"; shift
    local out="$WORK/out.txt"
    if "$@" >"$out" 2>&1; then
        passed=$((passed + 1))
        say "ok   $name"
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        say "FAIL $name"
        sed 's/^/    /' "$out" >&2
    fi
}

# The Kubernetes snippet uses kubernetes_sd_configs, which Debian's build of
# Prometheus leaves out. If this promtool rejects that key, check a copy where
# the discovery block is replaced by a static target (everything else - job,
# relabelling - is still checked).
check_k8s_scrape_config() {
    local out="$WORK/k8s-check.txt"
    if promtool check config "$K8S_SCRAPE" >"$out" 2>&1; then
        cat "$out"
        return 0
    fi
    if ! grep -q 'kubernetes_sd_configs not found' "$out"; then
        cat "$out"
        return 1
    fi
    echo "this promtool has no Kubernetes discovery: checking with a static target instead"
    local copy="$WORK/prometheus-scrape-config.static.yml"
    python3 - "$K8S_SCRAPE" "$copy" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
pattern = re.compile(r"^(?P<ind>[ ]*)kubernetes_sd_configs:\n(?:(?P=ind)[ ]+.*\n|[ ]*\n)*", re.M)
new, n = pattern.subn(lambda m: m.group("ind") + "static_configs:\n"
                      + m.group("ind") + "  - targets: ['govstream.govstream.svc:9464']\n", text)
if n == 0:
    sys.exit("no kubernetes_sd_configs block found")
open(sys.argv[2], "w", encoding="utf-8").write(new)
PY
    promtool check config "$copy"
}

# Dashboard + metric-name checks. Writes the dashboard's PromQL expressions as
# recording rules to $WORK/dashboard-rules.yml for promtool to parse.
check_contract_and_dashboard() {
    python3 - "$DASHBOARD" "$WORK/dashboard-rules.yml" <<'PY'
import json, re, sys

dashboard_path, rules_path = sys.argv[1], sys.argv[2]
errors = []

# --- the contract: the tables of docs/metrics.md
contract = {}
with open("docs/metrics.md", encoding="utf-8") as f:
    for line in f:
        m = re.match(r"^\| `(govstream_[a-z0-9_]+)` \| (counter|gauge|histogram) \|", line)
        if m:
            if m.group(1) in contract:
                errors.append(f"docs/metrics.md lists {m.group(1)} twice")
            contract[m.group(1)] = m.group(2)
if not contract:
    sys.exit("docs/metrics.md: no metric table rows found")
allowed = {}
for name, kind in contract.items():
    if kind == "histogram":
        for suffix in ("_bucket", "_sum", "_count"):
            allowed[name + suffix] = name
    else:
        allowed[name] = name

NAME = re.compile(r"\bgovstream_[a-z0-9_]+")

# --- the dashboard
with open(dashboard_path, encoding="utf-8") as f:
    dash = json.load(f)
DS_UID = "${datasource}"
if not any(v.get("name") == "datasource" and v.get("type") == "datasource"
           for v in dash.get("templating", {}).get("list", [])):
    errors.append("dashboard: no `datasource` template variable")

exprs = []  # (where, expr)
ids = set()
def walk(panels):
    for p in panels:
        title = p.get("title", "?")
        if p.get("id") in ids:
            errors.append(f"dashboard: duplicate panel id {p.get('id')} ({title})")
        ids.add(p.get("id"))
        if p.get("type") != "row":
            if p.get("datasource", {}).get("uid") != DS_UID:
                errors.append(f"dashboard panel '{title}': datasource is not {DS_UID}")
            if not p.get("targets"):
                errors.append(f"dashboard panel '{title}': no queries")
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("uid") != DS_UID:
                errors.append(f"dashboard panel '{title}' query {t.get('refId')}: datasource is not {DS_UID}")
            exprs.append((f"panel '{title}' query {t.get('refId')}", t.get("expr", "")))
        walk(p.get("panels", []))
walk(dash.get("panels", []))
for v in dash.get("templating", {}).get("list", []):
    q = v.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    for name in NAME.findall(q):
        if name not in allowed:
            errors.append(f"dashboard variable '{v.get('name')}': {name} is not in docs/metrics.md")

# Grafana's variables, replaced by values of the right shape
SUBST = [("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", "1d"),
         ("${region}", ".*"), ("$region", ".*"), ("${window}", "month"), ("$window", "month")]
used = set()
with open(rules_path, "w", encoding="utf-8") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (where, expr) in enumerate(exprs):
        if not expr.strip():
            errors.append(f"dashboard {where}: empty expression")
            continue
        for name in NAME.findall(expr):
            used.add(name)
            if name not in allowed:
                errors.append(f"dashboard {where}: {name} is not in docs/metrics.md")
        e = expr
        for a, b in SUBST:
            e = e.replace(a, b)
        if "$" in e:
            errors.append(f"dashboard {where}: unknown variable in {expr!r}")
            continue
        out.write(f"      # {where}\n")
        out.write(f"      - record: dashboard:expr_{i}\n        expr: {json.dumps(e, ensure_ascii=False)}\n")

# --- the alerting rules and their tests
for path in ("deploy/prometheus/alerts.yml", "deploy/prometheus/alerts_test.yml", "deploy/prometheus/alerts_promises_test.yml"):
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            for name in NAME.findall(line):
                used.add(name)
                if name not in allowed:
                    errors.append(f"{path}:{lineno}: {name} is not in docs/metrics.md")

print(f"{len(contract)} metrics in docs/metrics.md, {len(exprs)} dashboard queries")
unused = sorted(n for n in contract if not any(allowed.get(u) == n for u in used))
if unused:
    print("note: not used by the rules or the dashboard: " + ", ".join(unused))
for e in errors:
    print("error: " + e)
sys.exit(1 if errors else 0)
PY
}

check_yaml() {
    if ! python3 -c 'import yaml' 2>/dev/null; then
        echo "skipped: PyYAML is not installed"
        return 0
    fi
    python3 - <<'PY'
import glob, sys, yaml
files = (["deploy/compose.yml"] + sorted(glob.glob("deploy/k8s/*.yaml"))
         + sorted(glob.glob("deploy/grafana/provisioning/*/*.yml")))
bad = 0
docs = {}
for path in files:
    try:
        with open(path, encoding="utf-8") as f:
            docs[path] = [d for d in yaml.safe_load_all(f) if d is not None]
        print(f"parsed {path}")
    except yaml.YAMLError as e:
        print(f"error: {path}: {e}")
        bad += 1
# a few cross-file facts the alerts and the dashboard rely on
for path, ds in docs.items():
    for d in ds:
        if path.startswith("deploy/k8s/") and not isinstance(d.get("kind"), str):
            print(f"error: {path}: a document without kind"); bad += 1
        if d.get("kind") == "Deployment":
            c = d["spec"]["template"]["spec"]["containers"][0]
            ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
            if ports.get("metrics") != 9464:
                print(f"error: {path}: no container port 9464 named metrics"); bad += 1
            if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
                print(f"error: {path}: liveness probe is not /healthz"); bad += 1
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                print(f"error: {path}: readiness probe is not /readyz"); bad += 1
# the govstream config files embedded in compose and the ConfigMap are TOML
try:
    import tomllib
except ImportError:
    tomllib = None
embedded = []
for d in docs.get("deploy/compose.yml", []):
    for name, c in (d.get("configs") or {}).items():
        if "content" in c:
            # compose turns $$ into $ before the file is written
            embedded.append((f"deploy/compose.yml configs.{name}", c["content"].replace("$$", "$")))
for path, ds in docs.items():
    for d in ds:
        if d.get("kind") == "ConfigMap":
            for key, text in (d.get("data") or {}).items():
                if key.endswith(".toml"):
                    embedded.append((f"{path} data.{key}", text))
if not embedded:
    print("error: no embedded govstream config found"); bad += 1
for where, text in embedded:
    if tomllib is None:
        print(f"skipped TOML check of {where}: tomllib needs Python 3.11")
        continue
    try:
        cfg = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        print(f"error: {where}: {e}"); bad += 1
        continue
    if not isinstance(cfg.get("kafka"), dict) or not cfg.get("sources"):
        print(f"error: {where}: no [kafka] table or [[sources]]"); bad += 1
    else:
        print(f"parsed TOML {where}")
sys.exit(1 if bad else 0)
PY
}

# ------------------------------------------------------------------ checks
check "promtool check rules $PROM_DIR/alerts.yml" promtool check rules "$PROM_DIR/alerts.yml"
check "promtool test rules $PROM_DIR/alerts_test.yml" promtool test rules "$PROM_DIR/alerts_test.yml"
check "promtool test rules $PROM_DIR/alerts_promises_test.yml" promtool test rules "$PROM_DIR/alerts_promises_test.yml"
check "promtool check config $PROM_DIR/prometheus.yml" promtool check config "$PROM_DIR/prometheus.yml"
check "promtool check config $K8S_SCRAPE" check_k8s_scrape_config
check "python3 -m json.tool $DASHBOARD" python3 -m json.tool "$DASHBOARD" /dev/null
check "metric names match docs/metrics.md; dashboard structure" check_contract_and_dashboard
if [[ -s "$WORK/dashboard-rules.yml" ]]; then
    check "dashboard PromQL parses (promtool)" promtool check rules "$WORK/dashboard-rules.yml"
else
    check "dashboard PromQL parses (promtool)" false
fi
check "YAML of compose, k8s, Grafana provisioning; embedded TOML config" check_yaml

say "$passed passed, $failed failed"
if (( failed > 0 )); then
    for n in "${failed_names[@]}"; do say "failed: $n" >&2; done
    exit 1
fi
