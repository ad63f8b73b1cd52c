//! [`CryptoMachine`]: the one object a client talks to for end-to-end
//! encryption.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use vodozemac::megolm::{InboundGroupSession, SessionConfig as MegolmConfig};
use vodozemac::olm::SessionConfig as OlmConfig;
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey};

use super::account::OwnAccount;
use super::backup::{self, BackupDecryptionKey, BackupPublicKey};
use super::device::{Device, DeviceChanges, KnownDevices};
use super::inbound_group::{DecryptedRoomEvent, InboundGroup, InboundGroups, RoomKeySource};
use super::olm::{check_payload, DecryptedToDevice, OlmSessions};
use super::outbound_group::{EncryptionSettings, OutboundGroupSession};
use super::store::{ActiveBackup, Store};
use super::{CryptoError, SIGNED_CURVE25519};

/// The event type of Olm- and Megolm-encrypted events.
const ENCRYPTED_EVENT_TYPE: &str = "m.room.encrypted";
/// The to-device event type that carries Megolm room keys.
const ROOM_KEY_EVENT_TYPE: &str = "m.room_key";

/// The end-to-end encryption engine of one device.
///
/// It speaks no HTTP: every method takes the JSON a client received (a
/// `/keys/query` answer, a to-device event, a room event) or returns the
/// JSON it should send (a `/keys/upload` body, to-device messages, an
/// encrypted event content). That keeps the cryptography testable without a
/// server and lets the HTTP client decide when to make requests.
///
/// A typical sender, before each message in an encrypted room:
/// 1. [`receive_keys_query`](Self::receive_keys_query) with the members'
///    devices (when their device lists changed);
/// 2. [`missing_sessions`](Self::missing_sessions) → `/keys/claim` →
///    [`receive_keys_claim`](Self::receive_keys_claim);
/// 3. [`share_room_key`](Self::share_room_key) → send its messages as
///    `m.room.encrypted` to-device events;
/// 4. [`encrypt_room_event`](Self::encrypt_room_event) → send the result
///    as an `m.room.encrypted` room event.
///
/// A receiver passes encrypted to-device events to
/// [`receive_to_device`](Self::receive_to_device) (which takes in room
/// keys) and encrypted room events to
/// [`decrypt_room_event`](Self::decrypt_room_event).
///
/// Opened with [`open`](Self::open), every change is written to the store
/// before the method returns, so what a caller sends after a call survives
/// a crash of the caller.
#[derive(Debug)]
pub struct CryptoMachine {
    account: OwnAccount,
    devices: KnownDevices,
    olm: OlmSessions,
    outbound: BTreeMap<String, OutboundGroupSession>,
    inbound: InboundGroups,
    backup: Option<ActiveBackup>,
    store: Option<Store>,
}

/// What a `/keys/claim` answer made of the claimed keys.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ClaimOutcome {
    /// `(user ID, device ID)` of devices we now have an Olm session with.
    pub created: Vec<(String, String)>,
    /// Devices whose claimed key was refused, and why.
    pub failed: Vec<(String, String, CryptoError)>,
}

/// The to-device messages that hand a room's Megolm key out.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RoomKeyShare {
    /// The Megolm session the key is for.
    pub session_id: String,
    /// User ID → device ID → `m.room.encrypted` content: the `messages` of
    /// `PUT /sendToDevice/m.room.encrypted/{txnId}`. Empty when every
    /// device has the key already.
    pub messages: BTreeMap<String, BTreeMap<String, Value>>,
    /// `(user ID, device ID)` of devices left out because there is no Olm
    /// session with them: claim keys for them and share again.
    pub missing_sessions: Vec<(String, String)>,
}

/// Room keys to upload to the backup.
#[derive(Debug)]
#[non_exhaustive]
pub struct BackupRequest {
    /// The backup version, for `?version=`.
    pub version: String,
    /// The body of `PUT /room_keys/keys`: `{"rooms": {room: {"sessions":
    /// {session ID: KeyBackupData}}}}`.
    pub body: Value,
    sessions: Vec<(String, String)>,
}

impl BackupRequest {
    /// How many room keys the request uploads.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }
}

impl CryptoMachine {
    /// An engine for `user_id`'s device `device_id` with a new account,
    /// kept in memory only.
    pub fn new(user_id: &str, device_id: &str) -> Self {
        Self::from_account(OwnAccount::new(user_id, device_id), None)
    }

