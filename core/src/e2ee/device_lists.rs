//! Device list changes: who must query whose keys again. A user's change
//! reaches those who share an encrypted room with them (and their own
//! other devices), and only them; joining and leaving encrypted rooms
//! adds users to `changed` and `left`.

use std::collections::BTreeSet;
use std::future::Future;

use hanse_protocol::identifiers::UserId;

use crate::streams::Topic;
use crate::sync::SyncToken;
use crate::{Homeserver, Result};

/// `device_lists` of /sync and /keys/changes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeviceListChanges {
    pub changed: Vec<String>,
    pub left: Vec<String>,
}

impl DeviceListChanges {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.left.is_empty()
    }
}

impl Homeserver {
    /// Runs `write`, which may record device list changes of `users` and
    /// returns the last position if it did, then wakes the syncs that must
    /// hear of them: the users' own and those of everyone in their
    /// encrypted rooms.
    pub(crate) async fn device_list_write<T>(
        &self,
        users: &[&str],
        write: impl Future<Output = Result<(T, Option<i64>)>>,
    ) -> Result<T> {
        let mut ticket = self.streams.device_lists.begin(&self.store).await?;
        let (result, position) = write.await?;
        if let Some(position) = position {
            ticket.allocated(position);
            let mut topics = Vec::new();
            for user in users {
                topics.push(Topic::User((*user).to_owned()));
                let rooms = self.store.encrypted_rooms_of(user).await?;
                topics.extend(rooms.into_iter().map(Topic::Room));
            }
            ticket.committed(topics);
        }
        Ok(result)
    }

    /// GET /keys/changes: whose devices changed between two sync tokens.
    pub async fn key_changes(
        &self,
        session: &crate::accounts::Session,
        from: SyncToken,
        to: SyncToken,
    ) -> Result<DeviceListChanges> {
        let rooms: Vec<i64> = self
            .store
            .memberships_of(session.user_id.as_str(), None)
            .await?
            .iter()
            .map(|row| row.room_nid)
            .collect();
        self.device_list_changes(&session.user_id, from, to, &rooms)
            .await
    }

    /// What changed for `user`'s view of device lists between two tokens;
    /// membership changes are looked for in `rooms` (those of the user's
    /// that may have had one).
    pub(crate) async fn device_list_changes(
        &self,
        user: &UserId,
        from: SyncToken,
        to: SyncToken,
        rooms: &[i64],
    ) -> Result<DeviceListChanges> {
        let me = user.as_str();
        let mut changed = BTreeSet::new();
        if from.device_lists < to.device_lists {
            changed.extend(
                self.store
                    .device_lists_changed_for(me, from.device_lists, to.device_lists)
                    .await?,
            );
        }
        let mut parted = BTreeSet::new();
        if from.events < to.events && !rooms.is_empty() {
            for (room, member, membership) in self
                .store
                .encrypted_member_changes(rooms, from.events, to.events)
                .await?
            {
                let joined = membership == "join";
                if member == me {
                    // Everyone in a room the user joined or left.
                    let members = self.store.joined_members(room).await?;
                    if joined {
                        changed.extend(members);
                    } else {
                        parted.extend(members);
                    }
                } else if joined {
                    changed.insert(member);
                } else {
                    parted.insert(member);
                }
            }
        }
        parted.remove(me);
        let candidates: Vec<String> = parted.into_iter().collect();
        let still_shared: BTreeSet<String> = if candidates.is_empty() {
            BTreeSet::new()
        } else {
            self.store
                .sharing_encrypted_room(me, &candidates)
                .await?
                .into_iter()
                .collect()
        };
        let left: Vec<String> = candidates
            .into_iter()
            .filter(|user| !still_shared.contains(user))
            .collect();
        for user in &left {
            changed.remove(user);
        }
        Ok(DeviceListChanges {
            changed: changed.into_iter().collect(),
            left,
        })
    }
}
