// This file is generated. Do not edit
// @generated

// https://github.com/Manishearth/rust-clippy/issues/702
#![allow(unknown_lints)]
#![allow(clippy::all)]
#![allow(box_pointers)]
#![allow(dead_code)]
#![allow(missing_docs)]
#![allow(non_camel_case_types)]
#![allow(non_snake_case)]
#![allow(non_upper_case_globals)]
#![allow(trivial_casts)]
#![allow(unsafe_code)]
#![allow(unused_imports)]
#![allow(unused_results)]

const METHOD_IDENTITY_GET_PLUGIN_INFO: ::grpcio::Method<
    super::csi::GetPluginInfoRequest,
    super::csi::GetPluginInfoResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Identity/GetPluginInfo",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_IDENTITY_GET_PLUGIN_CAPABILITIES: ::grpcio::Method<
    super::csi::GetPluginCapabilitiesRequest,
    super::csi::GetPluginCapabilitiesResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Identity/GetPluginCapabilities",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_IDENTITY_PROBE: ::grpcio::Method<super::csi::ProbeRequest, super::csi::ProbeResponse> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Identity/Probe",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

#[derive(Clone)]
pub struct IdentityClient {
    pub client: ::grpcio::Client,
}

impl IdentityClient {
    pub fn new(channel: ::grpcio::Channel) -> Self {
        IdentityClient { client: ::grpcio::Client::new(channel) }
    }

