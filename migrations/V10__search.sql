-- Full-text search over room events (POST /search): the text of message
-- bodies (weight A), room names (B) and topics (C), kept by PostgreSQL
-- itself as the event's JSON is written or redacted. The 'simple'
-- configuration lowercases words but does not stem them: rooms are in
-- every language, and a stemmer for one would mangle the others.
-- Encrypted events carry no such fields and are never matched.
ALTER TABLE events ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', coalesce(json::jsonb #>> '{content,body}', '')), 'A')
    || setweight(to_tsvector('simple', coalesce(json::jsonb #>> '{content,name}', '')), 'B')
    || setweight(to_tsvector('simple', coalesce(json::jsonb #>> '{content,topic}', '')), 'C')
) STORED;
CREATE INDEX events_search ON events USING gin (search);
