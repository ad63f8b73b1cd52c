//! The federation sender's queue: destinations and their delivery state,
//! the PDUs and EDUs waiting for each, and which servers are in which room.

use deadpool_postgres::Object;

use super::prepared::Prepared;
use super::{Store, StoreError, Write};

/// A transaction formed for a destination and not yet answered with 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTransaction {
    pub txn_id: String,
    /// When it was formed (its `origin_server_ts`), in milliseconds.
    pub ts: i64,
    /// Event numbers, in the order they are sent.
    pub pdus: Vec<i64>,
    /// Queued EDU numbers, in the order they are sent.
    pub edus: Vec<i64>,
}

/// A destination leased by this process.
#[derive(Debug, Clone)]
pub struct LeasedDestination {
    pub server_name: String,
    pub failures: i32,
    /// No attempt before this (milliseconds).
    pub retry_at: i64,
    pub transaction: Option<PendingTransaction>,
}

/// How many queued PDUs and EDUs were dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    pub pdus: u64,
    pub edus: u64,
}

fn transaction_from(row: &tokio_postgres::Row, first: usize) -> Option<PendingTransaction> {
    let txn_id: Option<String> = row.get(first);
    txn_id.map(|txn_id| PendingTransaction {
        txn_id,
        ts: row.get::<_, Option<i64>>(first + 1).unwrap_or_default(),
        pdus: row
            .get::<_, Option<Vec<i64>>>(first + 2)
            .unwrap_or_default(),
        edus: row
            .get::<_, Option<Vec<i64>>>(first + 3)
            .unwrap_or_default(),
    })
}

