//! Controller service: validate, enqueue on the volume/name keys, reply.
//! ControllerPublish/Unpublish are offered by the rbd backend only (its claims:
//! backend/rbd/attach.rs); ControllerModifyVolume answers UNIMPLEMENTED.

use std::sync::Arc;

use grpcio::{RpcContext, UnarySink};
use protobuf::well_known_types::timestamp::Timestamp;
use protobuf::well_known_types::wrappers::Int64Value;
use protobuf::MessageField;

use super::validate::{self, capability};
use super::{name_key, reply_now, vol_key, Call, Driver};
use crate::backend::{Accessibility, ControllerOps, CreateParams, Segments, Sharing, SnapshotInfo, Source, VolumeInfo};
use crate::csi::controller_service_capability::{rpc, RPC};
use crate::csi::volume_capability::access_mode::Mode;
use crate::csi::volume_content_source::{SnapshotSource, VolumeSource};
use crate::csi::*;
use crate::error::{Error, Kind};
use crate::generated::csi_grpc::Controller;

#[derive(Clone)]
pub struct ControllerService {
    pub driver: Arc<Driver>,
}

/// Splits a list into a page: the token is the index of the first entry to return.
pub fn page<T>(items: Vec<T>, max_entries: i32, token: &str) -> Result<(Vec<T>, String), Error> {
    if max_entries < 0 {
        return Err(Error::invalid("max_entries may not be negative"));
    }
    let start = if token.is_empty() {
        0
    } else {
        match token.parse::<usize>() {
            Ok(n) if n <= items.len() => n,
            _ => {
                return Err(Error::InvalidToken(format!(
                    "starting_token {} is not valid",
                    crate::error::quote(token, 40)
                )))
            }
        }
    };
    let max = if max_entries == 0 { usize::MAX } else { max_entries as usize };
    let end = start.saturating_add(max).min(items.len());
    let next = if end < items.len() { end.to_string() } else { String::new() };
    Ok((items.into_iter().skip(start).take(end - start).collect(), next))
}

impl ControllerService {
    fn ops(&self) -> Result<Arc<dyn ControllerOps>, Error> {
        self.driver.backend.controller.clone().ok_or_else(|| {
            Error::Unimplemented(format!("the {} backend has no controller yet", self.driver.backend.name))
        })
    }

    /// Where a volume is reachable from: where the backend placed it, else where all
    /// of its volumes are (local: this node), else everywhere (no topology).
    fn topology(&self, v: &VolumeInfo) -> Vec<Topology> {
        let segments = match (&v.topology, &self.driver.backend.volume_topology) {
            (placed, _) if !placed.is_empty() => placed.clone(),
            (_, Some(all)) => vec![all.clone()],
            (_, None) => Vec::new(),
        };
        segments
            .into_iter()
            .map(|segments| {
                let mut t = Topology::new();
                t.segments = segments;
                t
            })
            .collect()
    }

    fn volume_msg(&self, v: &VolumeInfo) -> Volume {
        let mut out = Volume::new();
        out.volume_id = v.id.clone();
        out.capacity_bytes = v.size as i64;
        out.volume_context = v.context.clone();
        out.accessible_topology = self.topology(v);
        let mut src = VolumeContentSource::new();
        match &v.source {
            Source::Empty => {}
            Source::Snapshot(id) => {
                let mut s = SnapshotSource::new();
                s.snapshot_id = id.clone();
                src.set_snapshot(s);
                out.content_source = MessageField::some(src);
            }
            Source::Volume(id) => {
                let mut s = VolumeSource::new();
                s.volume_id = id.clone();
                src.set_volume(s);
                out.content_source = MessageField::some(src);
            }
        }
        out
    }
}

fn snapshot_msg(s: &SnapshotInfo) -> Snapshot {
    let mut out = Snapshot::new();
    out.snapshot_id = s.id.clone();
    out.source_volume_id = s.source_volume.clone();
    out.size_bytes = s.size as i64;
    out.ready_to_use = s.ready;
    let mut ts = Timestamp::new();
    ts.seconds = s.created_secs;
    ts.nanos = s.created_nanos;
    out.creation_time = MessageField::some(ts);
    out
}

