#!/usr/bin/env python3
"""Checks of the Helm chart, run by charts/test.sh (which gets Helm and kubectl).

Each check renders the chart with `helm template` (or lints it) for some values and asserts on
the objects, so that a chart change that breaks what the plugin needs fails here: the mounts and
their propagation, the environment the plugin reads, probes and sidecar wiring, the CSIDriver
object, the schema's refusals, the optional monitoring objects and the dashboard.

Usage: chart_test.py --helm HELM --kubectl KUBECTL [-k PATTERN]
Prints one line per check and, last, "chart: N passed, M failed"; exits 1 if any failed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback

import yaml

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(TOP, "charts", "csi-driver-erofs")
RELEASE = "t"
NAMESPACE = "csi-erofs"
FULLNAME = "t-csi-driver-erofs"

HELM = "helm"
KUBECTL = "kubectl"
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


class Failed(AssertionError):
    pass


def expect(cond, message):
    if not cond:
        raise Failed(message)


def eq(actual, expected, what):
    if actual != expected:
        raise Failed(f"{what}: expected {expected!r}, got {actual!r}")


def run(args, env=None):
    e = dict(os.environ)
    e["KUBECONFIG"] = os.devnull  # nothing here may reach a cluster
    e["HELM_CACHE_HOME"] = e["HELM_CONFIG_HOME"] = e["HELM_DATA_HOME"] = tempfile.gettempdir() + "/chart-test-helm"
    if env:
        e.update(env)
    return subprocess.run(args, capture_output=True, text=True, env=e)


def helm_args(sets=(), files=(), strings=()):
    args = []
    for f in files:
        args += ["-f", f if os.path.isabs(f) else os.path.join(CHART, f)]
    for s in sets:
        args += ["--set", s]
    for s in strings:
        args += ["--set-string", s]
    return args


def render_text(sets=(), files=(), strings=()):
    p = run([HELM, "template", RELEASE, CHART, "-n", NAMESPACE] + helm_args(sets, files, strings))
    if p.returncode != 0:
        raise Failed(f"helm template failed for {list(sets) + list(files)}: {p.stderr.strip()}")
    return p.stdout


def render(sets=(), files=(), strings=()):
    return [d for d in yaml.safe_load_all(render_text(sets, files, strings)) if d]


def render_error(sets=(), files=(), strings=()):
    """helm template must fail; returns its error output."""
    p = run([HELM, "template", RELEASE, CHART, "-n", NAMESPACE] + helm_args(sets, files, strings))
    expect(p.returncode != 0, f"helm template accepted {list(sets) + list(strings)}")
    return p.stderr


def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    eq(len(found), 1, f"number of {kind} objects" + (f" named {name}" if name else ""))
    return found[0]


def kinds(docs):
    return sorted(d["kind"] for d in docs)


def daemonset(docs):
    return one(docs, "DaemonSet")


def pod_spec(docs):
    return daemonset(docs)["spec"]["template"]["spec"]


def container(docs, name):
    found = [c for c in pod_spec(docs)["containers"] if c["name"] == name]
    eq(len(found), 1, f"containers named {name}")
    return found[0]


def env_of(c):
    return {e["name"]: e for e in c.get("env", [])}


def env_value(c, name):
    e = env_of(c)
    expect(name in e, f"{c['name']} has no {name} in its environment")
    return e[name].get("value")


def volume(docs, name):
    found = [v for v in pod_spec(docs)["volumes"] if v["name"] == name]
    eq(len(found), 1, f"volumes named {name}")
    return found[0]


def mount(c, name):
    found = [m for m in c.get("volumeMounts", []) if m["name"] == name]
    eq(len(found), 1, f"mounts of volume {name} in {c['name']}")
    return found[0]


def arg(c, flag):
    values = [a.split("=", 1)[1] for a in c.get("args", []) if a.startswith(flag + "=")]
    eq(len(values), 1, f"{c['name']} {flag}= arguments")
    return values[0]


def port(c, name):
    found = [p["containerPort"] for p in c.get("ports", []) if p["name"] == name]
    eq(len(found), 1, f"{c['name']} ports named {name}")
    return found[0]


def values_yaml():
    with open(os.path.join(CHART, "values.yaml")) as f:
        return yaml.safe_load(f)


def leaf_keys(d, prefix=""):
    """Dotted paths of the values a user sets: maps of free-form content (labels, resources...) count as one."""
    free = {"resources", "nodeSelector", "affinity", "podAnnotations", "podLabels", "annotations", "labels",
            "securityContext", "sidecarSecurityContext", "rollingUpdate"}
    out = []
    for k, v in d.items():
        path = prefix + k
        if isinstance(v, dict) and v and k not in free:
            out += leaf_keys(v, path + ".")
        else:
            out.append(path)
    return out


# ---------------------------------------------------------------------------------------------
# Chart metadata, lint

@check
def app_version_is_the_project_version():
    with open(os.path.join(TOP, "pom.xml")) as f:
        pom = f.read()
    # the project's own <version>, after </packaging>/<artifactId> of the top pom (not a plugin's)
    m = re.search(r"<artifactId>csi-driver-erofs-build</artifactId>\s*<version>([^<]+)</version>", pom)
    expect(m, "top pom.xml has no version after csi-driver-erofs-build")
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        chart = yaml.safe_load(f)
    eq(chart["appVersion"], m.group(1), "Chart.yaml appVersion (must be the top pom.xml version)")
    eq(chart["apiVersion"], "v2", "Chart.yaml apiVersion")


@check
def lint_strict_default_and_ci_values():
    sets = [[]] + [["-f", os.path.join(CHART, "ci", f)] for f in sorted(os.listdir(os.path.join(CHART, "ci")))]
    expect(len(sets) >= 4, "expected value sets in charts/csi-driver-erofs/ci/")
    for extra in sets:
        p = run([HELM, "lint", "--strict", CHART, "-n", NAMESPACE] + extra)
        expect(p.returncode == 0, f"helm lint --strict {' '.join(extra)} failed:\n{p.stdout}{p.stderr}")


@check
def every_ci_value_set_renders():
    for f in sorted(os.listdir(os.path.join(CHART, "ci"))):
        docs = render(files=[os.path.join("ci", f)])
        daemonset(docs)


@check
def kubectl_reads_every_rendered_object():
    # no cluster here, so no server-side dry run: kubectl decodes each object locally
    for files in ([], ["ci/monitoring-values.yaml"], ["ci/podmonitor-values.yaml"], ["ci/ca-pem-values.yaml"]):
        text = render_text(files=files)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(text)
            f.flush()
            p = run([KUBECTL, "label", "--local", "-f", f.name, "chart-test=1", "-o", "json"])
        expect(p.returncode == 0, f"kubectl could not read the objects of {files}: {p.stderr.strip()}")
        eq(p.stdout.count('"chart-test": "1"'), len([d for d in yaml.safe_load_all(text) if d]),
           f"objects kubectl read for {files}")


# ---------------------------------------------------------------------------------------------
# The default install

@check
def default_objects():
    eq(kinds(render()), ["CSIDriver", "DaemonSet", "ServiceAccount"], "objects of a default install")


@check
def namespaced_objects_are_in_the_release_namespace():
    for d in render(files=["ci/monitoring-values.yaml", "ci/ca-pem-values.yaml"]):
        if d["kind"] == "CSIDriver":
            expect("namespace" not in d["metadata"], "the CSIDriver is cluster-scoped")
        elif d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard"):
            eq(d["metadata"]["namespace"], "monitoring", "dashboard ConfigMap namespace (dashboard.namespace)")
        else:
            eq(d["metadata"].get("namespace"), NAMESPACE, f"namespace of {d['kind']} {d['metadata']['name']}")


@check
def plugin_is_privileged_with_fuse():
    docs = render()
    c = container(docs, "plugin")
    eq(c["securityContext"].get("privileged"), True, "plugin securityContext.privileged")
    eq(volume(docs, "fuse-device")["hostPath"], {"path": "/dev/fuse", "type": "CharDevice"}, "/dev/fuse volume")
    eq(mount(c, "fuse-device")["mountPath"], "/dev/fuse", "/dev/fuse mount")
    for side in ("node-driver-registrar", "liveness-probe"):
        expect(not container(docs, side).get("securityContext", {}).get("privileged"), f"{side} must not be privileged")


@check
def pods_dir_is_bidirectional():
    docs = render()
    c = container(docs, "plugin")
    eq(volume(docs, "pods-dir")["hostPath"], {"path": "/var/lib/kubelet/pods", "type": "Directory"}, "pods-dir volume")
    m = mount(c, "pods-dir")
    # targets kubelet passes are host paths: the pods dir must sit at the same path in the container
    eq(m["mountPath"], "/var/lib/kubelet/pods", "pods-dir mountPath")
    eq(m.get("mountPropagation"), "Bidirectional", "pods-dir mountPropagation")
    for other in c["volumeMounts"]:
        if other["name"] != "pods-dir":
            expect(other.get("mountPropagation") in (None, "None"), f"{other['name']} should not propagate mounts")
    for side in ("node-driver-registrar", "liveness-probe"):
        expect(all(m.get("mountPropagation") != "Bidirectional" for m in container(docs, side)["volumeMounts"]),
               f"{side} has a Bidirectional mount")


@check
def state_and_image_dirs():
    docs = render()
    c = container(docs, "plugin")
    eq(volume(docs, "state-dir")["hostPath"], {"path": "/var/lib/csi-driver-erofs", "type": "DirectoryOrCreate"}, "state-dir")
    eq(mount(c, "state-dir")["mountPath"], "/var/lib/csi-driver-erofs", "state-dir mountPath")
    expect(not mount(c, "state-dir").get("readOnly"), "state dir must be writable")
    eq(volume(docs, "image-root")["hostPath"]["path"], "/var/lib/csi-driver-erofs/images", "image-root path")
    eq(mount(c, "image-root")["mountPath"], "/var/lib/csi-driver-erofs/images", "image-root mountPath")
    eq(mount(c, "image-root").get("readOnly"), True, "image-root readOnly")
    eq(env_value(c, "CSI_STATE_DIR"), mount(c, "state-dir")["mountPath"], "CSI_STATE_DIR is where the state dir is mounted")
    eq(env_value(c, "CSI_IMAGE_ROOT"), mount(c, "image-root")["mountPath"], "CSI_IMAGE_ROOT is where the image root is mounted")
    eq(env_value(c, "CSI_KUBELET_DIR"), "/var/lib/kubelet", "targets are confined to the kubelet's directory")
    eq(c["securityContext"].get("readOnlyRootFilesystem"), True, "read-only root filesystem")
    eq(volume(docs, "tmp").get("emptyDir"), {}, "/tmp is an emptyDir")
    eq(mount(c, "tmp")["mountPath"], "/tmp", "/tmp mount")


@check
def socket_dir_and_registration():
    docs = render()
    sock = volume(docs, "socket-dir")["hostPath"]
    eq(sock, {"path": "/var/lib/kubelet/plugins/erofs.csierofs.dev", "type": "DirectoryOrCreate"}, "socket-dir volume")
    for name in ("plugin", "node-driver-registrar", "liveness-probe"):
        eq(mount(container(docs, name), "socket-dir")["mountPath"], "/csi", f"socket dir in {name}")
    plugin = container(docs, "plugin")
    eq(env_value(plugin, "CSI_ENDPOINT"), "unix:///csi/csi.sock", "CSI_ENDPOINT")
    reg = container(docs, "node-driver-registrar")
    eq(arg(reg, "--csi-address"), "/csi/csi.sock", "registrar --csi-address")
    # kubelet dials the host path of the very socket the plugin listens on
    eq(arg(reg, "--kubelet-registration-path"), sock["path"] + "/csi.sock", "registrar --kubelet-registration-path")
    eq(volume(docs, "registration-dir")["hostPath"], {"path": "/var/lib/kubelet/plugins_registry", "type": "Directory"},
       "registration-dir volume")
    eq(mount(reg, "registration-dir")["mountPath"], "/registration", "registration-dir mount")
    eq(arg(container(docs, "liveness-probe"), "--csi-address"), "/csi/csi.sock", "livenessprobe --csi-address")


@check
def sidecar_images_are_pinned():
    docs = render()
    v = values_yaml()["sidecars"]
    for name, key in (("node-driver-registrar", "nodeDriverRegistrar"), ("liveness-probe", "livenessProbe")):
        img = v[key]["image"]
        expect(img["repository"].startswith("registry.k8s.io/sig-storage/"), f"{key} image from sig-storage")
        expect(re.fullmatch(r"v\d+\.\d+\.\d+", img["tag"]), f"{key} tag pinned to a release, got {img['tag']}")
        eq(container(docs, name)["image"], f"{img['repository']}:{img['tag']}", f"{name} image")


@check
def default_environment():
    c = container(render(), "plugin")
    e = env_of(c)
    eq(e["CSI_NODE_ID"].get("valueFrom"), {"fieldRef": {"fieldPath": "spec.nodeName"}}, "CSI_NODE_ID source")
    expected = {
        "CSI_ENDPOINT": "unix:///csi/csi.sock",
        "CSI_DRIVER_NAME": "erofs.csierofs.dev",
        "CSI_STATE_DIR": "/var/lib/csi-driver-erofs",
        "CSI_IMAGE_ROOT": "/var/lib/csi-driver-erofs/images",
        "CSI_STORE_BUDGET": str(10 << 30),
        "CSI_PAGE_CACHE": str(256 << 20),
        "CSI_BLOB_BUDGET": str(20 << 30),
        "CSI_UNMOUNT_GRACE": "5m",
        "CSI_WRITABLE_REQUESTS": "refuse",
        "CSI_METRICS_PORT": "9808",
        "QUARKUS_LOG_LEVEL": "INFO",
        "QUARKUS_LOG_CONSOLE_JSON_ENABLED": "false",
    }
    for k, v in expected.items():
        eq(env_value(c, k), v, k)
    for absent in ("CSI_CA_FILE", "CSI_DRIVER_EROFS_JAVA_OPTS"):
        expect(absent not in e, f"{absent} set by default")
    for name, entry in e.items():
        expect("value" not in entry or isinstance(entry["value"], str), f"{name} is not a string")


@check
def environment_from_values():
    docs = render(files=["ci/custom-paths-values.yaml"])
    c = container(docs, "plugin")
    expected = {
        "CSI_DRIVER_NAME": "images.example.com",
        "CSI_STATE_DIR": "/srv/erofs/state",
        "CSI_IMAGE_ROOT": "/srv/erofs/images",
        "CSI_STORE_BUDGET": str(512 << 20),
        "CSI_BLOB_BUDGET": "1099511627776",
        "CSI_UNMOUNT_GRACE": "1h30m",
        "CSI_WRITABLE_REQUESTS": "read-only",
        "CSI_METRICS_PORT": "19808",
        "CSI_DRIVER_EROFS_JAVA_OPTS": "-Xmx512m -XX:+ExitOnOutOfMemoryError",
        "EXTRA": "1",
    }
    for k, v in expected.items():
        eq(env_value(c, k), v, k)
    eq(volume(docs, "state-dir")["hostPath"]["path"], "/srv/erofs/state", "state-dir path")
    eq(volume(docs, "image-root")["hostPath"]["path"], "/srv/erofs/images", "image-root path")
    eq(port(c, "metrics"), 19808, "metrics port")


@check
def sizes_in_every_form():
    cases = {"0": "0", "4096": "4096", "1K": "1024", "3m": str(3 << 20), "50G": str(50 << 30), "2T": str(2 << 40),
             "107374182400": "107374182400"}
    for given, want in cases.items():
        c = container(render(sets=[f"storeBudget={given}", f"blobBudget={given}", f"pageCache={given}"]), "plugin")
        eq(env_value(c, "CSI_STORE_BUDGET"), want, f"CSI_STORE_BUDGET for {given}")
        eq(env_value(c, "CSI_PAGE_CACHE"), want, f"CSI_PAGE_CACHE for {given}")
        eq(env_value(c, "CSI_BLOB_BUDGET"), want, f"CSI_BLOB_BUDGET for {given}")
    c = container(render(strings=["storeBudget=123"]), "plugin")
    eq(env_value(c, "CSI_STORE_BUDGET"), "123", "a size given as a string of digits")
    c = container(render(sets=["unmountGrace=90"]), "plugin")
    eq(env_value(c, "CSI_UNMOUNT_GRACE"), "90", "a grace given as seconds")


@check
def logging_values():
    c = container(render(sets=["logging.level=DEBUG", "logging.format=json"]), "plugin")
    eq(env_value(c, "QUARKUS_LOG_LEVEL"), "DEBUG", "QUARKUS_LOG_LEVEL")
    eq(env_value(c, "QUARKUS_LOG_CONSOLE_JSON_ENABLED"), "true", "QUARKUS_LOG_CONSOLE_JSON_ENABLED for json")


@check
def custom_kubelet_dir_and_driver_name():
    docs = render(files=["ci/custom-paths-values.yaml"])
    sock_dir = "/var/lib/k0s/kubelet/plugins/images.example.com"
    eq(volume(docs, "socket-dir")["hostPath"]["path"], sock_dir, "socket-dir path")
    eq(arg(container(docs, "node-driver-registrar"), "--kubelet-registration-path"), sock_dir + "/csi.sock",
       "registration path")
    eq(volume(docs, "registration-dir")["hostPath"]["path"], "/var/lib/k0s/kubelet/plugins_registry", "registration dir")
    eq(volume(docs, "pods-dir")["hostPath"]["path"], "/var/lib/k0s/kubelet/pods", "pods dir")
    m = mount(container(docs, "plugin"), "pods-dir")
    eq((m["mountPath"], m["mountPropagation"]), ("/var/lib/k0s/kubelet/pods", "Bidirectional"), "pods dir mount")
    eq(env_value(container(docs, "plugin"), "CSI_KUBELET_DIR"), "/var/lib/k0s/kubelet", "targets confined to the relocated kubelet dir")
    expect("CSIDriver" not in kinds(docs), "csiDriver.create=false still made a CSIDriver")
    expect("ServiceAccount" not in kinds(docs), "serviceAccount.create=false still made a ServiceAccount")
    eq(pod_spec(docs)["serviceAccountName"], "existing", "serviceAccountName")
    csi = one(render(sets=["driverName=images.example.com"]), "CSIDriver")
    eq(csi["metadata"]["name"], "images.example.com", "CSIDriver name follows driverName")


@check
def probes_are_wired():
    for files in ([], ["ci/custom-paths-values.yaml"]):
        docs = render(files=files)
        c = container(docs, "plugin")
        lp = container(docs, "liveness-probe")
        healthz = port(c, "healthz")
        eq(arg(lp, "--http-endpoint"), f":{healthz}", "livenessprobe serves the port the plugin's probes call")
        for probe in ("livenessProbe", "startupProbe"):
            eq(c[probe]["httpGet"], {"path": "/healthz", "port": "healthz"}, f"plugin {probe}")
        eq(c["readinessProbe"]["httpGet"], {"path": "/q/health/ready", "port": "metrics"}, "plugin readinessProbe")
        eq(str(port(c, "metrics")), env_value(c, "CSI_METRICS_PORT"), "readiness port is the plugin's metrics port")
        expect(port(c, "metrics") != healthz, "metrics and healthz ports collide")
        reg = container(docs, "node-driver-registrar")
        eq(arg(reg, "--http-endpoint"), f":{port(reg, 'registrar-hz')}", "registrar --http-endpoint")
        eq(reg["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "registrar-hz"}, "registrar livenessProbe")
        expect(c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 300,
               "startup probe allows at least 5 minutes for volume recovery")
        for probe in ("livenessProbe", "startupProbe"):
            expect(c[probe]["timeoutSeconds"] > int(arg(lp, "--probe-timeout").rstrip("s")),
                   f"{probe} timeout longer than the sidecar's probe timeout")


@check
def csi_driver_object():
    d = one(render(), "CSIDriver")
    eq(d["apiVersion"], "storage.k8s.io/v1", "CSIDriver apiVersion")
    eq(d["metadata"]["name"], "erofs.csierofs.dev", "CSIDriver name")
    spec = d["spec"]
    eq(spec.get("attachRequired"), False, "attachRequired")
    eq(spec.get("podInfoOnMount"), True, "podInfoOnMount")
    eq(spec.get("volumeLifecycleModes"), ["Ephemeral", "Persistent"], "volumeLifecycleModes")
    eq(spec.get("fsGroupPolicy"), "None", "fsGroupPolicy")


@check
def scheduling_defaults():
    docs = render()
    spec = pod_spec(docs)
    eq(spec.get("priorityClassName"), "system-node-critical", "priorityClassName")
    eq(spec.get("tolerations"), [{"operator": "Exists"}], "tolerations")
    eq(spec.get("nodeSelector"), {"kubernetes.io/os": "linux"}, "nodeSelector")
    eq(spec.get("terminationGracePeriodSeconds"), 30, "terminationGracePeriodSeconds")
    expect(not spec.get("hostNetwork"), "hostNetwork is not needed")
    eq(daemonset(docs)["spec"]["updateStrategy"], {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
       "updateStrategy")
    eq(spec.get("automountServiceAccountToken"), False, "pod automountServiceAccountToken")
    sa = one(docs, "ServiceAccount")
    eq(sa.get("automountServiceAccountToken"), False, "ServiceAccount automountServiceAccountToken")
    eq(spec["serviceAccountName"], sa["metadata"]["name"], "pods use the chart's ServiceAccount")
    resources = container(docs, "plugin")["resources"]
    expect("memory" in resources.get("limits", {}), "plugin memory limit")
    ds = daemonset(docs)
    sel = ds["spec"]["selector"]["matchLabels"]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    expect(all(labels.get(k) == v for k, v in sel.items()), "DaemonSet selector matches its pod labels")
    custom = render(files=["ci/custom-paths-values.yaml"])
    cs = pod_spec(custom)
    expect("tolerations" not in cs and "priorityClassName" not in cs, "tolerations/priorityClassName can be cleared")
    eq(daemonset(custom)["spec"]["updateStrategy"], {"type": "OnDelete"}, "OnDelete has no rollingUpdate")
    eq(cs["imagePullSecrets"], [{"name": "regcred"}, {"name": "other"}], "imagePullSecrets")


@check
def plugin_image():
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        app = yaml.safe_load(f)["appVersion"]
    eq(container(render(), "plugin")["image"], f"ghcr.io/csi-driver-erofs/csi-driver-erofs:{app}", "default image")
    eq(container(render(sets=["image.tag=v9"]), "plugin")["image"], "ghcr.io/csi-driver-erofs/csi-driver-erofs:v9", "image.tag")
    c = container(render(files=["ci/custom-paths-values.yaml"]), "plugin")
    eq(c["image"], "registry.example.com/erofs/plugin@sha256:" + "0123456789abcdef" * 4, "image.digest")
    eq(c["imagePullPolicy"], "Always", "image.pullPolicy")


@check
def ca_bundle():
    docs = render(files=["ci/ca-pem-values.yaml"])
    c = container(docs, "plugin")
    eq(env_value(c, "CSI_CA_FILE"), "/etc/csi-driver-erofs/ca/ca.crt", "CSI_CA_FILE")
    eq(mount(c, "ca-bundle"), {"name": "ca-bundle", "mountPath": "/etc/csi-driver-erofs/ca", "readOnly": True}, "CA mount")
    cm = one(docs, "ConfigMap", FULLNAME + "-ca")
    expect(cm["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----"), "CA ConfigMap holds the PEM")
    eq(volume(docs, "ca-bundle")["configMap"]["name"], cm["metadata"]["name"], "CA volume uses the chart's ConfigMap")
    expect("checksum/ca-bundle" in daemonset(docs)["spec"]["template"]["metadata"]["annotations"],
           "pods roll when the PEM changes")
    docs = render(files=["ci/ca-secret-values.yaml"])
    c = container(docs, "plugin")
    eq(env_value(c, "CSI_CA_FILE"), "/etc/csi-driver-erofs/ca/bundle.pem", "CSI_CA_FILE from a Secret")
    eq(volume(docs, "ca-bundle")["secret"], {"secretName": "corp-ca", "items": [{"key": "bundle.pem", "path": "bundle.pem"}]},
       "CA Secret volume")
    expect("ConfigMap" not in kinds(docs), "no ConfigMap for an existing Secret")
    docs = render(sets=["caBundle.existingConfigMap=corp-ca"])
    eq(volume(docs, "ca-bundle")["configMap"]["name"], "corp-ca", "CA from an existing ConfigMap")


@check
def image_runs_serve_as_bin_script_does():
    # the Dockerfile cannot be built here (no Docker engine): check that its entrypoint keeps the
    # JVM options bin/csi-driver-erofs gives `serve`, and the fast-jar layout it copies
    with open(os.path.join(TOP, "bin", "csi-driver-erofs")) as f:
        script = f.read()
    blocks = [re.search(r"^opts=\((.*?)\)", script, re.M | re.S),
              re.search(r"mount\|serve\) opts\+=\((.*?)\)", script, re.S),
              re.search(r'"\$command" = serve \] && opts\+=\((.*?)\)', script, re.S)]
    expect(all(blocks), "bin/csi-driver-erofs: the serve JVM options were not found")
    wanted = [t for m in blocks for t in m.group(1).split()]
    with open(os.path.join(TOP, "plugin", "src", "main", "docker", "Dockerfile")) as f:
        dockerfile = f.read()
    m = re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.M)
    expect(m, "Dockerfile has no exec-form ENTRYPOINT")
    entry = json.loads(m.group(1))
    eq(entry[:2], ["/bin/sh", "-c"], "ENTRYPOINT shell")
    words = entry[2].split()
    eq(words[:2], ["exec", "java"], "the JVM replaces the shell (PID 1 gets SIGTERM)")
    eq(words[2], "$(/opt/csi-driver-erofs/java-options.sh)", "the JVM options come from java-options.sh")
    # java-options.sh prints them (and the AOT cache option when the image has a cache)
    docker_dir = os.path.join(TOP, "plugin", "src", "main", "docker")
    printed = subprocess.run(["sh", os.path.join(docker_dir, "java-options.sh")], check=True,
                             capture_output=True, text=True).stdout.split()
    missing = [t for t in wanted if t not in printed]
    eq(missing, [], "serve JVM options of bin/csi-driver-erofs missing from java-options.sh")
    extra = [t for t in printed if t not in wanted]
    eq(extra, [], "java-options.sh prints options bin/csi-driver-erofs does not give serve")
    jar = words.index("-jar")
    expect(words.index("${CSI_DRIVER_EROFS_JAVA_OPTS:-}") == jar - 1, "CSI_DRIVER_EROFS_JAVA_OPTS comes last, before -jar")
    eq(words[jar + 1:jar + 3], ["/opt/csi-driver-erofs/quarkus-run.jar", "serve"], "runs quarkus-run.jar serve")
    expect(re.search(r"^COPY src/main/docker/java-options.sh src/main/docker/record-aot-cache.sh \./$", dockerfile, re.M),
           "Dockerfile copies java-options.sh and record-aot-cache.sh")
    expect(re.search(r"^RUN \./record-aot-cache.sh /opt/csi-driver-erofs/plugin.aot$", dockerfile, re.M),
           "Dockerfile records the AOT class cache where java-options.sh looks for it")
    expect(re.search(r"^FROM eclipse-temurin:25-jre$", dockerfile, re.M), "base image eclipse-temurin:25-jre")
    for part in ("lib/", "app/", "quarkus/", "quarkus-run.jar"):
        expect(re.search(rf"^COPY target/quarkus-app/{re.escape(part)} ", dockerfile, re.M), f"Dockerfile copies {part}")


# ---------------------------------------------------------------------------------------------
# Refusals: bad values fail before anything reaches a cluster

SCHEMA_REFUSALS = [
    ("storeBudget=lots", "/storeBudget"),
    ("storeBudget=1.5G", "/storeBudget"),
    ("blobBudget=20 GB", "/blobBudget"),
    ("storeBudget=-1", "/storeBudget"),
    ("unmountGrace=5 minutes", "/unmountGrace"),
    ("driverName=Bad_Name", "/driverName"),
    ("driverName=" + "a" * 64, "/driverName"),
    ("driverName=-erofs.example.com", "/driverName"),
    ("kubeletDir=var/lib/kubelet", "/kubeletDir"),
    ("stateDir=/var/lib/erofs/", "/stateDir"),
    ("writableRequests=yes", "/writableRequests"),
    ("metricsPort=0", "/metricsPort"),
    ("metricsPort=70000", "/metricsPort"),
    ("logging.format=xml", "/logging/format"),
    ("logging.level=LOUD", "/logging/level"),
    ("image.digest=sha256:abc", "/image/digest"),
    ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
    ("securityContext.privileged=false", "/securityContext/privileged"),
    ("csiDriver.fsGroupPolicy=Any", "/csiDriver/fsGroupPolicy"),
    ("updateStrategy.type=Recreate", "/updateStrategy/type"),
    ("sidecars.livenessProbe.probeTimeout=3", "/sidecars/livenessProbe/probeTimeout"),
    ("metrics.serviceMonitor.interval=often", "/metrics/serviceMonitor/interval"),
    ("probes.liveness.periodSeconds=0", "/probes/liveness/periodSeconds"),
    ("caBundle.pem=not a certificate", "/caBundle/pem"),
    ("unknownValue=1", "unknownValue"),
    ("metrics.service.type=NodePort", "type"),
]


@check
def schema_refuses_bad_values():
    for s, where in SCHEMA_REFUSALS:
        strings = [s] if s.startswith(("storeBudget=1.5", "blobBudget=", "driverName=")) else []
        sets = [] if strings else [s]
        err = render_error(sets=sets, strings=strings)
        expect("schema" in err and where in err, f"--set {s}: expected a schema error at {where}, got: {err.strip()}")


@check
def lint_refuses_bad_values():
    p = run([HELM, "lint", "--strict", CHART, "--set", "storeBudget=lots"])
    expect(p.returncode != 0, "helm lint --strict accepted storeBudget=lots")
    expect("/storeBudget" in p.stdout + p.stderr, f"lint error does not name storeBudget: {p.stdout}{p.stderr}")


@check
def cross_value_refusals():
    cases = [
        (["sidecars.livenessProbe.healthPort=9808"], "must differ"),
        (["sidecars.nodeDriverRegistrar.healthPort=9809"], "must differ"),
        (["caBundle.existingSecret=a", "caBundle.existingConfigMap=b"], "at most one"),
        (["imageRoot=/var/lib/csi-driver-erofs"], "imageRoot must differ from stateDir"),
        (["metrics.serviceMonitor.enabled=true", "metrics.podMonitor.enabled=true"], "not both"),
        (["kubeletDir=/" + "k" * 60, "driverName=" + "d" * 40], "longer than a unix socket address"),
    ]
    for sets, message in cases:
        err = render_error(sets=sets)
        expect(message in err, f"{sets}: expected '{message}', got: {err.strip()}")


@check
def values_schema_and_values_agree():
    with open(os.path.join(CHART, "values.schema.json")) as f:
        schema = json.load(f)

    def walk(values, node, path):
        props = node.get("properties", {})
        if node.get("additionalProperties") is False:
            for k in values:
                expect(k in props, f"values.yaml has {path}{k}, which the schema does not allow")
        for k, v in values.items():
            if isinstance(v, dict) and k in props and props[k].get("type") == "object":
                walk(v, props[k], f"{path}{k}.")

    eq(schema.get("additionalProperties"), False, "schema refuses unknown top-level values")
    walk(values_yaml(), schema, "")
    missing = [k for k in schema["properties"] if k != "global" and k not in values_yaml()]
    eq(missing, [], "schema properties without a default in values.yaml")


# ---------------------------------------------------------------------------------------------
# Monitoring and the dashboard

@check
def monitors_only_when_enabled():
    eq([k for k in kinds(render()) if k in ("ServiceMonitor", "PodMonitor", "Service")], [], "monitoring objects by default")
    docs = render(sets=["metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prom"])
    eq([k for k in kinds(docs) if k in ("ServiceMonitor", "PodMonitor", "Service")], ["Service", "ServiceMonitor"],
       "objects with serviceMonitor.enabled")
    sm = one(docs, "ServiceMonitor")
    eq(sm["apiVersion"], "monitoring.coreos.com/v1", "ServiceMonitor apiVersion")
    eq(sm["metadata"]["labels"].get("release"), "prom", "ServiceMonitor extra labels")
    ep = sm["spec"]["endpoints"][0]
    eq((ep["port"], ep["path"]), ("metrics", "/q/metrics"), "ServiceMonitor endpoint")
    svc = one(docs, "Service")
    eq(svc["spec"]["ports"][0]["port"], 9808, "Service port")
    eq(svc["spec"]["ports"][0]["name"], "metrics", "Service port name")
    pod_labels = daemonset(docs)["spec"]["template"]["metadata"]["labels"]
    expect(all(pod_labels.get(k) == v for k, v in svc["spec"]["selector"].items()), "Service selects the plugin pods")
    expect(all(svc["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items()),
           "ServiceMonitor selects the Service")
    docs = render(sets=["metrics.podMonitor.enabled=true"])
    eq([k for k in kinds(docs) if k in ("ServiceMonitor", "PodMonitor", "Service")], ["PodMonitor"],
       "objects with podMonitor.enabled")
    pm = one(docs, "PodMonitor")
    eq(pm["spec"]["podMetricsEndpoints"][0]["port"], "metrics", "PodMonitor port")
    expect(all(pod_labels.get(k) == v for k, v in pm["spec"]["selector"]["matchLabels"].items()),
           "PodMonitor selects the plugin pods")
    docs = render(sets=["metrics.service.enabled=true"])
    eq([k for k in kinds(docs) if k in ("ServiceMonitor", "PodMonitor", "Service")], ["Service"],
       "objects with service.enabled only")


def dashboard():
    with open(os.path.join(CHART, "dashboards", "csi-driver-erofs.json")) as f:
        return json.load(f)


@check
def dashboard_json():
    d = dashboard()
    variables = {v["name"]: v for v in d["templating"]["list"]}
    expect("datasource" in variables and variables["datasource"]["type"] == "datasource"
           and variables["datasource"]["query"] == "prometheus", "a Prometheus datasource variable")
    exprs = []
    for p in d["panels"]:
        if p["type"] == "row":
            continue
        eq(p["datasource"], {"type": "prometheus", "uid": "${datasource}"}, f"datasource of panel {p['title']}")
        for t in p["targets"]:
            eq(t["datasource"]["uid"], "${datasource}", f"datasource of a query in {p['title']}")
            exprs.append(t["expr"])
    def datasources(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "datasource" and isinstance(v, dict):
                    yield v
                yield from datasources(v)
        elif isinstance(node, list):
            for v in node:
                yield from datasources(v)
    refs = list(datasources(d))
    expect(len(refs) > len(exprs), "datasource references")
    for ref in refs:
        eq(ref, {"type": "prometheus", "uid": "${datasource}"}, "every datasource reference (panels, queries, variables)")
    text = "\n".join(exprs)
    for metric in ("csi_erofs_shared_bytes", "csi_erofs_store_bytes", "csi_erofs_store_budget_bytes",
                   "csi_erofs_opens_passthrough", "csi_erofs_opens_cached", "csi_erofs_volumes_published",
                   "csi_erofs_image_mounts", "csi_erofs_page_cache_hit_ratio",
                   "grpc_server_processing_duration_seconds_count", "grpc_server_processing_duration_seconds_sum"):
        expect(metric in text, f"no panel queries {metric}")
    expect(re.search(r"by \(method, statusCode\)", text), "CSI results by method and statusCode")
    for e in exprs:
        eq(e.count("("), e.count(")"), f"parentheses of {e}")
        eq(e.count("{"), e.count("}"), f"braces of {e}")
    ids = [p["id"] for p in d["panels"]]
    eq(len(ids), len(set(ids)), "unique panel ids")


@check
def dashboard_configmap_only_when_enabled():
    expect("ConfigMap" not in kinds(render()), "a ConfigMap by default")
    docs = render(sets=["dashboard.enabled=true"])
    cm = one(docs, "ConfigMap", FULLNAME + "-dashboard")
    eq(cm["metadata"]["labels"].get("grafana_dashboard"), "1", "grafana_dashboard label")
    eq(cm["metadata"]["namespace"], NAMESPACE, "dashboard namespace by default")
    eq(json.loads(cm["data"]["csi-driver-erofs.json"]), dashboard(), "ConfigMap holds the dashboard file")


@check
def notes_show_how_to_try_it():
    p = run([HELM, "install", RELEASE, CHART, "-n", NAMESPACE, "--dry-run=client", "--set", "driverName=try.example.com"])
    expect(p.returncode == 0, f"helm install --dry-run=client failed: {p.stderr}")
    notes = p.stdout.split("NOTES:", 1)
    expect(len(notes) == 2, "no NOTES")
    notes = notes[1]
    m = re.search(r"kubectl apply -f - <<'EOF'\n(.*?)\n\s*EOF\n", notes, re.S)
    expect(m, "NOTES have no inline-volume pod to apply")
    pod = yaml.safe_load("\n".join(line[5:] for line in m.group(1).splitlines()))
    eq(pod["kind"], "Pod", "NOTES example kind")
    csi = pod["spec"]["volumes"][0]["csi"]
    eq(csi["driver"], "try.example.com", "NOTES example driver")
    eq(csi["readOnly"], True, "NOTES example readOnly")
    expect("image" in csi["volumeAttributes"], "NOTES example names an image")
    expect("/q/metrics" in notes and "port-forward" in notes, "NOTES tell how to see metrics")


@check
def readme_lists_every_value():
    with open(os.path.join(TOP, "README.md")) as f:
        readme = f.read()
    expect("## Install with Helm" in readme, "README has no 'Install with Helm' section")
    section = readme.split("## Install with Helm", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"^\| `([A-Za-z0-9.]+)` \| (.*?) \| (.*) \|$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    keys = leaf_keys(values_yaml())
    eq([k for k in keys if k not in rows], [], "values missing from the README's values table")
    eq([k for k in rows if k not in keys], [], "README values table rows that are not values")
    # scalar defaults must read as values.yaml has them
    for k in keys:
        v = values_yaml()
        for part in k.split("."):
            v = v[part]
        if isinstance(v, bool):
            want = "`" + str(v).lower() + "`"
        elif isinstance(v, (int, str)):
            want = "`" + (str(v) if v != "" else '""') + "`"
        elif v == [] or v == {}:
            want = "`" + json.dumps(v) + "`"
        else:
            continue
        eq(rows[k], want, f"README default of {k}")


def main():
    global HELM, KUBECTL
    ap = argparse.ArgumentParser()
    ap.add_argument("--helm", required=True)
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("-k", default="", help="run only the checks whose name contains this")
    a = ap.parse_args()
    HELM, KUBECTL = a.helm, a.kubectl
    passed = failed = 0
    for fn in CHECKS:
        if a.k not in fn.__name__:
            continue
        try:
            fn()
            passed += 1
            print(f"ok   {fn.__name__}")
        except Failed as e:
            failed += 1
            print(f"FAIL {fn.__name__}: {e}")
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}: {traceback.format_exc()}")
    print(f"chart: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