impl Store {
    /// The number of a destination, creating it if new. Commits on its own
    /// (like interning), so the number can be cached.
    pub async fn intern_destination(&self, server_name: &str) -> Result<i32, StoreError> {
        let client = self.client().await?;
        client
            .cached_execute(
                "INSERT INTO federation_destinations (server_name) VALUES ($1)
                 ON CONFLICT DO NOTHING",
                &[&server_name],
            )
            .await?;
        let row = client
            .cached_query_one(
                "SELECT destination_nid FROM federation_destinations WHERE server_name = $1",
                &[&server_name],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Takes or renews the lease of a destination for `owner` until
    /// `until`; `None` while another process holds it.
    pub async fn lease_destination(
        &self,
        destination: i32,
        owner: &str,
        now_ms: i64,
        until: i64,
    ) -> Result<Option<LeasedDestination>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "UPDATE federation_destinations SET lease_owner = $2, lease_until = $4
                 WHERE destination_nid = $1
                   AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < $3)
                 RETURNING server_name, failures, retry_at, txn_id, txn_ts, txn_pdus, txn_edus",
                &[&destination, &owner, &now_ms, &until],
            )
            .await?;
        Ok(row.map(|row| LeasedDestination {
            server_name: row.get(0),
            failures: row.get(1),
            retry_at: row.get(2),
            transaction: transaction_from(&row, 3),
        }))
    }

    /// Gives up `owner`'s lease of one destination, or of all it holds.
    pub async fn release_destinations(
        &self,
        owner: &str,
        destination: Option<i32>,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "UPDATE federation_destinations SET lease_owner = NULL, lease_until = 0
                 WHERE lease_owner = $1 AND ($2::int IS NULL OR destination_nid = $2)",
                &[&owner, &destination],
            )
            .await?;
        Ok(())
    }

    /// Forms the destination's next transaction from the oldest queued
    /// PDUs and EDUs (at most `max_pdus` and `max_edus`) and records it, if
    /// `owner` holds the lease, none is pending and anything is queued.
    pub async fn form_transaction(
        &self,
        destination: i32,
        owner: &str,
        txn_prefix: &str,
        now_ms: i64,
        max_pdus: i64,
        max_edus: i64,
    ) -> Result<Option<PendingTransaction>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "UPDATE federation_destinations d
                 SET txn_counter = txn_counter + 1,
                     txn_id = $3 || (txn_counter + 1)::text,
                     txn_ts = $4,
                     txn_pdus = ARRAY(SELECT event_nid FROM federation_pdu_queue q
                                      WHERE q.destination_nid = $1
                                      ORDER BY event_nid LIMIT $5),
                     txn_edus = ARRAY(SELECT edu_nid FROM federation_edu_queue q
                                      WHERE q.destination_nid = $1
                                      ORDER BY edu_nid LIMIT $6)
                 WHERE destination_nid = $1 AND lease_owner = $2 AND txn_id IS NULL
                   AND (EXISTS (SELECT 1 FROM federation_pdu_queue q
                                WHERE q.destination_nid = $1)
                        OR EXISTS (SELECT 1 FROM federation_edu_queue q
                                   WHERE q.destination_nid = $1))
                 RETURNING txn_id, txn_ts, txn_pdus, txn_edus",
                &[
                    &destination,
                    &owner,
                    &txn_prefix,
                    &now_ms,
                    &max_pdus,
                    &max_edus,
                ],
            )
            .await?;
        Ok(row.and_then(|row| transaction_from(&row, 0)))
    }

    /// The stored JSON of events, in the order of `event_nids` (events
    /// gone meanwhile are left out).
    pub async fn events_json(&self, event_nids: &[i64]) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT e.json FROM unnest($1::bigint[]) WITH ORDINALITY AS t(nid, n)
                 JOIN events e ON e.event_nid = t.nid ORDER BY t.n",
                &[&event_nids],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// The type and content (JSON text) of queued EDUs, in queue order.
    pub async fn queued_edus(&self, edu_nids: &[i64]) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT edu_type, content FROM federation_edu_queue
                 WHERE edu_nid = ANY($1) ORDER BY edu_nid",
                &[&edu_nids],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The destination took transaction `txn_id`: its PDUs and EDUs leave
    /// the queue and the back-off ends. Returns the failures before it,
    /// `None` if that transaction was no longer pending.
    pub async fn complete_transaction(
        &self,
        destination: i32,
        txn_id: &str,
    ) -> Result<Option<i32>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "WITH done AS (
                     SELECT destination_nid, failures, txn_pdus, txn_edus
                     FROM federation_destinations
                     WHERE destination_nid = $1 AND txn_id = $2 FOR UPDATE
                 ), pdus AS (
                     DELETE FROM federation_pdu_queue q USING done
                     WHERE q.destination_nid = done.destination_nid
                       AND q.event_nid = ANY(done.txn_pdus)
                 ), edus AS (
                     DELETE FROM federation_edu_queue q USING done
                     WHERE q.edu_nid = ANY(done.txn_edus)
                 )
                 UPDATE federation_destinations d
                 SET txn_id = NULL, txn_ts = NULL, txn_pdus = NULL, txn_edus = NULL,
                     failures = 0, retry_at = 0
                 FROM done WHERE d.destination_nid = done.destination_nid
                 RETURNING done.failures",
                &[&destination, &txn_id],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Records a failed attempt: no new one before `retry_at`.
    pub async fn record_failure(
        &self,
        destination: i32,
        failures: i32,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "UPDATE federation_destinations SET failures = $2, retry_at = $3
                 WHERE destination_nid = $1",
                &[&destination, &failures, &retry_at],
            )
            .await?;
        Ok(())
    }

    /// Empties the destination's queue and forgets its pending transaction.
    pub async fn drop_destination_queue(&self, destination: i32) -> Result<Dropped, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_one(
                "WITH pdus AS (
                     DELETE FROM federation_pdu_queue WHERE destination_nid = $1 RETURNING 1
                 ), edus AS (
                     DELETE FROM federation_edu_queue WHERE destination_nid = $1 RETURNING 1
                 ), reset AS (
                     UPDATE federation_destinations
                     SET txn_id = NULL, txn_ts = NULL, txn_pdus = NULL, txn_edus = NULL,
                         failures = 0, retry_at = 0
                     WHERE destination_nid = $1
                 )
                 SELECT (SELECT count(*) FROM pdus), (SELECT count(*) FROM edus)",
                &[&destination],
            )
            .await?;
        let count = |i| u64::try_from(row.get::<_, i64>(i)).unwrap_or_default();
        Ok(Dropped {
            pdus: count(0),
            edus: count(1),
        })
    }

    /// Destinations (all, or `only`) with something to send whose lease is
    /// free, expired or `owner`'s.
    pub async fn destinations_with_work(
        &self,
        owner: &str,
        now_ms: i64,
        only: Option<i32>,
    ) -> Result<Vec<i32>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT destination_nid FROM federation_destinations d
                 WHERE (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $2)
                   AND ($3::int IS NULL OR destination_nid = $3)
                   AND (txn_id IS NOT NULL
                        OR EXISTS (SELECT 1 FROM federation_pdu_queue q
                                   WHERE q.destination_nid = d.destination_nid)
                        OR EXISTS (SELECT 1 FROM federation_edu_queue q
                                   WHERE q.destination_nid = d.destination_nid))",
                &[&owner, &now_ms, &only],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Queues an EDU for a destination.
    pub async fn enqueue_edu(
        &self,
        destination: i32,
        edu_type: &str,
        content: &str,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "INSERT INTO federation_edu_queue (destination_nid, edu_type, content)
                 VALUES ($1, $2, $3)",
                &[&destination, &edu_type, &content],
            )
            .await?;
        Ok(())
    }
}

