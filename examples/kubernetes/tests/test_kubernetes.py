"""examples/kubernetes (#17): the manifests against Kubernetes' schemas,
offline (validate.mjs: kubernetes-models from the npm registry, installed by
scripts/setup.sh), every field name known to Kubernetes' API models
(Debian's python3-kubernetes: what kubernetes-models, like kubeconform
without -strict, lets pass), their consistency with each other and with
rpcload (the scenario in the ConfigMap loads, the worker finds the
master's Service, the options exist), and the Containerfile's list of
run-time packages.

Run from this folder:  RPCLOAD_BIN=../../../build/rpcload RPCLOAD_PLUGIN_DIR=../../../build/plugins \
    PYTHONPATH=../../../tests/integration /usr/bin/python3 -m unittest -v test_kubernetes
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import kubernetes.client.models as k8s_models
import yaml

import rpcload
from servers import free_port, popen_bounded
from test_web_ui import WebRpcload, get_json

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)
MANIFESTS = [os.path.join(EXAMPLE, f) for f in ("configmap.yaml", "master.yaml", "worker.yaml")]
NODE = shutil.which("node") or "/usr/bin/node"


def run(argv, cwd=HERE, timeout_s=120):
    proc = popen_bounded(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("timed out: %s\n%s" % (argv, err))
    return proc.returncode, out, err


def validate(*files):
    """validate.mjs's verdict: (exit code, one dict per document)."""
    if not os.path.isdir(os.path.join(HERE, "node_modules", "kubernetes-models")):
        raise AssertionError("examples/kubernetes/tests/node_modules is missing: "
                             "run scripts/setup.sh (npm ci there)")
    rc, out, err = run([NODE, "validate.mjs"] + list(files))
    return rc, [json.loads(line) for line in out.splitlines()], err


def load_all():
    docs = {}
    for path in MANIFESTS:
        with open(path) as f:
            for d in yaml.safe_load_all(f):
                docs[(d["kind"], d["metadata"]["name"])] = d
    return docs


def unknown_fields(obj, type_name, path="", found=None):
    """Field names the API does not have, and values of the wrong JSON
    type, by the OpenAPI types python3-kubernetes's models carry
    (openapi_types, attribute_map): kubeconform's -strict, offline."""
    found = [] if found is None else found
    m = re.match(r"^list\[(.*)\]$", type_name)
    if m:
        if not isinstance(obj, list):
            found.append("%s: not a list" % (path or "/"))
        else:
            for i, item in enumerate(obj):
                unknown_fields(item, m.group(1), "%s[%d]" % (path, i), found)
        return found
    m = re.match(r"^dict\(str, (.*)\)$", type_name)
    if m:
        if not isinstance(obj, dict):
            found.append("%s: not a mapping" % (path or "/"))
        else:
            for k, v in obj.items():
                unknown_fields(v, m.group(1), "%s.%s" % (path, k), found)
        return found
    simple = {"str": str, "int": int, "bool": bool, "float": (int, float),
              "datetime": str, "date": str}
    if type_name in simple:
        if not isinstance(obj, simple[type_name]) or (
                type_name == "int" and isinstance(obj, bool)):
            found.append("%s: not %s" % (path, type_name))
        return found
    if type_name == "object":  # int-or-string, quantities, raw JSON
        return found
    model = getattr(k8s_models, type_name)
    if not isinstance(obj, dict):
        found.append("%s: not a mapping (%s)" % (path, type_name))
        return found
    by_json = {j: p for p, j in model.attribute_map.items()}
    for key, value in obj.items():
        if key not in by_json:
            found.append("%s.%s: no such field in %s" % (path, key, type_name))
        else:
            unknown_fields(value, model.openapi_types[by_json[key]],
                           "%s.%s" % (path, key), found)
    return found


def model_name(doc):
    """V1Deployment for apps/v1 Deployment, V1Service for v1 Service."""
    version = doc["apiVersion"].rsplit("/", 1)[-1]
    return version[0].upper() + version[1:] + doc["kind"]


def arg_after(args, flag):
    i = args.index(flag)
    return args[i + 1]


