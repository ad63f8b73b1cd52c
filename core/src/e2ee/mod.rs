//! End-to-end encryption, the server's part: it stores and routes the
//! keys and ciphertext clients make, and never encrypts or decrypts.
//! Devices publish identity, one-time and fallback keys ([`keys`]);
//! others' clients follow device list changes ([`device_lists`]) and send
//! to-device messages ([`to_device`]), delivered by /sync exactly once.

mod device_lists;
mod keys;
mod to_device;

pub use device_lists::DeviceListChanges;
pub use keys::{KeysClaim, KeysQuery};
pub use to_device::Acknowledged;
pub(crate) use to_device::ToDeviceBatch;
