//! `rbd-csi client`: a command-line CSI client for operators outside Kubernetes and
//! for the shell tests. One flag per request field; the reply is printed as JSON;
//! on error it prints the gRPC code and message and exits with the code's number.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use getopts::{Matches, Options};
use grpcio::{CallOption, ChannelBuilder, EnvBuilder, RpcStatusCode};
use protobuf::{MessageDyn, MessageField};

use crate::csi::volume_capability::{access_mode, AccessMode, BlockVolume, MountVolume};
use crate::csi::volume_content_source::{SnapshotSource, VolumeSource};
use crate::csi::*;
use crate::error::code_name;
use crate::generated::csi_grpc::{ControllerClient, IdentityClient, NodeClient};
use crate::options::{parse_endpoint, DEFAULT_ENDPOINT};

const METHODS: &[&str] = &[
    "GetPluginInfo",
    "GetPluginCapabilities",
    "Probe",
    "CreateVolume",
    "DeleteVolume",
    "ControllerPublishVolume",
    "ControllerUnpublishVolume",
    "ValidateVolumeCapabilities",
    "ListVolumes",
    "GetCapacity",
    "ControllerGetCapabilities",
    "CreateSnapshot",
    "DeleteSnapshot",
    "ListSnapshots",
    "ControllerExpandVolume",
    "ControllerGetVolume",
    "ControllerModifyVolume",
    "NodeStageVolume",
    "NodeUnstageVolume",
    "NodePublishVolume",
    "NodeUnpublishVolume",
    "NodeGetVolumeStats",
    "NodeExpandVolume",
    "NodeGetCapabilities",
    "NodeGetInfo",
];

fn client_options() -> Options {
    let mut o = Options::new();
    o.optopt("", "endpoint", &format!("plugin socket (default {DEFAULT_ENDPOINT})"), "URL");
    o.optopt("", "timeout", "seconds to wait for the reply (default 60)", "SECS");
    o.optopt("", "repeat", "make the call N times on one connection, print the last reply (benchmarks)", "N");
    o.optopt("", "volume-id", "volume_id", "ID");
    o.optopt("", "name", "name (CreateVolume, CreateSnapshot)", "NAME");
    o.optopt("", "node-id", "node_id (Controller(Un)PublishVolume)", "ID");
    o.optopt("", "snapshot-id", "snapshot_id (DeleteSnapshot, ListSnapshots)", "ID");
    o.optopt("", "source-volume-id", "source_volume_id (CreateSnapshot, ListSnapshots)", "ID");
    o.optopt("", "from-snapshot", "CreateVolume: volume_content_source.snapshot", "ID");
    o.optopt("", "from-volume", "CreateVolume: volume_content_source.volume", "ID");
    o.optopt("", "staging-path", "staging_target_path", "PATH");
    o.optopt("", "target-path", "target_path (NodePublish/NodeUnpublish)", "PATH");
    o.optopt("", "volume-path", "volume_path (NodeGetVolumeStats, NodeExpandVolume)", "PATH");
    o.optopt("", "required-bytes", "capacity_range.required_bytes (suffixes K M G T, powers of 1024)", "SIZE");
    o.optopt("", "limit-bytes", "capacity_range.limit_bytes", "SIZE");
    o.optopt("", "access-type", "capability access type: mount or block", "TYPE");
    o.optopt("", "fs-type", "capability mount.fs_type (implies --access-type mount)", "FS");
    o.optmulti("", "mount-flag", "capability mount.mount_flags (repeatable)", "FLAG");
    o.optopt("", "mount-group", "capability mount.volume_mount_group", "GID");
    o.optopt("", "access-mode", "capability access_mode, e.g. SINGLE_NODE_WRITER (default)", "MODE");
    o.optmulti("", "cap", "one more capability: mount[:FS]:MODE or block:MODE (repeatable)", "CAP");
    o.optmulti("", "param", "parameters key=value (repeatable)", "K=V");
    o.optmulti("", "mutable-param", "mutable_parameters key=value (repeatable)", "K=V");
    o.optmulti("", "secret", "secrets key=value (repeatable; prefer --secrets-file: argv is visible)", "K=V");
    o.optopt("", "secrets-file", "secrets from a file of key=value lines", "FILE");
    o.optmulti("", "context", "volume_context key=value (repeatable)", "K=V");
    o.optmulti("", "publish-context", "publish_context key=value (repeatable)", "K=V");
    o.optmulti("", "requisite", "accessibility_requirements.requisite topology k=v[,k=v] (repeatable)", "SEGS");
    o.optmulti("", "preferred", "accessibility_requirements.preferred topology k=v[,k=v] (repeatable)", "SEGS");
    o.optopt("", "topology", "GetCapacity accessible_topology k=v[,k=v]", "SEGS");
    o.optflag("", "readonly", "readonly (NodePublish, ControllerPublish)");
    o.optopt("", "max-entries", "max_entries (ListVolumes, ListSnapshots)", "N");
    o.optopt("", "starting-token", "starting_token (ListVolumes, ListSnapshots)", "TOKEN");
    o.optflag("h", "help", "print this help");
    o
}

