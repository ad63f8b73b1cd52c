//! Server-side key backups: /room_keys/version and /room_keys/keys.
//!
//! The server keeps what clients encrypted for themselves. It checks the
//! shape of what it stores, decides which of two uploads of one session
//! to keep (the spec's rule: verified first, then the lower first message
//! index, then the lower forwarded count), and moves the version's etag
//! whenever its keys change so clients notice another client's writes.

use std::collections::BTreeMap;

use hanse_protocol::identifiers::RoomId;
use serde_json::{json, Map, Value};

use crate::accounts::Session;
use crate::store::{BackedUpKey, BackupScope, BackupVersionRow, BackupWriteRefused};
use crate::{Error, Homeserver, Result};

/// The one backup algorithm of the spec.
pub const MEGOLM_BACKUP_V1: &str = "m.megolm_backup.v1.curve25519-aes-sha2";
/// Most session keys one request may store.
const MAX_KEYS_PER_REQUEST: usize = 10_000;
/// Largest auth_data or session_data, as JSON text.
const MAX_DATA_BYTES: usize = 65_536;

/// A version as clients name it: the decimal string of its number. Any
/// other string names no version.
fn parse_version(version: &str) -> Option<i64> {
    version
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0 && v.to_string() == version)
}

fn unknown_version(version: &str) -> Error {
    Error::NotFound(format!("there is no backup version {version:?}"))
}

fn no_backup() -> Error {
    Error::NotFound("this user has no key backup; create one with POST /room_keys/version".into())
}

/// The algorithm and auth_data of a version to create or update.
fn check_backup_info(body: &Map<String, Value>) -> Result<(String, String)> {
    let algorithm = match body.get("algorithm") {
        Some(Value::String(algorithm)) => algorithm,
        None => return Err(Error::MissingParam("algorithm is required".into())),
        Some(_) => return Err(Error::BadJson("algorithm must be a string".into())),
    };
    let auth_data = match body.get("auth_data") {
        Some(Value::Object(auth_data)) => auth_data,
        None => return Err(Error::MissingParam("auth_data is required".into())),
        Some(_) => return Err(Error::BadJson("auth_data must be an object".into())),
    };
    if algorithm != MEGOLM_BACKUP_V1 {
        return Err(Error::InvalidParam(format!(
            "unknown backup algorithm {algorithm:?}; this server knows {MEGOLM_BACKUP_V1}"
        )));
    }
    if !matches!(auth_data.get("public_key"), Some(Value::String(key)) if !key.is_empty()) {
        return Err(Error::BadJson(
            "auth_data.public_key must be the backup's public key (unpadded base64)".into(),
        ));
    }
    let auth_data = Value::Object(auth_data.clone()).to_string();
    if auth_data.len() > MAX_DATA_BYTES {
        return Err(Error::TooLarge(format!(
            "auth_data is larger than {MAX_DATA_BYTES} bytes"
        )));
    }
    Ok((algorithm.clone(), auth_data))
}

fn version_json(row: &BackupVersionRow) -> Result<Value> {
    let auth_data: Value = serde_json::from_str(&row.auth_data)
        .map_err(|e| Error::Internal(format!("stored backup auth_data: {e}")))?;
    Ok(json!({
        "algorithm": row.algorithm,
        "auth_data": auth_data,
        "count": row.count,
        "etag": row.etag.to_string(),
        "version": row.version.to_string(),
    }))
}

fn non_negative(data: &Map<String, Value>, name: &str) -> Result<i64> {
    match data.get(name) {
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|n| *n >= 0)
            .ok_or_else(|| Error::BadJson(format!("{name} must be a non-negative integer"))),
        None => Err(Error::MissingParam(format!("{name} is required"))),
        Some(_) => Err(Error::BadJson(format!("{name} must be an integer"))),
    }
}

