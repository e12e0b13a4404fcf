-- Rehabilitation institutions and sites, their staff and staff training (SPEC §7). A person is
-- served by at most one site (persons.site_id); a user of a site (users.site_id) sees only the
-- persons that site serves. A service session may name the institution that delivered it.
CREATE TABLE institutions (
    id              INTEGER PRIMARY KEY,
    change_id       INTEGER NOT NULL REFERENCES change_sets(id),
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    urban           INTEGER NOT NULL,
    region          TEXT NOT NULL REFERENCES regions(code),
    address         TEXT NOT NULL,
    capacity        INTEGER NOT NULL CHECK (capacity >= 0),
    operator        TEXT NOT NULL,
    operator_code   TEXT NOT NULL,
    opened_on       TEXT,
    status          TEXT NOT NULL
);
CREATE INDEX institutions_region ON institutions(region);
CREATE INDEX institutions_operator ON institutions(operator_code);
CREATE TABLE staff (
    id              INTEGER PRIMARY KEY,
    institution_id  INTEGER NOT NULL REFERENCES institutions(id),
    change_id       INTEGER NOT NULL REFERENCES change_sets(id),
    name            TEXT NOT NULL,
    position        TEXT NOT NULL,
    hired_on        TEXT NOT NULL,
    left_on         TEXT
);
CREATE INDEX staff_institution ON staff(institution_id);
CREATE TABLE staff_qualifications (
    id              INTEGER PRIMARY KEY,
    staff_id        INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    change_id       INTEGER NOT NULL REFERENCES change_sets(id),
    kind            TEXT NOT NULL,
    number          TEXT NOT NULL,
    issued_on       TEXT NOT NULL,
    valid_until     TEXT
);
CREATE INDEX staff_qualifications_staff ON staff_qualifications(staff_id);
CREATE TABLE staff_trainings (
    id              INTEGER PRIMARY KEY,
    staff_id        INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    change_id       INTEGER NOT NULL REFERENCES change_sets(id),
    trained_on      TEXT NOT NULL,
    topic           TEXT NOT NULL,
    hours           REAL NOT NULL CHECK (hours > 0)
);
CREATE INDEX staff_trainings_staff ON staff_trainings(staff_id, trained_on);
ALTER TABLE persons ADD COLUMN site_id INTEGER REFERENCES institutions(id);
CREATE INDEX persons_site ON persons(site_id, residence_region) WHERE site_id IS NOT NULL;
ALTER TABLE users ADD COLUMN site_id INTEGER REFERENCES institutions(id);
ALTER TABLE service_sessions ADD COLUMN institution_id INTEGER REFERENCES institutions(id);
CREATE INDEX service_sessions_institution ON service_sessions(institution_id, service_date) WHERE institution_id IS NOT NULL;
