//! The streams /sync reads from (room events, account data, receipts,
//! presence, typing, to-device messages, device list changes), the
//! positions in them that are safe to hand out, and the notifier that
//! wakes waiting syncs.

pub(crate) mod notifier;
mod tracker;
pub(crate) mod typing;

use std::sync::Arc;

pub(crate) use notifier::Topic;
pub(crate) use tracker::{StreamTicket, StreamTracker};

use crate::{Homeserver, Result};

/// The streams' shared bookkeeping.
#[derive(Debug)]
pub struct Streams {
    pub(crate) notifier: Arc<notifier::Notifier>,
    pub(crate) events: StreamTracker,
    pub(crate) account_data: StreamTracker,
    pub(crate) receipts: StreamTracker,
    pub(crate) presence: StreamTracker,
    pub(crate) to_device: StreamTracker,
    pub(crate) device_lists: StreamTracker,
    pub(crate) typing: Arc<typing::Typing>,
}

impl Default for Streams {
    fn default() -> Self {
        let notifier = Arc::new(notifier::Notifier::default());
        let tracker = |sequence| StreamTracker::new(sequence, notifier.clone());
        Self {
            events: tracker("event_stream"),
            account_data: tracker("account_data_stream"),
            receipts: tracker("receipts_stream"),
            presence: tracker("presence_stream"),
            to_device: tracker("to_device_stream"),
            device_lists: tracker("device_list_stream"),
            typing: Arc::new(typing::Typing::new(notifier.clone())),
            notifier,
        }
    }
}

impl Homeserver {
    /// The highest event stream position at or below which every event is
    /// committed.
    pub(crate) async fn persisted_position(&self) -> Result<i64> {
        self.streams.events.persisted(&self.store).await
    }
}
