#!/usr/bin/env bash
# Hostile input for every CSI RPC on the local backend: one table of requests, each with
# the code a careful driver answers (INVALID_ARGUMENT naming the field for malformed
# input, NOT_FOUND for unknown volumes where the spec says so, FAILED_PRECONDITION for
# somebody else's mount, OUT_OF_RANGE for sizes; never INTERNAL), then proof that nothing
# outside the test's own directories changed: mounts, a sentinel directory outside the
# allowed prefix, /etc, loop devices, the driver's volumes and node state.
#
# Rows are CODE|DESCRIPTION|ARGS|AFTER. CODE may name alternatives (0/3: done right, or
# refused). ARGS (client flags) and AFTER (a check) are eval'd when the row runs, so they
# may use $V, $K, ... A row that succeeds is taken back at once (unstage, unpublish,
# delete) so rows stay independent, except in `=` rows (a retry: must succeed and
# change nothing); a `!` row is a setup step.
PRIVATE_NS=1 . "$(dirname "$0")/lib.sh"
# awk is /etc/alternatives/awk: keep it working while a faulty driver has a mount over /etc.
AWK=$(readlink -f "$(command -v awk)"); awk() { "$AWK" "$@"; }

EP=$T/csi.sock EP2=$T/csi2.sock K=$T/k O=$T/outside
E=$EP # the endpoint the rows go to
UNK=lv-0000000000000000 UNKS=ls-0000000000000000

# ---------------- fixtures ----------------
# $K is the allowed prefix; $O is outside it: a file, an empty dir, a tmpfs (the sentinel).
mkdir -p "$K/s" "$K/p" "$K/in" "$K/emptydir" "$K/fulldir" "$K/foreign" "$O/emptydir" "$O/mnt"
echo keep >"$O/file"; mount -t tmpfs sentinel "$O/mnt"; echo keep >"$O/mnt/marker"
start_server "$T/server.log" --endpoint "$EP" --data-dir "$T/data" --allowed-path-prefix "$K"
start_server "$T/server2.log" --endpoint "$EP2" --data-dir "$T/data2" # no prefix: for /proc

new() { json_get "$(csi "${3:-$EP}" CreateVolume --name "$1" --required-bytes "${2:-64M}" --fs-type ext4)" 'j["volume"]["volume_id"]'; }
V=$(new fs-vol) B=$(new block-vol) N=$(new never-staged) N2=$(new never-staged-2 64M "$EP2")
S=$(json_get "$(csi "$EP" CreateSnapshot --name snap --source-volume-id "$V")" 'j["snapshot"]["snapshot_id"]')
fresh() { new "fresh-$RANDOM$RANDOM" 320M | tee -a "$T/fresh"; } # a blank volume for one row
: >"$T/fresh"

OLD_N=()
fixtures() { # what the rows lean on; idempotent, re-run after a failed row
  local st
  mkdir -p "$K/foreign"; mountpoint -q "$K/foreign" || mount -t tmpfs foreign "$K/foreign"
  echo keep >"$K/foreign/marker"; echo keep >"$K/plainfile"
  mkdir -p "$K/emptydir" "$K/fulldir"; echo keep >"$K/fulldir/f"
  ln -sfn "$O" "$K/l-out"; ln -sfn /etc "$K/l-etc"; ln -sfn "$O/ghost" "$K/l-dangling"
  ln -sfn "$K/in" "$K/l-in"; ln -sfn "$K/s/v" "$K/l-stg"; ln -sfn "$K/p/v" "$K/l-pub"
  { csi_ok "$EP" NodeStageVolume --volume-id "$V" --staging-path "$K/s/v" --fs-type ext4 &&
    csi_ok "$EP" NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/p/v" --fs-type ext4 &&
    csi_ok "$EP" NodeStageVolume --volume-id "$B" --staging-path "$K/s/b" --access-type block &&
    csi_ok "$EP" NodePublishVolume --volume-id "$B" --staging-path "$K/s/b" --target-path "$K/p/b" --access-type block
  } || log "fixtures: could not restore the staged and published volumes"
  for st in "$T/data/node/"*"$N"*; do # $N must stay never staged: unstage it, or take another
    [ -e "$st" ] || continue
    st=$(sed -n 's/^staging=//p' "$st")
    csi_ok "$EP" NodeUnstageVolume --volume-id "$N" --staging-path "$st" 2>/dev/null ||
      { OLD_N+=("$N"); N=$(new "never-staged-$RANDOM"); log "fixtures: replaced the never-staged volume"; }
  done
}
fixtures

