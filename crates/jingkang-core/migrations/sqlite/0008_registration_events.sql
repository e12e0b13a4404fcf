-- Every change of registration state (SPEC §3), with its reason; who and when are in the change set.
CREATE TABLE registration_events (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    change_id    INTEGER NOT NULL REFERENCES change_sets(id),
    event        TEXT NOT NULL,
    from_state   TEXT NOT NULL,
    to_state     TEXT NOT NULL,
    close_reason TEXT,
    reason       TEXT,
    exception    INTEGER NOT NULL DEFAULT 0   -- registered although the eligibility rule was not met
);
CREATE INDEX registration_events_person ON registration_events(person_id, id);
