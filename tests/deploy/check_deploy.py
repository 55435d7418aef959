#!/usr/bin/env python3
"""Checks of the deployment files that need no container engine or cluster.

CI has neither Docker nor Kubernetes, so this test checks what can be checked
from the files and the built binaries (registered with CTest as deploy_files):

  k8s         every docker/k8s/*.yaml parses; kind/apiVersion/name present;
              flo-sidecar is a native sidecar (init container, restartPolicy
              Always) probed on /healthz and /readyz through its HTTP port;
              non-root, read-only root, no privilege escalation, no
              capabilities; every Secret / ConfigMap / key referenced exists;
              the config file is valid for `flo-sidecar --check-config`;
              terminationGracePeriodSeconds > shutdown-grace.
  dashboard   docker/grafana/*.json parses, uses the datasource variable, and
              every PromQL expression names only metrics flo-sidecar exports
              (the list below, and a live /metrics of the built binary).
  prometheus  docker/prometheus/prometheus.yml parses; every job sends the
              bearer token from a credentials_file.
  dockerfile  hadolint when installed; both stages install through
              scripts/install-deps.sh; `make release` exists; non-root user;
              .dockerignore keeps what the build needs.
  scripts     `bash -n` on every shell script; `install-deps.sh --runtime
              --dry-run` resolves each package with apt-cache policy; the
              runtime package list is exactly what the binaries link.
  release     (--release-build) the builder stage's `make release`, strip
              and a start of each binary, in a temporary directory; the
              runtime package list checked against those binaries.

Usage: check_deploy.py --source DIR [--bin-dir DIR] [--release-build]
Exit status 0 when every check passed (skipped checks say why), 1 otherwise.
"""

import argparse
import fnmatch
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

try:
    import yaml
except ImportError:  # python3-yaml comes from scripts/install-deps.sh
    print("FAIL: python3-yaml is missing (scripts/install-deps.sh installs it)")
    sys.exit(1)

# Metric families flo-sidecar exports (docs/observability.md). Histograms also
# expose <name>_bucket, <name>_sum and <name>_count.
COUNTERS_GAUGES = {
    "flo_sidecar_build_info",
    "flo_sidecar_requests_total",
    "flo_sidecar_upstream_connections",
    "flo_sidecar_upstream_reconnects_total",
    "flo_sidecar_upstream_inflight",
    "flo_sidecar_upstream_responses_total",
    "flo_sidecar_upstream_timeouts_total",
    "flo_sidecar_upstream_errors_total",
    "flo_sidecar_longpolls_waiting",
    "flo_sidecar_sessions",
    "flo_sidecar_session_events_total",
    "flo_sidecar_client_connections",
    "flo_sidecar_client_rejected_total",
    "flo_sidecar_bytes_received_total",
    "flo_sidecar_bytes_sent_total",
    "flo_sidecar_ready",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_start_time_seconds",
}
HISTOGRAMS = {
    "flo_sidecar_request_duration_seconds",
    "flo_sidecar_upstream_request_duration_seconds",
}
ALLOWED_SERIES = COUNTERS_GAUGES | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}

# PromQL words that are not metric names.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "rate", "irate", "increase", "delta", "idelta",
    "deriv", "histogram_quantile", "time", "abs", "ceil", "floor", "round", "clamp",
    "clamp_min", "clamp_max", "label_replace", "label_join", "vector", "scalar", "absent",
    "changes", "resets", "sort", "sort_desc", "avg_over_time", "max_over_time",
    "min_over_time", "sum_over_time", "count_over_time", "last_over_time", "timestamp",
}

# The runtime image's packages (scripts/install-deps.sh --runtime).
RUNTIME_PKGS = {"libuv1", "libmicrohttpd12", "libhiredis0.14", "libcjson1", "libsodium23"}