    fn from_account(account: OwnAccount, store: Option<Store>) -> Self {
        Self {
            account,
            devices: KnownDevices::default(),
            olm: OlmSessions::default(),
            outbound: BTreeMap::new(),
            inbound: InboundGroups::default(),
            backup: None,
            store,
        }
    }

    /// Opens the engine stored in `dir` (creating the directory and a new
    /// account if there is none), with its pickles encrypted under
    /// `pickle_key`. The key must be the same at every opening; keep it
    /// secret (e.g. in the system keyring).
    ///
    /// Fails with [`CryptoError::StoreMismatch`] if the store holds another
    /// user's or device's account: a device ID names one set of identity
    /// keys, and silently making new ones would strand every session.
    pub fn open(
        dir: &Path,
        pickle_key: [u8; 32],
        user_id: &str,
        device_id: &str,
    ) -> Result<Self, CryptoError> {
        let (store, loaded) = Store::open(dir, pickle_key)?;
        let account = match loaded.account {
            Some(account) if account.user_id() == user_id && account.device_id() == device_id => {
                account
            }
            Some(account) => {
                return Err(CryptoError::StoreMismatch {
                    stored: format!("{} {}", account.user_id(), account.device_id()),
                    requested: format!("{user_id} {device_id}"),
                })
            }
            None => {
                let account = OwnAccount::new(user_id, device_id);
                store.save_account(&account)?;
                account
            }
        };
        let mut machine = Self::from_account(account, Some(store));
        for (user_id, devices) in loaded.devices {
            machine.devices.restore(user_id, devices);
        }
        for session in loaded.olm_sessions {
            machine.olm.restore(session);
        }
        for group in loaded.inbound {
            machine.inbound.add(group);
        }
        for session in loaded.outbound {
            machine.outbound.insert(session.room_id.clone(), session);
        }
        machine.backup = loaded.backup;
        Ok(machine)
    }

    /// Runs `save` against the store, if there is one.
    fn persist(
        &self,
        save: impl FnOnce(&Store) -> Result<(), CryptoError>,
    ) -> Result<(), CryptoError> {
        self.store.as_ref().map_or(Ok(()), save)
    }

    /// The user this device belongs to.
    pub fn user_id(&self) -> &str {
        self.account.user_id()
    }

    /// This device's ID.
    pub fn device_id(&self) -> &str {
        self.account.device_id()
    }

    /// This device's Curve25519 identity key.
    pub fn curve25519_key(&self) -> Curve25519PublicKey {
        self.account.curve25519_key()
    }

    /// This device's Ed25519 fingerprint key.
    pub fn ed25519_key(&self) -> Ed25519PublicKey {
        self.account.ed25519_key()
    }

    /// This device's self-signed `device_keys` object.
    pub fn device_keys(&self) -> Result<Value, CryptoError> {
        self.account.device_keys()
    }

    // Publishing keys.

    /// How many one-time keys to generate, given the server's
    /// `one_time_key_counts` (from `/keys/upload` or `/sync`): enough that
    /// the server holds about half of what the account can keep.
    pub fn one_time_keys_to_generate(&self, one_time_key_counts: &BTreeMap<String, u64>) -> usize {
        self.account
            .one_time_keys_to_generate(signed_keys_on_server(one_time_key_counts))
    }

    /// The body of a `/keys/upload` request, or `None` if there is nothing
    /// to upload. It carries the device keys until the server has them,
    /// fresh signed one-time keys up to the target count, and a signed
    /// fallback key on the first upload and whenever
    /// `unused_fallback_key_types` (from `/sync`) shows ours was used.
    ///
    /// New private keys are stored before this returns, so a key the server
    /// hands out is never one we forgot. Call
    /// [`mark_keys_as_published`](Self::mark_keys_as_published) once the
    /// upload succeeded; until then the same keys are offered again.
    pub fn keys_for_upload(
        &mut self,
        one_time_key_counts: &BTreeMap<String, u64>,
        unused_fallback_key_types: Option<&[String]>,
    ) -> Result<Option<Value>, CryptoError> {
        let body = self.account.keys_for_upload(
            signed_keys_on_server(one_time_key_counts),
            unused_fallback_key_types,
        )?;
        self.persist(|s| s.save_account(&self.account))?;
        Ok(body)
    }

    /// Records that the last `/keys/upload` body reached the server.
    pub fn mark_keys_as_published(&mut self) -> Result<(), CryptoError> {
        self.account.mark_keys_as_published();
        self.persist(|s| s.save_account(&self.account))
    }

    // Devices.

