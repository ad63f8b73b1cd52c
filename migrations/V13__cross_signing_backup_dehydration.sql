-- End-to-end encryption, second part: cross-signing keys and the
-- signatures made with them, server-side key backups, and dehydrated
-- devices. All of it is public keys or ciphertext clients made; the
-- server holds no private key.

-- A user's cross-signing keys, one per usage, as uploaded (canonical
-- JSON, with the signatures that came with them).
CREATE TABLE cross_signing_keys (
    user_id    TEXT NOT NULL REFERENCES accounts ON DELETE CASCADE,
    usage      TEXT NOT NULL CHECK (usage IN ('master', 'self_signing', 'user_signing')),
    -- "ed25519:<public key>"
    key_id     TEXT NOT NULL,
    json       TEXT NOT NULL,
    PRIMARY KEY (user_id, usage)
);

-- Signatures added with /keys/signatures/upload: of a device's keys or a
-- master key (`target_key_id` is the device ID or the master key's public
-- key). Those a user made of their own keys are public; those made of
-- another user's master key are shown to their signer only.
CREATE TABLE key_signatures (
    signer_user_id TEXT NOT NULL REFERENCES accounts ON DELETE CASCADE,
    signer_key_id  TEXT NOT NULL,
    target_user_id TEXT NOT NULL,
    target_key_id  TEXT NOT NULL,
    signature      TEXT NOT NULL,
    PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
);

-- Key backup versions. A deleted version keeps its row (without its keys)
-- so its number is never given again and deleting it twice succeeds.
CREATE TABLE key_backup_versions (
    user_id   TEXT NOT NULL REFERENCES accounts ON DELETE CASCADE,
    version   BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data TEXT NOT NULL,
    -- Bumped whenever the version's keys change.
    etag      BIGINT NOT NULL DEFAULT 0,
    deleted   BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, version)
);

-- The backed-up Megolm session keys: opaque session_data, and the metadata
-- that decides which of two uploads of the same session is kept.
CREATE TABLE key_backup_sessions (
    user_id             TEXT NOT NULL,
    version             BIGINT NOT NULL,
    room_id             TEXT NOT NULL,
    session_id          TEXT NOT NULL,
    first_message_index BIGINT NOT NULL,
    forwarded_count     BIGINT NOT NULL,
    is_verified         BOOLEAN NOT NULL,
    session_data        TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id),
    FOREIGN KEY (user_id, version) REFERENCES key_backup_versions ON DELETE CASCADE
);

-- Each user's dehydrated device (MSC3814): a device without an access
-- token that keeps receiving to-device messages while the user has no
-- device online. Deleting the device deletes this row.
CREATE TABLE dehydrated_devices (
    user_id     TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL,
    -- The encrypted device the client uploaded (JSON text).
    device_data TEXT NOT NULL,
    FOREIGN KEY (user_id, device_id) REFERENCES devices ON DELETE CASCADE
);
