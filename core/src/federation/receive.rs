//! PUT /send: the transactions other servers push, and the events that
//! must be fetched to make sense of them (auth chains through
//! /event_auth, gaps in the graph through /get_missing_events).

use std::collections::{BTreeMap, HashMap};

use futures_util::future::join_all;
use hanse_protocol::canonical_json::{object_from_json, CanonicalJsonValue};
use hanse_protocol::identifiers::{EventId, RoomId, ServerName};
use hanse_protocol::path_segment::encode;
use hanse_protocol::pdu::Pdu;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::remote::RemoteRequest;
use crate::rooms::{Arrival, Receipt, RoomRef};
use crate::{Error, Homeserver, Result};

/// The most PDUs and EDUs one transaction may carry.
pub const MAX_PDUS: usize = 50;
pub const MAX_EDUS: usize = 100;

/// How many events one gap in the graph is filled with at most; a bigger
/// gap is left for backfill.
const MISSING_EVENTS_LIMIT: usize = 50;

/// How a received event came to this server, for [`Homeserver::take_in`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Intake {
    /// In a transaction from its origin: a gap before it is filled.
    Transaction,
    /// Fetched to fill a gap: it fills none of its own.
    Gap,
    /// Handed over by its sender's server for the room's other servers (an
    /// invite, a send_join): queued for them in the commit that stores it.
    ForOthers,
}

/// The body of PUT /send/{txnId}.
#[derive(Debug, Deserialize)]
pub struct Transaction {
    pub origin: String,
    pub origin_server_ts: i64,
    pub pdus: Vec<Value>,
    #[serde(default)]
    pub edus: Vec<Value>,
}

impl Homeserver {
    /// Handles a transaction from `origin`: each PDU through the checks on
    /// receipt, each with its own result. A transaction seen before gets
    /// the answer it got then, and changes nothing.
    pub async fn receive_transaction(
        &self,
        origin: &ServerName,
        txn_id: &str,
        transaction: Transaction,
    ) -> Result<Value> {
        if transaction.origin != origin.as_str() {
            return Err(Error::Forbidden(format!(
                "the transaction says it comes from {}, but {origin} signed the request",
                transaction.origin
            )));
        }
        if transaction.pdus.len() > MAX_PDUS || transaction.edus.len() > MAX_EDUS {
            return Err(Error::TooLarge(format!(
                "a transaction carries at most {MAX_PDUS} PDUs and {MAX_EDUS} EDUs"
            )));
        }
        if let Some(answer) = self
            .store
            .inbound_transaction(origin.as_str(), txn_id)
            .await?
        {
            tracing::debug!(%origin, txn_id, "transaction seen before");
            return serde_json::from_str(&answer)
                .map_err(|e| Error::Internal(format!("stored transaction answer: {e}")));
        }
        let mut results = serde_json::Map::new();
        let mut record = |event_id: &EventId, outcome: std::result::Result<(), String>| {
            let result = match outcome {
                Ok(()) => json!({}),
                Err(reason) => json!({ "error": reason }),
            };
            results.insert(event_id.as_str().to_owned(), result);
        };
        // Steps 1–3 for every PDU first. Then the room writers get all of
        // them at once, so a room's events of the transaction share one
        // commit; only those that lack something (auth events, a gap) go
        // through take_in one by one afterwards, in order.
        let mut checked = Vec::with_capacity(transaction.pdus.len());
        // Whether each room takes events from `origin`, asked once per room.
        let mut admitted_rooms = HashMap::new();
        for value in transaction.pdus {
            match self
                .check_received_pdu(origin, value, &mut admitted_rooms)
                .await?
            {
                (_, Ok((room, pdu))) => checked.push((room, pdu)),
                (Some(event_id), Err(reason)) => record(&event_id, Err(reason)),
                (None, Err(_)) => {}
            }
        }
        let receipts = join_all(checked.iter().map(|(room, pdu)| {
            self.receive_event(room, pdu.clone(), Arrival::Live { state: None })
        }))
        .await;
        for ((room, pdu), receipt) in checked.into_iter().zip(receipts) {
            let event_id = pdu.event_id().clone();
            let outcome = match receipt? {
                Receipt::Accepted
                | Receipt::SoftFailed
                | Receipt::AlreadyKnown
                | Receipt::Outlier => Ok(()),
                Receipt::Rejected(reason) => Err(reason),
                Receipt::MissingAuthEvents(_) | Receipt::MissingPrevEvents(_) => self
                    .take_in(origin, &room, pdu, Intake::Transaction)
                    .await?
                    .map(drop),
            };
            record(&event_id, outcome);
        }
        self.receive_edus(origin, &transaction.edus).await?;
        let answer = json!({ "pdus": results });
        self.store
            .record_inbound_transaction(origin.as_str(), txn_id, &answer.to_string())
            .await?;
        Ok(answer)
    }