    /// Takes in a `/keys/query` answer: for every user in its
    /// `device_keys`, the listed devices with valid self-signed keys
    /// replace those known before. See [`DeviceChanges`] for what is
    /// refused.
    pub fn receive_keys_query(&mut self, response: &Value) -> Result<DeviceChanges, CryptoError> {
        let by_user = response
            .get("device_keys")
            .and_then(Value::as_object)
            .ok_or_else(|| CryptoError::malformed("/keys/query answer", "no device_keys object"))?;
        let mut changes = DeviceChanges::default();
        for (user_id, listed) in by_user {
            let Some(listed) = listed.as_object() else {
                changes.rejected.push((
                    user_id.clone(),
                    String::new(),
                    CryptoError::malformed(
                        "/keys/query answer",
                        "a user's devices are not an object",
                    ),
                ));
                continue;
            };
            let skip = (user_id == self.user_id()).then(|| self.device_id().to_owned());
            self.devices
                .update_user(user_id, listed, skip.as_deref(), &mut changes);
            self.persist(|s| s.save_devices(user_id, self.devices.of_user(user_id)))?;
        }
        Ok(changes)
    }

    /// A known device of another user (or another device of ours).
    pub fn device(&self, user_id: &str, device_id: &str) -> Option<&Device> {
        self.devices.get(user_id, device_id)
    }

    /// The known devices of `user_id`.
    pub fn devices_of(&self, user_id: &str) -> Vec<&Device> {
        self.devices.of_user(user_id).collect()
    }

    // Olm.