# A subset of the Kubernetes API schema (v1.29) for the objects the example
# uses: field names and scalar types, so a misspelt or misplaced field (which
# kubectl would reject, or silently drop) fails here without a cluster.
# "[T]" is a list of T; "map" a string map; "any" is not checked further.
K8S_SCHEMA = {
    "Deployment": {"apiVersion": "str", "kind": "str", "metadata": "ObjectMeta",
                   "spec": "DeploymentSpec"},
    "ObjectMeta": {"name": "str", "namespace": "str", "labels": "map", "annotations": "map"},
    "DeploymentSpec": {"replicas": "int", "selector": "LabelSelector", "template": "PodTemplateSpec",
                       "strategy": "any", "minReadySeconds": "int", "revisionHistoryLimit": "int",
                       "progressDeadlineSeconds": "int", "paused": "bool"},
    "LabelSelector": {"matchLabels": "map", "matchExpressions": "any"},
    "PodTemplateSpec": {"metadata": "ObjectMeta", "spec": "PodSpec"},
    "PodSpec": {"containers": "[Container]", "initContainers": "[Container]", "volumes": "[Volume]",
                "securityContext": "PodSecurityContext", "terminationGracePeriodSeconds": "int",
                "automountServiceAccountToken": "bool", "enableServiceLinks": "bool",
                "serviceAccountName": "str", "nodeSelector": "map", "affinity": "any",
                "tolerations": "any", "topologySpreadConstraints": "any", "priorityClassName": "str",
                "imagePullSecrets": "any", "shareProcessNamespace": "bool", "dnsPolicy": "str"},
    "Container": {"name": "str", "image": "str", "imagePullPolicy": "str", "command": "[str]",
                  "args": "[str]", "env": "[EnvVar]", "envFrom": "any", "ports": "[ContainerPort]",
                  "resources": "ResourceRequirements", "livenessProbe": "Probe",
                  "readinessProbe": "Probe", "startupProbe": "Probe",
                  "securityContext": "SecurityContext", "volumeMounts": "[VolumeMount]",
                  "lifecycle": "any", "restartPolicy": "str", "workingDir": "str",
                  "terminationMessagePolicy": "str"},
    "EnvVar": {"name": "str", "value": "str", "valueFrom": "EnvVarSource"},
    "EnvVarSource": {"secretKeyRef": "KeySelector", "configMapKeyRef": "KeySelector",
                     "fieldRef": "any", "resourceFieldRef": "any"},
    "KeySelector": {"name": "str", "key": "str", "optional": "bool"},
    "ContainerPort": {"name": "str", "containerPort": "int", "protocol": "str", "hostPort": "int"},
    "ResourceRequirements": {"requests": "map", "limits": "map"},
    "Probe": {"httpGet": "HTTPGetAction", "exec": "any", "tcpSocket": "any", "grpc": "any",
              "initialDelaySeconds": "int", "periodSeconds": "int", "timeoutSeconds": "int",
              "failureThreshold": "int", "successThreshold": "int"},
    "HTTPGetAction": {"path": "str", "port": "any", "host": "str", "scheme": "str",
                      "httpHeaders": "any"},
    "SecurityContext": {"runAsNonRoot": "bool", "runAsUser": "int", "runAsGroup": "int",
                        "readOnlyRootFilesystem": "bool", "allowPrivilegeEscalation": "bool",
                        "capabilities": "Capabilities", "privileged": "bool",
                        "seccompProfile": "SeccompProfile"},
    "PodSecurityContext": {"runAsNonRoot": "bool", "runAsUser": "int", "runAsGroup": "int",
                           "fsGroup": "int", "fsGroupChangePolicy": "str",
                           "seccompProfile": "SeccompProfile", "supplementalGroups": "[int]"},
    "Capabilities": {"add": "[str]", "drop": "[str]"},
    "SeccompProfile": {"type": "str", "localhostProfile": "str"},
    "VolumeMount": {"name": "str", "mountPath": "str", "readOnly": "bool", "subPath": "str"},
    "Volume": {"name": "str", "configMap": "ConfigMapVolume", "secret": "SecretVolume",
               "emptyDir": "any", "projected": "any"},
    "ConfigMapVolume": {"name": "str", "items": "[KeyToPath]", "defaultMode": "int", "optional": "bool"},
    "SecretVolume": {"secretName": "str", "items": "[KeyToPath]", "defaultMode": "int",
                     "optional": "bool"},
    "KeyToPath": {"key": "str", "path": "str", "mode": "int"},
    "Secret": {"apiVersion": "str", "kind": "str", "metadata": "ObjectMeta", "type": "str",
               "stringData": "map", "data": "map", "immutable": "bool"},
    "ConfigMap": {"apiVersion": "str", "kind": "str", "metadata": "ObjectMeta", "data": "map",
                  "binaryData": "map", "immutable": "bool"},
}
SCALARS = {"str": str, "int": int, "bool": bool}


def schema_errors(obj, typ, where):
    """Fields of obj that K8S_SCHEMA[typ] does not allow, or of the wrong type."""
    if typ == "any":
        return []
    if typ.startswith("["):
        if not isinstance(obj, list):
            return [f"{where}: expected a list"]
        return [e for i, x in enumerate(obj) for e in schema_errors(x, typ[1:-1], f"{where}[{i}]")]
    if typ == "map":
        ok = isinstance(obj, dict) and all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                           for v in obj.values())
        return [] if ok else [f"{where}: expected a map of strings"]
    if typ in SCALARS:
        # bool is an int in Python: keep them apart.
        ok = isinstance(obj, SCALARS[typ]) and (typ == "bool" or not isinstance(obj, bool))
        return [] if ok else [f"{where}: expected {typ}, got {type(obj).__name__}"]
    if not isinstance(obj, dict):
        return [f"{where}: expected an object"]
    errs = []
    for k, v in obj.items():
        if k not in K8S_SCHEMA[typ]:
            errs.append(f"{where}.{k}: unknown field of {typ}")
        else:
            errs += schema_errors(v, K8S_SCHEMA[typ][k], f"{where}.{k}")
    return errs