/// Queues an event received from another server for every server joined
/// to the room but those of `except`; returns the destinations.
async fn forward_pdu_on(
    client: &Object,
    room_nid: i64,
    event_nid: i64,
    except: &[i32],
) -> Result<Vec<i32>, StoreError> {
    let rows = client
        .cached_query(
            "INSERT INTO federation_pdu_queue (destination_nid, event_nid)
             SELECT destination_nid, $2 FROM room_servers
             WHERE room_nid = $1 AND joined > 0 AND destination_nid <> ALL($3)
             ON CONFLICT DO NOTHING
             RETURNING destination_nid",
            &[&room_nid, &event_nid, &except],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

impl Store {
    /// [`forward_pdu_on`] on a connection of its own.
    pub async fn forward_pdu(
        &self,
        room_nid: i64,
        event_nid: i64,
        except: &[i32],
    ) -> Result<Vec<i32>, StoreError> {
        forward_pdu_on(&self.client().await?, room_nid, event_nid, except).await
    }
}

impl Write {
    /// Counts a member of `destination` joining (`delta` 1) or no longer
    /// joined (-1) to the room.
    pub async fn count_room_server(
        &self,
        room_nid: i64,
        destination: i32,
        delta: i32,
    ) -> Result<(), StoreError> {
        self.client()
            .cached_execute(
                "INSERT INTO room_servers (room_nid, destination_nid, joined) VALUES ($1, $2, $3)
                 ON CONFLICT (room_nid, destination_nid)
                 DO UPDATE SET joined = room_servers.joined + EXCLUDED.joined",
                &[&room_nid, &destination, &delta],
            )
            .await?;
        Ok(())
    }

    /// [`forward_pdu_on`] in this transaction.
    pub async fn forward_pdu(
        &self,
        room_nid: i64,
        event_nid: i64,
        except: &[i32],
    ) -> Result<Vec<i32>, StoreError> {
        forward_pdu_on(self.client(), room_nid, event_nid, except).await
    }

    /// Queues an event for one more destination (no-op if already queued).
    pub async fn enqueue_pdu(&self, destination: i32, event_nid: i64) -> Result<bool, StoreError> {
        let inserted = self
            .client()
            .cached_execute(
                "INSERT INTO federation_pdu_queue (destination_nid, event_nid) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[&destination, &event_nid],
            )
            .await?;
        Ok(inserted == 1)
    }
}
