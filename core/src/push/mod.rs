//! Push notifications: which events notify a user by their push rules,
//! counted as unread in /sync, listed by /notifications, and sent to
//! the push gateways of their pushers.

mod delivery;
mod evaluate;
mod notifications;
mod pushers;
mod unread;

pub use delivery::PushDelivery;
pub use notifications::NotificationsQuery;
pub use unread::UnreadCounts;
pub(crate) use unread::{rules_fingerprint, CountRequest};
