-- Account data: configuration clients keep for their user, global or per
-- room. Each write takes a new position in one stream, so /sync can send
-- what changed since a token.

CREATE SEQUENCE account_data_stream;

CREATE TABLE account_data (
    user_id    TEXT NOT NULL,
    room_id    TEXT NOT NULL,    -- '' for global account data
    data_type  TEXT NOT NULL,
    content    TEXT NOT NULL,    -- a JSON object, as the client sent it
    stream_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, data_type)
);
CREATE INDEX account_data_changes ON account_data (user_id, stream_pos);
