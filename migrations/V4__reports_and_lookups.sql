-- Reports of rooms, events and users, kept for the operator.

CREATE TABLE reports (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reporter    TEXT NOT NULL,
    room_id     TEXT,             -- a room, or the room of an event
    event_id    TEXT,             -- an event report
    target_user TEXT,             -- a user report
    reason      TEXT NOT NULL,
    created_ts  BIGINT NOT NULL,
    CHECK (room_id IS NOT NULL OR target_user IS NOT NULL)
);
CREATE INDEX reports_created ON reports (created_ts);

-- GET /timestamp_to_event looks events up by time within a room.
CREATE INDEX events_room_time ON events (room_nid, origin_server_ts);
-- GET /threads lists thread roots by their latest reply.
CREATE INDEX events_threads ON events (room_nid, relates_to_nid, stream_ordering)
    WHERE rel_type = 'm.thread';

-- The room's current join rule, kept by the room writer: the user
-- directory shows members of public rooms.
ALTER TABLE rooms ADD COLUMN join_rule TEXT;

-- Events are rendered with the transaction ID their sending device used.
CREATE INDEX event_transactions_event ON event_transactions (event_nid);