    /// The `one_time_keys` of a `/keys/claim` request for the known devices
    /// of `users` we have no Olm session with: user ID → device ID →
    /// `signed_curve25519`.
    pub fn missing_sessions(&self, users: &[&str]) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut missing: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for device in users.iter().flat_map(|user| self.devices.of_user(user)) {
            if !self.olm.has_session_with(&device.curve25519_key()) {
                missing
                    .entry(device.user_id().to_owned())
                    .or_default()
                    .insert(device.device_id().to_owned(), SIGNED_CURVE25519.to_owned());
            }
        }
        missing
    }

    /// Takes in a `/keys/claim` answer: for each claimed key of a known
    /// device whose signature checks out, sets up an outbound Olm session.
    pub fn receive_keys_claim(&mut self, response: &Value) -> Result<ClaimOutcome, CryptoError> {
        let by_user = response
            .get("one_time_keys")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                CryptoError::malformed("/keys/claim answer", "no one_time_keys object")
            })?;
        let mut outcome = ClaimOutcome::default();
        for (user_id, by_device) in by_user {
            let Some(by_device) = by_device.as_object() else {
                continue;
            };
            for (device_id, keys) in by_device {
                match self.session_from_claimed_key(user_id, device_id, keys) {
                    Ok(()) => outcome.created.push((user_id.clone(), device_id.clone())),
                    Err(error) => outcome
                        .failed
                        .push((user_id.clone(), device_id.clone(), error)),
                }
            }
        }
        Ok(outcome)
    }

    fn session_from_claimed_key(
        &mut self,
        user_id: &str,
        device_id: &str,
        keys: &Value,
    ) -> Result<(), CryptoError> {
        let device =
            self.devices
                .get(user_id, device_id)
                .ok_or_else(|| CryptoError::UnknownDevice {
                    user_id: user_id.to_owned(),
                    device_id: device_id.to_owned(),
                })?;
        let (key_id, key) = keys
            .as_object()
            .and_then(|keys| keys.iter().next())
            .ok_or_else(|| CryptoError::malformed("/keys/claim answer", "no key for a device"))?;
        let one_time_key = device.verify_one_time_key(key_id, key)?;
        let their_key = device.curve25519_key();
        let session = self.account.inner.create_outbound_session(
            OlmConfig::version_1(),
            their_key,
            one_time_key,
        )?;
        let session_id = self.olm.insert(their_key, session);
        self.save_olm_session(their_key, &session_id)
    }

    fn save_olm_session(
        &self,
        their_key: Curve25519PublicKey,
        session_id: &str,
    ) -> Result<(), CryptoError> {
        match self.olm.get(&their_key, session_id) {
            Some(session) => self.persist(|s| s.save_olm_session(session)),
            None => Ok(()),
        }
    }

    /// Encrypts a to-device event for one device, as the content of an
    /// `m.room.encrypted` to-device event. Needs an Olm session with it
    /// (see [`missing_sessions`](Self::missing_sessions)).
    pub fn encrypt_to_device(
        &mut self,
        user_id: &str,
        device_id: &str,
        event_type: &str,
        content: Value,
    ) -> Result<Value, CryptoError> {
        let device =
            self.devices
                .get(user_id, device_id)
                .ok_or_else(|| CryptoError::UnknownDevice {
                    user_id: user_id.to_owned(),
                    device_id: device_id.to_owned(),
                })?;
        let (encrypted, session_id) =
            self.olm
                .encrypt(&self.account, device, event_type, content)?;
        self.save_olm_session(device.curve25519_key(), &session_id)?;
        Ok(encrypted)
    }

    /// Decrypts an `m.room.encrypted` to-device event (the whole event, with
    /// `sender`) and checks it was meant for this device and sent by the
    /// device its keys say. An `m.room_key` inside is taken in as a room
    /// key: this is the only way room keys from others are accepted, so a
    /// room key always comes over an authenticated Olm channel. Any other
    /// event type is refused with [`CryptoError::NotEncrypted`].
    pub fn receive_to_device(&mut self, event: &Value) -> Result<DecryptedToDevice, CryptoError> {
        let event_type = event
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| CryptoError::malformed("to-device event", "no type"))?;
        if event_type != ENCRYPTED_EVENT_TYPE {
            return Err(CryptoError::NotEncrypted {
                event_type: event_type.to_owned(),
            });
        }
        let sender = event
            .get("sender")
            .and_then(Value::as_str)
            .ok_or_else(|| CryptoError::malformed("to-device event", "no sender"))?;
        let content = event
            .get("content")
            .ok_or_else(|| CryptoError::malformed("to-device event", "no content"))?;
        let decrypted = self.olm.decrypt(&mut self.account, content)?;
        // The session first: if we crash before the account is saved, the
        // one-time key is merely kept too long.
        self.save_olm_session(decrypted.sender_key, &decrypted.session_id)?;
        if decrypted.created {
            self.persist(|s| s.save_account(&self.account))?;
        }
        let event = check_payload(
            &self.account,
            &self.devices,
            sender,
            decrypted.sender_key,
            &decrypted.plaintext,
        )?;
        if event.event_type == ROOM_KEY_EVENT_TYPE {
            self.add_room_key(InboundGroup::from_room_key(&event)?)?;
        }
        Ok(event)
    }

    fn add_room_key(&mut self, group: InboundGroup) -> Result<bool, CryptoError> {
        let (room_id, session_id) = (group.room_id.clone(), group.session_id());
        let changed = self.inbound.add(group);
        if changed {
            if let Some(group) = self.inbound.get(&room_id, &session_id) {
                self.persist(|s| s.save_inbound(group))?;
            }
        }
        Ok(changed)
    }

    // Megolm.

    /// Makes sure every known device of `users` (the room's members, us
    /// included) has the room's current Megolm key, and returns the
    /// to-device messages that hand it to those that do not.
    ///
    /// The room gets a new session first when there is none, when the
    /// current one has reached its age or message limit under `settings`
    /// (read them with [`EncryptionSettings::from_event_content`]), when the
    /// settings changed, or when a device that had the key is no longer
    /// among the recipients (it or its owner left): the spec requires that
    /// a departed device cannot read what follows. The new session's key is
    /// then sent to everyone.
    ///
    /// The devices are recorded as having the key when this returns. If
    /// sending the messages fails, call [`invalidate`](Self::invalidate) so
    /// the next share starts a new session for everyone.
    pub fn share_room_key(
        &mut self,
        room_id: &str,
        users: &[&str],
        settings: &EncryptionSettings,
    ) -> Result<RoomKeyShare, CryptoError> {
        let now = now_ms();
        let recipients: Vec<&Device> = users
            .iter()
            .flat_map(|user| self.devices.of_user(user))
            .collect();
        let rotate = self.outbound.get(room_id).is_none_or(|session| {
            session.is_expired(now)
                || session.settings != *settings
                || session.shared_with_someone_outside(&recipients)
        });
        if rotate {
            let session = OutboundGroupSession::new(room_id, *settings, now);
            let own_copy = InboundGroup {
                room_id: room_id.to_owned(),
                session: InboundGroupSession::new(
                    &session.session.session_key(),
                    MegolmConfig::version_1(),
                ),
                sender_key: self.account.curve25519_key(),
                sender_ed25519: Some(self.account.ed25519_key()),
                sender_user: Some(self.account.user_id().to_owned()),
                sender_device: Some(self.account.device_id().to_owned()),
                forwarding_chain: Vec::new(),
                source: RoomKeySource::Own,
                seen: BTreeMap::new(),
                backed_up: false,
            };
            if self.inbound.add(own_copy) {
                if let Some(group) = self.inbound.get(room_id, &session.session.session_id()) {
                    self.persist(|s| s.save_inbound(group))?;
                }
            }
            self.outbound.insert(room_id.to_owned(), session);
        }

        let Some(session) = self.outbound.get_mut(room_id) else {
            return Err(CryptoError::RoomKeyNotShared(room_id.to_owned()));
        };
        let room_key = session.room_key_content();
        let mut share = RoomKeyShare {
            session_id: session.session.session_id(),
            ..RoomKeyShare::default()
        };
        for device in recipients {
            if session.was_shared_with(device) {
                continue;
            }
            if !self.olm.has_session_with(&device.curve25519_key()) {
                share
                    .missing_sessions
                    .push((device.user_id().to_owned(), device.device_id().to_owned()));
                continue;
            }
            let (content, olm_session_id) =
                self.olm
                    .encrypt(&self.account, device, ROOM_KEY_EVENT_TYPE, room_key.clone())?;
            if let (Some(store), Some(olm_session)) = (
                &self.store,
                self.olm.get(&device.curve25519_key(), &olm_session_id),
            ) {
                store.save_olm_session(olm_session)?;
            }
            share
                .messages
                .entry(device.user_id().to_owned())
                .or_default()
                .insert(device.device_id().to_owned(), content);
            session.mark_shared_with(device);
        }
        if let Some(store) = &self.store {
            store.save_outbound(session)?;
        }
        Ok(share)
    }

    /// Encrypts a room event with the room's Megolm session, as the content
    /// of an `m.room.encrypted` event. Fails with
    /// [`CryptoError::RoomKeyNotShared`] when the session is missing or
    /// used up: call [`share_room_key`](Self::share_room_key) (which
    /// rotates it) before every send.
    pub fn encrypt_room_event(
        &mut self,
        room_id: &str,
        event_type: &str,
        content: Value,
    ) -> Result<Value, CryptoError> {
        let now = now_ms();
        let session = self
            .outbound
            .get_mut(room_id)
            .filter(|session| !session.is_expired(now))
            .ok_or_else(|| CryptoError::RoomKeyNotShared(room_id.to_owned()))?;
        let encrypted = session.encrypt(&self.account, event_type, content);
        if let Some(store) = &self.store {
            store.save_outbound(session)?;
        }
        Ok(encrypted)
    }

    /// Discards the room's outbound Megolm session, so the next
    /// [`share_room_key`](Self::share_room_key) starts a new one. Call it
    /// when a member leaves or one of their devices is removed, or when
    /// sending a room key failed.
    pub fn invalidate(&mut self, room_id: &str) -> Result<(), CryptoError> {
        self.outbound.remove(room_id);
        self.persist(|s| s.remove_outbound(room_id))
    }

    /// Decrypts a Megolm-encrypted room event (the whole event, with
    /// `sender`, `event_id` and `origin_server_ts`) received in `room_id`.
    ///
    /// Refused: an unknown session, a sender other than the one who gave us
    /// the key, a replayed message index, a payload for another room.
    pub fn decrypt_room_event(
        &mut self,
        room_id: &str,
        event: &Value,
    ) -> Result<DecryptedRoomEvent, CryptoError> {
        let decrypted = self.inbound.decrypt(room_id, event)?;
        if let Some(group) = self.inbound.get(room_id, &decrypted.session_id) {
            self.persist(|s| s.save_inbound(group))?;
        }
        Ok(decrypted)
    }

    // Key backup.

    /// A new backup key and the `auth_data` to create a backup version
    /// with (`POST /room_keys/version` with the algorithm
    /// [`BACKUP_ALGORITHM`](super::BACKUP_ALGORITHM)), signed by this
    /// device so the user's other devices trust it.
    pub fn create_backup(&self) -> Result<(BackupDecryptionKey, Value), CryptoError> {
        let key = BackupDecryptionKey::new();
        let auth_data = key.public_key().auth_data(&self.account)?;
        Ok((key, auth_data))
    }

    /// Starts backing room keys up to backup `version` with `auth_data`
    /// (from `GET /room_keys/version`). The spec allows writing to a backup
    /// only once its key is trusted: either `key`, the private key obtained
    /// from a trusted source, matches it, or `auth_data` is signed by this
    /// device or another known device of ours. A new backup gets every room
    /// key again.
    pub fn enable_backup(
        &mut self,
        version: &str,
        auth_data: &Value,
        key: Option<&BackupDecryptionKey>,
    ) -> Result<(), CryptoError> {
        let public_key = match key {
            Some(key) => {
                let public_key = BackupPublicKey::from_auth_data(auth_data)?;
                if public_key != key.public_key() {
                    return Err(CryptoError::UntrustedBackup);
                }
                public_key
            }
            None => {
                let signers =
                    backup::own_signers(&self.account, self.devices.of_user(self.user_id()));
                BackupPublicKey::from_signed_auth_data(auth_data, self.user_id(), &signers)?
            }
        };
        let active = ActiveBackup {
            version: version.to_owned(),
            public_key,
        };
        if self.backup.as_ref() != Some(&active) {
            for group in self.inbound.iter_mut() {
                if group.backed_up {
                    group.backed_up = false;
                    if let Some(store) = &self.store {
                        store.save_inbound(group)?;
                    }
                }
            }
            self.persist(|s| s.save_backup(&active))?;
            self.backup = Some(active);
        }
        Ok(())
    }

    /// Stops backing room keys up, until [`enable_backup`](Self::enable_backup)
    /// names a backup again. For when the server says the active backup is
    /// gone or replaced: keys may only go to a backup this device trusts.
    pub fn disable_backup(&mut self) -> Result<(), CryptoError> {
        self.backup = None;
        self.persist(Store::remove_backup)
    }

    /// Up to `max_sessions` room keys not yet in the active backup,
    /// encrypted for it; `None` when there is no active backup or nothing
    /// to add. After the upload succeeded, call
    /// [`mark_backed_up`](Self::mark_backed_up), then ask again for the
    /// rest. The limit keeps a request within the server's body limit.
    pub fn room_keys_for_backup(
        &self,
        max_sessions: usize,
    ) -> Result<Option<BackupRequest>, CryptoError> {
        let Some(backup) = &self.backup else {
            return Ok(None);
        };
        let mut rooms = Map::new();
        let mut sessions = Vec::new();
        for group in self
            .inbound
            .iter()
            .filter(|g| !g.backed_up)
            .take(max_sessions)
        {
            let session_id = group.session_id();
            let data = backup.public_key.encrypt_room_key(group)?;
            let room = rooms
                .entry(group.room_id.clone())
                .or_insert_with(|| serde_json::json!({"sessions": {}}));
            if let Some(by_session) = room.get_mut("sessions").and_then(Value::as_object_mut) {
                by_session.insert(session_id.clone(), data);
            }
            sessions.push((group.room_id.clone(), session_id));
        }
        Ok((!sessions.is_empty()).then(|| BackupRequest {
            version: backup.version.clone(),
            body: serde_json::json!({"rooms": rooms}),
            sessions,
        }))
    }

    /// Records that `request` was uploaded. Ignored if the active backup
    /// changed in between (its keys must go to the new one).
    pub fn mark_backed_up(&mut self, request: &BackupRequest) -> Result<(), CryptoError> {
        if self.backup.as_ref().map(|b| &b.version) != Some(&request.version) {
            return Ok(());
        }
        for (room_id, session_id) in &request.sessions {
            if let Some(group) = self.inbound.get_mut(room_id, session_id) {
                group.backed_up = true;
                if let Some(store) = &self.store {
                    store.save_inbound(group)?;
                }
            }
        }
        Ok(())
    }

    /// Restores a room key from the backup: `key_backup_data` is what `GET
    /// /room_keys/keys/{roomId}/{sessionId}` returns for `room_id` and
    /// `session_id`. Returns whether it added anything (a key we hold from
    /// an earlier index is kept). Events it opens report
    /// [`RoomKeySource::Backup`].
    pub fn import_backed_up_room_key(
        &mut self,
        key: &BackupDecryptionKey,
        room_id: &str,
        session_id: &str,
        key_backup_data: &Value,
    ) -> Result<bool, CryptoError> {
        let group = backup::decrypt_room_key(key, room_id, session_id, key_backup_data)?;
        self.add_room_key(group)
    }
}

/// The `signed_curve25519` entry of a `one_time_key_counts` map.
fn signed_keys_on_server(one_time_key_counts: &BTreeMap<String, u64>) -> u64 {
    one_time_key_counts
        .get(SIGNED_CURVE25519)
        .copied()
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
