//! Events: stored once, as signed canonical JSON with the columns queries
//! need beside it.

use super::prepared::Prepared;
use super::{Store, StoreError, Write};

/// An event as stored.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub event_nid: i64,
    pub event_id: String,
    pub room_nid: i64,
    pub room_version: String,
    /// 0 for an event outside the timeline (outlier, rejected, soft-failed).
    pub stream_ordering: i64,
    pub state_before: i64,
    pub redacted_by: Option<i64>,
    pub json: String,
    pub rejected: bool,
    pub outlier: bool,
}

/// An outlier to insert with others at once (see
/// [`Write::insert_outliers`]): its number is allocated beforehand.
#[derive(Debug, Clone)]
pub struct NewOutlierRow {
    pub event_nid: i64,
    pub event_id: String,
    pub type_nid: i32,
    pub state_key_nid: Option<i64>,
    pub sender_nid: i64,
    pub depth: i64,
    pub origin_server_ts: i64,
    pub state_before: i64,
    pub relates_to_nid: Option<i64>,
    pub rel_type: Option<String>,
    pub json: String,
}

/// What inserting an event stores.
#[derive(Debug, Clone)]
pub struct NewEventRow<'a> {
    pub event_id: &'a str,
    pub room_nid: i64,
    pub type_nid: i32,
    pub state_key_nid: Option<i64>,
    pub sender_nid: i64,
    pub depth: i64,
    pub origin_server_ts: i64,
    pub state_before: i64,
    pub relates_to_nid: Option<i64>,
    pub rel_type: Option<&'a str>,
    pub json: &'a str,
    /// The client transaction that sent it: (user ID, device ID, txn ID).
    pub transaction: Option<(&'a str, &'a str, &'a str)>,
    pub now_ms: i64,
    /// Whether the event takes a stream position (is in the timeline).
    pub in_timeline: bool,
    /// Older history: the timeline position it was given (negative, below
    /// every other), instead of the next one.
    pub historical_position: Option<i64>,
    pub outlier: bool,
    /// Why the event was rejected, if it was.
    pub rejected: Option<&'a str>,
    pub soft_failed: bool,
    /// For a local event, this server's number among federation
    /// destinations: the event is queued for every other server with
    /// members joined to the room. `None` for an event received from
    /// another server: sending it is its origin's business.
    pub queue_except: Option<i32>,
}

/// An inserted event: its number, its stream position, and the
/// destinations it was queued for.
#[derive(Debug, Clone)]
pub struct InsertedEvent {
    pub event_nid: i64,
    pub stream_ordering: Option<i64>,
    pub destinations: Vec<i32>,
    /// Redactions of this event that arrived before it, taken off the
    /// pending list: the caller applies them.
    pub pending_redactions: Vec<i64>,
}

/// What the database sums up of one thread.
#[derive(Debug, Clone)]
pub struct ThreadSummaryRow {
    pub root: i64,
    pub count: i64,
    /// Whether the asked-about sender wrote a reply.
    pub participated: bool,
    /// The newest replies, newest first.
    pub newest: Vec<i64>,
}

const EVENT_COLUMNS: &str = "e.event_nid, e.event_id, e.room_nid, r.room_version, \
     COALESCE(e.stream_ordering, 0), e.state_before, e.redacted_by, e.json, \
     e.rejected IS NOT NULL, e.outlier";

fn event_from_row(row: &tokio_postgres::Row) -> EventRow {
    EventRow {
        event_nid: row.get(0),
        event_id: row.get(1),
        room_nid: row.get(2),
        room_version: row.get(3),
        stream_ordering: row.get(4),
        state_before: row.get(5),
        redacted_by: row.get(6),
        json: row.get(7),
        rejected: row.get(8),
        outlier: row.get(9),
    }
}

/// Which way a timeline query walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