    pub fn get_plugin_info_opt(
        &self,
        req: &super::csi::GetPluginInfoRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::GetPluginInfoResponse> {
        self.client.unary_call(&METHOD_IDENTITY_GET_PLUGIN_INFO, req, opt)
    }

    pub fn get_plugin_info(
        &self,
        req: &super::csi::GetPluginInfoRequest,
    ) -> ::grpcio::Result<super::csi::GetPluginInfoResponse> {
        self.get_plugin_info_opt(req, ::grpcio::CallOption::default())
    }

    pub fn get_plugin_info_async_opt(
        &self,
        req: &super::csi::GetPluginInfoRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::GetPluginInfoResponse>> {
        self.client.unary_call_async(&METHOD_IDENTITY_GET_PLUGIN_INFO, req, opt)
    }

    pub fn get_plugin_info_async(
        &self,
        req: &super::csi::GetPluginInfoRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::GetPluginInfoResponse>> {
        self.get_plugin_info_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn get_plugin_capabilities_opt(
        &self,
        req: &super::csi::GetPluginCapabilitiesRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::GetPluginCapabilitiesResponse> {
        self.client.unary_call(&METHOD_IDENTITY_GET_PLUGIN_CAPABILITIES, req, opt)
    }

    pub fn get_plugin_capabilities(
        &self,
        req: &super::csi::GetPluginCapabilitiesRequest,
    ) -> ::grpcio::Result<super::csi::GetPluginCapabilitiesResponse> {
        self.get_plugin_capabilities_opt(req, ::grpcio::CallOption::default())
    }

    pub fn get_plugin_capabilities_async_opt(
        &self,
        req: &super::csi::GetPluginCapabilitiesRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::GetPluginCapabilitiesResponse>> {
        self.client.unary_call_async(&METHOD_IDENTITY_GET_PLUGIN_CAPABILITIES, req, opt)
    }

    pub fn get_plugin_capabilities_async(
        &self,
        req: &super::csi::GetPluginCapabilitiesRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::GetPluginCapabilitiesResponse>> {
        self.get_plugin_capabilities_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn probe_opt(
        &self,
        req: &super::csi::ProbeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::ProbeResponse> {
        self.client.unary_call(&METHOD_IDENTITY_PROBE, req, opt)
    }

    pub fn probe(&self, req: &super::csi::ProbeRequest) -> ::grpcio::Result<super::csi::ProbeResponse> {
        self.probe_opt(req, ::grpcio::CallOption::default())
    }

    pub fn probe_async_opt(
        &self,
        req: &super::csi::ProbeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ProbeResponse>> {
        self.client.unary_call_async(&METHOD_IDENTITY_PROBE, req, opt)
    }

    pub fn probe_async(
        &self,
        req: &super::csi::ProbeRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ProbeResponse>> {
        self.probe_async_opt(req, ::grpcio::CallOption::default())
    }
    pub fn spawn<F>(&self, f: F)
    where
        F: ::std::future::Future<Output = ()> + Send + 'static,
    {
        self.client.spawn(f)
    }
}

pub trait Identity {
    fn get_plugin_info(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::GetPluginInfoRequest,
        sink: ::grpcio::UnarySink<super::csi::GetPluginInfoResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn get_plugin_capabilities(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::GetPluginCapabilitiesRequest,
        sink: ::grpcio::UnarySink<super::csi::GetPluginCapabilitiesResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn probe(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::ProbeRequest,
        sink: ::grpcio::UnarySink<super::csi::ProbeResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
}

pub fn create_identity<S: Identity + Send + Clone + 'static>(s: S) -> ::grpcio::Service {
    let mut builder = ::grpcio::ServiceBuilder::new();
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_IDENTITY_GET_PLUGIN_INFO, move |ctx, req, resp| {
        instance.get_plugin_info(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_IDENTITY_GET_PLUGIN_CAPABILITIES, move |ctx, req, resp| {
        instance.get_plugin_capabilities(ctx, req, resp)
    });
    let mut instance = s;
    builder = builder.add_unary_handler(&METHOD_IDENTITY_PROBE, move |ctx, req, resp| instance.probe(ctx, req, resp));
    builder.build()
}

const METHOD_CONTROLLER_CREATE_VOLUME: ::grpcio::Method<
    super::csi::CreateVolumeRequest,
    super::csi::CreateVolumeResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/CreateVolume",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_CONTROLLER_DELETE_VOLUME: ::grpcio::Method<
    super::csi::DeleteVolumeRequest,
    super::csi::DeleteVolumeResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/DeleteVolume",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_CONTROLLER_CONTROLLER_PUBLISH_VOLUME: ::grpcio::Method<
    super::csi::ControllerPublishVolumeRequest,
    super::csi::ControllerPublishVolumeResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/ControllerPublishVolume",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_CONTROLLER_CONTROLLER_UNPUBLISH_VOLUME: ::grpcio::Method<
    super::csi::ControllerUnpublishVolumeRequest,
    super::csi::ControllerUnpublishVolumeResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/ControllerUnpublishVolume",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_CONTROLLER_VALIDATE_VOLUME_CAPABILITIES: ::grpcio::Method<
    super::csi::ValidateVolumeCapabilitiesRequest,
    super::csi::ValidateVolumeCapabilitiesResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/ValidateVolumeCapabilities",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_CONTROLLER_LIST_VOLUMES: ::grpcio::Method<
    super::csi::ListVolumesRequest,
    super::csi::ListVolumesResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/ListVolumes",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_CONTROLLER_GET_CAPACITY: ::grpcio::Method<
    super::csi::GetCapacityRequest,
    super::csi::GetCapacityResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/GetCapacity",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_CONTROLLER_CONTROLLER_GET_CAPABILITIES: ::grpcio::Method<
    super::csi::ControllerGetCapabilitiesRequest,
    super::csi::ControllerGetCapabilitiesResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/ControllerGetCapabilities",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_CONTROLLER_CREATE_SNAPSHOT: ::grpcio::Method<
    super::csi::CreateSnapshotRequest,
    super::csi::CreateSnapshotResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/CreateSnapshot",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_CONTROLLER_DELETE_SNAPSHOT: ::grpcio::Method<
    super::csi::DeleteSnapshotRequest,
    super::csi::DeleteSnapshotResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/DeleteSnapshot",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_CONTROLLER_LIST_SNAPSHOTS: ::grpcio::Method<
    super::csi::ListSnapshotsRequest,
    super::csi::ListSnapshotsResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/ListSnapshots",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_CONTROLLER_CONTROLLER_EXPAND_VOLUME: ::grpcio::Method<
    super::csi::ControllerExpandVolumeRequest,
    super::csi::ControllerExpandVolumeResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/ControllerExpandVolume",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_CONTROLLER_CONTROLLER_GET_VOLUME: ::grpcio::Method<
    super::csi::ControllerGetVolumeRequest,
    super::csi::ControllerGetVolumeResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/ControllerGetVolume",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_CONTROLLER_CONTROLLER_MODIFY_VOLUME: ::grpcio::Method<
    super::csi::ControllerModifyVolumeRequest,
    super::csi::ControllerModifyVolumeResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Controller/ControllerModifyVolume",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

#[derive(Clone)]
pub struct ControllerClient {
    pub client: ::grpcio::Client,
}

impl ControllerClient {
    pub fn new(channel: ::grpcio::Channel) -> Self {
        ControllerClient { client: ::grpcio::Client::new(channel) }
    }

    pub fn create_volume_opt(
        &self,
        req: &super::csi::CreateVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::CreateVolumeResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_CREATE_VOLUME, req, opt)
    }

    pub fn create_volume(
        &self,
        req: &super::csi::CreateVolumeRequest,
    ) -> ::grpcio::Result<super::csi::CreateVolumeResponse> {
        self.create_volume_opt(req, ::grpcio::CallOption::default())
    }

    pub fn create_volume_async_opt(
        &self,
        req: &super::csi::CreateVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::CreateVolumeResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_CREATE_VOLUME, req, opt)
    }

    pub fn create_volume_async(
        &self,
        req: &super::csi::CreateVolumeRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::CreateVolumeResponse>> {
        self.create_volume_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn delete_volume_opt(
        &self,
        req: &super::csi::DeleteVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::DeleteVolumeResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_DELETE_VOLUME, req, opt)
    }

    pub fn delete_volume(
        &self,
        req: &super::csi::DeleteVolumeRequest,
    ) -> ::grpcio::Result<super::csi::DeleteVolumeResponse> {
        self.delete_volume_opt(req, ::grpcio::CallOption::default())
    }

    pub fn delete_volume_async_opt(
        &self,
        req: &super::csi::DeleteVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::DeleteVolumeResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_DELETE_VOLUME, req, opt)
    }

    pub fn delete_volume_async(
        &self,
        req: &super::csi::DeleteVolumeRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::DeleteVolumeResponse>> {
        self.delete_volume_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn controller_publish_volume_opt(
        &self,
        req: &super::csi::ControllerPublishVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::ControllerPublishVolumeResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_CONTROLLER_PUBLISH_VOLUME, req, opt)
    }

    pub fn controller_publish_volume(
        &self,
        req: &super::csi::ControllerPublishVolumeRequest,
    ) -> ::grpcio::Result<super::csi::ControllerPublishVolumeResponse> {
        self.controller_publish_volume_opt(req, ::grpcio::CallOption::default())
    }

    pub fn controller_publish_volume_async_opt(
        &self,
        req: &super::csi::ControllerPublishVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ControllerPublishVolumeResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_CONTROLLER_PUBLISH_VOLUME, req, opt)
    }

    pub fn controller_publish_volume_async(
        &self,
        req: &super::csi::ControllerPublishVolumeRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ControllerPublishVolumeResponse>> {
        self.controller_publish_volume_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn controller_unpublish_volume_opt(
        &self,
        req: &super::csi::ControllerUnpublishVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::ControllerUnpublishVolumeResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_CONTROLLER_UNPUBLISH_VOLUME, req, opt)
    }

    pub fn controller_unpublish_volume(
        &self,
        req: &super::csi::ControllerUnpublishVolumeRequest,
    ) -> ::grpcio::Result<super::csi::ControllerUnpublishVolumeResponse> {
        self.controller_unpublish_volume_opt(req, ::grpcio::CallOption::default())
    }

    pub fn controller_unpublish_volume_async_opt(
        &self,
        req: &super::csi::ControllerUnpublishVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ControllerUnpublishVolumeResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_CONTROLLER_UNPUBLISH_VOLUME, req, opt)
    }

    pub fn controller_unpublish_volume_async(
        &self,
        req: &super::csi::ControllerUnpublishVolumeRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ControllerUnpublishVolumeResponse>> {
        self.controller_unpublish_volume_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn validate_volume_capabilities_opt(
        &self,
        req: &super::csi::ValidateVolumeCapabilitiesRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::ValidateVolumeCapabilitiesResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_VALIDATE_VOLUME_CAPABILITIES, req, opt)
    }

    pub fn validate_volume_capabilities(
        &self,
        req: &super::csi::ValidateVolumeCapabilitiesRequest,
    ) -> ::grpcio::Result<super::csi::ValidateVolumeCapabilitiesResponse> {
        self.validate_volume_capabilities_opt(req, ::grpcio::CallOption::default())
    }

    pub fn validate_volume_capabilities_async_opt(
        &self,
        req: &super::csi::ValidateVolumeCapabilitiesRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ValidateVolumeCapabilitiesResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_VALIDATE_VOLUME_CAPABILITIES, req, opt)
    }

    pub fn validate_volume_capabilities_async(
        &self,
        req: &super::csi::ValidateVolumeCapabilitiesRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ValidateVolumeCapabilitiesResponse>> {
        self.validate_volume_capabilities_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn list_volumes_opt(
        &self,
        req: &super::csi::ListVolumesRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::ListVolumesResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_LIST_VOLUMES, req, opt)
    }

    pub fn list_volumes(
        &self,
        req: &super::csi::ListVolumesRequest,
    ) -> ::grpcio::Result<super::csi::ListVolumesResponse> {
        self.list_volumes_opt(req, ::grpcio::CallOption::default())
    }

    pub fn list_volumes_async_opt(
        &self,
        req: &super::csi::ListVolumesRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ListVolumesResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_LIST_VOLUMES, req, opt)
    }

    pub fn list_volumes_async(
        &self,
        req: &super::csi::ListVolumesRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ListVolumesResponse>> {
        self.list_volumes_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn get_capacity_opt(
        &self,
        req: &super::csi::GetCapacityRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::GetCapacityResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_GET_CAPACITY, req, opt)
    }

    pub fn get_capacity(
        &self,
        req: &super::csi::GetCapacityRequest,
    ) -> ::grpcio::Result<super::csi::GetCapacityResponse> {
        self.get_capacity_opt(req, ::grpcio::CallOption::default())
    }

    pub fn get_capacity_async_opt(
        &self,
        req: &super::csi::GetCapacityRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::GetCapacityResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_GET_CAPACITY, req, opt)
    }

    pub fn get_capacity_async(
        &self,
        req: &super::csi::GetCapacityRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::GetCapacityResponse>> {
        self.get_capacity_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn controller_get_capabilities_opt(
        &self,
        req: &super::csi::ControllerGetCapabilitiesRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::ControllerGetCapabilitiesResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_CONTROLLER_GET_CAPABILITIES, req, opt)
    }

    pub fn controller_get_capabilities(
        &self,
        req: &super::csi::ControllerGetCapabilitiesRequest,
    ) -> ::grpcio::Result<super::csi::ControllerGetCapabilitiesResponse> {
        self.controller_get_capabilities_opt(req, ::grpcio::CallOption::default())
    }

    pub fn controller_get_capabilities_async_opt(
        &self,
        req: &super::csi::ControllerGetCapabilitiesRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ControllerGetCapabilitiesResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_CONTROLLER_GET_CAPABILITIES, req, opt)
    }

    pub fn controller_get_capabilities_async(
        &self,
        req: &super::csi::ControllerGetCapabilitiesRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ControllerGetCapabilitiesResponse>> {
        self.controller_get_capabilities_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn create_snapshot_opt(
        &self,
        req: &super::csi::CreateSnapshotRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::CreateSnapshotResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_CREATE_SNAPSHOT, req, opt)
    }

    pub fn create_snapshot(
        &self,
        req: &super::csi::CreateSnapshotRequest,
    ) -> ::grpcio::Result<super::csi::CreateSnapshotResponse> {
        self.create_snapshot_opt(req, ::grpcio::CallOption::default())
    }

    pub fn create_snapshot_async_opt(
        &self,
        req: &super::csi::CreateSnapshotRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::CreateSnapshotResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_CREATE_SNAPSHOT, req, opt)
    }

    pub fn create_snapshot_async(
        &self,
        req: &super::csi::CreateSnapshotRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::CreateSnapshotResponse>> {
        self.create_snapshot_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn delete_snapshot_opt(
        &self,
        req: &super::csi::DeleteSnapshotRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::DeleteSnapshotResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_DELETE_SNAPSHOT, req, opt)
    }

    pub fn delete_snapshot(
        &self,
        req: &super::csi::DeleteSnapshotRequest,
    ) -> ::grpcio::Result<super::csi::DeleteSnapshotResponse> {
        self.delete_snapshot_opt(req, ::grpcio::CallOption::default())
    }

    pub fn delete_snapshot_async_opt(
        &self,
        req: &super::csi::DeleteSnapshotRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::DeleteSnapshotResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_DELETE_SNAPSHOT, req, opt)
    }

    pub fn delete_snapshot_async(
        &self,
        req: &super::csi::DeleteSnapshotRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::DeleteSnapshotResponse>> {
        self.delete_snapshot_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn list_snapshots_opt(
        &self,
        req: &super::csi::ListSnapshotsRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::ListSnapshotsResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_LIST_SNAPSHOTS, req, opt)
    }

    pub fn list_snapshots(
        &self,
        req: &super::csi::ListSnapshotsRequest,
    ) -> ::grpcio::Result<super::csi::ListSnapshotsResponse> {
        self.list_snapshots_opt(req, ::grpcio::CallOption::default())
    }

    pub fn list_snapshots_async_opt(
        &self,
        req: &super::csi::ListSnapshotsRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ListSnapshotsResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_LIST_SNAPSHOTS, req, opt)
    }

    pub fn list_snapshots_async(
        &self,
        req: &super::csi::ListSnapshotsRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ListSnapshotsResponse>> {
        self.list_snapshots_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn controller_expand_volume_opt(
        &self,
        req: &super::csi::ControllerExpandVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::ControllerExpandVolumeResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_CONTROLLER_EXPAND_VOLUME, req, opt)
    }

    pub fn controller_expand_volume(
        &self,
        req: &super::csi::ControllerExpandVolumeRequest,
    ) -> ::grpcio::Result<super::csi::ControllerExpandVolumeResponse> {
        self.controller_expand_volume_opt(req, ::grpcio::CallOption::default())
    }

    pub fn controller_expand_volume_async_opt(
        &self,
        req: &super::csi::ControllerExpandVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ControllerExpandVolumeResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_CONTROLLER_EXPAND_VOLUME, req, opt)
    }

    pub fn controller_expand_volume_async(
        &self,
        req: &super::csi::ControllerExpandVolumeRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ControllerExpandVolumeResponse>> {
        self.controller_expand_volume_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn controller_get_volume_opt(
        &self,
        req: &super::csi::ControllerGetVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::ControllerGetVolumeResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_CONTROLLER_GET_VOLUME, req, opt)
    }

    pub fn controller_get_volume(
        &self,
        req: &super::csi::ControllerGetVolumeRequest,
    ) -> ::grpcio::Result<super::csi::ControllerGetVolumeResponse> {
        self.controller_get_volume_opt(req, ::grpcio::CallOption::default())
    }

    pub fn controller_get_volume_async_opt(
        &self,
        req: &super::csi::ControllerGetVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ControllerGetVolumeResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_CONTROLLER_GET_VOLUME, req, opt)
    }

    pub fn controller_get_volume_async(
        &self,
        req: &super::csi::ControllerGetVolumeRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ControllerGetVolumeResponse>> {
        self.controller_get_volume_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn controller_modify_volume_opt(
        &self,
        req: &super::csi::ControllerModifyVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::ControllerModifyVolumeResponse> {
        self.client.unary_call(&METHOD_CONTROLLER_CONTROLLER_MODIFY_VOLUME, req, opt)
    }

    pub fn controller_modify_volume(
        &self,
        req: &super::csi::ControllerModifyVolumeRequest,
    ) -> ::grpcio::Result<super::csi::ControllerModifyVolumeResponse> {
        self.controller_modify_volume_opt(req, ::grpcio::CallOption::default())
    }

    pub fn controller_modify_volume_async_opt(
        &self,
        req: &super::csi::ControllerModifyVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ControllerModifyVolumeResponse>> {
        self.client.unary_call_async(&METHOD_CONTROLLER_CONTROLLER_MODIFY_VOLUME, req, opt)
    }

    pub fn controller_modify_volume_async(
        &self,
        req: &super::csi::ControllerModifyVolumeRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::ControllerModifyVolumeResponse>> {
        self.controller_modify_volume_async_opt(req, ::grpcio::CallOption::default())
    }
    pub fn spawn<F>(&self, f: F)
    where
        F: ::std::future::Future<Output = ()> + Send + 'static,
    {
        self.client.spawn(f)
    }
}

pub trait Controller {
    fn create_volume(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::CreateVolumeRequest,
        sink: ::grpcio::UnarySink<super::csi::CreateVolumeResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn delete_volume(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::DeleteVolumeRequest,
        sink: ::grpcio::UnarySink<super::csi::DeleteVolumeResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn controller_publish_volume(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::ControllerPublishVolumeRequest,
        sink: ::grpcio::UnarySink<super::csi::ControllerPublishVolumeResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn controller_unpublish_volume(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::ControllerUnpublishVolumeRequest,
        sink: ::grpcio::UnarySink<super::csi::ControllerUnpublishVolumeResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn validate_volume_capabilities(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::ValidateVolumeCapabilitiesRequest,
        sink: ::grpcio::UnarySink<super::csi::ValidateVolumeCapabilitiesResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn list_volumes(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::ListVolumesRequest,
        sink: ::grpcio::UnarySink<super::csi::ListVolumesResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn get_capacity(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::GetCapacityRequest,
        sink: ::grpcio::UnarySink<super::csi::GetCapacityResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn controller_get_capabilities(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::ControllerGetCapabilitiesRequest,
        sink: ::grpcio::UnarySink<super::csi::ControllerGetCapabilitiesResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn create_snapshot(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::CreateSnapshotRequest,
        sink: ::grpcio::UnarySink<super::csi::CreateSnapshotResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn delete_snapshot(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::DeleteSnapshotRequest,
        sink: ::grpcio::UnarySink<super::csi::DeleteSnapshotResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn list_snapshots(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::ListSnapshotsRequest,
        sink: ::grpcio::UnarySink<super::csi::ListSnapshotsResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn controller_expand_volume(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::ControllerExpandVolumeRequest,
        sink: ::grpcio::UnarySink<super::csi::ControllerExpandVolumeResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn controller_get_volume(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::ControllerGetVolumeRequest,
        sink: ::grpcio::UnarySink<super::csi::ControllerGetVolumeResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn controller_modify_volume(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::ControllerModifyVolumeRequest,
        sink: ::grpcio::UnarySink<super::csi::ControllerModifyVolumeResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
}

pub fn create_controller<S: Controller + Send + Clone + 'static>(s: S) -> ::grpcio::Service {
    let mut builder = ::grpcio::ServiceBuilder::new();
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_CREATE_VOLUME, move |ctx, req, resp| {
        instance.create_volume(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_DELETE_VOLUME, move |ctx, req, resp| {
        instance.delete_volume(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_CONTROLLER_PUBLISH_VOLUME, move |ctx, req, resp| {
        instance.controller_publish_volume(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_CONTROLLER_UNPUBLISH_VOLUME, move |ctx, req, resp| {
        instance.controller_unpublish_volume(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_VALIDATE_VOLUME_CAPABILITIES, move |ctx, req, resp| {
        instance.validate_volume_capabilities(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_LIST_VOLUMES, move |ctx, req, resp| {
        instance.list_volumes(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_GET_CAPACITY, move |ctx, req, resp| {
        instance.get_capacity(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_CONTROLLER_GET_CAPABILITIES, move |ctx, req, resp| {
        instance.controller_get_capabilities(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_CREATE_SNAPSHOT, move |ctx, req, resp| {
        instance.create_snapshot(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_DELETE_SNAPSHOT, move |ctx, req, resp| {
        instance.delete_snapshot(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_LIST_SNAPSHOTS, move |ctx, req, resp| {
        instance.list_snapshots(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_CONTROLLER_EXPAND_VOLUME, move |ctx, req, resp| {
        instance.controller_expand_volume(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_CONTROLLER_GET_VOLUME, move |ctx, req, resp| {
        instance.controller_get_volume(ctx, req, resp)
    });
    let mut instance = s;
    builder = builder.add_unary_handler(&METHOD_CONTROLLER_CONTROLLER_MODIFY_VOLUME, move |ctx, req, resp| {
        instance.controller_modify_volume(ctx, req, resp)
    });
    builder.build()
}

const METHOD_NODE_NODE_STAGE_VOLUME: ::grpcio::Method<
    super::csi::NodeStageVolumeRequest,
    super::csi::NodeStageVolumeResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Node/NodeStageVolume",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_NODE_NODE_UNSTAGE_VOLUME: ::grpcio::Method<
    super::csi::NodeUnstageVolumeRequest,
    super::csi::NodeUnstageVolumeResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Node/NodeUnstageVolume",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_NODE_NODE_PUBLISH_VOLUME: ::grpcio::Method<
    super::csi::NodePublishVolumeRequest,
    super::csi::NodePublishVolumeResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Node/NodePublishVolume",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_NODE_NODE_UNPUBLISH_VOLUME: ::grpcio::Method<
    super::csi::NodeUnpublishVolumeRequest,
    super::csi::NodeUnpublishVolumeResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Node/NodeUnpublishVolume",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_NODE_NODE_GET_VOLUME_STATS: ::grpcio::Method<
    super::csi::NodeGetVolumeStatsRequest,
    super::csi::NodeGetVolumeStatsResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Node/NodeGetVolumeStats",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_NODE_NODE_EXPAND_VOLUME: ::grpcio::Method<
    super::csi::NodeExpandVolumeRequest,
    super::csi::NodeExpandVolumeResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Node/NodeExpandVolume",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_NODE_NODE_GET_CAPABILITIES: ::grpcio::Method<
    super::csi::NodeGetCapabilitiesRequest,
    super::csi::NodeGetCapabilitiesResponse,
> = ::grpcio::Method {
    ty: ::grpcio::MethodType::Unary,
    name: "/csi.v1.Node/NodeGetCapabilities",
    req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
};

const METHOD_NODE_NODE_GET_INFO: ::grpcio::Method<super::csi::NodeGetInfoRequest, super::csi::NodeGetInfoResponse> =
    ::grpcio::Method {
        ty: ::grpcio::MethodType::Unary,
        name: "/csi.v1.Node/NodeGetInfo",
        req_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
        resp_mar: ::grpcio::Marshaller { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },
    };

#[derive(Clone)]
pub struct NodeClient {
    pub client: ::grpcio::Client,
}

impl NodeClient {
    pub fn new(channel: ::grpcio::Channel) -> Self {
        NodeClient { client: ::grpcio::Client::new(channel) }
    }

    pub fn node_stage_volume_opt(
        &self,
        req: &super::csi::NodeStageVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::NodeStageVolumeResponse> {
        self.client.unary_call(&METHOD_NODE_NODE_STAGE_VOLUME, req, opt)
    }

    pub fn node_stage_volume(
        &self,
        req: &super::csi::NodeStageVolumeRequest,
    ) -> ::grpcio::Result<super::csi::NodeStageVolumeResponse> {
        self.node_stage_volume_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_stage_volume_async_opt(
        &self,
        req: &super::csi::NodeStageVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeStageVolumeResponse>> {
        self.client.unary_call_async(&METHOD_NODE_NODE_STAGE_VOLUME, req, opt)
    }

    pub fn node_stage_volume_async(
        &self,
        req: &super::csi::NodeStageVolumeRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeStageVolumeResponse>> {
        self.node_stage_volume_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_unstage_volume_opt(
        &self,
        req: &super::csi::NodeUnstageVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::NodeUnstageVolumeResponse> {
        self.client.unary_call(&METHOD_NODE_NODE_UNSTAGE_VOLUME, req, opt)
    }

    pub fn node_unstage_volume(
        &self,
        req: &super::csi::NodeUnstageVolumeRequest,
    ) -> ::grpcio::Result<super::csi::NodeUnstageVolumeResponse> {
        self.node_unstage_volume_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_unstage_volume_async_opt(
        &self,
        req: &super::csi::NodeUnstageVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeUnstageVolumeResponse>> {
        self.client.unary_call_async(&METHOD_NODE_NODE_UNSTAGE_VOLUME, req, opt)
    }

    pub fn node_unstage_volume_async(
        &self,
        req: &super::csi::NodeUnstageVolumeRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeUnstageVolumeResponse>> {
        self.node_unstage_volume_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_publish_volume_opt(
        &self,
        req: &super::csi::NodePublishVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::NodePublishVolumeResponse> {
        self.client.unary_call(&METHOD_NODE_NODE_PUBLISH_VOLUME, req, opt)
    }

    pub fn node_publish_volume(
        &self,
        req: &super::csi::NodePublishVolumeRequest,
    ) -> ::grpcio::Result<super::csi::NodePublishVolumeResponse> {
        self.node_publish_volume_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_publish_volume_async_opt(
        &self,
        req: &super::csi::NodePublishVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodePublishVolumeResponse>> {
        self.client.unary_call_async(&METHOD_NODE_NODE_PUBLISH_VOLUME, req, opt)
    }

    pub fn node_publish_volume_async(
        &self,
        req: &super::csi::NodePublishVolumeRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodePublishVolumeResponse>> {
        self.node_publish_volume_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_unpublish_volume_opt(
        &self,
        req: &super::csi::NodeUnpublishVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::NodeUnpublishVolumeResponse> {
        self.client.unary_call(&METHOD_NODE_NODE_UNPUBLISH_VOLUME, req, opt)
    }

    pub fn node_unpublish_volume(
        &self,
        req: &super::csi::NodeUnpublishVolumeRequest,
    ) -> ::grpcio::Result<super::csi::NodeUnpublishVolumeResponse> {
        self.node_unpublish_volume_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_unpublish_volume_async_opt(
        &self,
        req: &super::csi::NodeUnpublishVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeUnpublishVolumeResponse>> {
        self.client.unary_call_async(&METHOD_NODE_NODE_UNPUBLISH_VOLUME, req, opt)
    }

    pub fn node_unpublish_volume_async(
        &self,
        req: &super::csi::NodeUnpublishVolumeRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeUnpublishVolumeResponse>> {
        self.node_unpublish_volume_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_get_volume_stats_opt(
        &self,
        req: &super::csi::NodeGetVolumeStatsRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::NodeGetVolumeStatsResponse> {
        self.client.unary_call(&METHOD_NODE_NODE_GET_VOLUME_STATS, req, opt)
    }

    pub fn node_get_volume_stats(
        &self,
        req: &super::csi::NodeGetVolumeStatsRequest,
    ) -> ::grpcio::Result<super::csi::NodeGetVolumeStatsResponse> {
        self.node_get_volume_stats_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_get_volume_stats_async_opt(
        &self,
        req: &super::csi::NodeGetVolumeStatsRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeGetVolumeStatsResponse>> {
        self.client.unary_call_async(&METHOD_NODE_NODE_GET_VOLUME_STATS, req, opt)
    }

    pub fn node_get_volume_stats_async(
        &self,
        req: &super::csi::NodeGetVolumeStatsRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeGetVolumeStatsResponse>> {
        self.node_get_volume_stats_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_expand_volume_opt(
        &self,
        req: &super::csi::NodeExpandVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::NodeExpandVolumeResponse> {
        self.client.unary_call(&METHOD_NODE_NODE_EXPAND_VOLUME, req, opt)
    }

    pub fn node_expand_volume(
        &self,
        req: &super::csi::NodeExpandVolumeRequest,
    ) -> ::grpcio::Result<super::csi::NodeExpandVolumeResponse> {
        self.node_expand_volume_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_expand_volume_async_opt(
        &self,
        req: &super::csi::NodeExpandVolumeRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeExpandVolumeResponse>> {
        self.client.unary_call_async(&METHOD_NODE_NODE_EXPAND_VOLUME, req, opt)
    }

    pub fn node_expand_volume_async(
        &self,
        req: &super::csi::NodeExpandVolumeRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeExpandVolumeResponse>> {
        self.node_expand_volume_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_get_capabilities_opt(
        &self,
        req: &super::csi::NodeGetCapabilitiesRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::NodeGetCapabilitiesResponse> {
        self.client.unary_call(&METHOD_NODE_NODE_GET_CAPABILITIES, req, opt)
    }

    pub fn node_get_capabilities(
        &self,
        req: &super::csi::NodeGetCapabilitiesRequest,
    ) -> ::grpcio::Result<super::csi::NodeGetCapabilitiesResponse> {
        self.node_get_capabilities_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_get_capabilities_async_opt(
        &self,
        req: &super::csi::NodeGetCapabilitiesRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeGetCapabilitiesResponse>> {
        self.client.unary_call_async(&METHOD_NODE_NODE_GET_CAPABILITIES, req, opt)
    }

    pub fn node_get_capabilities_async(
        &self,
        req: &super::csi::NodeGetCapabilitiesRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeGetCapabilitiesResponse>> {
        self.node_get_capabilities_async_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_get_info_opt(
        &self,
        req: &super::csi::NodeGetInfoRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<super::csi::NodeGetInfoResponse> {
        self.client.unary_call(&METHOD_NODE_NODE_GET_INFO, req, opt)
    }

    pub fn node_get_info(
        &self,
        req: &super::csi::NodeGetInfoRequest,
    ) -> ::grpcio::Result<super::csi::NodeGetInfoResponse> {
        self.node_get_info_opt(req, ::grpcio::CallOption::default())
    }

    pub fn node_get_info_async_opt(
        &self,
        req: &super::csi::NodeGetInfoRequest,
        opt: ::grpcio::CallOption,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeGetInfoResponse>> {
        self.client.unary_call_async(&METHOD_NODE_NODE_GET_INFO, req, opt)
    }

    pub fn node_get_info_async(
        &self,
        req: &super::csi::NodeGetInfoRequest,
    ) -> ::grpcio::Result<::grpcio::ClientUnaryReceiver<super::csi::NodeGetInfoResponse>> {
        self.node_get_info_async_opt(req, ::grpcio::CallOption::default())
    }
    pub fn spawn<F>(&self, f: F)
    where
        F: ::std::future::Future<Output = ()> + Send + 'static,
    {
        self.client.spawn(f)
    }
}

pub trait Node {
    fn node_stage_volume(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::NodeStageVolumeRequest,
        sink: ::grpcio::UnarySink<super::csi::NodeStageVolumeResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn node_unstage_volume(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::NodeUnstageVolumeRequest,
        sink: ::grpcio::UnarySink<super::csi::NodeUnstageVolumeResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn node_publish_volume(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::NodePublishVolumeRequest,
        sink: ::grpcio::UnarySink<super::csi::NodePublishVolumeResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn node_unpublish_volume(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::NodeUnpublishVolumeRequest,
        sink: ::grpcio::UnarySink<super::csi::NodeUnpublishVolumeResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn node_get_volume_stats(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::NodeGetVolumeStatsRequest,
        sink: ::grpcio::UnarySink<super::csi::NodeGetVolumeStatsResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn node_expand_volume(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::NodeExpandVolumeRequest,
        sink: ::grpcio::UnarySink<super::csi::NodeExpandVolumeResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn node_get_capabilities(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::NodeGetCapabilitiesRequest,
        sink: ::grpcio::UnarySink<super::csi::NodeGetCapabilitiesResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
    fn node_get_info(
        &mut self,
        ctx: ::grpcio::RpcContext,
        _req: super::csi::NodeGetInfoRequest,
        sink: ::grpcio::UnarySink<super::csi::NodeGetInfoResponse>,
    ) {
        grpcio::unimplemented_call!(ctx, sink)
    }
}

pub fn create_node<S: Node + Send + Clone + 'static>(s: S) -> ::grpcio::Service {
    let mut builder = ::grpcio::ServiceBuilder::new();
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_NODE_NODE_STAGE_VOLUME, move |ctx, req, resp| {
        instance.node_stage_volume(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_NODE_NODE_UNSTAGE_VOLUME, move |ctx, req, resp| {
        instance.node_unstage_volume(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_NODE_NODE_PUBLISH_VOLUME, move |ctx, req, resp| {
        instance.node_publish_volume(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_NODE_NODE_UNPUBLISH_VOLUME, move |ctx, req, resp| {
        instance.node_unpublish_volume(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_NODE_NODE_GET_VOLUME_STATS, move |ctx, req, resp| {
        instance.node_get_volume_stats(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_NODE_NODE_EXPAND_VOLUME, move |ctx, req, resp| {
        instance.node_expand_volume(ctx, req, resp)
    });
    let mut instance = s.clone();
    builder = builder.add_unary_handler(&METHOD_NODE_NODE_GET_CAPABILITIES, move |ctx, req, resp| {
        instance.node_get_capabilities(ctx, req, resp)
    });
    let mut instance = s;
    builder = builder
        .add_unary_handler(&METHOD_NODE_NODE_GET_INFO, move |ctx, req, resp| instance.node_get_info(ctx, req, resp));
    builder.build()
}