class Schemas(unittest.TestCase):
    def test_manifests_are_valid(self):
        rc, docs, err = validate(*MANIFESTS)
        self.assertEqual(rc, 0, "%s\n%s" % (docs, err))
        self.assertEqual(sorted((d["kind"], d["name"]) for d in docs), [
            ("ConfigMap", "rpcload-scenario"), ("Deployment", "rpcload-master"),
            ("Deployment", "rpcload-worker"), ("Service", "rpcload-master")])
        for d in docs:
            self.assertEqual(d["errors"], [], d)

    def test_broken_manifests_are_refused(self):
        """The validator fails what Kubernetes would refuse."""
        with open(os.path.join(EXAMPLE, "worker.yaml")) as f:
            good = f.read()
        cases = {
            "replicas": (good.replace("replicas: 4", "replicas: four"),
                         "spec/replicas must be integer"),
            "port": (good.replace('- "5557"', "- 5557").replace(
                "args:", "ports: [{containerPort: cluster}]\n          args:"),
                "containerPort must be integer"),
            "kind": (good.replace("kind: Deployment", "kind: Deploymnet"),
                     "unknown apiVersion/kind: apps/v1/Deploymnet"),
            "duplicate key": (good.replace("  replicas: 4\n", "  replicas: 4\n  replicas: 5\n"),
                              "YAML: Map keys must be unique"),
        }
        tmp = tempfile.mkdtemp(prefix="rpcload-k8s-")
        try:
            for what, (text, said) in cases.items():
                with self.subTest(what=what):
                    path = os.path.join(tmp, "worker.yaml")
                    with open(path, "w") as f:
                        f.write(text)
                    rc, docs, err = validate(path)
                    self.assertEqual(rc, 1, docs)
                    self.assertIn(said, " ".join(docs[0]["errors"]), docs)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class StrictFields(unittest.TestCase):
    def test_every_field_is_kubernetes(self):
        for (kind, name), doc in load_all().items():
            with self.subTest(kind=kind, name=name):
                self.assertEqual(unknown_fields(doc, model_name(doc)), [])

    def test_a_misspelt_field_is_found(self):
        with open(os.path.join(EXAMPLE, "worker.yaml")) as f:
            good = f.read()
        for wrong, said in [
                (good.replace("replicas: 4", "replica: 4"),
                 ".spec.replica: no such field in V1DeploymentSpec"),
                (good.replace("volumeMounts:", "volumeMount:"),
                 ".spec.template.spec.containers[0].volumeMount: no such field in V1Container"),
                (good.replace("readOnly: true", "readOnly: yes please"),
                 ".volumeMounts[0].readOnly: not bool")]:
            with self.subTest(said=said):
                doc = yaml.safe_load(wrong)
                found = unknown_fields(doc, model_name(doc))
                self.assertTrue(any(said in f for f in found), found)


