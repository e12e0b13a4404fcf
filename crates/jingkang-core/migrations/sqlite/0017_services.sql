-- 康复服务记录 (SPEC §6): one row per session (a group session is one row), its participants in
-- service_attendance with the date repeated, so a person's contacts per month read from one index.
CREATE TABLE service_sessions (
    id            INTEGER PRIMARY KEY,
    change_id     INTEGER NOT NULL REFERENCES change_sets(id),
    item          TEXT NOT NULL,
    mode          TEXT NOT NULL,
    service_date  TEXT NOT NULL,
    start_time    TEXT NOT NULL,
    end_time      TEXT NOT NULL,
    staff         TEXT NOT NULL,
    region        TEXT NOT NULL,
    participants  INTEGER NOT NULL,
    notes         TEXT
);
CREATE INDEX service_sessions_region ON service_sessions(region, service_date);
CREATE TABLE service_attendance (
    session_id    INTEGER NOT NULL REFERENCES service_sessions(id) ON DELETE CASCADE,
    person_id     INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    service_date  TEXT NOT NULL,
    PRIMARY KEY (session_id, person_id)
);
CREATE INDEX service_attendance_person ON service_attendance(person_id, service_date);
