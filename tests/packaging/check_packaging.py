"""Parses every Kubernetes YAML and Nomad HCL file under packaging/ and checks the
fields that must agree: driver name, socket paths, sidecar addresses, service
accounts, secret and config map references, plugin ids and Nomad's staging base.
Prints every rbd-csi `serve` argument list it finds (one per line, JSON) on fd 3 so the
shell test can start the real binary with each.

Usage: check_packaging.py PACKAGING_DIR"""
import glob
import json
import os
import sys

import hcl2
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tap import Tap  # noqa: E402  (tests/tap.py)

root = sys.argv[1]
tap = Tap()
check = tap.check
argv_out = os.fdopen(3, "w")


def flag(args, name):
    for a in args:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return None


docs = []
for path in sorted(glob.glob(os.path.join(root, "kubernetes", "*.yaml"))):
    with open(path) as f:
        loaded = [d for d in yaml.safe_load_all(f) if d]
    check(f"{os.path.basename(path)} parses as YAML", len(loaded) > 0)
    docs += loaded
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)

driver = by_kind["CSIDriver"][0]["metadata"]["name"]
check("CSIDriver: attachRequired true (ControllerPublish claims the volume)", by_kind["CSIDriver"][0]["spec"]["attachRequired"] is True)
check("StorageClass provisioner is the driver", all(s["provisioner"] == driver for s in by_kind["StorageClass"]))
check("VolumeSnapshotClass driver is the driver", all(s["driver"] == driver for s in by_kind["VolumeSnapshotClass"]))

accounts = {(a["metadata"]["namespace"], a["metadata"]["name"]) for a in by_kind["ServiceAccount"]}
secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in by_kind["Secret"]}
configmaps = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in by_kind["ConfigMap"]}


def cluster_verbs(account, resource):
    """The verbs on storage.k8s.io `resource` that ClusterRoleBindings give `account`."""
    verbs = set()
    for b in by_kind["ClusterRoleBinding"]:
        if not any(s["kind"] == "ServiceAccount" and (s["namespace"], s["name"]) == account for s in b["subjects"]):
            continue
        for r in by_kind["ClusterRole"]:
            if r["metadata"]["name"] == b["roleRef"]["name"]:
                for rule in r["rules"]:
                    if "storage.k8s.io" in rule["apiGroups"] and resource in rule["resources"]:
                        verbs |= set(rule["verbs"])
    return verbs


for kind in ("DaemonSet", "Deployment"):
    for w in by_kind[kind]:
        ns = w["metadata"]["namespace"]
        spec = w["spec"]["template"]["spec"]
        name = w["metadata"]["name"]
        check(f"{name}: service account exists", (ns, spec["serviceAccountName"]) in accounts)
        vols = {v["name"]: v for v in spec["volumes"]}
        plugin = [c for c in spec["containers"] if c["name"] == "rbd-csi"][0]
        args = plugin["args"]
        check(f"{name}: --drivername is the driver", flag(args, "drivername") == driver)
        endpoint = flag(args, "endpoint").replace("unix://", "")
        sock_dir = os.path.dirname(endpoint)
        mounts = {m["mountPath"]: m["name"] for m in plugin["volumeMounts"]}
        check(f"{name}: plugin socket dir is a mounted volume", sock_dir in mounts, sock_dir)
        sock_vol = mounts.get(sock_dir)
        if kind == "Deployment":
            sa = (ns, spec["serviceAccountName"])
            check(f"{name}: has a csi-attacher container", any(c["name"] == "csi-attacher" for c in spec["containers"]))
            check(f"{name}: RBAC grants get/list/watch/patch on volumeattachments",
                  {"get", "list", "watch", "patch"} <= cluster_verbs(sa, "volumeattachments"))
            check(f"{name}: RBAC grants patch on volumeattachments/status", "patch" in cluster_verbs(sa, "volumeattachments/status"))
        for c in spec["containers"]:
            if c is plugin:
                continue
            addr = flag(c["args"], "csi-address")
            cm = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            check(f"{name}/{c['name']}: --csi-address is the plugin's socket via the same volume",
                  addr is not None and cm.get(os.path.dirname(addr)) == sock_vol and os.path.basename(addr) == os.path.basename(endpoint),
                  f"{addr} vs {endpoint}")
            if kind == "Deployment":
                t = flag(c["args"], "timeout")
                check(f"{name}/{c['name']}: --timeout of at least 60 s (the 10-15 s defaults cut clones and fences short)",
                      t is not None and t.endswith("s") and int(t[:-1]) >= 60, str(t))
            reg = flag(c["args"], "kubelet-registration-path")
            if reg is not None:
                host = vols[sock_vol]["hostPath"]["path"]
                check(f"{name}: registration path is the host path of the socket",
                      reg == os.path.join(host, os.path.basename(endpoint)), f"{reg} vs {host}")
                check(f"{name}: kubelet plugin dir is named after the driver", os.path.basename(host) == driver)
        for v in vols.values():
            if "configMap" in v:
                check(f"{name}: config map {v['configMap']['name']} exists", (ns, v["configMap"]["name"]) in configmaps)
        if spec.get("hostNetwork"):
            check(f"{name}: hostNetwork with dnsPolicy ClusterFirstWithHostNet", spec.get("dnsPolicy") == "ClusterFirstWithHostNet")
        if kind == "DaemonSet":
            kmounts = [m for m in plugin["volumeMounts"] if m["mountPath"] == "/var/lib/kubelet"]
            check(f"{name}: kubelet dir mounted Bidirectional", kmounts and kmounts[0].get("mountPropagation") == "Bidirectional")
            check(f"{name}: privileged", plugin["securityContext"]["privileged"] is True)
            prefix = flag(args, "allowed-path-prefix")
            check(f"{name}: allowed path prefix covers kubelet paths", prefix == "/var/lib/kubelet")
        argv_out.write(json.dumps(args) + "\n")

