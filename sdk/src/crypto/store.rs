//! A directory that keeps the engine's state across restarts.
//!
//! Layout: `account.json` and `backup.json` at the top, and one file per
//! object in `olm/`, `inbound/`, `outbound/` and `devices/`, named by the
//! SHA-256 of what identifies the object (room and user IDs can be longer
//! than a file name may be). Every file is JSON; the vodozemac state in it
//! is a pickle encrypted with the caller's 32-byte key, so the secrets
//! (identity keys, ratchets) are unreadable without it. What is left in the
//! clear is metadata: room and user IDs, public keys, message indices.
//!
//! Each write goes to a temporary file that is synced and then renamed over
//! the old one, so a crash leaves either the old or the new state of an
//! object, never a torn file. Objects are written one by one as they
//! change; the engine orders the writes so that a crash between two of
//! them loses at most a one-time key, never a session.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use vodozemac::megolm::{GroupSessionPickle, InboundGroupSessionPickle};
use vodozemac::olm::{AccountPickle, SessionPickle};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey, PickleError};

use super::account::OwnAccount;
use super::backup::BackupPublicKey;
use super::device::Device;
use super::inbound_group::{InboundGroup, RoomKeySource};
use super::olm::OlmSession;
use super::outbound_group::{EncryptionSettings, OutboundGroupSession};
use super::CryptoError;

const ACCOUNT_FILE: &str = "account.json";
const BACKUP_FILE: &str = "backup.json";
const OLM_DIR: &str = "olm";
const INBOUND_DIR: &str = "inbound";
const OUTBOUND_DIR: &str = "outbound";
const DEVICES_DIR: &str = "devices";
const TEMP_SUFFIX: &str = ".tmp";

/// The store: a directory and the key its pickles are encrypted with.
pub(crate) struct Store {
    dir: PathBuf,
    pickle_key: [u8; 32],
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The active backup, as remembered between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ActiveBackup {
    pub(crate) version: String,
    pub(crate) public_key: BackupPublicKey,
}

/// Everything read from the store when it was opened.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub(crate) account: Option<OwnAccount>,
    pub(crate) olm_sessions: Vec<OlmSession>,
    pub(crate) inbound: Vec<InboundGroup>,
    pub(crate) outbound: Vec<OutboundGroupSession>,
    pub(crate) devices: Vec<(String, Vec<Device>)>,
    pub(crate) backup: Option<ActiveBackup>,
}

#[derive(Serialize, Deserialize)]
struct AccountRecord {
    user_id: String,
    device_id: String,
    device_keys_published: bool,
    pickle: String,
}

#[derive(Serialize, Deserialize)]
struct OlmRecord {
    their_key: Curve25519PublicKey,
    last_use: u64,
    pickle: String,
}

#[derive(Serialize, Deserialize)]
struct InboundRecord {
    room_id: String,
    sender_key: Curve25519PublicKey,
    sender_ed25519: Option<Ed25519PublicKey>,
    sender_user: Option<String>,
    sender_device: Option<String>,
    forwarding_chain: Vec<String>,
    source: RoomKeySource,
    /// `[index, event ID, origin_server_ts]`.
    seen: Vec<(u32, String, i64)>,
    backed_up: bool,
    pickle: String,
}

#[derive(Serialize, Deserialize)]
struct OutboundRecord {
    room_id: String,
    created_at_ms: u64,
    settings: EncryptionSettings,
    shared_with: BTreeMap<String, BTreeMap<String, String>>,
    pickle: String,
}

#[derive(Serialize, Deserialize)]
struct DevicesRecord {
    user_id: String,
    devices: Vec<DeviceRecord>,
}

#[derive(Serialize, Deserialize)]
struct DeviceRecord {
    device_id: String,
    curve25519: Curve25519PublicKey,
    ed25519: Ed25519PublicKey,
    algorithms: Vec<String>,
}

impl Store {
    /// Opens (creating if needed) the store in `dir` and reads all of it.
    pub(crate) fn open(dir: &Path, pickle_key: [u8; 32]) -> Result<(Self, Loaded), CryptoError> {
        for sub in [OLM_DIR, INBOUND_DIR, OUTBOUND_DIR, DEVICES_DIR] {
            let path = dir.join(sub);
            create_private_dir(&path).map_err(|source| CryptoError::Io { path, source })?;
        }
        let store = Self {
            dir: dir.to_owned(),
            pickle_key,
        };
        let loaded = store.load()?;
        Ok((store, loaded))
    }

