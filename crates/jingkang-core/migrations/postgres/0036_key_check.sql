-- The fingerprint of the master key this database is used with (an HMAC under the key, which says
-- nothing about it): opened with another key file, the application refuses to start.
CREATE TABLE key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL
);