# ---------------- checks ----------------
enc() { local s=${1//\\/\\134}; s=${s// /\\040}; s=${s//$'\t'/\\011}; printf '%s' "${s//$'\n'/\\012}"; } # mountinfo's spelling
mounts_at() { P=$(enc "$1") awk '$5 == ENVIRON["P"]' /proc/self/mountinfo | wc -l; }
mounted() { [ "$(mounts_at "$1")" -gt 0 ]; }
foreign_ok() { mounted "$K/foreign" && [ -f "$K/foreign/marker" ]; }
named() { [ "$RC" != 3 ] || { grep -q -- "$1" "$T/last.err" && [ "$(wc -c <"$T/last.err")" -lt 2048 ]; }; } # an INVALID_ARGUMENT names the field, briefly
reply() { json_get "$(cat "$T/last.out")" "$1"; }
unconfirmed() { [ "$(reply '"confirmed" in j')" = False ]; }
no_capacity() { [ "$(reply 'int(j.get("available_capacity", 0))')" = 0 ]; }
no_entries() { [ "$(reply 'len(j.get("entries", []))')" = 0 ]; }
capacity_is() { [ "$(reply 'int(j.get("capacity_bytes", 0))')" = "$1" ]; }
proc_ok() { [ "$(mounts_at /proc)" = "$PROC_WANT" ] && [ -r /proc/self/mountinfo ]; }

# What must never change: mounts outside $T, the sentinel and the node's records (after
# every row); for the whole table also /etc, loop devices and the volume lists.
outside() {
  awk -v t="$T" -v o="$O" '!($5 == t || index($5, t "/") == 1) || $5 == o || index($5, o "/") == 1' /proc/self/mountinfo | sort
  find "$O" -printf '%p %y %m %s\n' 2>/dev/null | sort
}
node_state() { (cd "$T" && find data/node data2/node -type f 2>/dev/null | sort | while read -r f; do echo "$f: $(tr '\n' ' ' <"$f")"; done) || true; }
state() { outside; node_state; }
loops() {
  local f
  for f in /sys/block/loop*/loop/backing_file; do if [ -e "$f" ]; then echo "${f%/loop/backing_file} $(cat "$f")"; fi; done |
    awk -v t="$T" 'index($2, "/tmp/rbd-csi-test.") != 1 || index($2, t "/") == 1' # not other tests' loops
}
world() {
  echo "(a)+(b) mounts outside $T, sentinel $O:"; outside
  echo "(b) /etc:"; find /etc -maxdepth 1 -printf '%p %y %T@\n' | sort
  echo "(c) loop devices:"; loops
  echo "(d) volumes, snapshots, node state:"
  csi "$EP" ListVolumes; csi "$EP" ListSnapshots; csi "$EP2" ListVolumes; node_state
}
take_off() { # new mounts outside $T or in the sentinel: ours (private namespace), so remove them
  local mp _
  for _ in 1 2 3 4 5 6 7 8; do
    mp=$(comm -13 <(echo "$OUT0" | grep '^[0-9]') <(outside | grep '^[0-9]') | awk '{print $5}' | sort -r | head -1)
    [ -n "$mp" ] && umount -l "$(printf '%b' "${mp//\\/\\0}")" 2>/dev/null || return 0
  done
}

unmount_ours() { local m; for m in $(our_mounts); do umount -l "$(printf '%b' "${m//\\/\\0}")" 2>/dev/null || true; done; }
on_exit unmount_ours # lib.sh's cleanup does not decode mountinfo's \040 in names

# ---------------- the runner ----------------
arg() { local want=$1; shift; while [ $# -gt 1 ]; do [ "$1" = "$want" ] && { printf '%s' "$2"; return; }; shift; done; }
undo() { # take back what a successful row made
  local m=$1 v; v=$(arg --volume-id "$@")
  case $m in
    NodeStageVolume) csi_ok "$E" NodeUnstageVolume --volume-id "$v" --staging-path "$(arg --staging-path "$@")" ;;
    NodePublishVolume) csi_ok "$E" NodeUnpublishVolume --volume-id "$v" --target-path "$(arg --target-path "$@")" ;;
    CreateVolume) csi_ok "$E" DeleteVolume --volume-id "$(reply 'j["volume"]["volume_id"]')" ;;
    CreateSnapshot) csi_ok "$E" DeleteSnapshot --snapshot-id "$(reply 'j["snapshot"]["snapshot_id"]')" ;;
  esac 2>>"$T/undo.err" || echo "; taking it back ($m) failed: $(tail -1 "$T/undo.err")"
}
FAILS=()
row() { # row CODE DESCRIPTION ARGS [AFTER]
  local want=$1 desc=$2 args=$3 after=${4:-} why="" changed id
  if [ "$want" = '!' ]; then check "$desc" eval "$args"; OUT0=$(state); return; fi
  eval "set -- $args"
  RC=0; "$BIN" client --endpoint "$E" --timeout 60 "$@" >"$T/last.out" 2>"$T/last.err" || RC=$?
  case "/${want/=/0}/" in
    *"/$RC/"*) [ -z "$after" ] || eval "$after" || why="; the check after it failed: $after ($RC: $(head -c 200 "$T/last.err" | tr '\n' ' '))" ;;
    *) why="; got $RC: $(head -c 300 "$T/last.err" | tr '\n' ' ')" ;;
  esac
  [ "$RC" != 0 ] || [ "$want" = = ] || why+=$(undo "$@")
  while read -r id; do csi_ok "$EP" DeleteVolume --volume-id "$id" 2>/dev/null || why+="; cannot delete $id"; done <"$T/fresh"
  : >"$T/fresh"
  changed=$(diff <(echo "$OUT0") <(state) | grep '^[<>]' | tr '\n' ' ') || true
  [ -z "$changed" ] || { why+="; changed: ${changed:0:600}"; take_off; }
  [[ $want != */* ]] || desc+=" (got $RC)"
  if [ -z "$why" ]; then pass "$desc → $want"; return 0; fi
  fail "$desc → $want${why/;/:}"; FAILS+=("$desc → $want${why/;/:}"); fixtures; OUT0=$(state); return 1
}
run_table() { # reads rows from fd 3
  local code desc args after
  while IFS='|' read -r code desc args after <&3; do
    case $code in '' | '#'*) continue ;; esac
    row "$code" "$desc" "$args" "$after" || true
  done
}

# ---------------- values ----------------
x() { printf "${2:-x}%.0s" $(seq 1 "$1"); } # x N [C]: N times C
BIG=$(x 70000) KEY300=$(x 300 k) BIG10K=$(x 10240 a)
many() { local i; for i in $(seq 1 129); do printf -- ' --%s k%d=v' "$1" "$i"; done; }
for i in $(seq 1 129); do echo "k$i=v"; done >"$T/secrets129"
P_empty='' P_relative=rel/x P_dotdot="$K/s/../../outside" P_root=/ P_proc=/proc P_etc=/etc
P_outside="$O/new" P_prefix=$K P_symlink_out="$K/l-out" P_symlink_out_child="$K/l-out/new"
P_symlink_etc="$K/l-etc" P_dangling_symlink="$K/l-dangling" P_long=$K
for i in $(seq 1 17); do P_long+="/$(x 250)"; done
ID_empty='' ID_slash=a/b ID_dotdot=.. ID_leading_dot=.hidden ID_129_bytes=$(x 129)
W_META="$K/p/\$(touch $T/pwned)\`touch $T/pwned\`;*?<>'\"&" W_NL="$K/p/a"$'\n'"b" W_TAB="$K/p/a"$'\t'"b"
FLAGC=(3 3 3 3 0/3 3 3 3 3 3 0 0 3 0)
FLAGD=(bind remount rbind shared suid --help loop 'nouuid on ext4' '10 KB string' "'a b'" ro
  noatime,nodev,nosuid,noexec x-mount.mkdir defaults)
FLAGV=(bind remount rbind shared suid --help loop nouuid "$BIG10K" 'a b' ro
  noatime,nodev,nosuid,noexec x-mount.mkdir defaults)
# mkfsOptions: CODE FS VALUE. Refused: host paths, dry runs, options that change what mkfs does.
MKC=(3 3 3 0/3 3 3 3 3 3 3 3 3 3 0 0 0 0 0 0 0)
MKF=(ext4 ext4 ext4 ext4 ext4 ext4 ext4 ext4 ext4 ext4 xfs xfs xfs ext4 ext4 ext4 ext4 ext4 xfs xfs)
MKV=("-d $O" '-E root_owner' '-E root_owner=0:0' '-O ^has_journal' "-m0 ; rm -rf $O" "-J device=$O/file"
  "-z $O/undo" -n -V -c "-p $O/file" "-d name=$O/file" "-l logdev=$O/file"
  -m0 '-E lazy_itable_init=1,nodiscard' '-i 65536' '-N 1000' '-b 4096' -K '-b size=4096')

# ---------------- the table ----------------
table() {
  cat <<'EOF'
# retries (kubelet repeats stage and publish): must succeed and change nothing
=|stage again, same arguments (filesystem)|NodeStageVolume --volume-id "$V" --staging-path "$K/s/v" --fs-type ext4
=|publish again, same arguments (filesystem)|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/p/v" --fs-type ext4
=|stage again, same arguments (block)|NodeStageVolume --volume-id "$B" --staging-path "$K/s/b" --access-type block
=|publish again, same arguments (block)|NodePublishVolume --volume-id "$B" --staging-path "$K/s/b" --target-path "$K/p/b" --access-type block
# capabilities (more below, generated)
9/6|stage: staging path is another volume's publish|NodeStageVolume --volume-id "$N" --staging-path "$K/p/v" --fs-type ext4|[ "$(mounts_at "$K/p/v")" = 1 ]
9/6|stage: staging path is a foreign tmpfs|NodeStageVolume --volume-id "$N" --staging-path "$K/foreign" --fs-type ext4|foreign_ok
3|publish: block access for a volume staged as a filesystem|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/p/c" --access-type block
3|publish: filesystem access for a volume staged as block|NodePublishVolume --volume-id "$B" --staging-path "$K/s/b" --target-path "$K/p/c" --fs-type ext4
6|publish: read-only over its own read-write publish|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/p/v" --fs-type ext4 --readonly|[ "$(mounts_at "$K/p/v")" = 1 ]
9/6|publish: target is a foreign tmpfs|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/foreign" --fs-type ext4|foreign_ok
0|create: multi-node multi-writer block|CreateVolume --name c5 --required-bytes 1M --access-type block --access-mode MULTI_NODE_MULTI_WRITER
0|capacity: none for vfat|GetCapacity --fs-type vfat|no_capacity
3|capacity: access mode UNKNOWN|GetCapacity --fs-type ext4 --access-mode UNKNOWN
0|capacity: none in another node's topology|GetCapacity --fs-type ext4 --topology topology.rbd.csi.rs/node=elsewhere|no_capacity
12|controller get volume: not offered|ControllerGetVolume --volume-id "$V"
12|controller publish: not offered|ControllerPublishVolume --volume-id "$V" --node-id n --fs-type ext4
12|controller modify: not offered|ControllerModifyVolume --volume-id "$V" --mutable-param a=b
# sizes (more below, generated)
3|create: negative limit_bytes|CreateVolume --name z2 --required-bytes 1M --limit-bytes=-5 --fs-type ext4|named limit_bytes
11|create: 1 byte required and limit (no whole MiB fits)|CreateVolume --name z4 --required-bytes 1 --limit-bytes 1 --fs-type ext4
0|create: 1 MiB required, 2^63-1 limit|CreateVolume --name z8 --required-bytes 1M --limit-bytes 9223372036854775807 --fs-type ext4
11|create: clone of a 64 MiB volume limited to 1 MiB|CreateVolume --name z9 --required-bytes 1M --limit-bytes 1M --fs-type ext4 --from-volume "$V"
0|expand: smaller than the volume is a no-op|ControllerExpandVolume --volume-id "$V" --required-bytes 1M|capacity_is 67108864
3|node expand: negative required_bytes|NodeExpandVolume --volume-id "$V" --volume-path "$K/p/v" --required-bytes=-5|named required_bytes
11|node expand: 2^62 bytes, more than the device has|NodeExpandVolume --volume-id "$V" --volume-path "$K/p/v" --required-bytes 4611686018427387904
# names
3|create: empty name|CreateVolume --required-bytes 1M --fs-type ext4|named name
3|create: 300-byte name|CreateVolume --name "$KEY300" --required-bytes 1M --fs-type ext4|named name
3|create: name with a newline|CreateVolume --name "$W_NL" --required-bytes 1M --fs-type ext4|named name
0|create: a name that looks like a path|CreateVolume --name ../../x --required-bytes 1M --fs-type ext4|[ ! -e "$T/x" ]
3|snapshot: empty name|CreateSnapshot --source-volume-id "$V"|named name
3|snapshot: 300-byte name|CreateSnapshot --name "$KEY300" --source-volume-id "$V"|named name
0|snapshot: a name that looks like a path|CreateSnapshot --name ../../y --source-volume-id "$V"|[ ! -e "$T/y" ]
# odd but legal paths work and come off cleanly; symlinks inside the prefix are followed
0|publish: target with a space|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/p/a b" --fs-type ext4|mounted "$K/p/a b"
0|publish: target with a literal \040|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/p/a\\040b" --fs-type ext4|mounted "$K/p/a\\040b"
0|publish: target in unicode|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/p/ünï€ødé" --fs-type ext4|mounted "$K/p/ünï€ødé"
0|publish: target with shell metacharacters|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$W_META" --fs-type ext4|mounted "$W_META" && [ ! -e "$T/pwned" ]
0/3|publish: target with a newline|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$W_NL" --fs-type ext4
0/3|publish: target with a tab|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$W_TAB" --fs-type ext4
!|setup: publish at 'a b'|csi_ok "$E" NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/p/a b" --fs-type ext4
0|unpublish 'a\040b' (how mountinfo spells 'a b') leaves 'a b' alone|NodeUnpublishVolume --volume-id "$V" --target-path "$K/p/a\\040b"|mounted "$K/p/a b"
!|teardown: unpublish 'a b'|csi_ok "$E" NodeUnpublishVolume --volume-id "$V" --target-path "$K/p/a b" && ! mounted "$K/p/a b"
0|stage: staging path through a symlink inside the prefix|NodeStageVolume --volume-id "$N" --staging-path "$K/l-in/s" --fs-type ext4|mounted "$K/in/s"
0|publish: target through a symlink inside the prefix|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/l-in/t" --fs-type ext4|mounted "$K/in/t"
0|publish: staging path through a symlink inside the prefix|NodePublishVolume --volume-id "$V" --staging-path "$K/l-stg" --target-path "$K/p/t2" --fs-type ext4|mounted "$K/p/t2"
0|stats: volume path through a symlink inside the prefix|NodeGetVolumeStats --volume-id "$V" --volume-path "$K/l-pub"
3|publish: target is the staging path through a symlink|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/l-stg" --fs-type ext4|named target_path
3|publish: target inside the staging path|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/s/v/inner" --fs-type ext4|[ ! -e "$K/s/v/inner" ]
# unpublish / unstage must not touch what is not the volume's (more below, generated)
9|unpublish, staged fs volume: a block volume's publish|NodeUnpublishVolume --volume-id "$V" --target-path "$K/p/b"|mounted "$K/p/b"
EOF
  local t i p f what u ua c
  r() { printf '%s|%s: %s|%s %s|%s\n' "$1" "$what" "$2" "$t" "$3" "$4"; }
  for p in '"$UNK"|unknown id' '"$N"|never-staged id'; do
    for t in "NodeUnpublishVolume --volume-id ${p%%|*} --target-path" "NodeUnstageVolume --volume-id ${p%%|*} --staging-path"; do
      what="${t%% *}, ${p#*|}"
      r 9 'a foreign tmpfs' '"$K/foreign"' foreign_ok
      r 9 "another volume's publish" '"$K/p/v"' 'mounted "$K/p/v"'
      r 9 "another volume's staging" '"$K/s/v"' 'mounted "$K/s/v"'
      r 0 'a plain file stays' '"$K/plainfile"' '[ -f "$K/plainfile" ]'
      r 0 'an empty dir stays' '"$K/emptydir"' '[ -d "$K/emptydir" ]'
      r 0 'a non-empty dir stays' '"$K/fulldir"' '[ -f "$K/fulldir/f" ]'
    done
  done
  for t in 'NodeStageVolume --volume-id "$N" --staging-path "$K/s/c"' 'CreateVolume --name c --required-bytes 1M' \
    'NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/p/c"' 'ValidateVolumeCapabilities --volume-id "$V"'; do
    what=${t%% *} u=3 ua=; [[ $what == Validate* ]] && u=0 ua=unconfirmed # not an error there: not confirmed
    echo "3|$what: no capability|$t|named volume_capabilit"
    echo "3|$what: access mode UNKNOWN|$t --fs-type ext4 --access-mode UNKNOWN|named access_mode"
    for c in '--fs-type ext4 --access-mode MULTI_NODE_MULTI_WRITER' '--fs-type xfs --access-mode MULTI_NODE_SINGLE_WRITER' \
      '--fs-type vfat' '--fs-type ../../bin/true'; do echo "$u|$what: capability $c|$t $c|$ua"; done
  done
  for t in 'CreateVolume --name z --fs-type ext4' 'ControllerExpandVolume --volume-id "$V"'; do
    what=${t%% *}
    echo "3|$what: negative required_bytes|$t --required-bytes=-5|named required_bytes"
    echo "11|$what: limit below required|$t --required-bytes 128M --limit-bytes 96M"
    echo "11|$what: no whole MiB between required and limit|$t --required-bytes 67108865 --limit-bytes 67108865"
    echo "11|$what: 2^62 bytes|$t --required-bytes 4611686018427387904"
    echo "11|$what: 2^63-1 bytes|$t --required-bytes 9223372036854775807"
    echo "11|$what: 2^62 required, 2^63-1 limit|$t --required-bytes 4611686018427387904 --limit-bytes 9223372036854775807"
  done
  for t in ListVolumes ListSnapshots; do
    for p in x -1 99999 18446744073709551616 '$BIG'; do echo "10|$t: starting_token $p|$t --starting-token=\"$p\""; done
    echo "3|$t: negative max_entries|$t --max-entries=-1|named max_entries"
  done
  # every path field × every bad path (all outside the prefix, or malformed)
  for t in 'staging_target_path|NodeStageVolume --volume-id "$N" --staging-path @ --fs-type ext4' \
    'staging_target_path|NodeStageVolume --volume-id "$N" --staging-path @ --access-type block' \
    'staging_target_path|NodeUnstageVolume --volume-id "$N" --staging-path @' \
    'target_path|NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path @ --fs-type ext4' \
    'staging_target_path|NodePublishVolume --volume-id "$V" --staging-path @ --target-path "$K/p/x" --fs-type ext4' \
    'target_path|NodePublishVolume --volume-id "$B" --staging-path "$K/s/b" --target-path @ --access-type block' \
    'target_path|NodeUnpublishVolume --volume-id "$V" --target-path @' \
    'volume_path|NodeGetVolumeStats --volume-id "$V" --volume-path @' \
    'volume_path|NodeExpandVolume --volume-id "$V" --volume-path @' \
    'staging_target_path|NodeExpandVolume --volume-id "$V" --volume-path "$K/p/v" --staging-path @'; do
    f=${t%%|*} t=${t#*|}; what=${t%% *}; [[ $t == *block* ]] && what+=" (block)"
    for p in empty relative dotdot long root proc etc outside prefix symlink_out symlink_out_child symlink_etc dangling_symlink; do
      [[ $p == empty && $t == NodeExpand*--staging-path* ]] && continue # optional there
      code=3
      # A volume_path that cannot exist (relative) is NOT_FOUND, as the spec has it.
      [[ $p == relative && $f == volume_path ]] && code=5
      echo "$code|$what: $f $p|${t/@/\"\$P_$p\"}|named $f"
    done
  done
  # every id field × every bad id
  for t in 'volume_id|5|3|NodeStageVolume --volume-id @ --staging-path "$K/s/id" --fs-type ext4' \
    'volume_id|0|3|NodeUnstageVolume --volume-id @ --staging-path "$K/s/id"' \
    'volume_id|5/9|3|NodePublishVolume --volume-id @ --staging-path "$K/s/v" --target-path "$K/p/id" --fs-type ext4' \
    'volume_id|0|3|NodeUnpublishVolume --volume-id @ --target-path "$K/p/id"' \
    'volume_id|5|3|NodeGetVolumeStats --volume-id @ --volume-path "$K/p/v"' \
    'volume_id|5|3|NodeExpandVolume --volume-id @ --volume-path "$K/p/v"' \
    'volume_id|0|3|DeleteVolume --volume-id @' \
    'volume_id|5|3|ControllerExpandVolume --volume-id @ --required-bytes 128M' \
    'volume_id|5|3|ValidateVolumeCapabilities --volume-id @ --fs-type ext4' \
    'source_volume_id|5|3|CreateSnapshot --name id-snap --source-volume-id @' \
    'volume_id|5|3|CreateVolume --name id-clone --required-bytes 64M --fs-type ext4 --from-volume @' \
    'snapshot_id|5|3|CreateVolume --name id-restore --required-bytes 64M --fs-type ext4 --from-snapshot @S' \
    'snapshot_id|0|3|DeleteSnapshot --snapshot-id @S' \
    'snapshot_id|0|0|ListSnapshots --snapshot-id @S' \
    'source_volume_id|0|0|ListSnapshots --source-volume-id @' \
    'volume_id|12|12|ControllerGetVolume --volume-id @'; do
    IFS='|' read -r f unknown bad t <<<"$t"
    what=${t%% *} u='"$UNK"' after="named $f"
    [[ $t == *@S* ]] && u='"$UNKS"' t=${t/@S/@}
    [[ $what == ListSnapshots ]] && after=no_entries # a filter that matches nothing
    [[ $what == ControllerGetVolume ]] && after=
    echo "$unknown|$what: $f unknown|${t/@/$u}|${after/named*/}"
    for p in empty slash dotdot leading_dot 129_bytes; do
      [[ $p == empty && $what == ListSnapshots ]] && { echo "0|$what: $f empty (no filter)|${t/@/\"\$ID_$p\"}|"; continue; }
      echo "$bad|$what: $f $p|${t/@/\"\$ID_$p\"}|$after"
    done
  done
  # every map × too many entries, a value over 64 KiB, a 300-byte key
  for t in 'CreateVolume --name map-vol --required-bytes 1M --fs-type ext4|param secret' \
    'DeleteVolume --volume-id "$UNK"|secret' 'ControllerExpandVolume --volume-id "$V" --required-bytes 1M|secret' \
    'ValidateVolumeCapabilities --volume-id "$V" --fs-type ext4|context param secret' \
    'CreateSnapshot --name map-snap --source-volume-id "$V"|param secret' \
    'DeleteSnapshot --snapshot-id "$UNKS"|secret' 'ListSnapshots|secret' 'GetCapacity --fs-type ext4|param' \
    'NodeStageVolume --volume-id "$N" --staging-path "$K/s/m" --fs-type ext4|context publish-context secret' \
    'NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/p/m" --fs-type ext4|context publish-context secret' \
    'NodeExpandVolume --volume-id "$V" --volume-path "$K/p/v"|secret'; do
    for p in ${t#*|}; do
      t=${t%%|*}; what=${t%% *}
      f=$(sed 's/^param$/parameters/; s/^secret$/secrets/; s/^context$/volume_context/; s/-/_/' <<<"$p")
      echo "3|$what: $f with 129 entries|$t \$(many $p)|named $f"
      echo "3|$what: $f with a 70000-byte value|$t --$p \"k=\$BIG\"|named $f"
      echo "3|$what: $f with a 300-byte key|$t --$p \"\$KEY300=v\"|named $f"
    done
  done
  echo '3|NodeStageVolume: secrets file with 129 entries|NodeStageVolume --volume-id "$N" --staging-path "$K/s/m" --fs-type ext4 --secrets-file "$T/secrets129"|named secrets'
  # mount flags, where a capability is taken
  for t in 'NodeStageVolume --volume-id "$N" --staging-path "$K/s/f" --fs-type ext4' \
    'NodePublishVolume --volume-id "$V" --staging-path "$K/s/v" --target-path "$K/p/f" --fs-type ext4' \
    'CreateVolume --name flag-vol --required-bytes 1M --fs-type ext4'; do
    for i in "${!FLAGV[@]}"; do echo "${FLAGC[i]}|${t%% *}: mount flag ${FLAGD[i]}|$t --mount-flag=\"\${FLAGV[$i]}\"|named mount"; done
  done
  # mkfsOptions, on a blank volume each (stage) and as a StorageClass parameter (create)
  for i in "${!MKV[@]}"; do
    echo "${MKC[i]}|NodeStageVolume: mkfsOptions for ${MKF[i]}: ${MKV[i]}|NodeStageVolume --volume-id \"\$(fresh)\" --staging-path \"\$K/s/mk\" --fs-type ${MKF[i]} --context \"mkfsOptions=\${MKV[$i]}\"|named mkfsOptions"
    echo "${MKC[i]}|CreateVolume: mkfsOptions for ${MKF[i]}: ${MKV[i]}|CreateVolume --name mk-vol --required-bytes 320M --fs-type ${MKF[i]} --param \"mkfsOptions=\${MKV[$i]}\"|named mkfsOptions"
  done
}

# ---------------- run ----------------
table >"$T/table"
log "$(grep -c '^[0-9!=]' "$T/table") rows"
BEFORE=$(world) OUT0=$(state)
run_table 3<"$T/table"

# Without --allowed-path-prefix: a foreign mount outside any prefix, then /proc. /proc only
# if the driver left the sentinel's tmpfs alone, and under 9 stacked procfs mounts (this
# namespace only), so even a driver that unmounts what it should not cannot reach the
# host's /proc (an rmdir of an unmounted /proc here would unmount it everywhere).
E=$EP2
row 0 "no prefix: unpublish, unknown id: the sentinel's file stays" 'NodeUnpublishVolume --volume-id "$UNK" --target-path "$O/file"' '[ -f "$O/file" ]' || true
row 0 "no prefix: unpublish, unknown id: the sentinel's empty dir stays" 'NodeUnpublishVolume --volume-id "$UNK" --target-path "$O/emptydir"' '[ -d "$O/emptydir" ]' || true
if row 9 "no prefix: unpublish, unknown id: the sentinel's tmpfs" 'NodeUnpublishVolume --volume-id "$UNK" --target-path "$O/mnt"' 'mounted "$O/mnt"'; then
  PROC_N=$(mounts_at /proc) PROC_WANT=$(($(mounts_at /proc) + 9))
  for _ in $(seq 1 9); do mount -t proc proc /proc; done
  OUT0=$(state)
  run_table 3<<'EOF'
9|no prefix: unpublish, unknown id: /proc|NodeUnpublishVolume --volume-id "$UNK" --target-path /proc|proc_ok
9|no prefix: unpublish, never-staged id: /proc|NodeUnpublishVolume --volume-id "$N2" --target-path /proc|proc_ok
9|no prefix: unstage, unknown id: /proc|NodeUnstageVolume --volume-id "$UNK" --staging-path /proc|proc_ok
9|no prefix: unstage, never-staged id: /proc|NodeUnstageVolume --volume-id "$N2" --staging-path /proc|proc_ok
EOF
  while [ "$(mounts_at /proc)" -gt "$PROC_N" ]; do umount /proc; done
else
  fail "no prefix: /proc rows skipped: the driver acted on a foreign mount; not risking the host's /proc"
fi
E=$EP

AFTER=$(world)
if [ "$BEFORE" = "$AFTER" ]; then pass "nothing outside the test's own directories changed"; else
  fail "something outside the test's own directories changed:"; diff <(echo "$BEFORE") <(echo "$AFTER") | sed 's/^/#   /' | head -60 || true
fi
[ ${#FAILS[@]} -eq 0 ] || { log "failing rows:"; printf '#   %s\n' "${FAILS[@]}"; }

# Teardown: everything the test made comes off through the driver.
teardown() {
  local v rc=0
  csi_ok "$EP" NodeUnpublishVolume --volume-id "$V" --target-path "$K/p/v" || rc=1
  csi_ok "$EP" NodeUnstageVolume --volume-id "$V" --staging-path "$K/s/v" || rc=1
  csi_ok "$EP" NodeUnpublishVolume --volume-id "$B" --target-path "$K/p/b" || rc=1
  csi_ok "$EP" NodeUnstageVolume --volume-id "$B" --staging-path "$K/s/b" || rc=1
  csi_ok "$EP" DeleteSnapshot --snapshot-id "$S" || rc=1
  csi_ok "$EP2" DeleteVolume --volume-id "$N2" || rc=1
  for v in "$V" "$B" "$N"; do csi_ok "$EP" DeleteVolume --volume-id "$v" || rc=1; done
  for v in "${OLD_N[@]}"; do csi_ok "$EP" DeleteVolume --volume-id "$v" 2>/dev/null || true; done # staged by a faulty row
  return $rc
}
check "teardown through the driver" teardown
check "no loop device or mount of this test left" [ -z "$(our_loops)$(our_mounts | grep -v -e "^$O/mnt$" -e "^$K/foreign$")" ]
for p in "${SERVER_PIDS[@]}"; do stop_server "$p" || true; done
log "runtime ${SECONDS}s"
finish
