//! The joining side of a join through another server: make_join for a
//! template, sign it, send_join, and store the room that comes back.

use std::collections::HashSet;

use hanse_protocol::canonical_json::{object_from_json, CanonicalJsonObject, CanonicalJsonValue};
use hanse_protocol::identifiers::{EventId, RoomId, ServerName, UserId};
use hanse_protocol::path_segment::encode;
use hanse_protocol::pdu::Pdu;
use hanse_protocol::room_versions::RoomVersionId;
use serde_json::Value;

use super::resident::{RemoteMembership, JOINABLE};
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
        let mut via = via.to_vec();
        // An invite from elsewhere names the server to join through.
        if let Some((_, invited)) = self
            .out_of_band_membership(room_id, &session.user_id)
            .await?
        {
            via.push(invited.through);
        }
        let candidates = self.servers_to_go_through(room_id, &via)?;
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

    /// The servers to ask for a room this server is not in: `via`, then the
    /// server named in the room ID, without this one and those the policy
    /// excludes.
    pub(super) fn servers_to_go_through(
        &self,
        room_id: &RoomId,
        via: &[ServerName],
    ) -> Result<Vec<ServerName>> {
        let mut candidates: Vec<ServerName> = Vec::with_capacity(via.len() + 1);
        for server in via.iter().chain(room_id.server_name()) {
            if server != &self.identity.server_name && !candidates.contains(server) {
                candidates.push(server.clone());
            }
        }
        if candidates.is_empty() {
            return Err(Error::NotFound(format!(
                "{room_id} is not known here; name a server to go through"
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
        Ok(candidates)
    }

    async fn join_through(
        &self,
        session: &Session,
        room_id: &RoomId,
        server: &ServerName,
        reason: Option<String>,
    ) -> Result<()> {
        let user = &session.user_id;
        let mut content = crate::rooms::object(serde_json::json!({ "membership": "join" }));
        self.add_profile(&mut content, user).await?;
        if let Some(reason) = reason {
            content.insert("reason".into(), CanonicalJsonValue::String(reason));
        }
        let started = std::time::Instant::now();
        let (version, join, answer) = self
            .handshake(server, room_id, user, RemoteMembership::Join, content)
            .await?;
        let answered = started.elapsed();
        let rules = version.rules();
        let state = self.check_pdu_list(answer.get("state"), rules).await?;
        let auth_chain = self.check_pdu_list(answer.get("auth_chain"), rules).await?;
        let checked = started.elapsed();
        // A restricted join comes back signed by the resident server too.
        let join = match answer.get("event").cloned().map(object_from_json) {
            Some(Ok(object)) => match self.check_pdu(object, rules).await? {
                Ok(signed) if signed.event_id() == join.event_id() => signed,
                _ => join,
            },
            _ => join,
        };

        // Read from the answer as sent: the events of servers outside the
        // policy do not pass the checks (their keys are not fetched), and
        // would otherwise go unnoticed.
        let members = answer
            .get("state")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|event| {
                event["type"] == "m.room.member" && event["content"]["membership"] == "join"
            })
            .filter_map(|event| event["state_key"].as_str());
        let listed = answer
            .get("servers_in_room")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        let servers = members
            .filter_map(|member| member.split_once(':').map(|(_, server)| server))
            .chain(listed);
        let excluded = self.settings.federation.policy.excluded(servers);
        if !excluded.is_empty() {
            tracing::warn!(%room_id, ?excluded, "not joining a room with servers outside the policy");
            // The resident server took the join already: take it back.
            let leave = crate::rooms::object(serde_json::json!({ "membership": "leave" }));
            if let Err(error) = self
                .handshake(server, room_id, user, RemoteMembership::Leave, leave)
                .await
            {
                tracing::warn!(%room_id, %server, %error, "leaving again after a refused join failed");
            }
            return Err(Error::Forbidden(format!(
                "{room_id} has members on servers this server's federation policy excludes: {}",
                excluded.join(", ")
            )));
        }
        self.catch_up_before_rejoin(server, room_id, &join).await?;
        let (state_events, chain_events) = (state.len(), auth_chain.len());
        self.adopt_room(JoinedRoom {
            version,
            room_id: room_id.clone(),
            state,
            auth_chain,
            join,
        })
        .await?;
        tracing::info!(
            %room_id, %server, state_events, chain_events,
            handshake_ms = answered.as_millis(),
            checks_ms = (checked - answered).as_millis(),
            stored_ms = (started.elapsed() - checked).as_millis(),
            "joined a room through another server"
        );
        Ok(())
    }

    /// When this server was in `room_id` before (its timeline has a head
    /// here), takes in what the room said since this server left, up to the
    /// join, so that the join lands after it and paging back reads on
    /// without a hole. Only when one /get_missing_events bridges the whole
    /// gap: otherwise its oldest events would need the state before them
    /// (the whole state again, in a large room) and the gap stays, as it
    /// was before. A failure costs the history, never the join.
    async fn catch_up_before_rejoin(
        &self,
        server: &ServerName,
        room_id: &RoomId,
        join: &Pdu,
    ) -> Result<()> {
        let room = match self.room(room_id).await {
            Ok(room) => room,
            Err(Error::NotFound(_)) => return Ok(()),
            Err(error) => return Err(error),
        };
        let missed = match self.missing_events(server, &room, join).await {
            Ok(missed) => missed,
            Err(error) => {
                tracing::warn!(%room_id, %server, %error, "catching up on a room joined again failed");
                return Ok(());
            }
        };
        if missed.is_empty() {
            return Ok(());
        }
        if !self.bridges_to_timeline(&missed).await? {
            tracing::info!(
                %room_id, %server, fetched = missed.len(),
                "the room said more while this server was out than one request brings; \
                 the timeline keeps a gap before the join"
            );
            return Ok(());
        }
        let count = missed.len();
        for event in missed {
            self.take_in_gap_event(server, &room, event).await?;
        }
        tracing::info!(%room_id, %server, count, "caught up on a room joined again");
        Ok(())
    }

    /// Whether every prev event of `events` is among them or in the
    /// room's timeline here.
    async fn bridges_to_timeline(&self, events: &[Pdu]) -> Result<bool> {
        let brought: HashSet<&EventId> = events.iter().map(Pdu::event_id).collect();
        let mut outside: Vec<&str> = events
            .iter()
            .flat_map(Pdu::prev_events)
            .filter(|id| !brought.contains(id))
            .map(EventId::as_str)
            .collect();
        outside.sort_unstable();
        outside.dedup();
        let in_timeline = self
            .events_by_ids(&outside)
            .await?
            .iter()
            .filter(|event| !event.outlier && !event.rejected)
            .count();
        Ok(in_timeline == outside.len())
    }

    /// make_{membership} on `server`, the template checked to be what was
    /// asked for, `content` put in, signed, and send_{membership}: the
    /// room's version, the signed event and the answer to send.
    pub(super) async fn handshake(
        &self,
        server: &ServerName,
        room_id: &RoomId,
        user: &UserId,
        membership: RemoteMembership,
        content: CanonicalJsonObject,
    ) -> Result<(RoomVersionId, Pdu, Value)> {
        let kind = membership.as_str();
        let query = match membership {
            RemoteMembership::Leave => String::new(),
            RemoteMembership::Join | RemoteMembership::Knock => {
                let versions: Vec<String> = JOINABLE
                    .iter()
                    .map(|version| format!("ver={}", version.as_str()))
                    .collect();
                format!("?{}", versions.join("&"))
            }
        };
        let path = format!(
            "/_matrix/federation/v1/make_{kind}/{}/{}{query}",
            encode(room_id.as_str()),
            encode(user.as_str())
        );
        let answer = self
            .request_server(server, RemoteRequest::get(path))
            .await?;
        let named = answer
            .get("room_version")
            .and_then(Value::as_str)
            .unwrap_or("1");
        let version: RoomVersionId = named
            .parse()
            .ok()
            .filter(|version| JOINABLE.contains(version))
            .ok_or_else(|| Error::UnsupportedRoomVersion(named.to_owned()))?;
        let rules = version.rules();
        let invalid = |reason: String| -> Error {
            RemoteError::InvalidResponse {
                server: server.as_str().to_owned(),
                reason,
            }
            .into()
        };
        let mut event = answer
            .get("event")
            .cloned()
            .and_then(|event| object_from_json(event).ok())
            .ok_or_else(|| invalid(format!("make_{kind} gave no event")))?;
        // The template must be the event asked for; nothing else is signed.
        let field = |name: &str| event.get(name).and_then(CanonicalJsonValue::as_str);
        if field("type") != Some("m.room.member")
            || field("state_key") != Some(user.as_str())
            || field("sender") != Some(user.as_str())
            || field("room_id") != Some(room_id.as_str())
        {
            return Err(invalid(format!(
                "make_{kind} gave an event that is not this {kind}"
            )));
        }
        let mut content = content;
        if let Some(CanonicalJsonValue::Object(offered)) = event.get("content") {
            if let Some(via) = offered.get("join_authorised_via_users_server") {
                content.insert("join_authorised_via_users_server".into(), via.clone());
            }
        }
        event.insert("content".into(), CanonicalJsonValue::Object(content));
        event.insert(
            "origin_server_ts".into(),
            CanonicalJsonValue::integer(now_ms()).map_err(|e| Error::Internal(e.to_string()))?,
        );
        event.remove("signatures");
        event.remove("hashes");
        self.identity
            .sign_event(&mut event, rules)
            .map_err(|e| invalid(format!("the template cannot be signed: {e}")))?;
        let signed = Pdu::from_canonical(event, rules)
            .map_err(|e| invalid(format!("the template is not a valid event: {e}")))?;
        // send_knock has only a first version.
        let api = match membership {
            RemoteMembership::Knock => "v1",
            RemoteMembership::Join | RemoteMembership::Leave => "v2",
        };
        let path = format!(
            "/_matrix/federation/{api}/send_{kind}/{}/{}",
            encode(room_id.as_str()),
            encode(signed.event_id().as_str())
        );
        let body = Value::from(CanonicalJsonValue::Object(signed.as_object().clone()));
        let answer = self
            .request_server(server, RemoteRequest::put(path, body))
            .await?;
        Ok((version, signed, answer))
    }
}
