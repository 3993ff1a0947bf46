//! Controller service. Every RPC not implemented yet answers UNIMPLEMENTED (the
//! generated trait's default).

use std::sync::Arc;

use super::Driver;
use crate::generated::csi_grpc::Controller;

#[derive(Clone)]
pub struct ControllerService {
    pub driver: Arc<Driver>,
}

impl Controller for ControllerService {}