class Checker:
    def __init__(self):
        self.failures = 0

    def ok(self, cond, what):
        if cond:
            print(f"ok: {what}")
        else:
            self.failures += 1
            print(f"FAIL: {what}")
        return cond

    def skip(self, what):
        print(f"skip: {what}")


# ---------------------------------------------------------------- Kubernetes


def pod_containers(pod):
    return pod.get("initContainers", []) + pod.get("containers", [])


def env_value(container, name):
    for e in container.get("env", []):
        if e.get("name") == name:
            return e
    return None


def port_number(container, ref):
    """A probe's port (name or number) resolved to a declared container port."""
    for p in container.get("ports", []):
        if ref == p.get("name") or ref == p.get("containerPort"):
            return p.get("containerPort")
    return None


def parse_conf(text):
    """name = value lines of the sidecar config file; None on a bad line."""
    out = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-z][a-z0-9-]*)\s*=\s*(.*)", line)
        if not m:
            return None
        out[m.group(1)] = m.group(2).strip().strip('"')
    return out


def check_k8s(c, src, sidecar_bin):
    files = sorted(glob.glob(os.path.join(src, "docker/k8s/*.yaml")))
    c.ok(len(files) >= 3, f"docker/k8s has manifests ({len(files)} files)")
    docs = []
    for f in files:
        try:
            with open(f) as fh:
                loaded = [d for d in yaml.safe_load_all(fh) if d is not None]
        except yaml.YAMLError as e:
            c.ok(False, f"{os.path.basename(f)} parses as YAML: {e}")
            continue
        for d in loaded:
            name = os.path.basename(f)
            c.ok(isinstance(d, dict) and d.get("apiVersion") and d.get("kind")
                 and d.get("metadata", {}).get("name"),
                 f"{name}: {d.get('kind')} has apiVersion, kind and metadata.name")
            docs.append(d)

    for d in docs:
        if isinstance(d, dict) and d.get("kind") in K8S_SCHEMA:
            errs = schema_errors(d, d["kind"], d["kind"])
            c.ok(not errs, f"{d['kind']} {d.get('metadata', {}).get('name')}: fields match the "
                 f"Kubernetes schema{'' if not errs else ': ' + '; '.join(errs[:5])}")
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    secrets = {d["metadata"]["name"]: set(d.get("stringData", {})) | set(d.get("data", {}))
               for d in by_kind.get("Secret", [])}
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in by_kind.get("ConfigMap", [])}
    deployments = by_kind.get("Deployment", [])
    if not c.ok(len(deployments) == 1, "one Deployment"):
        return
    dep = deployments[0]
    c.ok(dep["apiVersion"] == "apps/v1", "Deployment apiVersion apps/v1")
    tmpl = dep["spec"]["template"]
    pod = tmpl["spec"]
    sel = dep["spec"]["selector"]["matchLabels"]
    c.ok(all(tmpl["metadata"]["labels"].get(k) == v for k, v in sel.items()),
         "Deployment selector matches its pod labels")

    inits = {x["name"]: x for x in pod.get("initContainers", [])}
    mains = {x["name"]: x for x in pod.get("containers", [])}
    sc = inits.get("flo-sidecar")
    if not c.ok(sc is not None and "flo-sidecar" not in mains,
                "flo-sidecar is an init container (native sidecar), not a regular container"):
        return
    c.ok(sc.get("restartPolicy") == "Always", "flo-sidecar init container has restartPolicy: Always")
    c.ok(len(mains) >= 1, "the pod has an app container")

    # Probes: HTTP GET on the sidecar's HTTP listener port.
    http_env = env_value(sc, "FLO_SIDECAR_HTTP")
    resp_env = env_value(sc, "FLO_SIDECAR_RESP")
    http_addr = (http_env or {}).get("value", "")
    c.ok(http_addr.startswith("0.0.0.0:"),
         f"HTTP listens on every interface for kubelet probes ({http_addr!r})")
    c.ok((resp_env or {}).get("value", "").startswith("127.0.0.1:"),
         "RESP listens on loopback only (the app shares the network namespace)")
    http_port = int(http_addr.rsplit(":", 1)[1]) if ":" in http_addr else None
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                        ("readinessProbe", "/readyz")):
        p = sc.get(probe, {}).get("httpGet", {})
        c.ok(p.get("path") == path, f"flo-sidecar {probe} is GET {path}")
        c.ok(port_number(sc, p.get("port")) == http_port,
             f"flo-sidecar {probe} targets the HTTP listener port {http_port}")

    res = sc.get("resources", {})
    c.ok(all(k in res.get("requests", {}) for k in ("cpu", "memory"))
         and "memory" in res.get("limits", {}),
         "flo-sidecar has cpu/memory requests and a memory limit")

    # Security: every container non-root, read-only root, no escalation, no caps.
    pod_sc = pod.get("securityContext", {})
    c.ok(pod_sc.get("runAsNonRoot") is True, "pod securityContext runAsNonRoot")
    for ctr in pod_containers(pod):
        s = ctr.get("securityContext", {})
        n = ctr["name"]
        c.ok(s.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, f"{n}: runAsNonRoot")
        c.ok(s.get("readOnlyRootFilesystem") is True, f"{n}: readOnlyRootFilesystem")
        c.ok(s.get("allowPrivilegeEscalation") is False, f"{n}: allowPrivilegeEscalation false")
        c.ok(s.get("capabilities", {}).get("drop") == ["ALL"], f"{n}: capabilities drop ALL")
        uid = s.get("runAsUser", pod_sc.get("runAsUser"))
        c.ok(uid is None or uid != 0, f"{n}: not uid 0")
        # Every Secret / ConfigMap reference resolves.
        for e in ctr.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                c.ok(ref["key"] in secrets.get(ref["name"], set()),
                     f"{n}: env {e['name']} -> Secret {ref['name']}/{ref['key']} exists")
            ref = e.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                c.ok(ref["key"] in configmaps.get(ref["name"], {}),
                     f"{n}: env {e['name']} -> ConfigMap {ref['name']}/{ref['key']} exists")
    c.ok(sc.get("securityContext", {}).get("runAsUser", pod_sc.get("runAsUser")) == 10001,
         "flo-sidecar runs as the image's uid 10001")
    api_key = env_value(sc, "FLO_API_KEY") or env_value(sc, "FLO_SIDECAR_API_KEY")
    c.ok(api_key is not None and "secretKeyRef" in api_key.get("valueFrom", {}),
         "the upstream API key comes from a Secret")

    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for v in volumes.values():
        if "secret" in v:
            name = v["secret"]["secretName"]
            c.ok(name in secrets, f"volume {v['name']} -> Secret {name} exists")
            for it in v["secret"].get("items", []):
                c.ok(it["key"] in secrets.get(name, set()), f"volume {v['name']} key {it['key']} exists")
        if "configMap" in v:
            name = v["configMap"]["name"]
            c.ok(name in configmaps, f"volume {v['name']} -> ConfigMap {name} exists")

    # The config file: --config points into the mounted ConfigMap.
    args = sc.get("args", [])
    conf_path = args[args.index("--config") + 1] if "--config" in args else None
    conf_text = None
    mounts = {}  # path of a file inside a mount -> (kind, name, key)
    for m in sc.get("volumeMounts", []):
        v = volumes.get(m["name"])
        c.ok(v is not None, f"flo-sidecar mount {m['name']} has a volume")
        if v is None:
            continue
        if "configMap" in v:
            for key in configmaps.get(v["configMap"]["name"], {}):
                mounts[os.path.join(m["mountPath"], key)] = ("configMap", v["configMap"]["name"], key)
        if "secret" in v:
            items = v["secret"].get("items") or [{"key": k, "path": k}
                                                 for k in secrets.get(v["secret"]["secretName"], [])]
            for it in items:
                mounts[os.path.join(m["mountPath"], it["path"])] = ("secret", v["secret"]["secretName"],
                                                                    it["key"])
    if c.ok(conf_path in mounts and mounts[conf_path][0] == "configMap",
            f"--config {conf_path} is a file of a mounted ConfigMap"):
        _, cm, key = mounts[conf_path]
        conf_text = configmaps[cm][key]
    conf = parse_conf(conf_text or "")
    if not c.ok(conf is not None and conf_text, "the config file is 'name = value' lines"):
        return
    for opt in ("auth-token-file", "session-secret-file"):
        if opt in conf:
            c.ok(conf[opt] in mounts and mounts[conf[opt]][0] == "secret",
                 f"config {opt} = {conf[opt]} is a mounted Secret file")
    grace = int(conf.get("shutdown-grace", "10"))
    tgps = pod.get("terminationGracePeriodSeconds", 30)
    c.ok(tgps > grace, f"terminationGracePeriodSeconds {tgps} > shutdown-grace {grace}")

    # The same file through the real parser, secret paths redirected to
    # stand-in files (this machine has no /run/secrets/flo-sidecar).
    check_config_with_binary(c, sidecar_bin, conf_text, mounts, sc)

    for pm in by_kind.get("PodMonitor", []):
        for ep in pm["spec"]["podMetricsEndpoints"]:
            c.ok(port_number(sc, ep.get("port")) == http_port, "PodMonitor scrapes the HTTP port")
            cred = ep.get("authorization", {}).get("credentials", {})
            c.ok(cred.get("key") in secrets.get(cred.get("name"), set()),
                 "PodMonitor's bearer credentials Secret key exists")
    for np in by_kind.get("NetworkPolicy", []):
        ports = [p.get("port") for r in np["spec"].get("ingress", []) for p in r.get("ports", [])]
        c.ok(http_port in ports, "NetworkPolicy admits the metrics port")


