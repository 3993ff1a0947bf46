//! Node service: validate, enqueue on the volume's key, reply. The work itself is in
//! `crate::node`.

use std::collections::HashMap;
use std::sync::Arc;

use grpcio::{RpcContext, UnarySink};
use protobuf::MessageField;

use super::validate::{self, required_capability};
use super::{reply_now, stats_key, vol_key, Call, Driver};
use crate::backend::CLAIMED_FOR;
use crate::csi::node_service_capability::{rpc, RPC};
use crate::csi::volume_usage::Unit;
use crate::csi::*;
use crate::error::Error;
use crate::generated::csi_grpc::Node;
use crate::node::publish::PublishRequest;
use crate::node::stats::STATS_WITHIN;
use crate::node::{Access, NodeOps, StageRequest, Stats};

#[derive(Clone)]
pub struct NodeService {
    pub driver: Arc<Driver>,
}

impl NodeService {
    fn ops(&self) -> Result<Arc<NodeOps>, Error> {
        self.driver.node.clone().ok_or_else(|| {
            Error::Unimplemented(format!("the {} backend has no node side yet", self.driver.backend.name))
        })
    }

    fn path(&self, value: &str, field: &str) -> Result<std::path::PathBuf, Error> {
        validate::path(value, field, &self.driver.opts.allowed_path_prefixes)
    }

    /// A `volume_path` (stats, expand): one that cannot exist (relative) is NOT_FOUND,
    /// as the spec has it for a volume that is not at the path.
    fn volume_path(&self, value: &str) -> Result<std::path::PathBuf, Error> {
        if !value.is_empty() && !value.starts_with('/') {
            return Err(Error::NotFound(format!(
                "volume path {} does not exist (it is not absolute)",
                crate::error::quote(value, 200)
            )));
        }
        self.path(value, "volume_path")
    }
}

fn usage(unit: Unit, total: u64, available: u64, used: u64) -> VolumeUsage {
    let mut u = VolumeUsage::new();
    u.unit = unit.into();
    u.total = total as i64;
    u.available = available as i64;
    u.used = used as i64;
    u
}

fn condition(c: &crate::node::VolumeCondition) -> MessageField<VolumeCondition> {
    let mut out = VolumeCondition::new();
    out.abnormal = c.abnormal;
    out.message = c.message.clone();
    MessageField::some(out)
}

