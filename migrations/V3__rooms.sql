-- Rooms, their events and their state.
--
-- Strings that repeat (event types, state keys, user IDs) are interned to
-- numbers once; the hot tables hold numbers. Room state is a persistent
-- hash trie of content-addressed nodes (state_nodes): a new state event
-- writes the few nodes on one path, and identical states share nodes.

CREATE TABLE event_types (
    type_nid   INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type TEXT NOT NULL UNIQUE
);

-- State keys, and the user IDs of senders: a sender is the state key of its
-- own membership event, so one table keeps each user ID once.
CREATE TABLE state_keys (
    state_key_nid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state_key     TEXT NOT NULL UNIQUE
);

-- One node of a state trie. A branch has 16 children indexed by four bits
-- of the key's hash (0 for an empty slot); a leaf holds entries sorted by
-- (type_nid, state_key_nid). Nodes never change: `hash` (SHA-256 of the
-- node's content) lets identical nodes be stored once.
CREATE TABLE state_nodes (
    node_nid       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash           BYTEA NOT NULL UNIQUE,
    children       BIGINT[],
    type_nids      INT[],
    state_key_nids BIGINT[],
    event_nids     BIGINT[],
    CHECK ((children IS NULL) <> (event_nids IS NULL))
);

CREATE TABLE rooms (
    room_nid            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id             TEXT NOT NULL UNIQUE,
    room_version        TEXT NOT NULL,
    -- The room's current state (root of its state trie), the events no
    -- other event points to yet, and the greatest depth so far: all a new
    -- local event needs, in one row.
    state_root          BIGINT NOT NULL REFERENCES state_nodes,
    forward_extremities BIGINT[] NOT NULL,
    max_depth           BIGINT NOT NULL,
    created_ts          BIGINT NOT NULL,
    -- Listed in this server's published room directory.
    published           BOOLEAN NOT NULL DEFAULT FALSE
);

-- Positions in the stream of events as this server persisted them: sync
-- and pagination tokens are positions in it.
CREATE SEQUENCE event_stream;

CREATE TABLE events (
    event_nid        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    room_nid         BIGINT NOT NULL REFERENCES rooms,
    type_nid         INT NOT NULL REFERENCES event_types,
    state_key_nid    BIGINT REFERENCES state_keys,  -- NULL: a message event
    sender_nid       BIGINT NOT NULL REFERENCES state_keys,
    depth            BIGINT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    stream_ordering  BIGINT NOT NULL UNIQUE DEFAULT nextval('event_stream'),
    -- The room state before this event (root of a state trie).
    state_before     BIGINT NOT NULL REFERENCES state_nodes,
    -- For relations (m.relates_to): the event this one relates to and how.
    relates_to_nid   BIGINT REFERENCES events,
    rel_type         TEXT,
    -- The redaction event that redacted this one; `json` is then the
    -- redacted form and the original content is gone.
    redacted_by      BIGINT REFERENCES events,
    -- The event in canonical JSON, as signed (no `unsigned`).
    json             TEXT NOT NULL
);
CREATE INDEX events_room_stream ON events (room_nid, stream_ordering);
CREATE INDEX events_relations ON events (relates_to_nid, stream_ordering)
    WHERE relates_to_nid IS NOT NULL;

-- Each user's current membership in each room, for the queries that
-- start from the user (joined rooms, invites). The room's state is the
-- truth; this follows it in the same transaction.
CREATE TABLE memberships (
    room_nid   BIGINT NOT NULL REFERENCES rooms,
    user_nid   BIGINT NOT NULL REFERENCES state_keys,
    membership TEXT NOT NULL,
    event_nid  BIGINT NOT NULL REFERENCES events,
    -- Set by /forget after leaving; cleared by the next membership change.
    forgotten  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (room_nid, user_nid)
);
CREATE INDEX memberships_user ON memberships (user_nid, membership);

-- Client transaction IDs: PUT /send and friends are idempotent per device
-- and transaction ID.
CREATE TABLE event_transactions (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    event_nid  BIGINT NOT NULL REFERENCES events,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- Local room aliases (#localpart:this.server) and who made them.
CREATE TABLE room_aliases (
    alias      TEXT PRIMARY KEY,
    room_nid   BIGINT NOT NULL REFERENCES rooms,
    creator    TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_nid);