    fn load(&self) -> Result<Loaded, CryptoError> {
        let key = &self.pickle_key;
        let mut loaded = Loaded::default();
        let path = self.dir.join(ACCOUNT_FILE);
        if let Some(record) = read_record::<AccountRecord>(&path)? {
            let pickle = AccountPickle::from_encrypted(&record.pickle, key)
                .map_err(|source| pickle_error(&path, source))?;
            loaded.account = Some(OwnAccount::from_parts(
                &record.user_id,
                &record.device_id,
                pickle.into(),
                record.device_keys_published,
            ));
        }
        loaded.backup = read_record(&self.dir.join(BACKUP_FILE))?;
        for (path, record) in self.read_dir::<OlmRecord>(OLM_DIR)? {
            let pickle = SessionPickle::from_encrypted(&record.pickle, key)
                .map_err(|source| pickle_error(&path, source))?;
            loaded.olm_sessions.push(OlmSession {
                session: pickle.into(),
                their_key: record.their_key,
                last_use: record.last_use,
            });
        }
        for (path, record) in self.read_dir::<InboundRecord>(INBOUND_DIR)? {
            let pickle = InboundGroupSessionPickle::from_encrypted(&record.pickle, key)
                .map_err(|source| pickle_error(&path, source))?;
            loaded.inbound.push(InboundGroup {
                room_id: record.room_id,
                session: pickle.into(),
                sender_key: record.sender_key,
                sender_ed25519: record.sender_ed25519,
                sender_user: record.sender_user,
                sender_device: record.sender_device,
                forwarding_chain: record.forwarding_chain,
                source: record.source,
                seen: record
                    .seen
                    .into_iter()
                    .map(|(index, event_id, ts)| (index, (event_id, ts)))
                    .collect(),
                backed_up: record.backed_up,
            });
        }
        for (path, record) in self.read_dir::<OutboundRecord>(OUTBOUND_DIR)? {
            let pickle = GroupSessionPickle::from_encrypted(&record.pickle, key)
                .map_err(|source| pickle_error(&path, source))?;
            loaded.outbound.push(OutboundGroupSession {
                room_id: record.room_id,
                session: pickle.into(),
                created_at_ms: record.created_at_ms,
                settings: record.settings,
                shared_with: record.shared_with,
            });
        }
        for (_, record) in self.read_dir::<DevicesRecord>(DEVICES_DIR)? {
            let devices = record
                .devices
                .into_iter()
                .map(|d| {
                    Device::from_stored(
                        record.user_id.clone(),
                        d.device_id,
                        d.curve25519,
                        d.ed25519,
                        d.algorithms,
                    )
                })
                .collect();
            loaded.devices.push((record.user_id, devices));
        }
        Ok(loaded)
    }

    /// Reads every record in a subdirectory, removing temporary files left
    /// by an interrupted write (their rename never happened, so the old
    /// file, if any, is the state to keep).
    fn read_dir<T: DeserializeOwned>(&self, sub: &str) -> Result<Vec<(PathBuf, T)>, CryptoError> {
        let dir = self.dir.join(sub);
        let io = |source| CryptoError::Io {
            path: dir.clone(),
            source,
        };
        let mut records = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.to_string_lossy().ends_with(TEMP_SUFFIX) {
                fs::remove_file(&path).map_err(|source| CryptoError::Io {
                    path: path.clone(),
                    source,
                })?;
                continue;
            }
            if let Some(record) = read_record(&path)? {
                records.push((path, record));
            }
        }
        Ok(records)
    }

    fn object_path(&self, sub: &str, identity: &[&str]) -> PathBuf {
        let mut hash = Sha256::new();
        for part in identity {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        let name: String = hash
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        self.dir.join(sub).join(format!("{name}.json"))
    }

    pub(crate) fn save_account(&self, account: &OwnAccount) -> Result<(), CryptoError> {
        let record = AccountRecord {
            user_id: account.user_id().to_owned(),
            device_id: account.device_id().to_owned(),
            device_keys_published: account.device_keys_published(),
            pickle: account.inner.pickle().encrypt(&self.pickle_key),
        };
        write_record(&self.dir.join(ACCOUNT_FILE), &record)
    }

    pub(crate) fn save_olm_session(&self, session: &OlmSession) -> Result<(), CryptoError> {
        let record = OlmRecord {
            their_key: session.their_key,
            last_use: session.last_use,
            pickle: session.session.pickle().encrypt(&self.pickle_key),
        };
        let path = self.object_path(
            OLM_DIR,
            &[
                &session.their_key.to_base64(),
                &session.session.session_id(),
            ],
        );
        write_record(&path, &record)
    }

    pub(crate) fn save_inbound(&self, group: &InboundGroup) -> Result<(), CryptoError> {
        let record = InboundRecord {
            room_id: group.room_id.clone(),
            sender_key: group.sender_key,
            sender_ed25519: group.sender_ed25519,
            sender_user: group.sender_user.clone(),
            sender_device: group.sender_device.clone(),
            forwarding_chain: group.forwarding_chain.clone(),
            source: group.source,
            seen: group
                .seen
                .iter()
                .map(|(index, (event_id, ts))| (*index, event_id.clone(), *ts))
                .collect(),
            backed_up: group.backed_up,
            pickle: group.session.pickle().encrypt(&self.pickle_key),
        };
        let path = self.object_path(INBOUND_DIR, &[&group.room_id, &group.session_id()]);
        write_record(&path, &record)
    }

    pub(crate) fn save_outbound(&self, session: &OutboundGroupSession) -> Result<(), CryptoError> {
        let record = OutboundRecord {
            room_id: session.room_id.clone(),
            created_at_ms: session.created_at_ms,
            settings: session.settings,
            shared_with: session.shared_with.clone(),
            pickle: session.session.pickle().encrypt(&self.pickle_key),
        };
        write_record(
            &self.object_path(OUTBOUND_DIR, &[&session.room_id]),
            &record,
        )
    }

    pub(crate) fn remove_outbound(&self, room_id: &str) -> Result<(), CryptoError> {
        remove_record(&self.object_path(OUTBOUND_DIR, &[room_id]))
    }

    pub(crate) fn save_devices<'a>(
        &self,
        user_id: &str,
        devices: impl Iterator<Item = &'a Device>,
    ) -> Result<(), CryptoError> {
        let record = DevicesRecord {
            user_id: user_id.to_owned(),
            devices: devices
                .map(|d| DeviceRecord {
                    device_id: d.device_id().to_owned(),
                    curve25519: d.curve25519_key(),
                    ed25519: d.ed25519_key(),
                    algorithms: d.algorithms().to_vec(),
                })
                .collect(),
        };
        write_record(&self.object_path(DEVICES_DIR, &[user_id]), &record)
    }

    pub(crate) fn save_backup(&self, backup: &ActiveBackup) -> Result<(), CryptoError> {
        write_record(&self.dir.join(BACKUP_FILE), backup)
    }

    pub(crate) fn remove_backup(&self) -> Result<(), CryptoError> {
        remove_record(&self.dir.join(BACKUP_FILE))
    }
}