class Consistency(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = load_all()
        cls.master = cls.docs[("Deployment", "rpcload-master")]
        cls.worker = cls.docs[("Deployment", "rpcload-worker")]
        cls.service = cls.docs[("Service", "rpcload-master")]
        cls.config = cls.docs[("ConfigMap", "rpcload-scenario")]

    @staticmethod
    def container(deploy):
        (c,) = deploy["spec"]["template"]["spec"]["containers"]
        return c

    def test_selectors_match_their_pods(self):
        for deploy in (self.master, self.worker):
            labels = deploy["spec"]["template"]["metadata"]["labels"]
            for k, v in deploy["spec"]["selector"]["matchLabels"].items():
                self.assertEqual(labels.get(k), v, deploy["metadata"]["name"])
        master_labels = self.master["spec"]["template"]["metadata"]["labels"]
        worker_labels = self.worker["spec"]["template"]["metadata"]["labels"]
        sel = self.service["spec"]["selector"]
        self.assertTrue(all(master_labels.get(k) == v for k, v in sel.items()))
        self.assertFalse(all(worker_labels.get(k) == v for k, v in sel.items()),
                         "the master's Service must not select the workers")

    def test_worker_reaches_the_master(self):
        wargs = self.container(self.worker)["args"]
        margs = self.container(self.master)["args"]
        self.assertIn("--worker", wargs)
        self.assertIn("--master", margs)
        self.assertEqual(arg_after(wargs, "--master-host"), self.service["metadata"]["name"])
        port = int(arg_after(wargs, "--master-port"))
        (svc_port,) = [p for p in self.service["spec"]["ports"] if p["port"] == port]
        (cport,) = [p for p in self.container(self.master)["ports"]
                    if p["name"] == svc_port["targetPort"]]
        self.assertEqual(cport["containerPort"], int(arg_after(margs, "--master-bind-port")))
        # The web UI's port reaches the master's --web-port the same way.
        (web,) = [p for p in self.service["spec"]["ports"] if p["name"] == "web"]
        (wport,) = [p for p in self.container(self.master)["ports"]
                    if p["name"] == web["targetPort"]]
        self.assertEqual(wport["containerPort"], int(arg_after(margs, "--web-port")))
        self.assertIn("--web", margs)

    def test_both_read_the_configmaps_scenario(self):
        for deploy in (self.master, self.worker):
            c = self.container(deploy)
            (vol,) = deploy["spec"]["template"]["spec"]["volumes"]
            self.assertEqual(vol["configMap"]["name"], self.config["metadata"]["name"])
            (mount,) = [m for m in c["volumeMounts"] if m["name"] == vol["name"]]
            path = arg_after(c["args"], "-f")
            self.assertEqual(os.path.dirname(path), mount["mountPath"])
            self.assertIn(os.path.basename(path), self.config["data"])

    def test_the_scenario_loads(self):
        tmp = tempfile.mkdtemp(prefix="rpcload-k8s-")
        try:
            path = os.path.join(tmp, "scenario.yaml")
            with open(path, "w") as f:
                f.write(self.config["data"]["scenario.yaml"])
            res = rpcload.run(["-f", path, "--list"], timeout_s=30)
            self.assertEqual(res.exit_code, 0, res.describe())
            self.assertIn("Browser (weight 4)", res.stdout)
            self.assertIn("Buyer (weight 1)", res.stdout)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_the_masters_args_start_a_master(self):
        """The master's args, as they are but for the scenario's path (a
        copy whose host is a closed local port) and the addresses: rpcload
        binds, serves the web UI with no worker yet (Locust's API says
        ready, 0 workers) and quits at SIGINT, not a usage error."""
        tmp = tempfile.mkdtemp(prefix="rpcload-k8s-")
        try:
            scn = os.path.join(tmp, "scenario.yaml")
            with open(scn, "w") as f:
                f.write(re.sub(r"(?m)^host: .*$", "host: http://127.0.0.1:9",
                               self.config["data"]["scenario.yaml"]))
            args = list(self.container(self.master)["args"])
            for flag, value in (("-f", scn), ("--master-bind-host", "127.0.0.1"),
                                ("--master-bind-port", str(free_port())),
                                ("--web-host", "127.0.0.1"), ("--web-port", "0")):
                args[args.index(flag) + 1] = value
            rl = WebRpcload(args + ["--allow-unreachable"], tmp)
            try:
                base = rl.web_url()
                s = get_json(base + "/stats/requests")
                self.assertEqual((s["state"], s["worker_count"], s["workers"]),
                                 ("ready", 0, []))
                rl.wait_line(r"cluster: master on 127\.0\.0\.1:")
                rl.stop()
                self.assertEqual(rl.proc.returncode, 0, rl.stderr())
            finally:
                rl.kill()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_the_options_are_rpcloads(self):
        res = rpcload.run(["--help"], timeout_s=30)
        self.assertEqual(res.exit_code, 0, res.describe())
        known = set(re.findall(r"(--[a-z][a-z0-9-]*)", res.stdout))
        if "--master" not in known:
            self.skipTest("this rpcload has no --master yet (the cluster is not in this tree)")
        for deploy in (self.master, self.worker):
            for a in self.container(deploy)["args"]:
                if a.startswith("--"):
                    self.assertIn(a, known, "%s: %s" % (deploy["metadata"]["name"], a))


class Image(unittest.TestCase):
    def test_runtime_packages_cover_an_install(self):
        """runtime-packages.sh (the Containerfile's second stage) on an
        install of this build: every library the binaries and plugins link
        has its package, and every package it names exists here."""
        build = os.path.dirname(os.path.abspath(rpcload.binary()))
        tmp = tempfile.mkdtemp(prefix="rpcload-k8s-install-")
        try:
            rc, out, err = run(["cmake", "--install", build, "--prefix", tmp], timeout_s=120)
            self.assertEqual(rc, 0, err)
            rc, out, err = run([os.path.join(EXAMPLE, "runtime-packages.sh"), tmp])
            self.assertEqual(rc, 0, err)
            pkgs = out.split()
            for want in ("libev4", "libssl3", "libnghttp2-14", "libyaml-0-2",
                         "protobuf-compiler", "ca-certificates"):
                self.assertIn(want, pkgs)
            rc, out, err = run(["dpkg-query", "-W", "-f", "${Package}\n"] + pkgs)
            self.assertEqual(rc, 0, err)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
