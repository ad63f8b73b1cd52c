-- End-to-end encryption: the keys devices publish, the device list
-- changes other users' clients follow, and to-device messages. The
-- server only stores and routes these; it holds no private key.

CREATE TABLE device_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    -- The device_keys object as uploaded (signed; no `unsigned`).
    json      TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices ON DELETE CASCADE
);

-- One-time keys not yet claimed; claiming deletes the row.
CREATE TABLE one_time_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    -- The key as uploaded: a string or a signed object (JSON text).
    json      TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm, key_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices ON DELETE CASCADE
);

-- Each device's fallback key per algorithm, handed out when its one-time
-- keys run out; it stays until replaced.
CREATE TABLE fallback_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    json      TEXT NOT NULL,
    used      BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, device_id, algorithm),
    FOREIGN KEY (user_id, device_id) REFERENCES devices ON DELETE CASCADE
);

-- A user's devices or keys changed at this position: the clients of those
-- who share an encrypted room with them query their keys again.
CREATE SEQUENCE device_list_stream;
CREATE TABLE device_list_changes (
    stream_pos BIGINT PRIMARY KEY DEFAULT nextval('device_list_stream'),
    user_id    TEXT NOT NULL
);
CREATE INDEX device_list_changes_user ON device_list_changes (user_id, stream_pos);

-- To-device messages waiting for their device's next sync; deleted once
-- the device syncs with a token past them.
CREATE SEQUENCE to_device_stream;
CREATE TABLE to_device_inbox (
    stream_pos  BIGINT PRIMARY KEY DEFAULT nextval('to_device_stream'),
    user_id     TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    sender      TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    content     TEXT NOT NULL,
    FOREIGN KEY (user_id, device_id) REFERENCES devices ON DELETE CASCADE
);
CREATE INDEX to_device_inbox_device ON to_device_inbox (user_id, device_id, stream_pos);

-- Sent to-device transactions, so a retried request is not sent twice.
CREATE TABLE to_device_transactions (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices ON DELETE CASCADE
);

-- Whether a room has turned encryption on (it cannot be turned off):
-- device list changes reach only those sharing an encrypted room.
ALTER TABLE rooms ADD COLUMN encrypted BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE rooms SET encrypted = TRUE WHERE room_nid IN (
    SELECT e.room_nid FROM events e JOIN event_types t ON t.type_nid = e.type_nid
    WHERE t.event_type = 'm.room.encryption' AND e.state_key_nid IS NOT NULL
);
