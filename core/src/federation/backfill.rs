//! Older history from other servers: when a backward walk of a room's
//! timeline reaches the earliest event this server has and that event's
//! prev events are not here (a room joined through another server starts
//! at the join), the events before it are fetched with /backfill from a
//! server in the room, checked, and put into the timeline before it.

use hanse_protocol::identifiers::{EventId, ServerName};
use hanse_protocol::path_segment::encode;
use hanse_protocol::pdu::Pdu;
use serde_json::Value;

use crate::remote::RemoteRequest;
use crate::rooms::{Arrival, Receipt, RoomRef};
use crate::{Error, Homeserver, Result};

/// How many events one /backfill asks for.
const BACKFILL_LIMIT: usize = 50;

impl Homeserver {
    /// Fetches the history before the room's earliest event from a server
    /// in the room; how many events it added to the timeline (0 when the
    /// room's history is all here, or no server could give more).
    pub(crate) async fn backfill(&self, room: &RoomRef) -> Result<usize> {
        let Some(earliest) = self.store.earliest_timeline_event(room.nid).await? else {
            return Ok(0);
        };
        let earliest = self.events(&[earliest]).await?.remove(0);
        let prevs: Vec<&str> = earliest
            .pdu
            .prev_events()
            .iter()
            .map(EventId::as_str)
            .collect();
        let in_graph: Vec<String> = self
            .events_by_ids(&prevs)
            .await?
            .iter()
            .filter(|event| !event.outlier)
            .map(|event| event.pdu.event_id().as_str().to_owned())
            .collect();
        let missing: Vec<&str> = prevs
            .into_iter()
            .filter(|id| !in_graph.iter().any(|known| known == id))
            .collect();
        if missing.is_empty() {
            return Ok(0);
        }
        let query: Vec<String> = missing
            .iter()
            .map(|id| format!("v={}", encode(id)))
            .collect();
        let path = format!(
            "/_matrix/federation/v1/backfill/{}?{}&limit={BACKFILL_LIMIT}",
            encode(room.room_id.as_str()),
            query.join("&")
        );
        for server in self.store.joined_servers(room.nid).await? {
            let Ok(server) = ServerName::parse(&server) else {
                continue;
            };
            if server == self.identity.server_name {
                continue;
            }
            let answer = match self
                .request_server(&server, RemoteRequest::get(path.clone()))
                .await
            {
                Ok(answer) => answer,
                Err(error) => {
                    tracing::info!(room_id = %room.room_id, %server, %error, "backfill failed");
                    continue;
                }
            };
            let events = self.checked_events(room, answer.get("pdus")).await?;
            if events.is_empty() {
                continue;
            }
            let added = self.take_in_history(&server, room, events).await?;
            tracing::info!(room_id = %room.room_id, %server, added, "backfilled");
            return Ok(added);
        }
        Ok(0)
    }

    /// Adds `events` (oldest first) as older history, each at a position
    /// below the room's earliest, fetching what they depend on from
    /// `origin`; how many were added.
    async fn take_in_history(
        &self,
        origin: &ServerName,
        room: &RoomRef,
        events: Vec<Pdu>,
    ) -> Result<usize> {
        let count = i64::try_from(events.len()).map_err(|e| Error::Internal(e.to_string()))?;
        let positions = self.store.historical_positions(count).await?;
        let mut added = 0;
        for (pdu, position) in events.into_iter().zip(positions) {
            let mut state = None;
            let mut fetched_auth = false;
            loop {
                let arrival = Arrival::Historical {
                    state: state.clone(),
                    position,
                };
                match self.receive_event(room, pdu.clone(), arrival).await? {
                    Receipt::Accepted => {
                        added += 1;
                        break;
                    }
                    Receipt::MissingAuthEvents(_) if !fetched_auth => {
                        fetched_auth = true;
                        self.fetch_auth_chain(origin, room, pdu.event_id()).await?;
                    }
                    // The oldest events of a batch follow events not here:
                    // the state before them comes from `origin`.
                    Receipt::MissingPrevEvents(_) if state.is_none() => {
                        match self
                            .fetch_state_before(origin, room, pdu.event_id())
                            .await?
                        {
                            Some(ids) => state = Some(ids),
                            None => break,
                        }
                    }
                    receipt => {
                        tracing::info!(event_id = %pdu.event_id(), ?receipt, "an older event is not added");
                        break;
                    }
                }
            }
        }
        Ok(added)
    }

    /// The state before `event_id` as `origin` says (GET /state), its events
    /// and their auth chain stored here as outliers; the state's event IDs,
    /// or `None` when `origin` cannot say.
    pub(super) async fn fetch_state_before(
        &self,
        origin: &ServerName,
        room: &RoomRef,
        event_id: &EventId,
    ) -> Result<Option<Vec<EventId>>> {
        let path = format!(
            "/_matrix/federation/v1/state/{}?event_id={}",
            encode(room.room_id.as_str()),
            encode(event_id.as_str())
        );
        let answer = match self.request_server(origin, RemoteRequest::get(path)).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::info!(%origin, %error, "fetching the state before an older event failed");
                return Ok(None);
            }
        };
        let chain = self.checked_events(room, answer.get("auth_chain")).await?;
        let state = self.checked_events(room, answer.get("pdus")).await?;
        let ids: Vec<EventId> = state.iter().map(|pdu| pdu.event_id().clone()).collect();
        let mut all = chain;
        all.extend(state);
        all.sort_by_key(Pdu::depth);
        for pdu in all {
            let receipt = self.receive_event(room, pdu, Arrival::Outlier).await?;
            if let Receipt::Rejected(reason) = receipt {
                tracing::debug!(%reason, "an event of an older state is rejected");
            }
        }
        let listed = answer
            .get("pdus")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if ids.len() < listed {
            tracing::info!(%origin, "some events of an older state did not pass the checks");
        }
        Ok(Some(ids))
    }
}
