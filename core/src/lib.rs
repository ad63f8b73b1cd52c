//! hanse-core: what happens on this server. Storage lives here and only
//! here (see [`store`]); HTTP does not.

mod identity;
pub mod store;

use std::sync::Arc;

pub use identity::ServerIdentity;
pub use store::{Store, StoreError};

/// Everything a request handler needs to act for this server. Cheap to
/// clone: the parts are shared.
#[derive(Debug, Clone)]
pub struct Homeserver {
    pub identity: Arc<ServerIdentity>,
    pub store: Store,
}

impl Homeserver {
    pub fn new(identity: ServerIdentity, store: Store) -> Self {
        Self {
            identity: Arc::new(identity),
            store,
        }
    }
}
