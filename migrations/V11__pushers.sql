-- Pushers: where a user's notifications are sent (an HTTP push gateway),
-- one per app and pushkey.
CREATE TABLE pushers (
    user_id             TEXT NOT NULL,
    app_id              TEXT NOT NULL,
    pushkey             TEXT NOT NULL,
    kind                TEXT NOT NULL,
    app_display_name    TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag         TEXT,
    lang                TEXT NOT NULL,
    -- The `data` object as given (JSON text), `url` included.
    data                TEXT NOT NULL,
    -- The device that set it: logging the device out removes its pushers.
    device_id           TEXT NOT NULL,
    -- When the pushkey was last set, in milliseconds.
    pushkey_ts          BIGINT NOT NULL,
    -- Every event up to this stream position is dealt with: sent to the
    -- gateway, found not to notify, or given up on.
    delivered_upto      BIGINT NOT NULL,
    PRIMARY KEY (user_id, app_id, pushkey),
    FOREIGN KEY (user_id, device_id) REFERENCES devices ON DELETE CASCADE
);
-- For removing other users' pushers of the same app and pushkey.
CREATE INDEX pushers_by_key ON pushers (app_id, pushkey);
