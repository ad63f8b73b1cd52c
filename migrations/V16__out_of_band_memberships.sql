-- Memberships of this server's users in rooms this server is not in: an
-- invite received over federation, a knock sent through another server, and
-- the rejection or retraction of either. The member event is stored as an
-- outlier with a stream position (so /sync sees it, though it is in no
-- room state here); this row keeps what the room looked like as the other
-- server described it, and the server to go through to leave again.
CREATE TABLE out_of_band_memberships (
    event_nid      BIGINT PRIMARY KEY REFERENCES events,
    -- Stripped state events (type, state_key, sender, content), JSON.
    stripped_state TEXT NOT NULL,
    through        TEXT NOT NULL
);