impl Store {
    /// `count` timeline positions for older history, below every position
    /// handed out so far, lowest first.
    pub async fn historical_positions(&self, count: i64) -> Result<Vec<i64>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT nextval('backfill_stream') FROM generate_series(1::bigint, $1::bigint) ORDER BY 1",
                &[&count],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// The events `nids` (those that exist), in no particular order.
    pub async fn events_by_nid(&self, nids: &[i64]) -> Result<Vec<EventRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events e JOIN rooms r USING (room_nid)
                     WHERE e.event_nid = ANY($1)"
                ),
                &[&nids],
            )
            .await?;
        Ok(rows.iter().map(event_from_row).collect())
    }

    /// The events with these IDs (those that exist), in no particular order.
    pub async fn events_by_ids(&self, event_ids: &[&str]) -> Result<Vec<EventRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events e JOIN rooms r USING (room_nid)
                     WHERE e.event_id = ANY($1)"
                ),
                &[&event_ids],
            )
            .await?;
        Ok(rows.iter().map(event_from_row).collect())
    }

    pub async fn event_by_id(&self, event_id: &str) -> Result<Option<EventRow>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events e JOIN rooms r USING (room_nid)
                     WHERE e.event_id = $1"
                ),
                &[&event_id],
            )
            .await?;
        Ok(row.as_ref().map(event_from_row))
    }

    /// Up to `limit` event numbers of the room strictly after (forward) or
    /// before (backward) stream position `from`, stopping at `to` if
    /// given, in walking order.
    pub async fn room_timeline(
        &self,
        room_nid: i64,
        from: i64,
        to: Option<i64>,
        direction: Direction,
        limit: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let sql = match direction {
            Direction::Forward => {
                "SELECT event_nid, stream_ordering FROM events
                 WHERE room_nid = $1 AND stream_ordering > $2
                   AND ($3::bigint IS NULL OR stream_ordering <= $3)
                 ORDER BY stream_ordering ASC LIMIT $4"
            }
            Direction::Backward => {
                "SELECT event_nid, stream_ordering FROM events
                 WHERE room_nid = $1 AND stream_ordering < $2
                   AND ($3::bigint IS NULL OR stream_ordering > $3)
                 ORDER BY stream_ordering DESC LIMIT $4"
            }
        };
        let rows = self
            .client()
            .await?
            .cached_query(sql, &[&room_nid, &from, &to, &limit])
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The room's earliest event in its graph and timeline: where older
    /// history, if the room has any, would be fetched from.
    pub async fn earliest_timeline_event(&self, room_nid: i64) -> Result<Option<i64>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT event_nid FROM events
                 WHERE room_nid = $1 AND stream_ordering IS NOT NULL AND NOT outlier
                 ORDER BY stream_ordering ASC LIMIT 1",
                &[&room_nid],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Up to `limit` event numbers from several rooms, in walking order
    /// (oldest first forward, newest first backward): of each room, those
    /// strictly after its position in `after` and up to its position in
    /// `upto` (both in the order of `rooms`). Each room is read from its
    /// own index range, so quiet rooms cost no scan of busy ones.
    pub async fn events_in_rooms(
        &self,
        rooms: &[i64],
        after: &[i64],
        upto: &[i64],
        direction: Direction,
        limit: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let sql = match direction {
            Direction::Forward => {
                "SELECT e.event_nid, e.stream_ordering
                 FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r(room_nid, after, upto)
                 CROSS JOIN LATERAL (
                     SELECT event_nid, stream_ordering FROM events
                     WHERE room_nid = r.room_nid
                       AND stream_ordering > r.after AND stream_ordering <= r.upto
                     ORDER BY stream_ordering ASC LIMIT $4
                 ) e
                 ORDER BY e.stream_ordering ASC LIMIT $4"
            }
            Direction::Backward => {
                "SELECT e.event_nid, e.stream_ordering
                 FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r(room_nid, after, upto)
                 CROSS JOIN LATERAL (
                     SELECT event_nid, stream_ordering FROM events
                     WHERE room_nid = r.room_nid
                       AND stream_ordering > r.after AND stream_ordering <= r.upto
                     ORDER BY stream_ordering DESC LIMIT $4
                 ) e
                 ORDER BY e.stream_ordering DESC LIMIT $4"
            }
        };
        let rows = self
            .client()
            .await?
            .cached_query(sql, &[&rooms, &after, &upto, &limit])
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// Up to `limit` events of the room at or after (`forward`) or at or
    /// before `ts`, nearest first.
    pub async fn events_near_time(
        &self,
        room_nid: i64,
        ts: i64,
        forward: bool,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let sql = if forward {
            "SELECT event_nid FROM events WHERE room_nid = $1 AND origin_server_ts >= $2
             ORDER BY origin_server_ts ASC, stream_ordering ASC LIMIT $3"
        } else {
            "SELECT event_nid FROM events WHERE room_nid = $1 AND origin_server_ts <= $2
             ORDER BY origin_server_ts DESC, stream_ordering DESC LIMIT $3"
        };
        let rows = self
            .client()
            .await?
            .cached_query(sql, &[&room_nid, &ts, &limit])
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Events relating to `parent` (optionally with one `rel_type`),
    /// before (backward) or after (forward) stream position `from`.
    pub async fn relations(
        &self,
        parent: i64,
        rel_type: Option<&str>,
        from: i64,
        direction: Direction,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let sql = match direction {
            Direction::Backward => {
                "SELECT event_nid FROM events
                 WHERE relates_to_nid = $1 AND ($2::text IS NULL OR rel_type = $2)
                   AND stream_ordering < $3
                 ORDER BY stream_ordering DESC LIMIT $4"
            }
            Direction::Forward => {
                "SELECT event_nid FROM events
                 WHERE relates_to_nid = $1 AND ($2::text IS NULL OR rel_type = $2)
                   AND stream_ordering > $3
                 ORDER BY stream_ordering ASC LIMIT $4"
            }
        };
        let rows = self
            .client()
            .await?
            .cached_query(sql, &[&parent, &rel_type, &from, &limit])
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// For each of `roots` with thread replies: the number of replies,
    /// whether `sender` wrote one, and the newest `newest` of them (newest
    /// first).
    pub async fn thread_summaries(
        &self,
        roots: &[i64],
        sender: Option<i64>,
        newest: i32,
    ) -> Result<Vec<ThreadSummaryRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT relates_to_nid, count(*), coalesce(bool_or(sender_nid = $2), false),
                        (array_agg(event_nid ORDER BY stream_ordering DESC))[1:$3]
                 FROM events
                 WHERE relates_to_nid = ANY($1) AND rel_type = 'm.thread'
                 GROUP BY relates_to_nid",
                &[&roots, &sender, &newest],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ThreadSummaryRow {
                root: row.get(0),
                count: row.get(1),
                participated: row.get(2),
                newest: row.get(3),
            })
            .collect())
    }

    /// Edits (m.replace) and references (m.reference) of `parents`:
    /// (parent, rel_type, child), oldest first.
    pub async fn edits_and_references(
        &self,
        parents: &[i64],
    ) -> Result<Vec<(i64, String, i64)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT relates_to_nid, rel_type, event_nid FROM events
                 WHERE relates_to_nid = ANY($1) AND rel_type IN ('m.replace', 'm.reference')
                 ORDER BY stream_ordering",
                &[&parents],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect())
    }

    /// The ID of the room's newest event.
    pub async fn last_event_id(&self, room_nid: i64) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT event_id FROM events WHERE room_nid = $1
                 ORDER BY stream_ordering DESC LIMIT 1",
                &[&room_nid],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Thread roots of the room with the stream position of their latest
    /// reply, latest first, below position `before`.
    pub async fn thread_roots(
        &self,
        room_nid: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT relates_to_nid, max(stream_ordering) AS latest FROM events
                 WHERE room_nid = $1 AND rel_type = 'm.thread' AND relates_to_nid IS NOT NULL
                 GROUP BY relates_to_nid
                 HAVING max(stream_ordering) < $2
                 ORDER BY latest DESC LIMIT $3",
                &[&room_nid, &before, &limit],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// Whether `user_id` sent the thread root `root` or replied in its
    /// thread.
    pub async fn participated_in_thread(
        &self,
        root: i64,
        user_id: &str,
    ) -> Result<bool, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_one(
                "SELECT EXISTS (
                     SELECT 1 FROM events e JOIN state_keys k ON k.state_key_nid = e.sender_nid
                     WHERE k.state_key = $2
                       AND (e.event_nid = $1 OR (e.relates_to_nid = $1 AND e.rel_type = 'm.thread')))",
                &[&root, &user_id],
            )
            .await?;
        Ok(row.get(0))
    }

    /// The transaction IDs under which `device_id` sent any of `nids`.
    pub async fn transaction_ids(
        &self,
        nids: &[i64],
        user_id: &str,
        device_id: &str,
    ) -> Result<std::collections::HashMap<i64, String>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT event_nid, txn_id FROM event_transactions
                 WHERE event_nid = ANY($1) AND user_id = $2 AND device_id = $3",
                &[&nids, &user_id, &device_id],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The event a device already sent with this transaction ID.
    pub async fn transaction_event(
        &self,
        user_id: &str,
        device_id: &str,
        txn_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT e.event_id FROM event_transactions t JOIN events e USING (event_nid)
                 WHERE t.user_id = $1 AND t.device_id = $2 AND t.txn_id = $3",
                &[&user_id, &device_id, &txn_id],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }
}

