//! Identity service: plugin name, capabilities, readiness.

use std::sync::Arc;

use grpcio::{RpcContext, UnarySink};
use protobuf::MessageField;

use super::{enqueue_on, reply_now, Call, Driver};
use crate::csi::plugin_capability::{service, volume_expansion, Service, VolumeExpansion};
use crate::csi::*;
use crate::generated::csi_grpc::Identity;

#[derive(Clone)]
pub struct IdentityService {
    pub driver: Arc<Driver>,
}

/// The plugin's capabilities for its mode. Accessibility constraints where volumes may
/// not be reachable from every node (`Backend::accessibility_constraints`): local (a
/// volume lives on one node); rbd when this process places volumes by
/// topologyConstrainedPools (a controller) or reports a node topology.
pub fn plugin_capabilities(has_controller: bool, has_topology: bool) -> GetPluginCapabilitiesResponse {
    let mut resp = GetPluginCapabilitiesResponse::new();
    let mut add_service = |t: service::Type| {
        let mut s = Service::new();
        s.type_ = t.into();
        let mut cap = PluginCapability::new();
        cap.set_service(s);
        resp.capabilities.push(cap);
    };
    if has_controller {
        add_service(service::Type::CONTROLLER_SERVICE);
    }
    if has_topology {
        add_service(service::Type::VOLUME_ACCESSIBILITY_CONSTRAINTS);
    }
    let mut e = VolumeExpansion::new();
    e.type_ = volume_expansion::Type::ONLINE.into();
    let mut cap = PluginCapability::new();
    cap.set_volume_expansion(e);
    resp.capabilities.push(cap);
    resp
}

impl Identity for IdentityService {
    fn get_plugin_info(&mut self, ctx: RpcContext, _req: GetPluginInfoRequest, sink: UnarySink<GetPluginInfoResponse>) {
        let mut resp = GetPluginInfoResponse::new();
        resp.name = self.driver.opts.driver_name.clone();
        resp.vendor_version = crate::VERSION.to_string();
        resp.manifest.insert("backend".into(), self.driver.backend.name.into());
        reply_now(&ctx, sink, "GetPluginInfo", "", Ok(resp));
    }

    fn get_plugin_capabilities(
        &mut self,
        ctx: RpcContext,
        _req: GetPluginCapabilitiesRequest,
        sink: UnarySink<GetPluginCapabilitiesResponse>,
    ) {
        let backend = &self.driver.backend;
        let resp = plugin_capabilities(self.driver.opts.mode.has_controller(), backend.accessibility_constraints);
        reply_now(&ctx, sink, "GetPluginCapabilities", "", Ok(resp));
    }

    fn probe(&mut self, ctx: RpcContext, req: ProbeRequest, sink: UnarySink<ProbeResponse>) {
        let d = Arc::clone(&self.driver);
        let call = Call::new("Probe", "", "@probe".to_string(), &req);
        enqueue_on(&self.driver.probe_queue, &ctx, sink, call, move || {
            let mut ready = protobuf::well_known_types::wrappers::BoolValue::new();
            match d.ready() {
                Ok(()) => ready.value = true,
                Err(e) => log::warn!("probe: not ready: {e}"),
            }
            let mut resp = ProbeResponse::new();
            resp.ready = MessageField::some(ready);
            Ok(resp)
        });
    }
}
