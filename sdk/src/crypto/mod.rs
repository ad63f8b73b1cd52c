//! End-to-end encryption for Matrix clients: Olm for to-device messages,
//! Megolm for rooms, and server-side key backup, on vodozemac.
//!
//! [`CryptoMachine`] is the way in; the other public types are what its
//! methods take and return. The engine does no I/O besides its optional
//! store directory: callers feed it the JSON of server answers and events,
//! and send the JSON it produces.
//!
//! One module per concept: `account` (our identity and published keys),
//! `signing` (signed JSON), `device` (other devices' keys), `olm`
//! (one-to-one sessions), `outbound_group` / `inbound_group` (Megolm),
//! `backup` (key backup), `key_representation` (a backup key as
//! text for people), `store` (persistence) and `machine` (the
//! facade).

mod account;
mod backup;
mod device;
mod error;
mod inbound_group;
mod key_representation;
mod machine;
mod olm;
mod outbound_group;
mod signing;
mod store;

pub use backup::{BackupDecryptionKey, BackupPublicKey, BACKUP_ALGORITHM};
pub use device::{Device, DeviceChanges};
pub use error::CryptoError;
pub use inbound_group::{DecryptedRoomEvent, RoomKeySource};
pub use machine::{BackupRequest, ClaimOutcome, CryptoMachine, RoomKeyShare};
pub use olm::DecryptedToDevice;
pub use outbound_group::{
    EncryptionSettings, DEFAULT_ROTATION_PERIOD_MS, DEFAULT_ROTATION_PERIOD_MSGS,
};
pub use vodozemac::{Curve25519PublicKey, Ed25519PublicKey};

// The store's crash-safe file writes, for the client's own state files.
pub(crate) use store::{read_record, write_record};

/// The Olm algorithm, for to-device messages.
pub const OLM_ALGORITHM: &str = "m.olm.v1.curve25519-aes-sha2";
/// The Megolm algorithm, for room messages.
pub const MEGOLM_ALGORITHM: &str = "m.megolm.v1.aes-sha2";
/// The one-time key algorithm: Curve25519 keys signed by the device.
pub const SIGNED_CURVE25519: &str = "signed_curve25519";