impl Write {
    /// Inserts an event, the client transaction that sent it if any, and
    /// its federation queue entries (one per other server joined to the
    /// room), in one statement (one round trip).
    pub async fn insert_event(&self, event: &NewEventRow<'_>) -> Result<InsertedEvent, StoreError> {
        let (user_id, device_id, txn_id) = match event.transaction {
            Some((user, device, txn)) => (Some(user), Some(device), Some(txn)),
            None => (None, None, None),
        };
        let row = self
            .client()
            .cached_query_one(
                "WITH inserted AS (
                     INSERT INTO events (event_id, room_nid, type_nid, state_key_nid, sender_nid,
                                         depth, origin_server_ts, state_before, relates_to_nid,
                                         rel_type, json, stream_ordering, outlier, rejected,
                                         soft_failed)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                             CASE WHEN NOT $16 THEN NULL
                                  ELSE COALESCE($21, nextval('event_stream')) END,
                             $17, $18, $19)
                     RETURNING event_nid, stream_ordering
                 ), sent AS (
                     INSERT INTO event_transactions (user_id, device_id, txn_id, event_nid,
                                                     created_ts)
                     SELECT $12::text, $13::text, $14::text, event_nid, $15 FROM inserted
                     WHERE $14::text IS NOT NULL
                 ), queued AS (
                     INSERT INTO federation_pdu_queue (destination_nid, event_nid)
                     SELECT s.destination_nid, i.event_nid FROM inserted i, room_servers s
                     WHERE $20::int IS NOT NULL AND s.room_nid = $2 AND s.joined > 0
                       AND s.destination_nid <> $20
                     RETURNING destination_nid
                 ), pending AS (
                     DELETE FROM pending_redactions WHERE target_event_id = $1
                     RETURNING redaction_nid
                 )
                 SELECT event_nid, stream_ordering,
                        ARRAY(SELECT destination_nid FROM queued),
                        ARRAY(SELECT redaction_nid FROM pending)
                 FROM inserted",
                &[
                    &event.event_id,
                    &event.room_nid,
                    &event.type_nid,
                    &event.state_key_nid,
                    &event.sender_nid,
                    &event.depth,
                    &event.origin_server_ts,
                    &event.state_before,
                    &event.relates_to_nid,
                    &event.rel_type,
                    &event.json,
                    &user_id,
                    &device_id,
                    &txn_id,
                    &event.now_ms,
                    &event.in_timeline,
                    &event.outlier,
                    &event.rejected,
                    &event.soft_failed,
                    &event.queue_except,
                    &event.historical_position,
                ],
            )
            .await?;
        Ok(InsertedEvent {
            event_nid: row.get(0),
            stream_ordering: row.get(1),
            destinations: row.get(2),
            pending_redactions: row.get(3),
        })
    }

    /// Whether the event is stored, and if so whether as an outlier.
    pub async fn event_standing(&self, event_id: &str) -> Result<Option<bool>, StoreError> {
        let row = self
            .client()
            .cached_query_opt(
                "SELECT outlier FROM events WHERE event_id = $1",
                &[&event_id],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Keeps a received redaction of an event not here yet, for when the
    /// event arrives.
    pub async fn add_pending_redaction(
        &self,
        target_event_id: &str,
        redaction_nid: i64,
    ) -> Result<(), StoreError> {
        self.client()
            .cached_execute(
                "INSERT INTO pending_redactions (target_event_id, redaction_nid)
                 VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&target_event_id, &redaction_nid],
            )
            .await?;
        Ok(())
    }

    /// `count` event numbers for rows inserted later with them.
    pub async fn allocate_event_nids(&self, count: i64) -> Result<Vec<i64>, StoreError> {
        let rows = self
            .client()
            .cached_query(
                "SELECT nextval(pg_get_serial_sequence('events', 'event_nid'))
                 FROM generate_series(1::bigint, $1::bigint)",
                &[&count],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Inserts outliers of the room, numbered already, in one statement.
    pub async fn insert_outliers(
        &self,
        room_nid: i64,
        rows: &[NewOutlierRow],
    ) -> Result<(), StoreError> {
        let column = |f: fn(&NewOutlierRow) -> i64| -> Vec<i64> { rows.iter().map(f).collect() };
        let nids = column(|r| r.event_nid);
        let ids: Vec<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
        let types: Vec<i32> = rows.iter().map(|r| r.type_nid).collect();
        let state_keys: Vec<Option<i64>> = rows.iter().map(|r| r.state_key_nid).collect();
        let senders = column(|r| r.sender_nid);
        let depths = column(|r| r.depth);
        let timestamps = column(|r| r.origin_server_ts);
        let states = column(|r| r.state_before);
        let relates: Vec<Option<i64>> = rows.iter().map(|r| r.relates_to_nid).collect();
        let rel_types: Vec<Option<&str>> = rows.iter().map(|r| r.rel_type.as_deref()).collect();
        let jsons: Vec<&str> = rows.iter().map(|r| r.json.as_str()).collect();
        self.client()
            .cached_execute(
                "INSERT INTO events (event_nid, event_id, room_nid, type_nid, state_key_nid,
                                     sender_nid, depth, origin_server_ts, state_before,
                                     relates_to_nid, rel_type, json, stream_ordering, outlier)
                 OVERRIDING SYSTEM VALUE
                 SELECT n, i, $1, t, k, s, d, ts, sb, r, rt, j, NULL, TRUE
                 FROM unnest($2::bigint[], $3::text[], $4::int[], $5::bigint[], $6::bigint[],
                             $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
                             $11::text[], $12::text[])
                      AS u(n, i, t, k, s, d, ts, sb, r, rt, j)",
                &[
                    &room_nid,
                    &nids,
                    &ids,
                    &types,
                    &state_keys,
                    &senders,
                    &depths,
                    &timestamps,
                    &states,
                    &relates,
                    &rel_types,
                    &jsons,
                ],
            )
            .await?;
        Ok(())
    }

    /// Gives a stored outlier its place in the graph: the state before it,
    /// and a stream position when `in_timeline` (not when rejected or
    /// soft-failed): `historical_position` for older history, else the
    /// next one. Returns its number, its position and the redactions of it
    /// that were pending (taken off the list).
    pub async fn promote_outlier(
        &self,
        event_id: &str,
        state_before: i64,
        (in_timeline, historical_position): (bool, Option<i64>),
        rejected: Option<&str>,
        soft_failed: bool,
    ) -> Result<(i64, Option<i64>, Vec<i64>), StoreError> {
        let row = self
            .client()
            .cached_query_one(
                "WITH promoted AS (
                     UPDATE events SET outlier = FALSE, state_before = $2,
                            stream_ordering = CASE WHEN NOT $3 THEN NULL
                                                   ELSE COALESCE($6, nextval('event_stream')) END,
                            rejected = $4, soft_failed = $5
                     WHERE event_id = $1 AND outlier
                     RETURNING event_nid, stream_ordering
                 ), pending AS (
                     DELETE FROM pending_redactions WHERE target_event_id = $1
                     RETURNING redaction_nid
                 )
                 SELECT event_nid, stream_ordering, ARRAY(SELECT redaction_nid FROM pending)
                 FROM promoted",
                &[
                    &event_id,
                    &state_before,
                    &in_timeline,
                    &rejected,
                    &soft_failed,
                    &historical_position,
                ],
            )
            .await?;
        Ok((row.get(0), row.get(1), row.get(2)))
    }

    /// The number of an event of the room, if stored.
    pub async fn event_nid(&self, event_id: &str) -> Result<Option<i64>, StoreError> {
        let row = self
            .client()
            .cached_query_opt(
                "SELECT event_nid FROM events WHERE event_id = $1",
                &[&event_id],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Replaces an event's JSON by its redacted form: the original content
    /// is gone from the table.
    pub async fn redact_event(
        &self,
        event_nid: i64,
        redacted_json: &str,
        redacted_by: i64,
    ) -> Result<(), StoreError> {
        self.client()
            .cached_execute(
                "UPDATE events SET json = $2, redacted_by = $3,
                                   relates_to_nid = NULL, rel_type = NULL
                 WHERE event_nid = $1",
                &[&event_nid, &redacted_json, &redacted_by],
            )
            .await?;
        Ok(())
    }
}