pub fn usage() -> String {
    let brief = format!(
        "Usage: rbd-csi client [options] METHOD\n\nCalls one CSI RPC and prints the reply as JSON. \
         On error prints CODE: message to stderr and exits with the gRPC code number (usage errors: 64).\n\nMETHOD: {}",
        METHODS.join(", ")
    );
    client_options().usage(&brief)
}

/// A failure before or during the call: exit code and message.
struct Failure(i32, String);

/// The exit status of a usage error (sysexits' EX_USAGE): never a gRPC code's number
/// (0–16), so a script that reads the status as the call's code is not misled.
pub const USAGE_EXIT: i32 = 64;

fn bad(msg: impl Into<String>) -> Failure {
    Failure(USAGE_EXIT, msg.into())
}

/// Parses "1G", "512M", "4096" into bytes.
pub fn parse_size(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'K') | (i, 'k') => (&s[..i], 1i64 << 10),
        (i, 'M') | (i, 'm') => (&s[..i], 1 << 20),
        (i, 'G') | (i, 'g') => (&s[..i], 1 << 30),
        (i, 'T') | (i, 't') => (&s[..i], 1 << 40),
        _ => (s, 1),
    };
    num.parse::<i64>().ok()?.checked_mul(mult)
}

fn parse_kv(items: &[String], what: &str) -> Result<HashMap<String, String>, Failure> {
    let mut map = HashMap::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                map.insert(k.to_string(), v.to_string());
            }
            _ => return Err(bad(format!("{what}: expected key=value, got {item:?}"))),
        }
    }
    Ok(map)
}

/// Kubernetes' short names for the access modes the CSI spec spells out.
const MODE_ALIASES: [(&str, access_mode::Mode); 4] = [
    ("RWO", access_mode::Mode::SINGLE_NODE_WRITER),
    ("RWOP", access_mode::Mode::SINGLE_NODE_SINGLE_WRITER),
    ("ROX", access_mode::Mode::MULTI_NODE_READER_ONLY),
    ("RWX", access_mode::Mode::MULTI_NODE_MULTI_WRITER),
];

fn parse_mode(s: &str) -> Result<access_mode::Mode, Failure> {
    let upper = s.to_ascii_uppercase();
    if let Some((_, mode)) = MODE_ALIASES.iter().find(|(alias, _)| *alias == upper) {
        return Ok(*mode);
    }
    // UNKNOWN is sent as asked (a test can play a confused CO), never suggested.
    <access_mode::Mode as protobuf::Enum>::from_str(&upper).ok_or_else(|| {
        // The generated enum's Debug form is the spec's name.
        let names: Vec<String> = <access_mode::Mode as protobuf::Enum>::VALUES
            .iter()
            .filter(|m| **m != access_mode::Mode::UNKNOWN)
            .map(|m| format!("{m:?}"))
            .collect();
        let aliases: Vec<&str> = MODE_ALIASES.iter().map(|(a, _)| *a).collect();
        bad(format!("unknown access mode {s:?}: use one of {}, or {}", names.join(", "), aliases.join(", ")))
    })
}

fn capability(
    access_type: &str,
    fs: &str,
    flags: &[String],
    group: &str,
    mode: &str,
) -> Result<VolumeCapability, Failure> {
    let mut cap = VolumeCapability::new();
    match access_type {
        "block" => cap.set_block(BlockVolume::new()),
        "mount" => {
            let mut m = MountVolume::new();
            m.fs_type = fs.to_string();
            m.mount_flags = flags.to_vec();
            m.volume_mount_group = group.to_string();
            cap.set_mount(m);
        }
        other => return Err(bad(format!("access type must be mount or block, not {other:?}"))),
    }
    let mut am = AccessMode::new();
    am.mode = parse_mode(mode)?.into();
    cap.access_mode = MessageField::some(am);
    Ok(cap)
}

