-- Public halves of this server's signing keys: the one in use and every one
-- it used before, so /_matrix/key/v2/server can keep listing retired keys as
-- old_verify_keys and events signed with them stay verifiable.
CREATE TABLE local_server_keys (
    key_id        TEXT PRIMARY KEY,
    public_key    TEXT NOT NULL,
    first_used_ts BIGINT NOT NULL,
    -- NULL while the key is in use; the time it was replaced afterwards.
    retired_ts    BIGINT
);