/// One KeyBackupData object, checked.
fn check_key(room_id: &str, session_id: &str, data: &Value) -> Result<BackedUpKey> {
    RoomId::parse(room_id)
        .map_err(|e| Error::InvalidParam(format!("{room_id:?} is not a room ID: {e}")))?;
    if session_id.is_empty() || session_id.len() > 255 {
        return Err(Error::InvalidParam(
            "a session ID must be 1 to 255 bytes".into(),
        ));
    }
    let Value::Object(data) = data else {
        return Err(Error::BadJson(format!(
            "the key of session {session_id:?} must be an object"
        )));
    };
    let is_verified = match data.get("is_verified") {
        Some(Value::Bool(verified)) => *verified,
        None => return Err(Error::MissingParam("is_verified is required".into())),
        Some(_) => return Err(Error::BadJson("is_verified must be a boolean".into())),
    };
    let session_data = match data.get("session_data") {
        Some(session_data @ Value::Object(_)) => session_data.to_string(),
        None => return Err(Error::MissingParam("session_data is required".into())),
        Some(_) => return Err(Error::BadJson("session_data must be an object".into())),
    };
    if session_data.len() > MAX_DATA_BYTES {
        return Err(Error::TooLarge(format!(
            "session_data is larger than {MAX_DATA_BYTES} bytes"
        )));
    }
    Ok(BackedUpKey {
        room_id: room_id.to_owned(),
        session_id: session_id.to_owned(),
        first_message_index: non_negative(data, "first_message_index")?,
        forwarded_count: non_negative(data, "forwarded_count")?,
        is_verified,
        session_data,
    })
}

/// Whether `new` replaces `old` for the same session under the spec's
/// rule. (The store applies the same rule to what is stored already.)
fn replaces(new: &BackedUpKey, old: &BackedUpKey) -> bool {
    (
        new.is_verified,
        -new.first_message_index,
        -new.forwarded_count,
    ) > (
        old.is_verified,
        -old.first_message_index,
        -old.forwarded_count,
    )
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| Error::BadJson(format!("{what} must be an object")))
}

/// The keys a PUT carries, one per session (the better one when a
/// request names a session twice).
fn collect_keys<'a>(
    entries: impl Iterator<Item = (&'a str, &'a str, &'a Value)>,
) -> Result<Vec<BackedUpKey>> {
    let mut keys: BTreeMap<(String, String), BackedUpKey> = BTreeMap::new();
    for (room_id, session_id, data) in entries {
        let key = check_key(room_id, session_id, data)?;
        if keys.len() >= MAX_KEYS_PER_REQUEST {
            return Err(Error::TooLarge(format!(
                "at most {MAX_KEYS_PER_REQUEST} keys per request"
            )));
        }
        let slot = (key.room_id.clone(), key.session_id.clone());
        match keys.get(&slot) {
            Some(old) if !replaces(&key, old) => {}
            _ => {
                keys.insert(slot, key);
            }
        }
    }
    Ok(keys.into_values().collect())
}

/// The `sessions` object of one room: session ID to key data.
fn sessions_of<'a>(
    room_id: &'a str,
    room: &'a Value,
) -> Result<impl Iterator<Item = (&'a str, &'a str, &'a Value)>> {
    let sessions = match object(room, "each room's backup")?.get("sessions") {
        Some(sessions) => object(sessions, "sessions")?,
        None => return Err(Error::MissingParam("sessions is required".into())),
    };
    Ok(sessions
        .iter()
        .map(move |(session_id, data)| (room_id, session_id.as_str(), data)))
}

/// Which part of a backup a /room_keys/keys request addresses, with the
/// body of a PUT to it.
#[derive(Debug, Clone, Copy)]
pub enum BackupPath<'a> {
    All,
    Room(&'a str),
    Session(&'a str, &'a str),
}