fn content_source(src: &MessageField<VolumeContentSource>) -> Result<Source, Error> {
    let Some(src) = src.as_ref() else { return Ok(Source::Empty) };
    if src.has_snapshot() {
        let id = &src.snapshot().snapshot_id;
        validate::id(id, "volume_content_source.snapshot.snapshot_id")?;
        Ok(Source::Snapshot(id.clone()))
    } else if src.has_volume() {
        let id = &src.volume().volume_id;
        validate::id(id, "volume_content_source.volume.volume_id")?;
        Ok(Source::Volume(id.clone()))
    } else {
        Err(Error::invalid("volume_content_source needs a snapshot or a volume"))
    }
}

/// Whom a publish shares the volume with: a single-node mode's node, or the writer of
/// MULTI_NODE_SINGLE_WRITER, has it alone.
fn sharing(cap: &VolumeCapability, readonly: bool) -> Sharing {
    match cap.access_mode.as_ref().and_then(|m| m.mode.enum_value().ok()) {
        Some(Mode::MULTI_NODE_READER_ONLY | Mode::MULTI_NODE_MULTI_WRITER) => Sharing::Shared,
        Some(Mode::MULTI_NODE_SINGLE_WRITER) if readonly => Sharing::Shared,
        Some(Mode::MULTI_NODE_SINGLE_WRITER) => Sharing::OneWriter,
        _ => Sharing::OneNode,
    }
}

/// CreateVolume's accessibility_requirements, bounded like every map of a request.
fn accessibility(req: &TopologyRequirement) -> Result<Accessibility, Error> {
    let list = |topologies: &[Topology], field: &str| -> Result<Vec<Segments>, Error> {
        if topologies.len() > validate::MAX_TOPOLOGIES {
            return Err(Error::invalid(format!("{field} lists more than {} topologies", validate::MAX_TOPOLOGIES)));
        }
        topologies.iter().map(|t| validate::map(&t.segments, field).map(|()| t.segments.clone())).collect()
    };
    Ok(Accessibility {
        requisite: list(&req.requisite, "accessibility_requirements.requisite")?,
        preferred: list(&req.preferred, "accessibility_requirements.preferred")?,
    })
}

fn create_params(req: &CreateVolumeRequest) -> Result<CreateParams, Error> {
    validate::name(&req.name, "name")?;
    if req.volume_capabilities.is_empty() {
        return Err(Error::invalid("volume_capabilities is required"));
    }
    let mkfs = req.parameters.get("mkfsOptions").map(String::as_str);
    for cap in &req.volume_capabilities {
        validate::required_capability(Some(cap), mkfs)?;
    }
    validate::map(&req.parameters, "parameters")?;
    validate::map(&req.mutable_parameters, "mutable_parameters")?;
    validate::map(&req.secrets, "secrets")?;
    let (required_bytes, limit_bytes) = validate::range(req.capacity_range.as_ref())?;
    Ok(CreateParams {
        name: req.name.clone(),
        required_bytes,
        limit_bytes,
        source: content_source(&req.volume_content_source)?,
        parameters: req.parameters.clone(),
        secrets: req.secrets.clone(),
        accessibility: req.accessibility_requirements.as_ref().map(accessibility).transpose()?,
    })
}

