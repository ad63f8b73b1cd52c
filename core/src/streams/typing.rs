//! Who is typing in which room: held in memory only, as typing
//! notifications are worthless after a restart. Each change takes the
//! next position of one counter; /sync sends a room's typists when its
//! last change lies after the token's position.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::notifier::{Notifier, Topic};
use crate::clock::now_ms;

#[derive(Debug)]
pub(crate) struct Typing {
    notifier: Arc<Notifier>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    position: i64,
    rooms: HashMap<i64, RoomTyping>,
}

#[derive(Debug, Default)]
struct RoomTyping {
    /// The position of the room's last change.
    changed_at: i64,
    /// Typists and when their notification expires.
    users: BTreeMap<String, Instant>,
}

impl Typing {
    pub fn new(notifier: Arc<Notifier>) -> Self {
        Self {
            notifier,
            // Positions start at the clock, so a token from before a
            // restart lies behind every change made after it.
            state: Mutex::new(State {
                position: now_ms(),
                rooms: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::lock(&self.state)
    }

    /// The position of the latest change.
    pub fn position(&self) -> i64 {
        self.lock().position
    }

    /// `user` types in the room for `timeout` (`None`: stopped typing).
    pub fn set(self: &Arc<Self>, room: i64, user: &str, timeout: Option<Duration>) {
        let changed = {
            let mut state = self.lock();
            let typists = &mut state.rooms.entry(room).or_default().users;
            let changed = match timeout {
                Some(timeout) => typists
                    .insert(user.to_owned(), Instant::now() + timeout)
                    .is_none(),
                None => typists.remove(user).is_some(),
            };
            if changed {
                state.changed(room);
            }
            changed
        };
        // Renewing a notification changes nothing anyone sees.
        if !changed {
            return;
        }
        self.notifier.publish(&[Topic::Room(room)]);
        if timeout.is_some() {
            let typing = self.clone();
            let user = user.to_owned();
            tokio::spawn(async move { typing.expire(room, user).await });
        }
    }

    /// Ends `user`'s typing once its (possibly extended) deadline passes.
    async fn expire(&self, room: i64, user: String) {
        loop {
            let deadline = {
                let state = self.lock();
                match state.rooms.get(&room).and_then(|r| r.users.get(&user)) {
                    Some(deadline) => *deadline,
                    None => return, // stopped typing
                }
            };
            tokio::time::sleep_until(deadline).await;
            let mut state = self.lock();
            let Some(typing) = state.rooms.get_mut(&room) else {
                return;
            };
            if typing
                .users
                .get(&user)
                .is_some_and(|d| *d <= Instant::now())
            {
                typing.users.remove(&user);
                state.changed(room);
                drop(state);
                self.notifier.publish(&[Topic::Room(room)]);
                return;
            }
        }
    }

    /// The room's typists when they changed after `since`.
    pub fn changed_since(&self, room: i64, since: i64) -> Option<Vec<String>> {
        let state = self.lock();
        let typing = state.rooms.get(&room)?;
        (typing.changed_at > since).then(|| typing.users.keys().cloned().collect())
    }
}

impl State {
    fn changed(&mut self, room: i64) {
        self.position += 1;
        let position = self.position;
        // Kept when nobody types any more: syncs must learn that too.
        self.rooms.entry(room).or_default().changed_at = position;
    }
}
