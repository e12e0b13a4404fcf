-- Foundation schema (SQLite). Never edit an applied migration: add a new one.
-- Dates are ISO-8601 TEXT, timestamps RFC 3339 TEXT (sqlx chrono encoding); booleans 0/1.

CREATE TABLE regions (
    code        TEXT PRIMARY KEY NOT NULL,      -- 6 (province..county), 9 (township) or 12 (village) digits
    name        TEXT NOT NULL,
    parent_code TEXT REFERENCES regions(code),
    level       TEXT NOT NULL CHECK (level IN ('province','city','county','township','village')),
    prefix      TEXT NOT NULL                   -- significant prefix: subtree = codes starting with it
) WITHOUT ROWID;
CREATE INDEX regions_parent ON regions(parent_code);
CREATE INDEX regions_prefix ON regions(prefix);

-- One row per act that changes data (an import run, a form save): who, when, from which source.
CREATE TABLE change_sets (
    id      INTEGER PRIMARY KEY,
    actor   TEXT NOT NULL,
    source  TEXT NOT NULL,          -- e.g. 'roster-import:花名册.xlsx', 'demo', 'web-form'
    action  TEXT NOT NULL,
    at      TEXT NOT NULL
);

CREATE TABLE persons (
    id                      INTEGER PRIMARY KEY,
    id_number               TEXT NOT NULL UNIQUE,   -- canonical 18 characters
    name                    TEXT NOT NULL,
    sex                     TEXT NOT NULL CHECK (sex IN ('male','female')),
    birth_date              TEXT NOT NULL,
    ethnicity               TEXT,
    phone                   TEXT,
    phone_alt               TEXT,
    household_region        TEXT REFERENCES regions(code),
    household_address       TEXT,
    residence_region        TEXT NOT NULL REFERENCES regions(code),
    residence_address       TEXT,
    disability_certificate  TEXT,
    disability_category     INTEGER,
    disability_grade        INTEGER CHECK (disability_grade BETWEEN 1 AND 4),
    diagnosis_code          TEXT,
    diagnosis_name          TEXT,
    marital_status          TEXT,
    education               TEXT,
    employment              TEXT,
    living_situation        TEXT,
    economic_status         TEXT,
    subsistence_allowance   INTEGER NOT NULL DEFAULT 0,   -- 低保
    extreme_poverty         INTEGER NOT NULL DEFAULT 0,   -- 特困
    low_income              INTEGER NOT NULL DEFAULT 0,   -- 低收入
    medical_insurance       TEXT,
    dangerous_history       TEXT,
    risk_grade              INTEGER CHECK (risk_grade BETWEEN 0 AND 5),
    medication_adherence    TEXT,
    medication_method       TEXT,
    side_effects            TEXT,
    treatment_effect        TEXT,
    notes                   TEXT,
    created_change          INTEGER NOT NULL REFERENCES change_sets(id),
    updated_change          INTEGER NOT NULL REFERENCES change_sets(id),
    version                 INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX persons_residence ON persons(residence_region);
CREATE INDEX persons_name ON persons(name);

CREATE TABLE guardians (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    name        TEXT NOT NULL,
    relation    TEXT,
    phone       TEXT,
    phone_alt   TEXT,
    id_number   TEXT,
    UNIQUE (person_id, ordinal)
);

CREATE TABLE household_members (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    relation    TEXT NOT NULL,
    name        TEXT
);
CREATE INDEX household_members_person ON household_members(person_id);

CREATE TABLE person_drugs (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    drug_name   TEXT NOT NULL,
    dose_morning_mg REAL,
    dose_noon_mg    REAL,
    dose_night_mg   REAL,
    long_acting     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (person_id, ordinal)
);

-- Field history: one row per changed field. The value a field had at creation is the old_value of its
-- first history row, or the current value when it never changed; provenance = the change set.
CREATE TABLE person_history (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    change_id   INTEGER NOT NULL REFERENCES change_sets(id),
    field       TEXT NOT NULL,
    old_value   TEXT,
    new_value   TEXT
);
CREATE INDEX person_history_person ON person_history(person_id, id);

-- Append-only audit log, each entry chained to the previous by SHA-256.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT,
    target_id   TEXT,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
