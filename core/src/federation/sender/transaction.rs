//! One step of a destination's task: lease the destination, form (or take
//! up again) its transaction, PUT it to `/_matrix/federation/v1/send/`, and
//! record what came of it.

use std::time::Duration;

use serde_json::{json, Value};

use super::Step;
use crate::clock::now_ms;
use crate::remote::{RemoteError, RemoteRequest};
use crate::store::PendingTransaction;
use crate::{Error, Homeserver, Result};

/// The most PDUs and EDUs in one transaction (server-server API,
/// "Transactions").
pub const MAX_PDUS: i64 = 50;
pub const MAX_EDUS: i64 = 100;

/// What one run of a destination's task delivered, for the log line when
/// its backlog is gone.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    server_name: Option<String>,
    transactions: u64,
    pdus: u64,
    edus: u64,
    /// Whether it recovered from failures on the way.
    recovered: bool,
}

impl Progress {
    /// Logs what was delivered: at info when a backlog drained (several
    /// transactions, or after failures), else at debug.
    pub(crate) fn log_drained(&self) {
        let Some(destination) = &self.server_name else {
            return;
        };
        if self.transactions > 1 || self.recovered {
            tracing::info!(%destination, transactions = self.transactions, pdus = self.pdus,
                edus = self.edus, "federation backlog delivered");
        } else if self.transactions == 1 {
            tracing::debug!(%destination, pdus = self.pdus, edus = self.edus,
                "federation transaction delivered");
        }
    }
}

impl Homeserver {
    /// Sends the destination's next transaction, if it is this process's
    /// turn and its back-off allows.
    pub(crate) async fn send_next(
        &self,
        destination: i32,
        progress: &mut Progress,
    ) -> Result<Step> {
        let sender = &self.federation_sender;
        let settings = &self.settings.federation_sender;
        let now = now_ms();
        let lease_until = now.saturating_add(millis(settings.lease));
        let Some(leased) = self
            .store
            .lease_destination(destination, &sender.node, now, lease_until)
            .await?
        else {
            return Ok(Step::Elsewhere);
        };
        let server_name = leased.server_name;
        progress.server_name = Some(server_name.clone());
        if leased.retry_at > now {
            let wait = u64::try_from(leased.retry_at - now).unwrap_or_default();
            return Ok(Step::Wait(Duration::from_millis(wait)));
        }
        let transaction = match leased.transaction {
            Some(transaction) => transaction,
            None => {
                let formed = self
                    .store
                    .form_transaction(
                        destination,
                        &sender.node,
                        &txn_prefix(now),
                        now,
                        MAX_PDUS,
                        MAX_EDUS,
                    )
                    .await?;
                match formed {
                    Some(transaction) => transaction,
                    None => {
                        self.store
                            .release_destinations(&sender.node, Some(destination))
                            .await?;
                        return Ok(Step::Idle);
                    }
                }
            }
        };
        let body = self.transaction_body(&transaction).await?;
        let destination_name = hanse_protocol::identifiers::ServerName::parse(&server_name)
            .map_err(|e| Error::Internal(format!("stored destination {server_name}: {e}")))?;
        let request = RemoteRequest::put(
            format!("/_matrix/federation/v1/send/{}", transaction.txn_id),
            body,
        );
        match self.request_server(&destination_name, request).await {
            Ok(answer) => {
                log_pdu_errors(&server_name, &answer);
                let before = self
                    .store
                    .complete_transaction(destination, &transaction.txn_id)
                    .await?;
                if before.is_some_and(|failures| failures > 0) {
                    progress.recovered = true;
                    tracing::info!(destination = %server_name, failures = before,
                        "destination reachable again; sending its backlog");
                }
                progress.transactions += 1;
                progress.pdus += transaction.pdus.len() as u64;
                progress.edus += transaction.edus.len() as u64;
                Ok(Step::Sent)
            }
            Err(RemoteError::NotAllowed { .. }) => {
                let dropped = self.store.drop_destination_queue(destination).await?;
                tracing::warn!(destination = %server_name, pdus = dropped.pdus,
                    edus = dropped.edus,
                    "federation with this server is not allowed; its queue is dropped");
                Ok(Step::Sent)
            }
            Err(error) => {
                let failures = leased.failures.saturating_add(1);
                let wait = settings
                    .backoff()
                    .after(u32::try_from(failures).unwrap_or(u32::MAX));
                self.store
                    .record_failure(destination, failures, now_ms().saturating_add(millis(wait)))
                    .await?;
                tracing::warn!(destination = %server_name, txn_id = %transaction.txn_id,
                    %error, failures, retry_in_ms = millis(wait),
                    pdus = transaction.pdus.len(), edus = transaction.edus.len(),
                    "federation transaction failed; backing off");
                Ok(Step::Wait(wait))
            }
        }
    }

    /// The body of PUT /send/{txnId}: the stored events as they are (canonical,
    /// signed, no `unsigned`) and the queued EDUs.
    async fn transaction_body(&self, transaction: &PendingTransaction) -> Result<Value> {
        let pdus = self
            .store
            .events_json(&transaction.pdus)
            .await?
            .iter()
            .map(|json| serde_json::from_str::<Value>(json))
            .collect::<Result<Vec<Value>, _>>()
            .map_err(|e| Error::Internal(format!("stored event JSON: {e}")))?;
        let edus = self
            .store
            .queued_edus(&transaction.edus)
            .await?
            .into_iter()
            .map(|(edu_type, content)| {
                let content: Value = serde_json::from_str(&content)
                    .map_err(|e| Error::Internal(format!("queued EDU content: {e}")))?;
                Ok(json!({ "edu_type": edu_type, "content": content }))
            })
            .collect::<Result<Vec<Value>>>()?;
        let mut body = json!({
            "origin": self.identity.server_name.as_str(),
            "origin_server_ts": transaction.ts,
            "pdus": pdus,
        });
        if !edus.is_empty() {
            body["edus"] = Value::Array(edus);
        }
        Ok(body)
    }
}

/// Transaction IDs are `<when formed, milliseconds in base 36>.<the
/// destination's counter>`: the time keeps them unique even if a database
/// restored from a backup counts again.
fn txn_prefix(now_ms: i64) -> String {
    let mut n = u64::try_from(now_ms).unwrap_or_default();
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect::<String>() + "."
}

/// Logs the PDUs the destination refused: they are not sent again.
fn log_pdu_errors(destination: &str, answer: &Value) {
    let Some(results) = answer.get("pdus").and_then(Value::as_object) else {
        return;
    };
    for (event_id, result) in results {
        if let Some(error) = result.get("error") {
            tracing::warn!(%destination, %event_id, %error,
                "the destination refused an event; it is not sent again");
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
