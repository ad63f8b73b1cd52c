-- Federation, the receiving side: other servers' signing keys, the
-- transactions they sent, and events that are stored without being part
-- of the room's timeline.

-- Each remote server's key document as last fetched (canonical JSON with
-- its signatures), so this server can serve it again as a notary.
CREATE TABLE remote_key_documents (
    server_name     TEXT PRIMARY KEY,
    json            TEXT NOT NULL,
    valid_until_ts  BIGINT NOT NULL,
    fetched_ts      BIGINT NOT NULL
);

-- The keys those documents hold. `valid_until_ts` bounds what a key may
-- verify: for a current key the document's validity (at most 7 days past
-- fetching, as room versions 5+ ask), for an old key its `expired_ts`.
CREATE TABLE remote_server_keys (
    server_name     TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    public_key      TEXT NOT NULL,
    valid_until_ts  BIGINT NOT NULL,
    PRIMARY KEY (server_name, key_id)
);

-- Transactions received with PUT /send, and the answer given, so a
-- retried transaction gets the same answer and changes nothing.
CREATE TABLE federation_inbound_txns (
    origin       TEXT NOT NULL,
    txn_id       TEXT NOT NULL,
    response     TEXT NOT NULL,
    received_ts  BIGINT NOT NULL,
    PRIMARY KEY (origin, txn_id)
);

-- Events that are stored but are not in the timeline have no stream
-- position: outliers (known for auth or state only, e.g. the state a
-- join brought), rejected events (kept, as the spec asks, but never part
-- of state or timeline) and soft-failed events (in the graph, not shown).
ALTER TABLE events ALTER COLUMN stream_ordering DROP NOT NULL;
ALTER TABLE events ADD COLUMN outlier BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE events ADD COLUMN rejected TEXT;
ALTER TABLE events ADD COLUMN soft_failed BOOLEAN NOT NULL DEFAULT FALSE;
