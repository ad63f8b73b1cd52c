//! Federation as core sees it: other servers' keys, the operator's policy
//! on which servers to federate with, and the handling of what other
//! servers send and ask for, and the durable sender of what this server
//! sends them. Requests go out through [`crate::remote`].

pub mod acl;
pub mod backfill;
pub mod checks;
pub mod edus;
pub mod invite;
pub mod join;
pub mod keys;
pub mod out_of_band;
pub mod policy;
pub mod queries;
pub mod receive;
pub mod resident;
pub mod sender;
pub mod serve;

pub use keys::ServerKeys;
pub use policy::{FederationPolicy, ServerGlob, TrustedKeyServer};
pub use sender::FederationSender;

/// The operator's federation settings.
#[derive(Debug, Clone, Default)]
pub struct FederationSettings {
    /// Which servers this server federates with.
    pub policy: FederationPolicy,
    /// Notaries asked for keys a server does not serve itself; none by
    /// default, so keys come from their servers only.
    pub trusted_key_servers: Vec<TrustedKeyServer>,
    /// Whether rooms created here get an m.room.server_acl that follows
    /// the policy, so the other servers in them keep to it too.
    pub server_acl_for_new_rooms: bool,
}

impl crate::Homeserver {
    /// Sends `request` to `destination`, unless the federation policy
    /// excludes it: the one way core reaches other servers, so the policy
    /// holds for everything sent.
    pub async fn request_server(
        &self,
        destination: &hanse_protocol::identifiers::ServerName,
        request: crate::remote::RemoteRequest,
    ) -> Result<serde_json::Value, crate::remote::RemoteError> {
        if !self.settings.federation.policy.allows(destination.as_str()) {
            tracing::info!(%destination, path = %request.path, "not sent: outside the federation policy");
            return Err(crate::remote::RemoteError::NotAllowed {
                server: destination.as_str().to_owned(),
            });
        }
        self.remote.request(destination, request).await
    }
}
