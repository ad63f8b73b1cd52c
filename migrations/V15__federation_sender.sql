-- The federation sender: a durable, ordered queue of PDUs and EDUs per
-- destination server, and each destination's delivery state.

-- Servers this server sends to (and its own name, which is never sent to),
-- interned to numbers: queue rows hold the number.
CREATE TABLE federation_destinations (
    destination_nid INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_name     TEXT NOT NULL UNIQUE,
    -- Back-off: failed attempts in a row, and no attempt before retry_at
    -- (milliseconds since the epoch).
    failures        INT NOT NULL DEFAULT 0,
    retry_at        BIGINT NOT NULL DEFAULT 0,
    -- The process sending to this destination, until lease_until: several
    -- processes sharing the database never send one destination's queue
    -- at once.
    lease_owner     TEXT,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    -- The transaction being sent, kept until the destination answers 200:
    -- a retry sends the same ID with the same PDUs and EDUs.
    txn_id          TEXT,
    txn_ts          BIGINT,
    txn_pdus        BIGINT[],
    txn_edus        BIGINT[],
    txn_counter     BIGINT NOT NULL DEFAULT 0
);

-- Per room, how many joined members each server has. A new event goes to
-- the servers counted here, so enqueueing reads a few rows per server, not
-- one per member.
CREATE TABLE room_servers (
    room_nid        BIGINT NOT NULL REFERENCES rooms,
    destination_nid INT NOT NULL REFERENCES federation_destinations,
    joined          INT NOT NULL,
    PRIMARY KEY (room_nid, destination_nid)
);

-- PDUs waiting for a destination: (destination, event), sent in event
-- number order (a room's events are numbered in the order they commit).
CREATE TABLE federation_pdu_queue (
    destination_nid INT NOT NULL REFERENCES federation_destinations,
    event_nid       BIGINT NOT NULL REFERENCES events ON DELETE CASCADE,
    PRIMARY KEY (destination_nid, event_nid)
);

-- EDUs waiting for a destination, in the order they were queued.
CREATE TABLE federation_edu_queue (
    edu_nid         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination_nid INT NOT NULL REFERENCES federation_destinations,
    edu_type        TEXT NOT NULL,
    -- The EDU's content as JSON text.
    content         TEXT NOT NULL
);
CREATE INDEX federation_edu_queue_destination ON federation_edu_queue (destination_nid, edu_nid);

-- The servers of the members joined so far.
INSERT INTO federation_destinations (server_name)
SELECT DISTINCT substr(k.state_key, strpos(k.state_key, ':') + 1)
FROM memberships m JOIN state_keys k ON k.state_key_nid = m.user_nid
WHERE m.membership = 'join';

INSERT INTO room_servers (room_nid, destination_nid, joined)
SELECT m.room_nid, d.destination_nid, count(*)
FROM memberships m
JOIN state_keys k ON k.state_key_nid = m.user_nid
JOIN federation_destinations d
  ON d.server_name = substr(k.state_key, strpos(k.state_key, ':') + 1)
WHERE m.membership = 'join'
GROUP BY m.room_nid, d.destination_nid;
