//! Following other users' devices, as the spec's "tracking the device
//! list for a user" describes: the members of our encrypted rooms are
//! tracked; a user becomes outdated when first tracked and whenever a sync
//! lists them under `device_lists.changed`; outdated users are fetched
//! with `/keys/query` before anything is encrypted to them.
//!
//! The spec warns that two overlapping queries can leave an old answer in
//! place. That cannot happen here: the client's methods take `&mut self`,
//! so one query at a time, and a user is marked fresh only by the answer
//! to a query made after they were marked outdated.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::{EncryptedClient, EncryptedClientError};

impl EncryptedClient {
    /// Takes in what a sync says about device lists. `tracked_before`: the
    /// tracked users before the sync's room state was taken in, so that
    /// users tracked from now on are fetched.
    pub(crate) fn note_device_list_changes(
        &mut self,
        tracked_before: &BTreeSet<String>,
        device_lists: &Value,
    ) {
        let tracked = self.state.tracked_users();
        let users = |field: &str| -> Vec<String> {
            device_lists[field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        let outdated = &mut self.state.outdated_device_lists;
        outdated.extend(tracked.difference(tracked_before).cloned());
        outdated.extend(
            users("changed")
                .into_iter()
                .filter(|user| tracked.contains(user)),
        );
        // `left`: no encrypted room is shared any more. Our own room state
        // says the same once the leave is seen; both end the tracking.
        for user in users("left") {
            outdated.remove(&user);
        }
        outdated.retain(|user| tracked.contains(user));
    }

    /// Fetches the devices of every outdated tracked user in one
    /// `/keys/query`. Users the answer leaves out (their server did not
    /// answer) stay outdated and are asked for again next time.
    ///
    /// Devices whose keys fail their signature check, or whose identity key
    /// changed, are refused by the engine and so never get a room key.
    pub(crate) async fn refresh_device_lists(&mut self) -> Result<(), EncryptedClientError> {
        if self.state.outdated_device_lists.is_empty() {
            return Ok(());
        }
        let wanted: Map<String, Value> = self
            .state
            .outdated_device_lists
            .iter()
            .map(|user| (user.clone(), json!([])))
            .collect();
        let answer: Value = self
            .client
            .post(
                "/_matrix/client/v3/keys/query",
                &json!({ "device_keys": wanted }),
            )
            .await?;
        self.machine.receive_keys_query(&answer)?;
        if let Some(answered) = answer["device_keys"].as_object() {
            self.state
                .outdated_device_lists
                .retain(|user| !answered.contains_key(user));
        }
        self.save_state()
    }
}
