//! GET /query/directory and /query/profile: what other servers ask about
//! this server's aliases and users, and the same questions asked of them.

use hanse_protocol::identifiers::{RoomAlias, RoomId, ServerName, UserId};
use serde_json::{json, Value};

use crate::remote::RemoteRequest;
use crate::{Error, Homeserver, Result};

impl Homeserver {
    /// The room a local alias names, and servers to join it through.
    pub async fn serve_directory_query(&self, alias: &RoomAlias) -> Result<Value> {
        let room_id = self.alias_room(alias).await?;
        let room = self.room(&room_id).await?;
        let mut servers = self.store.joined_servers(room.nid).await?;
        // This server first: it answered, so it is reachable.
        let own = self.identity.server_name.as_str();
        servers.retain(|server| server != own);
        servers.insert(0, own.to_owned());
        Ok(json!({ "room_id": room_id.as_str(), "servers": servers }))
    }

    /// A local user's profile, or the one field asked for.
    pub async fn serve_profile_query(
        &self,
        user_id: &UserId,
        field: Option<&str>,
    ) -> Result<Value> {
        if user_id.server_name() != &self.identity.server_name {
            return Err(Error::NotFound(format!(
                "{user_id} is not a user of this server"
            )));
        }
        let mut profile = self.profile(user_id).await?;
        if let Some(field) = field {
            profile.retain(|name, _| name == field);
        }
        Ok(Value::Object(profile))
    }

    /// The room a remote alias names, asked of the alias's server, with
    /// the servers it suggests joining through.
    pub async fn remote_alias_room(&self, alias: &RoomAlias) -> Result<(RoomId, Vec<ServerName>)> {
        let server = alias.server_name();
        if !self.settings.federation.policy.allows(server.as_str()) {
            return Err(Error::Forbidden(format!(
                "this server's federation policy does not allow {server}"
            )));
        }
        let path = format!(
            "/_matrix/federation/v1/query/directory?room_alias={}",
            hanse_protocol::path_segment::encode(alias.as_str())
        );
        let answer = self
            .request_server(server, RemoteRequest::get(path))
            .await?;
        let room_id = answer
            .get("room_id")
            .and_then(Value::as_str)
            .and_then(|id| RoomId::parse(id).ok())
            .ok_or_else(|| {
                Error::from(crate::remote::RemoteError::InvalidResponse {
                    server: server.as_str().to_owned(),
                    reason: "the directory answer has no valid room_id".into(),
                })
            })?;
        let servers = answer
            .get("servers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|name| ServerName::parse(name).ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok((room_id, servers))
    }
}
