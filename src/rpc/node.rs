//! Node service. Every RPC not implemented yet answers UNIMPLEMENTED (the generated
//! trait's default).

use std::sync::Arc;

use super::Driver;
use crate::generated::csi_grpc::Node;

#[derive(Clone)]
pub struct NodeService {
    pub driver: Arc<Driver>,
}

impl Node for NodeService {}
