//! The joining side of a join through another server: make_join for a
//! template, sign it, send_join, and store the room that comes back.

use hanse_protocol::canonical_json::{object_from_json, CanonicalJsonValue};
use hanse_protocol::event_signing::sign_event;
use hanse_protocol::identifiers::{RoomId, ServerName};
use hanse_protocol::path_segment::encode;
use hanse_protocol::pdu::Pdu;
use hanse_protocol::room_versions::RoomVersionId;
use serde_json::Value;

use super::resident::JOINABLE;
use crate::accounts::Session;
use crate::clock::now_ms;
use crate::rate_limits::Action;
use crate::remote::{RemoteError, RemoteRequest};
use crate::rooms::JoinedRoom;
use crate::{Error, Homeserver, Result};

impl Homeserver {
    /// Whether this server takes part in `room_id` (has a joined user).
    pub async fn is_in_room(&self, room_id: &RoomId) -> Result<bool> {
        match self.room(room_id).await {
            Ok(room) => Ok(self
                .store
                .server_in_room(room.nid, self.identity.server_name.as_str())
                .await?),
            Err(Error::NotFound(_)) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Joins the session's user to `room_id`, a room this server is not
    /// in, through one of `via` (tried in order) or the server named in
    /// the room ID.
    pub async fn join_remote(
        &self,
        session: &Session,
        room_id: &RoomId,
        via: &[ServerName],
        reason: Option<String>,
    ) -> Result<()> {
        self.rate_limits
            .check(Action::Join, session.user_id.as_str())?;
        let mut candidates: Vec<ServerName> = via.to_vec();
        candidates.extend(room_id.server_name().cloned());
        candidates.dedup();
        candidates.retain(|server| server != &self.identity.server_name);
        if candidates.is_empty() {
            return Err(Error::NotFound(format!(
                "{room_id} is not known here; name a server to join it through"
            )));
        }
        let policy = &self.settings.federation.policy;
        let excluded = policy.excluded(candidates.iter().map(ServerName::as_str));
        candidates.retain(|server| policy.allows(server.as_str()));
        if candidates.is_empty() {
            return Err(Error::Forbidden(format!(
                "this server's federation policy does not allow {}",
                excluded.join(", ")
            )));
        }
        let mut last_error = None;
        for server in &candidates {
            match self
                .join_through(session, room_id, server, reason.clone())
                .await
            {
                Ok(()) => return Ok(()),
                Err(error @ Error::Forbidden(_)) => return Err(error),
                Err(error) => {
                    tracing::info!(%room_id, %server, %error, "joining through a server failed");
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.expect("at least one server was tried"))
    }

    async fn join_through(
        &self,
        session: &Session,
        room_id: &RoomId,
        server: &ServerName,
        reason: Option<String>,
    ) -> Result<()> {
        let user = &session.user_id;
        let versions: String = JOINABLE
            .iter()
            .map(|version| format!("ver={}", version.as_str()))
            .collect::<Vec<_>>()
            .join("&");
        let path = format!(
            "/_matrix/federation/v1/make_join/{}/{}?{versions}",
            encode(room_id.as_str()),
            encode(user.as_str())
        );
        let answer = self
            .request_server(server, RemoteRequest::get(path))
            .await?;
        let version: RoomVersionId = answer
            .get("room_version")
            .and_then(Value::as_str)
            .unwrap_or("1")
            .parse()
            .ok()
            .filter(|version| JOINABLE.contains(version))
            .ok_or_else(|| {
                Error::UnsupportedRoomVersion(
                    answer
                        .get("room_version")
                        .and_then(Value::as_str)
                        .unwrap_or("1")
                        .to_owned(),
                )
            })?;
        let rules = version.rules();
        let invalid = |reason: &str| -> Error {
            RemoteError::InvalidResponse {
                server: server.as_str().to_owned(),
                reason: reason.to_owned(),
            }
            .into()
        };
        let mut event = answer
            .get("event")
            .cloned()
            .and_then(|event| object_from_json(event).ok())
            .ok_or_else(|| invalid("make_join gave no event"))?;
        // The template must be the join asked for; nothing else is signed.
        let field = |name: &str| event.get(name).and_then(CanonicalJsonValue::as_str);
        if field("type") != Some("m.room.member")
            || field("state_key") != Some(user.as_str())
            || field("sender") != Some(user.as_str())
            || field("room_id") != Some(room_id.as_str())
        {
            return Err(invalid("make_join gave an event that is not this join"));
        }
        let mut content = crate::rooms::object(serde_json::json!({ "membership": "join" }));
        if let Some(CanonicalJsonValue::Object(offered)) = event.get("content") {
            if let Some(via) = offered.get("join_authorised_via_users_server") {
                content.insert("join_authorised_via_users_server".into(), via.clone());
            }
        }
        self.add_profile(&mut content, user).await?;
        if let Some(reason) = reason {
            content.insert("reason".into(), CanonicalJsonValue::String(reason));
        }
        event.insert("content".into(), CanonicalJsonValue::Object(content));
        event.insert(
            "origin_server_ts".into(),
            CanonicalJsonValue::integer(now_ms()).map_err(|e| Error::Internal(e.to_string()))?,
        );
        event.remove("signatures");
        event.remove("hashes");
        let identity = &self.identity;
        sign_event(
            &mut event,
            &identity.signing_key,
            identity.server_name.as_str(),
            rules,
        )
        .map_err(|e| invalid(&format!("the template cannot be signed: {e}")))?;
        let join = Pdu::from_canonical(event, rules)
            .map_err(|e| invalid(&format!("the template is not a valid event: {e}")))?;

        let path = format!(
            "/_matrix/federation/v2/send_join/{}/{}",
            encode(room_id.as_str()),
            encode(join.event_id().as_str())
        );
        let body = Value::from(CanonicalJsonValue::Object(join.as_object().clone()));
        let answer = self
            .request_server(server, RemoteRequest::put(path, body))
            .await?;
        let state = self.check_pdu_list(answer.get("state"), rules).await?;
        let auth_chain = self.check_pdu_list(answer.get("auth_chain"), rules).await?;
        // A restricted join comes back signed by the resident server too.
        let join = match answer.get("event").cloned().map(object_from_json) {
            Some(Ok(object)) => match self.check_pdu(object, rules).await? {
                Ok(signed) if signed.event_id() == join.event_id() => signed,
                _ => join,
            },
            _ => join,
        };

        let servers = state.iter().filter_map(|pdu| {
            let joined = pdu.event_type() == "m.room.member"
                && pdu
                    .content()
                    .get("membership")
                    .and_then(CanonicalJsonValue::as_str)
                    == Some("join");
            joined
                .then(|| pdu.state_key())
                .flatten()
                .and_then(|member| member.split_once(':').map(|(_, server)| server))
        });
        let excluded = self.settings.federation.policy.excluded(servers);
        if !excluded.is_empty() {
            tracing::warn!(%room_id, ?excluded, "not joining a room with servers outside the policy");
            return Err(Error::Forbidden(format!(
                "{room_id} has members on servers this server's federation policy excludes: {}",
                excluded.join(", ")
            )));
        }
        self.adopt_room(JoinedRoom {
            version,
            room_id: room_id.clone(),
            state,
            auth_chain,
            join,
        })
        .await?;
        tracing::info!(%room_id, %server, "joined a room through another server");
        Ok(())
    }
}