    /// Steps 1–3 for one PDU of a transaction, and its room: the event to
    /// take in, or why not (with its event ID, when it has one).
    async fn check_received_pdu(
        &self,
        origin: &ServerName,
        value: Value,
        admitted_rooms: &mut HashMap<RoomId, std::result::Result<RoomRef, String>>,
    ) -> Result<(Option<EventId>, std::result::Result<(RoomRef, Pdu), String>)> {
        let Some(room_id) = value
            .get("room_id")
            .and_then(Value::as_str)
            .and_then(|id| RoomId::parse(id).ok())
        else {
            return Ok((None, Err("the event has no valid room_id".into())));
        };
        let admitted = match admitted_rooms.get(&room_id) {
            Some(admitted) => admitted.clone(),
            None => {
                let admitted = self.admit_room(origin, &room_id).await?;
                admitted_rooms.insert(room_id, admitted.clone());
                admitted
            }
        };
        let room = match admitted {
            Ok(room) => room,
            Err(reason) => return Ok((None, Err(reason))),
        };
        let object = match object_from_json(value) {
            Ok(object) => object,
            Err(error) => {
                return Ok((
                    None,
                    Err(format!("the event is not canonical JSON: {error}")),
                ))
            }
        };
        let pdu = match self.check_pdu(object, room.version.rules()).await? {
            Ok(pdu) => pdu,
            Err(dropped) => {
                tracing::info!(%origin, %dropped, "dropping a received event");
                return Ok((None, Err(dropped.to_string())));
            }
        };
        Ok((Some(pdu.event_id().clone()), Ok((room, pdu))))
    }

    /// The room `origin` sends an event of, or why it takes none from it.
    /// A room known here but left, or known only by an invite, takes no
    /// events: this server would have to catch up on it first.
    async fn admit_room(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
    ) -> Result<std::result::Result<RoomRef, String>> {
        let room = match self.room(room_id).await {
            Ok(room) => room,
            Err(Error::NotFound(_)) => return Ok(Err(format!("this server is not in {room_id}"))),
            Err(error) => return Err(error),
        };
        let own_server = self.identity.server_name.as_str();
        if !self.store.server_in_room(room.nid, own_server).await? {
            return Ok(Err(format!("this server is not in {room_id}")));
        }
        if !self.acl_allows(&room, origin).await? {
            return Ok(Err(format!("the server ACL of {room_id} denies {origin}")));
        }
        Ok(Ok(room))
    }

    /// Adds `pdu` (steps 1–3 passed) to the room, fetching from `origin`
    /// what it depends on. Gaps are filled only for an event sent in a
    /// transaction, so the events fetched for a gap do not start
    /// gap-filling of their own. A gap /get_missing_events cannot close is
    /// bridged with the state before the event, from `origin` (/state).
    /// What became of the event, unless it was refused.
    pub(crate) async fn take_in(
        &self,
        origin: &ServerName,
        room: &RoomRef,
        pdu: Pdu,
        intake: Intake,
    ) -> Result<std::result::Result<Receipt, String>> {
        let mut fetched_auth = false;
        let mut filled_gap = intake != Intake::Transaction;
        let forward_except = match intake {
            Intake::ForOthers => Some(self.destination_nid(origin.as_str()).await?),
            Intake::Transaction | Intake::Gap => None,
        };
        // The state before the event from `origin`, once filling the gap
        // before it did not connect it to the graph.
        let mut state = None;
        loop {
            let arrival = Arrival::Live {
                state: state.clone(),
            };
            let receipt = match forward_except {
                Some(from) => {
                    self.receive_event_for_others(room, pdu.clone(), arrival, from)
                        .await?
                }
                None => self.receive_event(room, pdu.clone(), arrival).await?,
            };
            match receipt {
                receipt @ (Receipt::Accepted
                | Receipt::SoftFailed
                | Receipt::AlreadyKnown
                | Receipt::Outlier) => return Ok(Ok(receipt)),
                Receipt::Rejected(reason) => return Ok(Err(reason)),
                Receipt::MissingAuthEvents(missing) if !fetched_auth => {
                    fetched_auth = true;
                    tracing::debug!(event_id = %pdu.event_id(), ?missing, "fetching the auth chain");
                    self.fetch_auth_chain(origin, room, pdu.event_id()).await?;
                }
                Receipt::MissingPrevEvents(missing) if !filled_gap => {
                    filled_gap = true;
                    tracing::debug!(event_id = %pdu.event_id(), ?missing, "filling a gap");
                    self.fill_gap(origin, room, &pdu).await?;
                }
                Receipt::MissingPrevEvents(missing) if filled_gap && state.is_none() => {
                    tracing::debug!(event_id = %pdu.event_id(), ?missing, "asking for the state before the event");
                    match self
                        .fetch_state_before(origin, room, pdu.event_id())
                        .await?
                    {
                        Some(ids) => state = Some(ids),
                        None => {
                            return Ok(Err(format!(
                            "prev events {missing:?} could not be fetched, nor the state before \
                                 the event"
                        )))
                        }
                    }
                }
                Receipt::MissingAuthEvents(missing) => {
                    return Ok(Err(format!("auth events {missing:?} could not be fetched")))
                }
                Receipt::MissingPrevEvents(missing) => {
                    return Ok(Err(format!("prev events {missing:?} could not be fetched")))
                }
            }
        }
    }