fn pickle_error(path: &Path, source: PickleError) -> CryptoError {
    CryptoError::Pickle {
        path: path.to_owned(),
        source,
    }
}

/// Reads a JSON record; `None` if the file does not exist.
pub(crate) fn read_record<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, CryptoError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CryptoError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| CryptoError::Corrupt {
            path: path.to_owned(),
            source,
        })
}

/// Removes the record at `path`, if there is one.
fn remove_record(path: &Path) -> Result<(), CryptoError> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(CryptoError::Io {
            path: path.to_owned(),
            source: error,
        }),
        _ => Ok(()),
    }
}

/// Replaces `path` with `record` atomically: write a temporary file beside
/// it, sync it, rename it over `path`, sync the directory.
pub(crate) fn write_record<T: Serialize>(path: &Path, record: &T) -> Result<(), CryptoError> {
    let bytes = serde_json::to_vec(record).map_err(|source| CryptoError::Corrupt {
        path: path.to_owned(),
        source,
    })?;
    let mut temp = path.as_os_str().to_owned();
    temp.push(TEMP_SUFFIX);
    let temp = PathBuf::from(temp);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| CryptoError::Io { path, source }
    };
    let mut file = create_private_file(&temp).map_err(io(&temp))?;
    file.write_all(&bytes).map_err(io(&temp))?;
    file.sync_all().map_err(io(&temp))?;
    drop(file);
    fs::rename(&temp, path).map_err(io(path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

#[cfg(unix)]
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

#[cfg(not(unix))]
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    fs::create_dir_all(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_pickle_key_is_refused_and_stray_temp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (store, loaded) = Store::open(dir.path(), [7; 32]).unwrap();
        assert!(loaded.account.is_none());
        store.save_account(&OwnAccount::new("@a:h", "A")).unwrap();

        let stray = dir.path().join(OLM_DIR).join("x.json.tmp");
        fs::write(&stray, b"half a rec").unwrap();
        let (_, loaded) = Store::open(dir.path(), [7; 32]).unwrap();
        assert_eq!(loaded.account.unwrap().device_id(), "A");
        assert!(!stray.exists());

        assert!(matches!(
            Store::open(dir.path(), [8; 32]),
            Err(CryptoError::Pickle { .. })
        ));
    }

    #[test]
    fn a_torn_record_is_reported_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path(), [7; 32]).unwrap();
        fs::write(dir.path().join(ACCOUNT_FILE), b"{\"user_id\":").unwrap();
        assert!(matches!(
            Store::open(dir.path(), [7; 32]),
            Err(CryptoError::Corrupt { .. })
        ));
    }
}