fn topology(spec: &str) -> Result<Topology, Failure> {
    let items: Vec<String> = spec.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
    let mut t = Topology::new();
    t.segments = parse_kv(&items, "topology")?;
    Ok(t)
}

/// Request fields read from the flags.
struct Flags {
    m: Matches,
    secrets: HashMap<String, String>,
}

impl Flags {
    fn s(&self, name: &str) -> String {
        self.m.opt_str(name).unwrap_or_default()
    }

    fn kv(&self, name: &str) -> Result<HashMap<String, String>, Failure> {
        parse_kv(&self.m.opt_strs(name), &format!("--{name}"))
    }

    fn number(&self, name: &str) -> Result<i64, Failure> {
        match self.m.opt_str(name) {
            None => Ok(0),
            Some(s) => parse_size(&s).ok_or_else(|| bad(format!("--{name}: not a size: {s:?}"))),
        }
    }

    fn range(&self) -> Result<MessageField<CapacityRange>, Failure> {
        if !self.m.opt_present("required-bytes") && !self.m.opt_present("limit-bytes") {
            return Ok(MessageField::none());
        }
        let mut r = CapacityRange::new();
        r.required_bytes = self.number("required-bytes")?;
        r.limit_bytes = self.number("limit-bytes")?;
        Ok(MessageField::some(r))
    }

    /// The capability given by --access-type/--fs-type/--mount-flag/--access-mode, if any.
    fn cap(&self) -> Result<MessageField<VolumeCapability>, Failure> {
        let given = ["access-type", "fs-type", "mount-flag", "access-mode", "mount-group"]
            .iter()
            .any(|f| self.m.opt_present(f));
        if !given {
            return Ok(MessageField::none());
        }
        let access_type = self.m.opt_str("access-type").unwrap_or_else(|| "mount".to_string());
        let mode = self.m.opt_str("access-mode").unwrap_or_else(|| "SINGLE_NODE_WRITER".to_string());
        let cap = capability(
            &access_type,
            &self.s("fs-type"),
            &self.m.opt_strs("mount-flag"),
            &self.s("mount-group"),
            &mode,
        )?;
        Ok(MessageField::some(cap))
    }

    /// --cap entries plus the single capability, for the repeated fields.
    fn caps(&self) -> Result<Vec<VolumeCapability>, Failure> {
        let mut caps: Vec<VolumeCapability> = self.cap()?.into_option().into_iter().collect();
        for spec in self.m.opt_strs("cap") {
            let parts: Vec<&str> = spec.split(':').collect();
            let cap = match parts.as_slice() {
                ["block", mode] => capability("block", "", &[], "", mode)?,
                ["mount", mode] => capability("mount", "", &[], "", mode)?,
                ["mount", fs, mode] => capability("mount", fs, &[], "", mode)?,
                _ => return Err(bad(format!("--cap: expected mount[:FS]:MODE or block:MODE, got {spec:?}"))),
            };
            caps.push(cap);
        }
        Ok(caps)
    }

    fn max_entries(&self) -> Result<i32, Failure> {
        match self.m.opt_str("max-entries") {
            None => Ok(0),
            Some(s) => s.parse().map_err(|_| bad(format!("--max-entries: not a number: {s:?}"))),
        }
    }

    fn content_source(&self) -> MessageField<VolumeContentSource> {
        let mut src = VolumeContentSource::new();
        if let Some(id) = self.m.opt_str("from-snapshot") {
            let mut s = SnapshotSource::new();
            s.snapshot_id = id;
            src.set_snapshot(s);
        } else if let Some(id) = self.m.opt_str("from-volume") {
            let mut v = VolumeSource::new();
            v.volume_id = id;
            src.set_volume(v);
        } else {
            return MessageField::none();
        }
        MessageField::some(src)
    }
}

/// The key=value lines of a secrets file (`#` comments and blank lines skipped).
pub fn secrets_file(path: &str) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--secrets-file {path}: {e}"))?;
    let lines: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect();
    parse_kv(&lines, "--secrets-file").map_err(|Failure(_, m)| m)
}

