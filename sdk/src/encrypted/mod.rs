//! A client with end-to-end encryption: [`EncryptedClient`] drives the
//! [`CryptoMachine`](crate::crypto::CryptoMachine) over HTTP the way the
//! spec's client behaviour describes.
//!
//! One module per concern: `client` (the type, its directory, publishing
//! keys), `sync` (taking in a `/sync`), `room_state` (members and
//! settings of each room), `device_lists` (following other users'
//! devices), `send` (sharing room keys and sending), `timeline`
//! (decrypted room events), `backup` (server-side key backup),
//! `sync_state` (what is kept between runs) and `error`.

mod backup;
mod client;
mod device_lists;
mod error;
mod room_state;
mod send;
mod sync;
mod sync_state;
mod timeline;

pub use backup::RestoredKeys;
pub use client::EncryptedClient;
pub use error::EncryptedClientError;
pub use room_state::{Membership, RoomEncryption, RoomState};
pub use send::SentEvent;
pub use sync::{SyncUpdate, ToDeviceEvent};
pub use timeline::{Decryption, TimelineEvent};
