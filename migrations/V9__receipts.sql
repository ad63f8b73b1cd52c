-- Read receipts (m.read, m.read.private): how far each user has read in a
-- room, unthreaded (thread_id '') or per thread ('main' or a thread
-- root's event ID). Each change takes a position in one stream for /sync.

CREATE SEQUENCE receipts_stream;

CREATE TABLE receipts (
    room_nid     BIGINT NOT NULL REFERENCES rooms,
    user_id      TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    thread_id    TEXT NOT NULL,
    event_nid    BIGINT NOT NULL REFERENCES events,
    ts           BIGINT NOT NULL,
    stream_pos   BIGINT NOT NULL,
    PRIMARY KEY (room_nid, user_id, receipt_type, thread_id)
);
CREATE INDEX receipts_stream_pos ON receipts (stream_pos);
