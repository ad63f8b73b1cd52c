//! Waking waiting /syncs: each registers the topics it cares about (its
//! user, its joined rooms) and sleeps; a committed change wakes only the
//! syncs listening on its topics. Nothing polls: a waiting sync costs a
//! parked future and one entry per topic.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// What a change concerns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Topic {
    /// Something in the room (event, receipt, typing) for its members.
    Room(i64),
    /// Something for one user (account data, a membership of theirs in a
    /// room they are not joined to yet).
    User(String),
}

#[derive(Debug, Default)]
pub(crate) struct Notifier {
    listeners: Mutex<HashMap<Topic, Vec<Arc<Notify>>>>,
}

/// A registration; dropping it unregisters.
#[derive(Debug)]
pub(crate) struct Listener<'a> {
    notifier: &'a Notifier,
    notify: Arc<Notify>,
    topics: HashSet<Topic>,
}

impl Listener<'_> {
    /// Listens on `topics` too.
    pub fn add(&mut self, topics: impl IntoIterator<Item = Topic>) {
        let mut listeners = self.notifier.lock();
        for topic in topics {
            if self.topics.insert(topic.clone()) {
                listeners
                    .entry(topic)
                    .or_default()
                    .push(self.notify.clone());
            }
        }
    }

    /// Returns once something was published on one of the topics since
    /// the registration (or since the last return).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Listener<'_> {
    fn drop(&mut self) {
        let mut listeners = self.notifier.lock();
        for topic in &self.topics {
            if let Some(list) = listeners.get_mut(topic) {
                list.retain(|notify| !Arc::ptr_eq(notify, &self.notify));
                if list.is_empty() {
                    listeners.remove(topic);
                }
            }
        }
    }
}

impl Notifier {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Topic, Vec<Arc<Notify>>>> {
        crate::lock(&self.listeners)
    }

    /// Registers for `topics`. Register before reading what is new, so a
    /// change committed in between is not missed: it leaves a wake-up.
    pub fn listen(&self, topics: Vec<Topic>) -> Listener<'_> {
        let mut listener = Listener {
            notifier: self,
            notify: Arc::new(Notify::new()),
            topics: HashSet::new(),
        };
        listener.add(topics);
        listener
    }

    /// Wakes everyone listening on any of `topics`.
    pub fn publish<'t>(&self, topics: impl IntoIterator<Item = &'t Topic>) {
        let listeners = self.lock();
        for topic in topics {
            for notify in listeners.get(topic).into_iter().flatten() {
                // Stores a wake-up when the listener is not waiting yet.
                notify.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_listeners_of_a_topic_wake() {
        let notifier = Notifier::default();
        let room = notifier.listen(vec![Topic::Room(1), Topic::User("@a:x".into())]);
        let other = notifier.listen(vec![Topic::Room(2)]);
        notifier.publish(&[Topic::Room(1)]);
        // The wake-up is stored: it was published before anyone waited.
        tokio::time::timeout(std::time::Duration::from_secs(1), room.notified())
            .await
            .expect("the room's listener wakes");
        let woke = tokio::time::timeout(std::time::Duration::from_millis(50), other.notified())
            .await
            .is_ok();
        assert!(!woke, "another room's listener sleeps on");
        drop(room);
        drop(other);
        assert!(notifier.lock().is_empty(), "dropped listeners unregister");
    }
}
