-- Local accounts, their devices and credentials.

CREATE TABLE accounts (
    user_id        TEXT PRIMARY KEY,          -- @localpart:server_name
    localpart      TEXT NOT NULL UNIQUE,
    -- argon2 PHC string; NULL for accounts that cannot log in by password
    -- (guests, deactivated accounts).
    password_hash  TEXT,
    is_admin       BOOLEAN NOT NULL DEFAULT FALSE,
    is_guest       BOOLEAN NOT NULL DEFAULT FALSE,
    created_ts     BIGINT NOT NULL,
    deactivated_ts BIGINT
);

-- Profile fields (displayname, avatar_url and custom fields), one row each.
CREATE TABLE profile_fields (
    user_id TEXT NOT NULL REFERENCES accounts ON DELETE CASCADE,
    field   TEXT NOT NULL,
    value   JSONB NOT NULL,
    PRIMARY KEY (user_id, field)
);

CREATE TABLE devices (
    user_id      TEXT NOT NULL REFERENCES accounts ON DELETE CASCADE,
    device_id    TEXT NOT NULL,
    display_name TEXT,
    created_ts   BIGINT NOT NULL,
    last_seen_ts BIGINT,
    last_seen_ip TEXT,
    PRIMARY KEY (user_id, device_id)
);

-- Refresh tokens. A refresh returns a new pair; the old refresh token keeps
-- working until the new pair is first used, so a lost response does not log
-- the device out.
CREATE TABLE refresh_tokens (
    id         BIGSERIAL PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,         -- SHA-256 of the token
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    -- The token issued when this one was used; NULL while unused.
    next_id    BIGINT REFERENCES refresh_tokens ON DELETE CASCADE,
    FOREIGN KEY (user_id, device_id) REFERENCES devices ON DELETE CASCADE
);

-- Only hashes of access tokens are stored: a database dump logs nobody in.
CREATE TABLE access_tokens (
    token_hash       BYTEA PRIMARY KEY,       -- SHA-256 of the token
    user_id          TEXT NOT NULL,
    device_id        TEXT NOT NULL,
    created_ts       BIGINT NOT NULL,
    expires_ts       BIGINT,                  -- NULL: never expires
    refresh_token_id BIGINT REFERENCES refresh_tokens ON DELETE CASCADE,
    -- Whether this token was used at least once (retires the refresh
    -- token it was issued with).
    used             BOOLEAN NOT NULL DEFAULT FALSE,
    FOREIGN KEY (user_id, device_id) REFERENCES devices ON DELETE CASCADE
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);

-- User-interactive authentication sessions.
CREATE TABLE uia_sessions (
    session_id TEXT PRIMARY KEY,
    -- What the session authorises ("register", "delete_devices", ...) and
    -- for whom: a session cannot be replayed for another action or user.
    action     TEXT NOT NULL,
    user_id    TEXT,
    completed  TEXT[] NOT NULL DEFAULT '{}',
    -- The registration token a registration session consumed, if any.
    registration_token TEXT,
    created_ts BIGINT NOT NULL
);

CREATE TABLE registration_tokens (
    token        TEXT PRIMARY KEY,
    uses_allowed INTEGER,                     -- NULL: unlimited
    completed    INTEGER NOT NULL DEFAULT 0,
    expiry_ts    BIGINT,                      -- NULL: never expires
    created_ts   BIGINT NOT NULL
);
