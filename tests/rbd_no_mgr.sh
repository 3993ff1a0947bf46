#!/usr/bin/env bash
# DeleteVolume through librados when the cluster has no mgr to take the removal of a
# trashed image: the driver removes it itself, remembers that the mgr is away (one
# wait, not one per delete), and leaves nothing behind.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
CLUSTER=$here/../scripts/ceph-cluster.sh
CL=$T/cluster
on_exit "'$CLUSTER' down '$CL' >/dev/null 2>&1"
CEPH_WATCH_PID=$$ CEPH_NO_MGR=1 CEPH_POOLS=rbd "$CLUSTER" up "$CL" >"$T/cluster.log" 2>&1 || { cat "$T/cluster.log"; fail "cluster up"; finish; }
eval "$("$CLUSTER" env "$CL")"
KEY=$("$CLUSTER" user "$CL" csi rbd 2>>"$T/cluster.log" | tail -n1)
check "restricted user created" [ -n "$KEY" ]
admin() { "$@" --conf "$CEPH_CONF" --id admin 2>/dev/null; }
printf '[{"clusterID": "%s", "monitors": ["%s"]}]\n' "$CEPH_FSID" "$CEPH_MON_V2" >"$T/config.json"
( umask 077; printf 'userID=csi\nuserKey=%s\n' "$KEY" >"$T/secrets" )

EP=$T/ctl.sock
start_server "$T/server.log" --endpoint "$EP" --mode controller --backend rbd --config "$T/config.json" --data-dir "$T/data" --ceph-client librados
for n in 1 2 3; do
  out=$(csi "$EP" CreateVolume --name "nomgr-$n" --required-bytes 64M --param "clusterID=$CEPH_FSID" --param pool=rbd --secrets-file "$T/secrets" --fs-type ext4)
  V=$(json_get "$out" 'j["volume"]["volume_id"]')
  check "volume $n: delete without a mgr" csi_ok "$EP" DeleteVolume --volume-id "$V" --secrets-file "$T/secrets"
  check "volume $n: no image, nothing in the trash" [ "$(admin rbd ls rbd | wc -l) $(admin rbd trash ls rbd | wc -l)" = "0 0" ]
done
check "the mgr was waited for once, then skipped" [ "$(grep -c 'the mgr did not take the removal' "$T/server.log")" = 1 ]
check "journal empty" [ "$(admin rados -p rbd listomapkeys csi.volumes.default | wc -l) $(admin rados -p rbd ls | grep -c '^csi\.volume\.' || true)" = "0 0" ]
stop_server "$SERVER_PID"
finish