def check_config_with_binary(c, sidecar_bin, conf_text, mounts, container):
    if not sidecar_bin:
        c.skip("flo-sidecar --check-config (binary not built)")
        return
    helptext = subprocess.run([sidecar_bin, "--help"], capture_output=True, text=True, timeout=10).stdout
    if "--check-config" not in helptext:
        c.skip("flo-sidecar --check-config (this build has no --check-config)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        text = conf_text
        for path, (kind, _name, key) in mounts.items():
            if kind == "secret" and path in text:
                stand_in = os.path.join(tmp, key)
                with open(stand_in, "w") as fh:
                    fh.write("stand-in-value-of-32-bytes-long!\n")
                text = text.replace(path, stand_in)
        conf_file = os.path.join(tmp, "sidecar.conf")
        with open(conf_file, "w") as fh:
            fh.write(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLO_")}
        # The container's environment as the pod sets it; Secret values
        # replaced by stand-ins (which must not appear in the output).
        for e in container.get("env", []):
            env[e["name"]] = e["value"] if "value" in e else f"stand-in-{e['name'].lower()}"
        r = subprocess.run([sidecar_bin, "--config", conf_file, "--check-config"], capture_output=True,
                           text=True, timeout=20, env=env)
        c.ok(r.returncode == 0 and "configuration ok" in r.stdout + r.stderr,
             f"flo-sidecar --check-config accepts the ConfigMap's sidecar.conf with the pod's "
             f"environment (exit {r.returncode}"
             f"{': ' + (r.stdout + r.stderr).strip()[:300] if r.returncode else ''})")
        c.ok("stand-in" not in r.stdout + r.stderr, "--check-config output redacts the secrets")


# ----------------------------------------------------------------- Dashboard


def metric_names(expr):
    """Identifiers of a PromQL expression that can only be metric names."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # range selectors
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\$\{?\w+\}?", "", e)  # dashboard variables
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        # An identifier followed by "(" is a function call.
        rest = e[m.end():].lstrip()
        if word in PROMQL_WORDS or rest.startswith("("):
            continue
        if re.fullmatch(r"[eE]\d*|Inf|NaN", word):
            continue
        names.add(word)
    return names


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def dashboard_exprs(dash):
    exprs = []
    for p in walk_panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                exprs.append((p.get("title", "?"), t["expr"]))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query" and q:
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q.strip())
            exprs.append((f"variable {v['name']}", m.group(1) if m else q))
    return exprs


def check_dashboard(c, src, sidecar_bin):
    files = sorted(glob.glob(os.path.join(src, "docker/grafana/*.json")))
    c.ok(len(files) >= 1, "docker/grafana has a dashboard")
    used = set()
    for f in files:
        name = os.path.basename(f)
        try:
            with open(f) as fh:
                dash = json.load(fh)
        except ValueError as e:
            c.ok(False, f"{name} parses as JSON: {e}")
            continue
        c.ok(dash.get("schemaVersion", 0) >= 36, f"{name}: schemaVersion {dash.get('schemaVersion')}")
        variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
        c.ok(variables.get("datasource", {}).get("type") == "datasource",
             f"{name}: has a datasource variable")
        panels = [p for p in walk_panels(dash.get("panels", [])) if p.get("type") != "row"]
        c.ok(all(p.get("datasource", {}).get("uid") == "${datasource}" for p in panels),
             f"{name}: every panel uses ${{datasource}}")
        ids = [p.get("id") for p in walk_panels(dash.get("panels", []))]
        c.ok(len(ids) == len(set(ids)), f"{name}: panel ids are unique")
        exprs = dashboard_exprs(dash)
        for title, expr in exprs:
            names = metric_names(expr)
            bad = names - ALLOWED_SERIES
            c.ok(names and not bad, f"{name}: '{title}' uses only exported metrics "
                 f"{sorted(names) if not bad else 'unknown: ' + str(sorted(bad))}")
            c.ok(expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"),
                 f"{name}: '{title}' brackets balance")
            used |= names
        for title, expr in exprs:
            for m in re.finditer(r"histogram_quantile\(\s*[0-9.]+\s*,(.*)", expr):
                c.ok("_bucket" in m.group(1) and re.search(r"\bby\s*\([^)]*\ble\b", m.group(1)),
                     f"{name}: '{title}' histogram_quantile keeps le over _bucket series")
    # The panels the issue asks for, by the metric they plot.
    for needed in ("flo_sidecar_requests_total", "flo_sidecar_request_duration_seconds_bucket",
                   "flo_sidecar_upstream_request_duration_seconds_bucket",
                   "flo_sidecar_upstream_connections", "flo_sidecar_upstream_reconnects_total",
                   "flo_sidecar_upstream_inflight", "flo_sidecar_longpolls_waiting",
                   "flo_sidecar_sessions", "flo_sidecar_session_events_total",
                   "flo_sidecar_bytes_received_total", "flo_sidecar_bytes_sent_total",
                   "flo_sidecar_ready"):
        c.ok(needed in used, f"dashboard plots {needed}")
    check_live_metrics(c, sidecar_bin, used)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch_dev_metrics(sidecar_bin):
    """Start flo-sidecar --dev on free loopback ports and GET /metrics once.
    Returns (status or None, body, stderr); the process is always stopped."""
    http_port, resp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLO_")}
    proc = subprocess.Popen([sidecar_bin, "--dev", "--http", f"127.0.0.1:{http_port}",
                             "--resp", f"127.0.0.1:{resp_port}", "--log-level", "warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    body, status = None, None
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=2) as r:
                    status, body = r.status, r.read().decode()
                    break
            except urllib.error.HTTPError as e:
                status = e.code
                break
            except OSError:
                time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    return status, body, err.decode(errors="replace")


def check_live_metrics(c, sidecar_bin, used):
    """Every metric the dashboard uses is a family of a running sidecar."""
    if not sidecar_bin:
        c.skip("live /metrics comparison (flo-sidecar not built)")
        return
    body, status, err = None, None, ""
    # A free port can be taken between free_port() and the sidecar's bind:
    # a sidecar that exits at once is retried on new ports.
    for _attempt in range(3):
        status, body, err = fetch_dev_metrics(sidecar_bin)
        if status is not None:
            break
    if not c.ok(status == 200 and body, f"flo-sidecar --dev answers GET /metrics (status {status}"
                f"{'' if status else '; ' + err.strip()[-300:]})"):
        return
    families = set(re.findall(r"^# TYPE (\S+) (\S+)", body, re.M))
    types = {n: t for n, t in families}
    series = set(types)
    for n, t in types.items():
        if t == "histogram":
            series |= {n + "_bucket", n + "_sum", n + "_count"}
    missing = sorted(used - series)
    c.ok(not missing, f"every metric the dashboard uses is exported by flo-sidecar"
         f"{'' if not missing else ' (missing: ' + ', '.join(missing) + ')'}")
    for h in HISTOGRAMS:
        c.ok(types.get(h) == "histogram", f"{h} is a histogram")
    stale = sorted((COUNTERS_GAUGES | HISTOGRAMS) - set(types))
    c.ok(not stale, f"this test's metric list matches the exported families"
         f"{'' if not stale else ' (not exported: ' + ', '.join(stale) + ')'}")


# ---------------------------------------------------------------- Prometheus


def check_prometheus(c, src):
    path = os.path.join(src, "docker/prometheus/prometheus.yml")
    try:
        with open(path) as fh:
            cfg = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as e:
        c.ok(False, f"prometheus.yml parses: {e}")
        return
    jobs = cfg.get("scrape_configs", [])
    c.ok(len(jobs) >= 1, "prometheus.yml has scrape jobs")
    for j in jobs:
        auth = j.get("authorization", {})
        c.ok(auth.get("type", "Bearer") == "Bearer" and auth.get("credentials_file"),
             f"prometheus job {j.get('job_name')} sends the bearer token from a credentials_file")
        c.ok(j.get("metrics_path", "/metrics") == "/metrics", f"prometheus job {j.get('job_name')} path")


# ---------------------------------------------------------------- Dockerfile


def dockerignored(patterns, path):
    """Whether .dockerignore patterns (last match wins, ! re-includes) drop path."""
    excluded = False
    parts = path.split("/")
    for pat in patterns:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.strip("/")
        for i in range(1, len(parts) + 1):
            if fnmatch.fnmatchcase("/".join(parts[:i]), p) or (
                    p.startswith("**/") and fnmatch.fnmatchcase(parts[i - 1], p[3:])):
                excluded = not neg
                break
    return excluded


def check_dockerfile(c, src):
    path = os.path.join(src, "docker/Dockerfile")
    with open(path) as fh:
        text = fh.read()
    hadolint = shutil.which("hadolint")
    if hadolint:
        r = subprocess.run([hadolint, path], capture_output=True, text=True, timeout=60)
        c.ok(r.returncode == 0, f"hadolint docker/Dockerfile {r.stdout.strip()[:500]}")
    else:
        c.skip("hadolint is not installed")

    # Logical lines (continuations joined), comments dropped.
    lines = [ln for ln in re.sub(r"\\\n", " ", text).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    args = {}
    stages = []
    for ln in lines:
        word, _, rest = ln.strip().partition(" ")
        word = word.upper()
        if word == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip()
        elif word == "FROM":
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), rest.split()[0])
            stages.append({"image": image, "lines": []})
        elif stages:
            stages[-1]["lines"].append((word, rest.strip()))
    if not c.ok(len(stages) == 2, f"Dockerfile has two stages ({len(stages)})"):
        return
    builder, runtime = stages
    for s in stages:
        c.ok(s["image"] == "debian:12-slim", f"stage FROM {s['image']} is debian:12-slim")
    runs_b = " ; ".join(r for w, r in builder["lines"] if w == "RUN")
    runs_r = " ; ".join(r for w, r in runtime["lines"] if w == "RUN")
    c.ok(re.search(r"install-deps\.sh --build\b", runs_b), "builder installs through install-deps.sh --build")
    c.ok(re.search(r"\bmake release\b", runs_b), "builder runs make release")
    c.ok(re.search(r"install-deps\.sh --runtime\b", runs_r), "runtime installs through install-deps.sh --runtime")
    c.ok(not re.search(r"apt-get install|build-essential|gcc|clang|-dev\b", runs_r),
         "runtime stage installs no compiler or -dev package")
    kv = {}
    for w, r in runtime["lines"]:
        kv.setdefault(w, []).append(r)
    c.ok(any(u.split(":")[0] == "10001" for u in kv.get("USER", [])), "runtime USER 10001")
    c.ok("useradd" in runs_r and "10001" in runs_r, "runtime creates the uid 10001 user")
    c.ok(kv.get("ENTRYPOINT") == ['["/usr/local/bin/flo-sidecar"]'], "ENTRYPOINT is flo-sidecar (exec form)")
    exposed = set(" ".join(kv.get("EXPOSE", [])).split())
    c.ok({"9080", "6379"} <= exposed, f"EXPOSE 9080 6379 ({sorted(exposed)})")
    env = " ".join(kv.get("ENV", []))
    c.ok("FLO_SIDECAR_HTTP=0.0.0.0:9080" in env and "FLO_SIDECAR_RESP=0.0.0.0:6379" in env,
         "image listens on 0.0.0.0 through FLO_SIDECAR_HTTP / FLO_SIDECAR_RESP")
    copies = [r for w, r in runtime["lines"] if w == "COPY" and "--from=builder" in r]
    c.ok(copies and all(b in copies[0] for b in ("flo-sidecar", "flo-dev")),
         "runtime copies flo-sidecar and flo-dev from the builder")

    r = subprocess.run(["make", "-n", "-C", src, "release", "RELEASE=/nonexistent-out"],
                       capture_output=True, text=True, timeout=30)
    c.ok(r.returncode == 0 and "-DFLO_TESTS=OFF" in r.stdout and "Release" in r.stdout
         and "--target flo-sidecar flo-dev" in r.stdout,
         "make release: Release build of flo-sidecar and flo-dev, no tests")

    ign = os.path.join(src, ".dockerignore")
    patterns = []
    if os.path.exists(ign):
        with open(ign) as fh:
            patterns = [p.strip() for p in fh if p.strip() and not p.startswith("#")]
    c.ok(dockerignored(patterns, "build") and dockerignored(patterns, ".git"),
         ".dockerignore drops build trees and .git")
    needed = ["CMakeLists.txt", "Makefile", "scripts/install-deps.sh", "bench/CMakeLists.txt"]
    for d in ("client", "devserver", "protocols", "sidecar", "bench"):
        needed += [os.path.relpath(p, src) for p in glob.glob(os.path.join(src, d, "**", "*.[ch]"),
                                                              recursive=True)]
    dropped = [p for p in needed if dockerignored(patterns, p)]
    c.ok(not dropped, f".dockerignore keeps every build input ({len(needed)} files"
         f"{'' if not dropped else '; dropped: ' + ', '.join(dropped[:5])})")


# ------------------------------------------------------------------- Scripts


def check_scripts(c, src, bins):
    scripts = sorted(glob.glob(os.path.join(src, "scripts/*.sh")) + glob.glob(os.path.join(src, "bench/*.sh"))
                     + [os.path.join(src, ".ci/run")])
    for s in scripts:
        if os.path.exists(s):
            r = subprocess.run(["bash", "-n", s], capture_output=True, text=True, timeout=30)
            c.ok(r.returncode == 0, f"bash -n {os.path.relpath(s, src)} {r.stderr.strip()}")
    deps = os.path.join(src, "scripts/install-deps.sh")
    if not shutil.which("apt-cache"):
        c.skip("install-deps.sh --dry-run (no apt-cache: not Debian)")
        return
    r = subprocess.run([deps, "--runtime", "--dry-run"], capture_output=True, text=True, timeout=120)
    print(r.stdout, end="")
    listed = {ln.split()[0]: ln for ln in r.stdout.splitlines() if "candidate=" in ln}
    c.ok(r.returncode == 0, f"install-deps.sh --runtime --dry-run exits 0 {r.stderr.strip()}")
    c.ok(set(listed) == RUNTIME_PKGS, f"runtime packages are exactly {sorted(RUNTIME_PKGS)}")
    c.ok(all("candidate=(none)" not in ln for ln in listed.values()),
         "every runtime package has an apt candidate")
    r = subprocess.run([deps, "--build", "--dry-run"], capture_output=True, text=True, timeout=120)
    c.ok(r.returncode == 0 and "libuv1-dev" in r.stdout and "criterion" not in r.stdout,
         "install-deps.sh --build --dry-run: build packages only")

    # The runtime list against what the binaries really load.
    if not bins or not shutil.which("readelf") or not shutil.which("dpkg"):
        c.skip("runtime packages vs. linked libraries (binaries or readelf/dpkg missing)")
        return
    check_linked_packages(c, bins)


def check_linked_packages(c, bins):
    """RUNTIME_PKGS is exactly the set of packages owning the libraries the
    binaries link (readelf NEEDED, resolved through ldd to a file, dpkg -S to
    its package), besides libc6 and sanitizer runtimes."""
    needed_pkgs = set()
    for b in bins:
        dyn = subprocess.run(["readelf", "-d", b], capture_output=True, text=True, timeout=30).stdout
        sonames = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
        ldd = subprocess.run(["ldd", b], capture_output=True, text=True, timeout=30).stdout
        paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
        for so in sonames:
            p = paths.get(so)
            if not c.ok(p and os.path.exists(p), f"{os.path.basename(b)}: {so} resolves"):
                continue
            owner = subprocess.run(["dpkg", "-S", os.path.realpath(p)], capture_output=True, text=True)
            if owner.returncode != 0:  # merged /usr: dpkg knows the /lib path
                owner = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
            pkg = owner.stdout.split(":")[0].strip() if owner.returncode == 0 else None
            c.ok(pkg is not None, f"{os.path.basename(b)}: {so} belongs to package {pkg}")
            if pkg:
                needed_pkgs.add(pkg)
    # libc6 is in the base image; sanitizer runtimes only in ASan builds.
    sanitizer = {p for p in needed_pkgs if re.match(r"lib(asan|ubsan|lsan|tsan)\d+$", p)}
    extra = needed_pkgs - RUNTIME_PKGS - {"libc6"} - sanitizer
    c.ok(not extra, f"the runtime image installs every library the binaries link (missing: {sorted(extra)})")
    unused = RUNTIME_PKGS - needed_pkgs
    c.ok(not unused, f"the runtime image installs nothing the binaries do not link (unused: {sorted(unused)})")


def check_release_build(c, src):
    """The image's builder step, `make release`, run here: both binaries
    build, survive the Dockerfile's strip, start (--version), and link only
    what the runtime stage installs."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        # Not the variables of a `make test` this may run under.
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        # As the Dockerfile passes its FLO_GIT_COMMIT build argument.
        r = subprocess.run(["make", "-C", src, "release", f"RELEASE={out}",
                            "CMAKE_FLAGS=-DFLO_GIT_COMMIT=c0ffee1"], capture_output=True,
                           text=True, timeout=900, env=env)
        bins = [os.path.join(out, n) for n in ("flo-sidecar", "flo-dev")]
        if not c.ok(r.returncode == 0 and all(os.access(b, os.X_OK) for b in bins),
                    f"make release builds flo-sidecar and flo-dev {(r.stdout + r.stderr)[-500:] if r.returncode else ''}"):
            return
        r = subprocess.run(["strip", "--strip-unneeded"] + bins, capture_output=True, text=True)
        c.ok(r.returncode == 0, f"strip --strip-unneeded (as the Dockerfile does) {r.stderr.strip()}")
        # Each stripped binary starts and parses its flags (flo-dev has no --version).
        for b, flag in ((bins[0], "--version"), (bins[1], "--help")):
            v = subprocess.run([b, flag], capture_output=True, text=True, timeout=10)
            c.ok(v.returncode == 0 and v.stdout.strip(),
                 f"stripped {os.path.basename(b)} {flag}: {v.stdout.strip().splitlines()[0][:60] if v.stdout.strip() else v.stderr.strip()}")
        v = subprocess.run([bins[0], "--version"], capture_output=True, text=True, timeout=10)
        c.ok("(commit c0ffee1)" in v.stdout,
             f"-DFLO_GIT_COMMIT (the image's build argument) reaches --version: {v.stdout.strip()}")
        cache = open(os.path.join(out, "CMakeCache.txt")).read()
        c.ok("FLO_TESTS:BOOL=OFF" in cache and "CMAKE_BUILD_TYPE:STRING=Release" in cache,
             "make release configures Release without the test suite")
        check_linked_packages(c, bins)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--bin-dir", default="")
    ap.add_argument("--release-build", action="store_true",
                    help="also run the image builder's `make release` and check its binaries")
    a = ap.parse_args()
    src = os.path.abspath(a.source)
    bins = [os.path.join(a.bin_dir, n) for n in ("flo-sidecar", "flo-dev")] if a.bin_dir else []
    bins = [b for b in bins if os.access(b, os.X_OK)]
    sidecar = next((b for b in bins if b.endswith("flo-sidecar")), None)
    c = Checker()
    check_k8s(c, src, sidecar)
    check_dashboard(c, src, sidecar)
    check_prometheus(c, src)
    check_dockerfile(c, src)
    check_scripts(c, src, bins)
    if a.release_build:
        check_release_build(c, src)
    print(f"deploy checks: {c.failures} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