cluster_ids = set()
for (ns, n), cm in configmaps.items():
    cfg = json.loads(cm["data"]["config.json"])
    check(f"config map {n}: config.json parses", isinstance(cfg, list) and all("clusterID" in c and "monitors" in c for c in cfg))
    cluster_ids |= {c["clusterID"] for c in cfg}
for sc in by_kind["StorageClass"] + by_kind["VolumeSnapshotClass"]:
    p = sc["parameters"]
    check(f"{sc['metadata']['name']}: clusterID is in config.json", p["clusterID"] in cluster_ids)
    for key, val in p.items():
        if key.endswith("-secret-name"):
            ns = p[key.replace("-secret-name", "-secret-namespace")]
            s = secrets.get((ns, val))
            check(f"{sc['metadata']['name']}: {key} refers to a secret with userID and userKey",
                  s is not None and {"userID", "userKey"} <= set(s["stringData"]))
for sc in by_kind["StorageClass"]:
    p = sc["parameters"]
    check("StorageClass uses ceph-csi parameter names", {"clusterID", "pool", "csi.storage.k8s.io/fstype"} <= set(p))
    pub = (p.get("csi.storage.k8s.io/controller-publish-secret-namespace"), p.get("csi.storage.k8s.io/controller-publish-secret-name"))
    check(f"{sc['metadata']['name']}: controller-publish secret params name an existing secret", pub in secrets, str(pub))
pvcs = {(c["metadata"].get("namespace", "default"), c["spec"].get("volumeName")) for c in by_kind.get("PersistentVolumeClaim", [])}
for pv in by_kind.get("PersistentVolume", []):
    name, csi = pv["metadata"]["name"], pv["spec"]["csi"]
    attrs = csi["volumeAttributes"]
    check(f"static PV {name}: the driver's", csi["driver"] == driver)
    check(f"static PV {name}: ceph-csi's static volume attributes",
          attrs.get("staticVolume") == "true" and attrs.get("pool") and attrs.get("clusterID") in cluster_ids, str(attrs))
    ref = csi["nodeStageSecretRef"]
    s = secrets.get((ref["namespace"], ref["name"]))
    check(f"static PV {name}: node-stage secret has userID and userKey", s is not None and {"userID", "userKey"} <= set(s["stringData"]))
    ref = csi.get("controllerPublishSecretRef") or {}
    check(f"static PV {name}: controller-publish secret exists", (ref.get("namespace"), ref.get("name")) in secrets, str(ref))
    check(f"static PV {name}: Retain (the driver never deletes a static image)", pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain")
    check(f"static PV {name}: a claim binds it", any(v == name for _, v in pvcs))


def unquote(v):
    if isinstance(v, str) and len(v) >= 2 and v[0] == v[-1] == '"':
        return v[1:-1]
    if isinstance(v, list):
        return [unquote(x) for x in v]
    return v


plugins = {}
for path in sorted(glob.glob(os.path.join(root, "nomad", "*.hcl"))):
    with open(path) as f:
        d = hcl2.load(f)
    check(f"{os.path.basename(path)} parses as HCL", bool(d))
    if "plugin_id" in d:
        plugins.setdefault("volumes", []).append(unquote(d["plugin_id"]))
        check("volume.hcl: ceph-csi secret names", {"userID", "userKey"} <= set(d["secrets"][0]))
        check("volume.hcl: ceph-csi parameter names", {"clusterID", "pool"} <= set(d["parameters"][0]))
        continue
    for job in d["job"]:
        for jname, job_body in job.items():
            for group in job_body["group"]:
                for gbody in group.values():
                    for task in gbody["task"]:
                        for tbody in task.values():
                            plug = tbody["csi_plugin"][0]
                            args = unquote(tbody["config"][0]["args"])
                            plugins.setdefault(unquote(plug["id"]), []).append(unquote(plug["type"]))
                            mode = args[args.index("--mode") + 1]
                            check(f"{jname}: --mode matches csi_plugin type", mode == unquote(plug["type"]))
                            check(f"{jname}: no --endpoint (Nomad passes CSI_ENDPOINT)", "--endpoint" not in args)
                            grace = int(args[args.index("--shutdown-grace") + 1]) if "--shutdown-grace" in args else 30
                            kill = unquote(tbody.get("kill_timeout", "5s"))
                            check(f"{jname}: kill_timeout ({kill}) is longer than --shutdown-grace ({grace} s)",
                                  kill.endswith("s") and int(kill[:-1]) > grace)
                            if mode == "controller":
                                mem = tbody["resources"][0]["memory"]
                                check(f"{jname}: memory ({mem} MB) leaves room for librados (~41 MiB)", mem >= 128)
                            base = unquote(plug.get("stage_publish_base_dir", ""))
                            if mode == "node":
                                check(f"{jname}: stage_publish_base_dir is <data_dir>/client/csi/node/<plugin id>",
                                      base.endswith(f"/client/csi/node/{unquote(plug['id'])}"), base)
                                check(f"{jname}: the plugin only accepts paths under it",
                                      args[args.index("--allowed-path-prefix") + 1] == base)
                            argv_out.write(json.dumps([a.replace("${node.unique.name}", "nomad-node") for a in args]) + "\n")
ids = [k for k in plugins if k != "volumes"]
check("Nomad: node and controller jobs share one plugin id", len(ids) == 1 and sorted(plugins[ids[0]]) == ["controller", "node"], str(plugins))
check("Nomad: the volume names that plugin", plugins.get("volumes") == ids)

tap.finish()