impl<'a> BackupPath<'a> {
    fn scope(self) -> BackupScope<'a> {
        match self {
            Self::All => BackupScope::All,
            Self::Room(room) => BackupScope::Room(room),
            Self::Session(room, session) => BackupScope::Session(room, session),
        }
    }

    /// The keys a PUT's body carries for this path.
    fn keys_in(self, body: &'a Value) -> Result<Vec<BackedUpKey>> {
        match self {
            Self::All => {
                let rooms = match object(body, "the body")?.get("rooms") {
                    Some(rooms) => object(rooms, "rooms")?,
                    None => return Err(Error::MissingParam("rooms is required".into())),
                };
                let mut entries = Vec::new();
                for (room_id, room) in rooms {
                    entries.extend(sessions_of(room_id, room)?);
                }
                collect_keys(entries.into_iter())
            }
            Self::Room(room_id) => collect_keys(sessions_of(room_id, body)?),
            Self::Session(room_id, session_id) => {
                collect_keys(std::iter::once((room_id, session_id, body)))
            }
        }
    }
}

impl Homeserver {
    /// POST /room_keys/version: a new version, which becomes the current
    /// one.
    pub async fn create_backup_version(
        &self,
        session: &Session,
        body: &Map<String, Value>,
    ) -> Result<Value> {
        let (algorithm, auth_data) = check_backup_info(body)?;
        let version = self
            .store
            .create_backup_version(session.user_id.as_str(), &algorithm, &auth_data)
            .await?;
        Ok(json!({ "version": version.to_string() }))
    }

    /// GET /room_keys/version[/{version}]: the current or the named
    /// version.
    pub async fn backup_version(&self, session: &Session, version: Option<&str>) -> Result<Value> {
        version_json(&self.live_version(session.user_id.as_str(), version).await?)
    }

    /// PUT /room_keys/version/{version}: only auth_data changes.
    pub async fn update_backup_version(
        &self,
        session: &Session,
        version: &str,
        body: &Map<String, Value>,
    ) -> Result<Value> {
        let number = parse_version(version).ok_or_else(|| unknown_version(version))?;
        let (algorithm, auth_data) = check_backup_info(body)?;
        match body.get("version") {
            None => {}
            Some(Value::String(named)) if named == version => {}
            Some(_) => {
                return Err(Error::InvalidParam(
                    "the version in the body differs from the one in the path".into(),
                ))
            }
        }
        let user = session.user_id.as_str();
        let current = self.live_version(user, Some(version)).await?;
        if current.algorithm != algorithm {
            return Err(Error::InvalidParam(format!(
                "a backup's algorithm cannot change (it is {})",
                current.algorithm
            )));
        }
        if !self
            .store
            .update_backup_auth_data(user, number, &auth_data)
            .await?
        {
            return Err(unknown_version(version));
        }
        Ok(json!({}))
    }

    /// DELETE /room_keys/version/{version}: the version and its keys.
    pub async fn delete_backup_version(&self, session: &Session, version: &str) -> Result<Value> {
        let number = parse_version(version).ok_or_else(|| unknown_version(version))?;
        if self
            .store
            .delete_backup_version(session.user_id.as_str(), number)
            .await?
        {
            Ok(json!({}))
        } else {
            Err(unknown_version(version))
        }
    }

    /// PUT /room_keys/keys[/{roomId}[/{sessionId}]]: answers the version's
    /// etag and key count.
    pub async fn put_backup_keys(
        &self,
        session: &Session,
        version: &str,
        path: BackupPath<'_>,
        body: &Value,
    ) -> Result<Value> {
        let keys = path.keys_in(body)?;
        let user = session.user_id.as_str();
        let Some(number) = parse_version(version) else {
            let current = self.store.backup_version(user, None).await?;
            return Err(wrong_version(current.map(|row| row.version)));
        };
        match self.store.put_backup_keys(user, number, &keys).await? {
            Ok((etag, count)) => Ok(json!({ "etag": etag.to_string(), "count": count })),
            Err(BackupWriteRefused::NoBackup) => Err(no_backup()),
            Err(BackupWriteRefused::NotCurrent { current }) => Err(wrong_version(Some(current))),
        }
    }