impl Controller for ControllerService {
    fn create_volume(&mut self, ctx: RpcContext, req: CreateVolumeRequest, sink: UnarySink<CreateVolumeResponse>) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "CreateVolume",
            (|| {
                let ops = this.ops()?;
                let params = create_params(&req)?;
                let mut keys = vec![name_key("volume", &params.name)];
                match &params.source {
                    Source::Snapshot(id) | Source::Volume(id) => keys.push(vol_key(id)),
                    Source::Empty => {}
                }
                let call = Call::keys("CreateVolume", &params.name, keys, &req);
                Ok((call, move || {
                    let v = ops.create_volume(&params)?;
                    let mut resp = CreateVolumeResponse::new();
                    resp.volume = MessageField::some(this.volume_msg(&v));
                    Ok(resp)
                }))
            })()
        )
    }

    fn delete_volume(&mut self, ctx: RpcContext, req: DeleteVolumeRequest, sink: UnarySink<DeleteVolumeResponse>) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "DeleteVolume",
            (|| {
                let ops = this.ops()?;
                validate::id(&req.volume_id, "volume_id")?;
                validate::map(&req.secrets, "secrets")?;
                let call = Call::new("DeleteVolume", &req.volume_id, vol_key(&req.volume_id), &req);
                Ok((call, move || {
                    ops.delete_volume(&req.volume_id, &req.secrets)?;
                    Ok(DeleteVolumeResponse::new())
                }))
            })()
        )
    }

    fn controller_publish_volume(
        &mut self,
        ctx: RpcContext,
        req: ControllerPublishVolumeRequest,
        sink: UnarySink<ControllerPublishVolumeResponse>,
    ) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "ControllerPublishVolume",
            (|| {
                let ops = this.ops()?;
                validate::id(&req.volume_id, "volume_id")?;
                validate::node_id(&req.node_id, "node_id")?;
                validate::map(&req.secrets, "secrets")?;
                validate::map(&req.volume_context, "volume_context")?;
                validate::required_capability(req.volume_capability.as_ref(), None)?;
                let sharing = sharing(&req.volume_capability, req.readonly);
                let call = Call::new("ControllerPublishVolume", &req.volume_id, vol_key(&req.volume_id), &req);
                Ok((call, move || {
                    let context =
                        ops.publish_volume(&req.volume_id, &req.node_id, sharing, &req.secrets, &req.volume_context)?;
                    let mut resp = ControllerPublishVolumeResponse::new();
                    resp.publish_context = context;
                    Ok(resp)
                }))
            })()
        )
    }

    fn controller_unpublish_volume(
        &mut self,
        ctx: RpcContext,
        req: ControllerUnpublishVolumeRequest,
        sink: UnarySink<ControllerUnpublishVolumeResponse>,
    ) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "ControllerUnpublishVolume",
            (|| {
                let ops = this.ops()?;
                validate::id(&req.volume_id, "volume_id")?;
                if !req.node_id.is_empty() {
                    validate::node_id(&req.node_id, "node_id")?;
                }
                validate::map(&req.secrets, "secrets")?;
                let call = Call::new("ControllerUnpublishVolume", &req.volume_id, vol_key(&req.volume_id), &req);
                Ok((call, move || {
                    ops.unpublish_volume(&req.volume_id, &req.node_id, &req.secrets)?;
                    Ok(ControllerUnpublishVolumeResponse::new())
                }))
            })()
        )
    }

    fn controller_expand_volume(
        &mut self,
        ctx: RpcContext,
        req: ControllerExpandVolumeRequest,
        sink: UnarySink<ControllerExpandVolumeResponse>,
    ) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "ControllerExpandVolume",
            (|| {
                let ops = this.ops()?;
                validate::id(&req.volume_id, "volume_id")?;
                validate::map(&req.secrets, "secrets")?;
                if req.capacity_range.is_none() {
                    return Err(Error::invalid("capacity_range is required"));
                }
                let (required, limit) = validate::range(req.capacity_range.as_ref())?;
                let block = req.volume_capability.as_ref().is_some_and(|c| c.has_block());
                let call = Call::new("ControllerExpandVolume", &req.volume_id, vol_key(&req.volume_id), &req);
                let local = this.driver.backend.name == "local";
                Ok((call, move || {
                    let size = ops.expand_volume(&req.volume_id, required, limit, &req.secrets)?;
                    let mut resp = ControllerExpandVolumeResponse::new();
                    resp.capacity_bytes = size as i64;
                    // A loop device must be told of the new size even for block access.
                    resp.node_expansion_required = !block || local;
                    Ok(resp)
                }))
            })()
        )
    }

    fn validate_volume_capabilities(
        &mut self,
        ctx: RpcContext,
        req: ValidateVolumeCapabilitiesRequest,
        sink: UnarySink<ValidateVolumeCapabilitiesResponse>,
    ) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "ValidateVolumeCapabilities",
            (|| {
                let ops = this.ops()?;
                validate::id(&req.volume_id, "volume_id")?;
                validate::map(&req.volume_context, "volume_context")?;
                validate::map(&req.parameters, "parameters")?;
                validate::map(&req.secrets, "secrets")?;
                if req.volume_capabilities.is_empty() {
                    return Err(Error::invalid("volume_capabilities is required"));
                }
                let mut unsupported = Vec::new();
                for (i, cap) in req.volume_capabilities.iter().enumerate() {
                    if capability(cap, None)?.is_none() {
                        unsupported.push(i);
                    }
                }
                let call = Call::new("ValidateVolumeCapabilities", &req.volume_id, vol_key(&req.volume_id), &req);
                Ok((call, move || {
                    if ops.get_volume(&req.volume_id, &req.secrets)?.is_none() {
                        return Err(Error::no_such(Kind::Volume, &req.volume_id));
                    }
                    let mut resp = ValidateVolumeCapabilitiesResponse::new();
                    if unsupported.is_empty() {
                        let mut c = validate_volume_capabilities_response::Confirmed::new();
                        c.volume_capabilities = req.volume_capabilities.clone();
                        c.volume_context = req.volume_context.clone();
                        c.parameters = req.parameters.clone();
                        resp.confirmed = MessageField::some(c);
                    } else {
                        resp.message = format!(
                            "capabilities {unsupported:?} are not supported: filesystems are ext4 or xfs, \
                         and multi-node writers need block access"
                        );
                    }
                    Ok(resp)
                }))
            })()
        )
    }

    fn list_volumes(&mut self, ctx: RpcContext, req: ListVolumesRequest, sink: UnarySink<ListVolumesResponse>) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "ListVolumes",
            (|| {
                let ops = this.ops()?;
                let call = Call::new("ListVolumes", "", "@list-volumes".to_string(), &req);
                Ok((call, move || {
                    let (items, next) = page(ops.list_volumes()?, req.max_entries, &req.starting_token)?;
                    let mut resp = ListVolumesResponse::new();
                    for v in &items {
                        let mut e = list_volumes_response::Entry::new();
                        e.volume = MessageField::some(this.volume_msg(v));
                        resp.entries.push(e);
                    }
                    resp.next_token = next;
                    Ok(resp)
                }))
            })()
        )
    }

    fn get_capacity(&mut self, ctx: RpcContext, req: GetCapacityRequest, sink: UnarySink<GetCapacityResponse>) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "GetCapacity",
            (|| {
                let ops = this.ops()?;
                validate::map(&req.parameters, "parameters")?;
                let mut supported = true;
                for cap in &req.volume_capabilities {
                    supported &= capability(cap, None)?.is_some();
                }
                // Capacity in a topology this backend's volumes are not reachable from
                // (local: another node's) is none.
                let reachable = match (&this.driver.backend.volume_topology, req.accessible_topology.as_ref()) {
                    (Some(ours), Some(asked)) => asked.segments.iter().all(|(k, v)| ours.get(k) == Some(v)),
                    _ => true,
                };
                let call = Call::new("GetCapacity", "", "@capacity".to_string(), &req);
                Ok((call, move || {
                    let mut resp = GetCapacityResponse::new();
                    resp.available_capacity = if supported && reachable { ops.capacity()? as i64 } else { 0 };
                    let mut min = Int64Value::new();
                    min.value = crate::backend::local::MIB as i64;
                    resp.minimum_volume_size = MessageField::some(min);
                    Ok(resp)
                }))
            })()
        )
    }

    fn controller_get_capabilities(
        &mut self,
        ctx: RpcContext,
        _req: ControllerGetCapabilitiesRequest,
        sink: UnarySink<ControllerGetCapabilitiesResponse>,
    ) {
        let mut resp = ControllerGetCapabilitiesResponse::new();
        let offered: &[rpc::Type] = match (self.driver.backend.controller.is_some(), self.driver.backend.name) {
            (false, _) => &[],
            (true, "local") => &[
                rpc::Type::CREATE_DELETE_VOLUME,
                rpc::Type::CREATE_DELETE_SNAPSHOT,
                rpc::Type::LIST_SNAPSHOTS,
                rpc::Type::LIST_VOLUMES,
                rpc::Type::CLONE_VOLUME,
                rpc::Type::EXPAND_VOLUME,
                rpc::Type::GET_CAPACITY,
                rpc::Type::SINGLE_NODE_MULTI_WRITER,
            ],
            // rbd: no ListVolumes or GetCapacity.
            (true, _) => &[
                rpc::Type::CREATE_DELETE_VOLUME,
                rpc::Type::PUBLISH_UNPUBLISH_VOLUME,
                rpc::Type::CREATE_DELETE_SNAPSHOT,
                rpc::Type::LIST_SNAPSHOTS,
                rpc::Type::CLONE_VOLUME,
                rpc::Type::EXPAND_VOLUME,
                rpc::Type::SINGLE_NODE_MULTI_WRITER,
            ],
        };
        {
            for &t in offered {
                let mut r = RPC::new();
                r.type_ = t.into();
                let mut cap = ControllerServiceCapability::new();
                cap.set_rpc(r);
                resp.capabilities.push(cap);
            }
        }
        reply_now(&ctx, sink, "ControllerGetCapabilities", "", Ok(resp));
    }

    fn create_snapshot(
        &mut self,
        ctx: RpcContext,
        req: CreateSnapshotRequest,
        sink: UnarySink<CreateSnapshotResponse>,
    ) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "CreateSnapshot",
            (|| {
                let ops = this.ops()?;
                validate::name(&req.name, "name")?;
                validate::id(&req.source_volume_id, "source_volume_id")?;
                validate::map(&req.parameters, "parameters")?;
                validate::map(&req.secrets, "secrets")?;
                let keys = vec![name_key("snapshot", &req.name), vol_key(&req.source_volume_id)];
                let call = Call::keys("CreateSnapshot", &req.source_volume_id, keys, &req);
                Ok((call, move || {
                    let s = ops.create_snapshot(&req.source_volume_id, &req.name, &req.secrets)?;
                    let mut resp = CreateSnapshotResponse::new();
                    resp.snapshot = MessageField::some(snapshot_msg(&s));
                    Ok(resp)
                }))
            })()
        )
    }

    fn delete_snapshot(
        &mut self,
        ctx: RpcContext,
        req: DeleteSnapshotRequest,
        sink: UnarySink<DeleteSnapshotResponse>,
    ) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "DeleteSnapshot",
            (|| {
                let ops = this.ops()?;
                validate::id(&req.snapshot_id, "snapshot_id")?;
                validate::map(&req.secrets, "secrets")?;
                let call = Call::new("DeleteSnapshot", &req.snapshot_id, vol_key(&req.snapshot_id), &req);
                Ok((call, move || {
                    ops.delete_snapshot(&req.snapshot_id, &req.secrets)?;
                    Ok(DeleteSnapshotResponse::new())
                }))
            })()
        )
    }

    fn list_snapshots(&mut self, ctx: RpcContext, req: ListSnapshotsRequest, sink: UnarySink<ListSnapshotsResponse>) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "ListSnapshots",
            (|| {
                let ops = this.ops()?;
                validate::map(&req.secrets, "secrets")?;
                let call = Call::new("ListSnapshots", &req.snapshot_id, "@list-snapshots".to_string(), &req);
                Ok((call, move || {
                    let all: Vec<SnapshotInfo> = ops
                        .list_snapshots(&req.snapshot_id, &req.source_volume_id, &req.secrets)?
                        .into_iter()
                        .filter(|s| req.snapshot_id.is_empty() || s.id == req.snapshot_id)
                        .filter(|s| req.source_volume_id.is_empty() || s.source_volume == req.source_volume_id)
                        .collect();
                    let (items, next) = page(all, req.max_entries, &req.starting_token)?;
                    let mut resp = ListSnapshotsResponse::new();
                    for s in &items {
                        let mut e = list_snapshots_response::Entry::new();
                        e.snapshot = MessageField::some(snapshot_msg(s));
                        resp.entries.push(e);
                    }
                    resp.next_token = next;
                    Ok(resp)
                }))
            })()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_tokens() {
        let items: Vec<u32> = (0..5).collect();
        assert_eq!(page(items.clone(), 2, "").unwrap(), (vec![0, 1], "2".to_string()));
        assert_eq!(page(items.clone(), 2, "4").unwrap(), (vec![4], String::new()));
        assert_eq!(page(items.clone(), 0, "").unwrap(), (items.clone(), String::new()));
        assert_eq!(page(items.clone(), 2, "9").unwrap_err().code(), grpcio::RpcStatusCode::ABORTED);
        assert_eq!(page(items.clone(), 2, "x").unwrap_err().code(), grpcio::RpcStatusCode::ABORTED);
        assert_eq!(page(items, -1, "").unwrap_err().code(), grpcio::RpcStatusCode::INVALID_ARGUMENT);
    }
}
