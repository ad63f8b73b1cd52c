-- Received redactions whose target this server did not have yet: applied
-- when the target is stored (the insert of an event takes its pending
-- redactions in the same statement), so an event redacted elsewhere does
-- not stay readable here for having arrived late.
CREATE TABLE pending_redactions (
    target_event_id TEXT NOT NULL,
    redaction_nid   BIGINT NOT NULL REFERENCES events ON DELETE CASCADE,
    PRIMARY KEY (target_event_id, redaction_nid)
);
