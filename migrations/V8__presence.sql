-- Presence of local users (PUT /presence/{userId}/status). Each change
-- takes a position in one stream, so /sync can send what changed.

CREATE SEQUENCE presence_stream;

CREATE TABLE presence (
    user_id        TEXT PRIMARY KEY,
    state          TEXT NOT NULL CHECK (state IN ('online', 'unavailable', 'offline')),
    status_msg     TEXT,
    last_active_ts BIGINT NOT NULL,
    stream_pos     BIGINT NOT NULL
);