fn read_secrets(m: &Matches) -> Result<HashMap<String, String>, Failure> {
    let mut secrets = HashMap::new();
    if let Some(path) = m.opt_str("secrets-file") {
        secrets.extend(secrets_file(&path).map_err(bad)?);
    }
    secrets.extend(parse_kv(&m.opt_strs("secret"), "--secret")?);
    Ok(secrets)
}

fn print_reply<M: MessageDyn>(r: grpcio::Result<M>) -> Result<String, Failure> {
    match r {
        Ok(resp) => Ok(crate::json::to_json(&resp)),
        Err(grpcio::Error::RpcFailure(st)) => {
            let code: i32 = st.code().into();
            Err(Failure(code, format!("{}: {}", code_name(st.code()), st.message())))
        }
        Err(e) => Err(Failure(RpcStatusCode::UNKNOWN.into(), format!("UNKNOWN: {e}"))),
    }
}

fn canonical_method(name: &str) -> Option<&'static str> {
    let flat: String = name.chars().filter(|c| *c != '-' && *c != '_').collect::<String>().to_ascii_lowercase();
    METHODS.iter().copied().find(|m| m.to_ascii_lowercase() == flat)
}

fn call(f: &Flags, method: &str, opt: CallOption, channel: grpcio::Channel) -> Result<String, Failure> {
    let id = IdentityClient::new(channel.clone());
    let ctl = ControllerClient::new(channel.clone());
    let node = NodeClient::new(channel);
    let secrets = f.secrets.clone();
    match method {
        "GetPluginInfo" => print_reply(id.get_plugin_info_opt(&GetPluginInfoRequest::new(), opt)),
        "GetPluginCapabilities" => {
            print_reply(id.get_plugin_capabilities_opt(&GetPluginCapabilitiesRequest::new(), opt))
        }
        "Probe" => print_reply(id.probe_opt(&ProbeRequest::new(), opt)),
        "CreateVolume" => {
            let mut r = CreateVolumeRequest::new();
            r.name = f.s("name");
            r.capacity_range = f.range()?;
            r.volume_capabilities = f.caps()?;
            r.parameters = f.kv("param")?;
            r.mutable_parameters = f.kv("mutable-param")?;
            r.secrets = secrets;
            r.volume_content_source = f.content_source();
            let (req, pref) = (f.m.opt_strs("requisite"), f.m.opt_strs("preferred"));
            if !req.is_empty() || !pref.is_empty() {
                let mut t = TopologyRequirement::new();
                t.requisite = req.iter().map(|s| topology(s)).collect::<Result<_, _>>()?;
                t.preferred = pref.iter().map(|s| topology(s)).collect::<Result<_, _>>()?;
                r.accessibility_requirements = MessageField::some(t);
            }
            print_reply(ctl.create_volume_opt(&r, opt))
        }
        "DeleteVolume" => {
            let mut r = DeleteVolumeRequest::new();
            r.volume_id = f.s("volume-id");
            r.secrets = secrets;
            print_reply(ctl.delete_volume_opt(&r, opt))
        }
        "ControllerPublishVolume" => {
            let mut r = ControllerPublishVolumeRequest::new();
            r.volume_id = f.s("volume-id");
            r.node_id = f.s("node-id");
            r.volume_capability = f.cap()?;
            r.readonly = f.m.opt_present("readonly");
            r.secrets = secrets;
            r.volume_context = f.kv("context")?;
            print_reply(ctl.controller_publish_volume_opt(&r, opt))
        }
        "ControllerUnpublishVolume" => {
            let mut r = ControllerUnpublishVolumeRequest::new();
            r.volume_id = f.s("volume-id");
            r.node_id = f.s("node-id");
            r.secrets = secrets;
            print_reply(ctl.controller_unpublish_volume_opt(&r, opt))
        }
        "ValidateVolumeCapabilities" => {
            let mut r = ValidateVolumeCapabilitiesRequest::new();
            r.volume_id = f.s("volume-id");
            r.volume_context = f.kv("context")?;
            r.volume_capabilities = f.caps()?;
            r.parameters = f.kv("param")?;
            r.mutable_parameters = f.kv("mutable-param")?;
            r.secrets = secrets;
            print_reply(ctl.validate_volume_capabilities_opt(&r, opt))
        }
        "ListVolumes" => {
            let mut r = ListVolumesRequest::new();
            r.max_entries = f.max_entries()?;
            r.starting_token = f.s("starting-token");
            print_reply(ctl.list_volumes_opt(&r, opt))
        }
        "GetCapacity" => {
            let mut r = GetCapacityRequest::new();
            r.volume_capabilities = f.caps()?;
            r.parameters = f.kv("param")?;
            if let Some(t) = f.m.opt_str("topology") {
                r.accessible_topology = MessageField::some(topology(&t)?);
            }
            print_reply(ctl.get_capacity_opt(&r, opt))
        }
        "ControllerGetCapabilities" => {
            print_reply(ctl.controller_get_capabilities_opt(&ControllerGetCapabilitiesRequest::new(), opt))
        }
        "CreateSnapshot" => {
            let mut r = CreateSnapshotRequest::new();
            r.source_volume_id = f.s("source-volume-id");
            r.name = f.s("name");
            r.secrets = secrets;
            r.parameters = f.kv("param")?;
            print_reply(ctl.create_snapshot_opt(&r, opt))
        }
        "DeleteSnapshot" => {
            let mut r = DeleteSnapshotRequest::new();
            r.snapshot_id = f.s("snapshot-id");
            r.secrets = secrets;
            print_reply(ctl.delete_snapshot_opt(&r, opt))
        }
        "ListSnapshots" => {
            let mut r = ListSnapshotsRequest::new();
            r.max_entries = f.max_entries()?;
            r.starting_token = f.s("starting-token");
            r.source_volume_id = f.s("source-volume-id");
            r.snapshot_id = f.s("snapshot-id");
            r.secrets = secrets;
            print_reply(ctl.list_snapshots_opt(&r, opt))
        }
        "ControllerExpandVolume" => {
            let mut r = ControllerExpandVolumeRequest::new();
            r.volume_id = f.s("volume-id");
            r.capacity_range = f.range()?;
            r.secrets = secrets;
            r.volume_capability = f.cap()?;
            print_reply(ctl.controller_expand_volume_opt(&r, opt))
        }
        "ControllerGetVolume" => {
            let mut r = ControllerGetVolumeRequest::new();
            r.volume_id = f.s("volume-id");
            print_reply(ctl.controller_get_volume_opt(&r, opt))
        }
        "ControllerModifyVolume" => {
            let mut r = ControllerModifyVolumeRequest::new();
            r.volume_id = f.s("volume-id");
            r.secrets = secrets;
            r.mutable_parameters = f.kv("mutable-param")?;
            print_reply(ctl.controller_modify_volume_opt(&r, opt))
        }
        "NodeStageVolume" => {
            let mut r = NodeStageVolumeRequest::new();
            r.volume_id = f.s("volume-id");
            r.publish_context = f.kv("publish-context")?;
            r.staging_target_path = f.s("staging-path");
            r.volume_capability = f.cap()?;
            r.secrets = secrets;
            r.volume_context = f.kv("context")?;
            print_reply(node.node_stage_volume_opt(&r, opt))
        }
        "NodeUnstageVolume" => {
            let mut r = NodeUnstageVolumeRequest::new();
            r.volume_id = f.s("volume-id");
            r.staging_target_path = f.s("staging-path");
            print_reply(node.node_unstage_volume_opt(&r, opt))
        }
        "NodePublishVolume" => {
            let mut r = NodePublishVolumeRequest::new();
            r.volume_id = f.s("volume-id");
            r.publish_context = f.kv("publish-context")?;
            r.staging_target_path = f.s("staging-path");
            r.target_path = f.s("target-path");
            r.volume_capability = f.cap()?;
            r.readonly = f.m.opt_present("readonly");
            r.secrets = secrets;
            r.volume_context = f.kv("context")?;
            print_reply(node.node_publish_volume_opt(&r, opt))
        }
        "NodeUnpublishVolume" => {
            let mut r = NodeUnpublishVolumeRequest::new();
            r.volume_id = f.s("volume-id");
            r.target_path = f.s("target-path");
            print_reply(node.node_unpublish_volume_opt(&r, opt))
        }
        "NodeGetVolumeStats" => {
            let mut r = NodeGetVolumeStatsRequest::new();
            r.volume_id = f.s("volume-id");
            r.volume_path = f.s("volume-path");
            r.staging_target_path = f.s("staging-path");
            print_reply(node.node_get_volume_stats_opt(&r, opt))
        }
        "NodeExpandVolume" => {
            let mut r = NodeExpandVolumeRequest::new();
            r.volume_id = f.s("volume-id");
            r.volume_path = f.s("volume-path");
            r.capacity_range = f.range()?;
            r.staging_target_path = f.s("staging-path");
            r.volume_capability = f.cap()?;
            r.secrets = secrets;
            print_reply(node.node_expand_volume_opt(&r, opt))
        }
        "NodeGetCapabilities" => print_reply(node.node_get_capabilities_opt(&NodeGetCapabilitiesRequest::new(), opt)),
        "NodeGetInfo" => print_reply(node.node_get_info_opt(&NodeGetInfoRequest::new(), opt)),
        other => Err(bad(format!("unknown method {other:?}"))),
    }
}

