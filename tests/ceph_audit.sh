# ceph_audit POOL...: after a test has deleted everything it made, nothing of it may be
# left in these pools of its throwaway cluster. Source it after lib.sh (it uses
# pass/fail) once CEPH_CONF is set (scripts/ceph-cluster.sh env); it runs the CLIs as
# client.admin. One check per pool; it fails listing, for that pool:
#   image    every image (`rbd ls -l`: csi-vol-*, csi-snap-*, anything else), with its
#            parent and its snapshots (`rbd snap ls --all`, trash namespace included)
#   trash    every trashed image (`rbd trash ls --all`), with its snapshots, and every
#            entry of the pool's rbd_trash object that listing hides (`rbd rm` makes one)
#   orphan   every rbd metadata object (rbd_header/object_map.<id>, rbd_id.<name>) of
#            an image neither listing shows (rbd_data.<id>.* objects of no image are
#            printed, not failed: a leak seen once in a crash sweep, cause not found yet)
#   task     every mgr task still queued for the pool (`ceph rbd task list`)
#   journal  every key left in a name directory (csi.volumes.*, csi.snaps.*) and every
#            other csi.* object (csi.volume.<uuid>, csi.snap.<uuid>, ...) with its keys
#   error    a listing that failed (the pool cannot be vouched for)
# in every rados namespace of the pool. A trashed image may be removed asynchronously
# by a mgr task, so while all a pool has left is trash, queued tasks, orphan objects or a failed
# listing, it waits up to CEPH_AUDIT_WAIT seconds (60), or CEPH_AUDIT_TASK_WAIT (200)
# while a mgr task for the pool is still queued (the mgr retries a failed removal 30,
# 60, 90... s later); it stops waiting early once nothing has changed for
# CEPH_AUDIT_IDLE seconds (10) with no task queued: then nothing is at work on what is
# left. Images and journal entries never go away by themselves: a pool that has any is
# reported at once. CEPH_NO_MGR=1: no `ceph rbd task list` (no mgr).