    /// GET /room_keys/keys[/{roomId}[/{sessionId}]] of a version (the
    /// current one when none is named).
    pub async fn backup_keys(
        &self,
        session: &Session,
        version: Option<&str>,
        path: BackupPath<'_>,
    ) -> Result<Value> {
        let user = session.user_id.as_str();
        let number = self.live_version(user, version).await?.version;
        let keys = self.store.backup_keys(user, number, path.scope()).await?;
        let mut rooms: Map<String, Value> = Map::new();
        for key in keys {
            let session_data: Value = serde_json::from_str(&key.session_data)
                .map_err(|e| Error::Internal(format!("stored session_data: {e}")))?;
            let data = json!({
                "first_message_index": key.first_message_index,
                "forwarded_count": key.forwarded_count,
                "is_verified": key.is_verified,
                "session_data": session_data,
            });
            let room = rooms
                .entry(key.room_id)
                .or_insert_with(|| json!({ "sessions": {} }));
            room["sessions"][&key.session_id] = data;
        }
        Ok(match path {
            BackupPath::All => json!({ "rooms": rooms }),
            BackupPath::Room(room_id) => rooms
                .remove(room_id)
                .unwrap_or_else(|| json!({ "sessions": {} })),
            BackupPath::Session(room_id, session_id) => rooms
                .get_mut(room_id)
                .and_then(|room| room["sessions"].get_mut(session_id))
                .map(Value::take)
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "no key for session {session_id:?} of {room_id} in this backup"
                    ))
                })?,
        })
    }

    /// DELETE /room_keys/keys[/{roomId}[/{sessionId}]] of a version.
    pub async fn delete_backup_keys(
        &self,
        session: &Session,
        version: &str,
        path: BackupPath<'_>,
    ) -> Result<Value> {
        let number = parse_version(version).ok_or_else(|| unknown_version(version))?;
        match self
            .store
            .delete_backup_keys(session.user_id.as_str(), number, path.scope())
            .await?
        {
            Some((etag, count)) => Ok(json!({ "etag": etag.to_string(), "count": count })),
            None => Err(unknown_version(version)),
        }
    }

    /// A live version named by the client, or the current one.
    async fn live_version(&self, user: &str, version: Option<&str>) -> Result<BackupVersionRow> {
        let number = match version {
            None => None,
            Some(version) => Some(parse_version(version).ok_or_else(|| unknown_version(version))?),
        };
        self.store
            .backup_version(user, number)
            .await?
            .ok_or_else(|| version.map_or_else(no_backup, unknown_version))
    }
}

/// 403 M_WRONG_ROOM_KEYS_VERSION naming the current version, or 404 when
/// there is none.
fn wrong_version(current: Option<i64>) -> Error {
    match current {
        Some(current) => Error::WrongRoomKeysVersion {
            current_version: current.to_string(),
        },
        None => no_backup(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(is_verified: bool, first_message_index: i64, forwarded_count: i64) -> BackedUpKey {
        BackedUpKey {
            room_id: "!r:example.org".into(),
            session_id: "s".into(),
            first_message_index,
            forwarded_count,
            is_verified,
            session_data: "{}".into(),
        }
    }

    #[test]
    fn the_better_key_replaces_in_the_spec_order() {
        // Verified wins over everything else.
        assert!(replaces(&key(true, 9, 9), &key(false, 0, 0)));
        assert!(!replaces(&key(false, 0, 0), &key(true, 9, 9)));
        // Then the lower first message index.
        assert!(replaces(&key(false, 1, 9), &key(false, 2, 0)));
        assert!(!replaces(&key(false, 3, 0), &key(false, 2, 9)));
        // Then the lower forwarded count.
        assert!(replaces(&key(true, 2, 0), &key(true, 2, 1)));
        assert!(!replaces(&key(true, 2, 1), &key(true, 2, 0)));
        // An equal key changes nothing.
        assert!(!replaces(&key(true, 2, 1), &key(true, 2, 1)));
    }

    #[test]
    fn versions_are_canonical_decimal_numbers() {
        assert_eq!(parse_version("12"), Some(12));
        for bad in [
            "",
            "0",
            "-1",
            "012",
            "+3",
            "1.0",
            "abc",
            "99999999999999999999",
        ] {
            assert_eq!(parse_version(bad), None, "{bad:?}");
        }
    }
}