fn run_inner(args: &[String]) -> Result<Option<String>, Failure> {
    let m = client_options().parse(args).map_err(|e| bad(e.to_string()))?;
    if m.opt_present("help") {
        return Ok(None);
    }
    let method = match m.free.as_slice() {
        [one] => canonical_method(one)
            .ok_or_else(|| bad(format!("unknown method {one:?}; one of: {}", METHODS.join(", "))))?,
        [] => return Err(bad("no METHOD given (see --help)")),
        more => return Err(bad(format!("one METHOD only, got {more:?}"))),
    };
    let endpoint = m.opt_str("endpoint").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    let socket = parse_endpoint(&endpoint).map_err(bad)?;
    let timeout = match m.opt_str("timeout") {
        None => 60.0,
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|t| *t > 0.0)
            .ok_or_else(|| bad(format!("--timeout: not a positive number: {s:?}")))?,
    };
    let secrets = read_secrets(&m)?;
    let flags = Flags { m, secrets };
    let env = Arc::new(EnvBuilder::new().cq_count(1).name_prefix("rbd-csi-client").build());
    let channel = ChannelBuilder::new(env).connect(&format!("unix:{}", socket.display()));
    let repeat = match flags.m.opt_str("repeat") {
        None => 1,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad(format!("--repeat: not a positive number: {s:?}")))?,
    };
    let mut last = String::new();
    for _ in 0..repeat {
        let opt = CallOption::default().timeout(Duration::from_secs_f64(timeout));
        last = call(&flags, method, opt, channel.clone())?;
    }
    Ok(Some(last))
}

