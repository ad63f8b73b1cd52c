-- The media repository. The bytes live in files under <data_dir>/media,
-- named by their SHA-256 (so the same bytes are stored once, however often
-- they are uploaded); these tables hold what is known about them.

-- One row per mxc://<origin>/<media_id>. An asynchronous upload (POST
-- /create) makes the row first, with no content (sha256 NULL) until the
-- PUT that fills it.
CREATE TABLE media (
    origin            TEXT NOT NULL,
    media_id          TEXT NOT NULL,
    uploader          TEXT NOT NULL,
    content_type      TEXT,
    filename          TEXT,
    size              BIGINT,
    sha256            TEXT,
    created_ts        BIGINT NOT NULL,
    uploaded_ts       BIGINT,
    -- A pending asynchronous upload lapses at this time if not filled.
    unused_expires_ts BIGINT,
    -- Uploaded after unauthenticated media was frozen: served only through
    -- the authenticated endpoints.
    authenticated     BOOLEAN NOT NULL DEFAULT TRUE,
    quarantined       BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_ts        BIGINT,
    PRIMARY KEY (origin, media_id),
    CHECK ((sha256 IS NULL) = (size IS NULL))
);
-- Quotas and pending-upload counts, per uploader.
CREATE INDEX media_uploader ON media (uploader) WHERE deleted_ts IS NULL;
-- Whether a file is still referred to, before it is removed.
CREATE INDEX media_sha256 ON media (sha256) WHERE deleted_ts IS NULL;
-- Retention: media older than a time.
CREATE INDEX media_created ON media (created_ts) WHERE deleted_ts IS NULL;

-- Generated thumbnails, cached; their bytes are files like the media's.
CREATE TABLE media_thumbnails (
    origin       TEXT NOT NULL,
    media_id     TEXT NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    method       TEXT NOT NULL,
    animated     BOOLEAN NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    created_ts   BIGINT NOT NULL,
    PRIMARY KEY (origin, media_id, width, height, method, animated),
    FOREIGN KEY (origin, media_id) REFERENCES media ON DELETE CASCADE
);
CREATE INDEX media_thumbnails_sha256 ON media_thumbnails (sha256);
