-- Filters clients upload (POST /user/{userId}/filter), kept as sent.

CREATE TABLE filters (
    user_id   TEXT NOT NULL,
    filter_id BIGINT GENERATED ALWAYS AS IDENTITY,
    json      TEXT NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);