# _audit_pass POOL...: one listing of all the pools, as lines "POOL<TAB>KIND<TAB>TEXT".
_audit_pass() {
  /usr/bin/python3 - "$@" <<'EOF'
import json, os, re, subprocess, sys

conf = os.environ["CEPH_CONF"]

class Failed(Exception):
    pass

def run(*args):
    """A Ceph CLI as client.admin: its stdout, or Failed with its stderr."""
    cmd = [args[0], "--conf", conf, "--id", "admin", *args[1:]]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise Failed("%s: timed out" % " ".join(args))
    if p.returncode != 0:
        raise Failed("%s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()[-300:]))
    return p.stdout

def js(*args):
    return json.loads(run(*args) or "null") or []

def snaps(loc, *image):
    """', snapshots: a, b (trash: c)' for an image, by --image NAME or --image-id ID."""
    names = []
    for s in js("rbd", "snap", "ls", "--all", "--format", "json", *loc, *image):
        ns = s.get("namespace", {})
        kind = ns.get("type", "user") if isinstance(ns, dict) else str(ns)
        names.append(s["name"] if kind == "user" else "%s (%s namespace, was %s)" % (s["name"], kind, ns.get("original_name", "?")))
    return ", snapshots: " + ", ".join(names) if names else ""

tasks, tasks_error = [], None
if os.environ.get("CEPH_NO_MGR") != "1":
    try:
        tasks = js("ceph", "rbd", "task", "list", "--format", "json")
    except Failed as e:
        tasks_error = str(e)

for pool in sys.argv[1:]:
    def out(kind, text):
        print("%s\t%s\t%s" % (pool, kind, text.replace("\n", " ")))
    known = {}  # rados namespace -> the image ids and names the listings accounted for
    try:
        namespaces = [""] + [n["name"] for n in js("rbd", "namespace", "ls", "--format", "json", pool)]
        for ns in namespaces:
            loc = ["--pool", pool] + (["--namespace", ns] if ns else [])
            where = "%s/%s/" % (pool, ns) if ns else pool + "/"
            ids = known.setdefault(ns, set())
            for e in js("rbd", "ls", "-l", "--format", "json", *loc):
                if "snapshot" in e:  # `rbd ls -l` lists snapshots apart too: shown with their image
                    continue
                ids.update([e.get("id"), e["image"]])
                parent = e.get("parent")
                parent = ", parent %s/%s@%s" % (parent["pool"], parent["image"], parent["snapshot"]) if parent else ""
                out("image", "%s%s (id %s, %d bytes%s%s)" % (where, e["image"], e.get("id", "?"), e["size"], parent, snaps(loc, "--image", e["image"])))
            for e in js("rbd", "trash", "ls", "--all", "--long", "--format", "json", *loc):
                ids.update([e["id"], e["name"]])
                out("trash", "%s%s (id %s, %s, deleted %s%s)" % (where, e["name"], e["id"], e.get("source", "?"), e.get("deleted_at", "?"), snaps(loc, "--image-id", e["id"])))
    except Failed as e:
        out("error", str(e))
    if tasks_error:
        out("error", tasks_error)
    for t in tasks:
        if t.get("refs", {}).get("pool_name") == pool:
            out("task", "%s (retries %s%s)" % (t.get("message", t), t.get("retry_attempts", 0), ": " + t["retry_message"] if t.get("retry_message") else ""))
    # The omap journal (ceph-csi's layout): name directories may stay, empty.
    try:
        # rbd_trash first: the ids of its hidden entries are accounted for below.
        lines = run("rados", "-p", pool, "ls", "--all").splitlines()
        for line in sorted(lines, key=lambda l: l.partition("\t")[2] != "rbd_trash"):
            ns, _, obj = line.partition("\t")
            nsargs = ["-N", ns] if ns else []
            where = "%s/%s/" % (pool, ns) if ns else pool + "/"
            # rbd's own objects of an image no listing shows: a removal cut short.
            # `rbd trash ls` hides the trash entries `rbd rm` makes on its way.
            if obj == "rbd_trash":
                for k in run("rados", "-p", pool, *nsargs, "listomapkeys", obj).split():
                    if k.startswith("id_") and k[3:] not in known.get(ns, ()):
                        known.setdefault(ns, set()).add(k[3:])
                        out("trash", "%s%s (hidden entry: a removal's, or a move cut short)" % (where, k[3:]))
            m = re.match(r"rbd_(header|object_map|data|id)\.([^.]+)", obj)
            if m and m.group(2) not in known.get(ns, ()):
                # Data objects alone: reported, not failed (seen once in the crash-clone
                # sweep, cause not found yet; see the README's open findings).
                kind = "data" if m.group(1) == "data" else "orphan"
                out(kind, "%s%s (rbd object of no listed image)" % (where, obj))
            if not obj.startswith("csi."):
                continue
            keys = run("rados", "-p", pool, *nsargs, "listomapkeys", obj).split()
            vals = ", ".join("%s=%s" % (k, run("rados", "-p", pool, *nsargs, "getomapval", obj, k, "-").strip()) for k in keys)
            if re.match(r"csi\.(volumes|snaps)\.", obj):
                if keys:
                    out("journal", "%s%s: %s" % (where, obj, vals))
            else:
                out("journal", "%s%s (object left): %s" % (where, obj, vals or "no keys"))
    except Failed as e:
        out("error", str(e))
EOF
}

ceph_audit() {
  local max=${CEPH_AUDIT_WAIT:-60} task_max=${CEPH_AUDIT_TASK_WAIT:-200} idle_max=${CEPH_AUDIT_IDLE:-10}
  local t0=$SECONDS idle=$SECONDS left prev="" pool mine pending limit
  while :; do
    left=$(_audit_pass "$@")
    # Waiting can only help a pool whose leftovers are all trash, tasks, orphan objects
    # (an image the mgr is removing) or errors.
    pending="" limit=$max
    for pool in "$@"; do
      mine=$(awk -F'\t' -v p="$pool" '$1 == p {print $2}' <<<"$left" | sort -u)
      [ -n "$mine" ] && ! grep -qvxE 'trash|task|orphan|data|error' <<<"$mine" || continue
      pending="$pending $pool"
      grep -qx task <<<"$mine" && limit=$task_max
    done
    # Idle: the same leftovers as before and no mgr task queued for a pending pool.
    [ "$left" = "$prev" ] && [ "$limit" = "$max" ] || idle=$SECONDS
    prev=$left
    [ -n "$pending" ] && [ $((SECONDS - t0)) -lt "$limit" ] && [ $((SECONDS - idle)) -lt "$idle_max" ] || break
    sleep 3
  done
  for pool in "$@"; do
    mine=$(awk -F'\t' -v p="$pool" '$1 == p && $2 == "data" {print "#   " $2 ": " $3}' <<<"$left")
    [ -z "$mine" ] || { log "audit of pool $pool: data objects of no image (not failed, under investigation):"; echo "$mine"; }
    mine=$(awk -F'\t' -v p="$pool" '$1 == p && $2 != "data" {print "#   " $2 ": " $3}' <<<"$left")
    if [ -z "$mine" ]; then
      pass "audit of pool $pool: no image, trash, mgr task or journal entry left"
    else
      fail "audit of pool $pool: left behind (after waiting $((SECONDS - t0)) s):"
      echo "$mine"
    fi
  done
}