impl Node for NodeService {
    fn node_stage_volume(
        &mut self,
        ctx: RpcContext,
        req: NodeStageVolumeRequest,
        sink: UnarySink<NodeStageVolumeResponse>,
    ) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "NodeStageVolume",
            (|| {
                let ops = this.ops()?;
                validate::id(&req.volume_id, "volume_id")?;
                let staging = this.path(&req.staging_target_path, "staging_target_path")?;
                let mkfs = req.volume_context.get("mkfsOptions").map(String::as_str);
                let cap = required_capability(req.volume_capability.as_ref(), mkfs)?;
                validate::map(&req.volume_context, "volume_context")?;
                validate::map(&req.publish_context, "publish_context")?;
                validate::map(&req.secrets, "secrets")?;
                if let Some(claimed) = req.publish_context.get(CLAIMED_FOR) {
                    let me = &this.driver.opts.node_id;
                    if claimed != me {
                        return Err(Error::FailedPrecondition(format!(
                            "volume {} was published to node {claimed:?}, not to this node ({me:?}): \
                             the CO passed another node's publish_context",
                            req.volume_id
                        )));
                    }
                }
                let stage = StageRequest {
                    volume_id: req.volume_id.clone(),
                    staging,
                    access: cap.access,
                    read_only: cap.read_only_mode,
                    context: stage_context(&req),
                    secrets: req.secrets.clone(),
                };
                let call = Call::new("NodeStageVolume", &req.volume_id, vol_key(&req.volume_id), &req);
                Ok((call, move || {
                    ops.stage(&stage)?;
                    Ok(NodeStageVolumeResponse::new())
                }))
            })()
        )
    }

    fn node_unstage_volume(
        &mut self,
        ctx: RpcContext,
        req: NodeUnstageVolumeRequest,
        sink: UnarySink<NodeUnstageVolumeResponse>,
    ) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "NodeUnstageVolume",
            (|| {
                let ops = this.ops()?;
                validate::id(&req.volume_id, "volume_id")?;
                let staging = this.path(&req.staging_target_path, "staging_target_path")?;
                let call = Call::new("NodeUnstageVolume", &req.volume_id, vol_key(&req.volume_id), &req);
                Ok((call, move || {
                    ops.unstage(&req.volume_id, &staging)?;
                    Ok(NodeUnstageVolumeResponse::new())
                }))
            })()
        )
    }

    fn node_publish_volume(
        &mut self,
        ctx: RpcContext,
        req: NodePublishVolumeRequest,
        sink: UnarySink<NodePublishVolumeResponse>,
    ) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "NodePublishVolume",
            (|| {
                let ops = this.ops()?;
                validate::id(&req.volume_id, "volume_id")?;
                let staging = this.path(&req.staging_target_path, "staging_target_path")?;
                let target = this.path(&req.target_path, "target_path")?;
                if target == staging {
                    return Err(Error::invalid("target_path and staging_target_path must differ"));
                }
                let cap = required_capability(req.volume_capability.as_ref(), None)?;
                validate::map(&req.volume_context, "volume_context")?;
                validate::map(&req.publish_context, "publish_context")?;
                validate::map(&req.secrets, "secrets")?;
                let (block, flags) = match &cap.access {
                    Access::Block => (true, Vec::new()),
                    Access::Mount { flags, .. } => (false, flags.clone()),
                };
                let publish = PublishRequest {
                    volume_id: req.volume_id.clone(),
                    staging,
                    target,
                    block,
                    read_only: req.readonly || cap.read_only_mode,
                    flags,
                };
                let call = Call::new("NodePublishVolume", &req.volume_id, vol_key(&req.volume_id), &req);
                Ok((call, move || {
                    ops.publish(&publish)?;
                    Ok(NodePublishVolumeResponse::new())
                }))
            })()
        )
    }

    fn node_unpublish_volume(
        &mut self,
        ctx: RpcContext,
        req: NodeUnpublishVolumeRequest,
        sink: UnarySink<NodeUnpublishVolumeResponse>,
    ) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "NodeUnpublishVolume",
            (|| {
                let ops = this.ops()?;
                validate::id(&req.volume_id, "volume_id")?;
                let target = this.path(&req.target_path, "target_path")?;
                let call = Call::new("NodeUnpublishVolume", &req.volume_id, vol_key(&req.volume_id), &req);
                Ok((call, move || {
                    ops.unpublish(&req.volume_id, &target)?;
                    Ok(NodeUnpublishVolumeResponse::new())
                }))
            })()
        )
    }

    fn node_get_volume_stats(
        &mut self,
        ctx: RpcContext,
        req: NodeGetVolumeStatsRequest,
        sink: UnarySink<NodeGetVolumeStatsResponse>,
    ) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "NodeGetVolumeStats",
            (|| {
                let ops = this.ops()?;
                validate::id(&req.volume_id, "volume_id")?;
                let path = this.volume_path(&req.volume_path)?;
                // Stats only reads, so it has a lane of its own: it is answered while
                // another call on the volume is stuck (then most likely "not responding").
                let call = Call::new("NodeGetVolumeStats", &req.volume_id, stats_key(&req.volume_id), &req);
                Ok((call, move || {
                    let mut resp = NodeGetVolumeStatsResponse::new();
                    match ops.stats_within(&req.volume_id, &path, STATS_WITHIN)? {
                        Stats::NotResponding(c) => resp.volume_condition = condition(&c),
                        Stats::Block(size, c) => {
                            resp.usage.push(usage(Unit::BYTES, size, 0, 0));
                            resp.volume_condition = condition(&c);
                        }
                        Stats::Filesystem(u, c) => {
                            resp.usage.push(usage(Unit::BYTES, u.total_bytes, u.available_bytes, u.used_bytes));
                            resp.usage.push(usage(Unit::INODES, u.total_inodes, u.free_inodes, u.used_inodes));
                            resp.volume_condition = condition(&c);
                        }
                    }
                    Ok(resp)
                }))
            })()
        )
    }

    fn node_expand_volume(
        &mut self,
        ctx: RpcContext,
        req: NodeExpandVolumeRequest,
        sink: UnarySink<NodeExpandVolumeResponse>,
    ) {
        let this = self.clone();
        run!(
            self,
            ctx,
            sink,
            "NodeExpandVolume",
            (|| {
                let ops = this.ops()?;
                validate::id(&req.volume_id, "volume_id")?;
                let path = this.volume_path(&req.volume_path)?;
                let staging = match req.staging_target_path.as_str() {
                    "" => None,
                    s => Some(this.path(s, "staging_target_path")?),
                };
                validate::map(&req.secrets, "secrets")?;
                let (required, limit) = validate::range(req.capacity_range.as_ref())?;
                if limit > 0 && required > limit {
                    return Err(Error::OutOfRange(format!(
                        "required_bytes {required} is larger than limit_bytes {limit}"
                    )));
                }
                let call = Call::new("NodeExpandVolume", &req.volume_id, vol_key(&req.volume_id), &req);
                Ok((call, move || {
                    let size = ops.expand(&req.volume_id, &path, staging.as_deref(), required)?;
                    let mut resp = NodeExpandVolumeResponse::new();
                    resp.capacity_bytes = size as i64;
                    Ok(resp)
                }))
            })()
        )
    }

    fn node_get_capabilities(
        &mut self,
        ctx: RpcContext,
        _req: NodeGetCapabilitiesRequest,
        sink: UnarySink<NodeGetCapabilitiesResponse>,
    ) {
        let mut resp = NodeGetCapabilitiesResponse::new();
        for t in [
            rpc::Type::STAGE_UNSTAGE_VOLUME,
            rpc::Type::GET_VOLUME_STATS,
            rpc::Type::EXPAND_VOLUME,
            rpc::Type::VOLUME_CONDITION,
            rpc::Type::SINGLE_NODE_MULTI_WRITER,
        ] {
            let mut r = RPC::new();
            r.type_ = t.into();
            let mut cap = NodeServiceCapability::new();
            cap.set_rpc(r);
            resp.capabilities.push(cap);
        }
        reply_now(&ctx, sink, "NodeGetCapabilities", "", Ok(resp));
    }

    fn node_get_info(&mut self, ctx: RpcContext, _req: NodeGetInfoRequest, sink: UnarySink<NodeGetInfoResponse>) {
        let mut resp = NodeGetInfoResponse::new();
        resp.node_id = self.driver.opts.node_id.clone();
        if let Some(segs) = &self.driver.backend.topology {
            let mut t = Topology::new();
            t.segments = segs.clone();
            resp.accessible_topology = MessageField::some(t);
        }
        reply_now(&ctx, sink, "NodeGetInfo", "", Ok(resp));
    }
}

/// The volume_context the node stages with, plus the claim the publish_context names
/// (the attacher then maps so that the claimed mapping can be fenced alone).
fn stage_context(req: &NodeStageVolumeRequest) -> HashMap<String, String> {
    let mut context = req.volume_context.clone();
    if let Some(claimed) = req.publish_context.get(CLAIMED_FOR) {
        context.insert(CLAIMED_FOR.to_string(), claimed.clone());
    }
    context
}