/// Runs the client; returns the process exit code.
pub fn run(args: &[String]) -> i32 {
    match run_inner(args) {
        Ok(Some(json)) => {
            println!("{json}");
            0
        }
        Ok(None) => {
            print!("{}", usage());
            0
        }
        Err(Failure(code, msg)) => {
            eprintln!("rbd-csi client: {msg}");
            code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("9999999999T"), None);
    }

    #[test]
    fn method_names_are_forgiving_about_case_and_dashes() {
        assert_eq!(canonical_method("nodestagevolume"), Some("NodeStageVolume"));
        assert_eq!(canonical_method("node-stage-volume"), Some("NodeStageVolume"));
        assert_eq!(canonical_method("Probe"), Some("Probe"));
        assert_eq!(canonical_method("Nope"), None);
    }

    #[test]
    fn capability_flags_build_the_message() {
        let args: Vec<String> =
            ["--fs-type", "xfs", "--mount-flag", "noatime", "--cap", "block:MULTI_NODE_READER_ONLY", "CreateVolume"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let m = client_options().parse(&args).unwrap();
        let f = Flags { m, secrets: HashMap::new() };
        let caps = f.caps().ok().unwrap();
        assert_eq!(caps.len(), 2);
        assert_eq!(caps[0].mount().fs_type, "xfs");
        assert_eq!(caps[0].mount().mount_flags, vec!["noatime".to_string()]);
        assert!(caps[1].has_block());
        assert_eq!(caps[1].access_mode.mode.enum_value(), Ok(access_mode::Mode::MULTI_NODE_READER_ONLY));
        assert!(parse_mode("bogus").is_err());
        assert_eq!(parse_mode("rwop").ok(), Some(access_mode::Mode::SINGLE_NODE_SINGLE_WRITER));
        assert_eq!(parse_mode("RWX").ok(), Some(access_mode::Mode::MULTI_NODE_MULTI_WRITER));
        let Err(Failure(code, msg)) = parse_mode("RWM") else { panic!("RWM accepted") };
        assert_eq!(code, USAGE_EXIT);
        assert!(msg.contains("SINGLE_NODE_WRITER") && msg.contains("RWOP") && !msg.contains("UNKNOWN"), "{msg}");
    }
}
