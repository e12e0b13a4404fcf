-- 应急处置 (SPEC §4): one row per emergency event; kinds and measures are JSON arrays of codes.
CREATE TABLE emergencies (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    change_id    INTEGER NOT NULL REFERENCES change_sets(id),
    occurred_at  TEXT NOT NULL,
    risk_grade   INTEGER NOT NULL CHECK (risk_grade BETWEEN 0 AND 5),
    kinds        TEXT NOT NULL,
    place        TEXT,
    description  TEXT NOT NULL,
    measures     TEXT NOT NULL,
    outcome      TEXT,
    late_reason  TEXT
);
CREATE INDEX emergencies_person ON emergencies(person_id, occurred_at);
CREATE INDEX emergencies_change ON emergencies(change_id);

-- In-app notifications to a role in a region (the person's township): the police and the
-- township are alerted when a person's risk reaches grade 3. No ID number, phone or diagnosis.
CREATE TABLE notifications (
    id           INTEGER PRIMARY KEY,
    created_at   TEXT NOT NULL,
    region_code  TEXT NOT NULL,
    audience     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    person_id    INTEGER REFERENCES persons(id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX notifications_audience ON notifications(audience, region_code, id);
CREATE TABLE notification_reads (
    notification_id INTEGER NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    read_at         TEXT NOT NULL,
    PRIMARY KEY (notification_id, user_id)
);

-- Messages for external channels (SMS gateway, webhook), written in the same transaction as what
-- caused them and drained by `jingkang outbox drain`. The payload names no person.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    created_at      TEXT NOT NULL,
    topic           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    delivered_at    TEXT,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox(next_attempt_at) WHERE delivered_at IS NULL;