    /// Fetches the auth chain of `event_id` from `origin` and stores what
    /// is new as outliers, oldest first.
    pub(super) async fn fetch_auth_chain(
        &self,
        origin: &ServerName,
        room: &RoomRef,
        event_id: &EventId,
    ) -> Result<()> {
        let path = format!(
            "/_matrix/federation/v1/event_auth/{}/{}",
            encode(room.room_id.as_str()),
            encode(event_id.as_str())
        );
        let answer = match self.request_server(origin, RemoteRequest::get(path)).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::info!(%origin, %error, "fetching an auth chain failed");
                return Ok(());
            }
        };
        let chain = self.checked_events(room, answer.get("auth_chain")).await?;
        for pdu in chain {
            let receipt = self.receive_event(room, pdu, Arrival::Outlier).await?;
            tracing::trace!(?receipt, "auth chain event");
        }
        Ok(())
    }

    /// Asks `origin` for the events between this server's forward
    /// extremities and `pdu`, and takes them in, oldest first.
    async fn fill_gap(&self, origin: &ServerName, room: &RoomRef, pdu: &Pdu) -> Result<()> {
        for missing in self.missing_events(origin, room, pdu).await? {
            self.take_in_gap_event(origin, room, missing).await?;
        }
        Ok(())
    }

    /// Takes in an event /get_missing_events brought, logging a refusal.
    pub(super) async fn take_in_gap_event(
        &self,
        origin: &ServerName,
        room: &RoomRef,
        missing: Pdu,
    ) -> Result<()> {
        if let Err(reason) = Box::pin(self.take_in(origin, room, missing, Intake::Gap)).await? {
            tracing::info!(%origin, %reason, "an event of a gap was not taken in");
        }
        Ok(())
    }

    /// The events `origin` has between this server's forward extremities
    /// and `pdu` (at most [`MISSING_EVENTS_LIMIT`]), checked, oldest first;
    /// none if the room has no head here (a room known only from an invite
    /// or a knock) or asking fails. Nothing older than the room's earliest event
    /// here is asked for or kept: a branch of the graph leading back past
    /// it is history, which backfill places before that event, not live
    /// events to put after the others.
    pub(super) async fn missing_events(
        &self,
        origin: &ServerName,
        room: &RoomRef,
        pdu: &Pdu,
    ) -> Result<Vec<Pdu>> {
        let head = self.store.room_head(room.nid).await?;
        if head.forward_extremities.is_empty() {
            return Ok(Vec::new());
        }
        let earliest: Vec<String> = self
            .events(&head.forward_extremities)
            .await?
            .iter()
            .map(|event| event.pdu.event_id().as_str().to_owned())
            .collect();
        let min_depth = match self.store.earliest_timeline_event(room.nid).await? {
            Some(nid) => self.events(&[nid]).await?.remove(0).pdu.depth(),
            None => 0,
        };
        let path = format!(
            "/_matrix/federation/v1/get_missing_events/{}",
            encode(room.room_id.as_str())
        );
        let body = json!({
            "earliest_events": earliest,
            "latest_events": [pdu.event_id().as_str()],
            "limit": MISSING_EVENTS_LIMIT,
            "min_depth": min_depth,
        });
        let answer = match self
            .request_server(origin, RemoteRequest::post(path, body))
            .await
        {
            Ok(answer) => answer,
            Err(error) => {
                tracing::info!(%origin, %error, "asking for missing events failed");
                return Ok(Vec::new());
            }
        };
        let mut events = self.checked_events(room, answer.get("events")).await?;
        events.retain(|event| event.depth() >= min_depth);
        Ok(events)
    }

    /// The events of a list another server sent that pass steps 1–3, of
    /// this room only, oldest (lowest depth) first.
    pub(super) async fn checked_events(
        &self,
        room: &RoomRef,
        list: Option<&Value>,
    ) -> Result<Vec<Pdu>> {
        let mut checked = BTreeMap::new();
        for pdu in self.check_pdu_list(list, room.version.rules()).await? {
            if pdu.room_id() == &room.room_id {
                checked.insert((pdu.depth(), pdu.event_id().clone()), pdu);
            } else {
                tracing::info!(event_id = %pdu.event_id(), "an event of another room was sent");
            }
        }
        Ok(checked.into_values().collect())
    }
}

/// The canonical form of a stored event for other servers.
pub(crate) fn federation_format(pdu: &Pdu) -> Value {
    CanonicalJsonValue::Object(pdu.as_object().clone()).into()
}
