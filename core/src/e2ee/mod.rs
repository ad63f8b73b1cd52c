//! End-to-end encryption, the server's part: it stores and routes the
//! keys and ciphertext clients make, and never encrypts or decrypts.
//! Devices publish identity, one-time and fallback keys ([`keys`]);
//! others' clients follow device list changes ([`device_lists`]) and send
//! to-device messages ([`to_device`]), delivered by /sync exactly once.
//! Users keep encrypted copies of their room keys in server-side backups
//! ([`backup`]). Cross-signing keys let users vouch for their devices and
//! for each other ([`cross_signing`]). A dehydrated device receives keys
//! while none of a user's devices is online ([`dehydrated_devices`]).

mod backup;
mod cross_signing;
mod dehydrated_devices;
mod device_lists;
mod keys;
mod to_device;

pub use backup::BackupPath;
pub use cross_signing::CrossSigningUpload;
pub use device_lists::DeviceListChanges;
pub use keys::{KeysClaim, KeysQuery};
pub use to_device::Acknowledged;
pub(crate) use to_device::ToDeviceBatch;
