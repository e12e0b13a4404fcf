-- The unique constraint on persons.id_number becomes a named unique index, so that a first bulk load
-- into an empty registry can drop the person indexes, insert, and rebuild them (store::persons::
-- drop_indexes_for_bulk_load). The index on name goes: every person query is scoped by residence
-- region first, and a name search within a county scans the region's index range.
--
-- SQLite cannot drop an inline UNIQUE constraint, so persons is rebuilt. sqlx runs every SQLite
-- migration inside a transaction, where `PRAGMA foreign_keys = OFF` is a no-op, and with foreign keys
-- on, DROP TABLE persons would cascade to the tables that reference it. So the referencing tables are
-- set aside in temporary copies first, dropped, and rebuilt afterwards with their original definitions.
CREATE TEMP TABLE keep_guardians AS SELECT * FROM guardians;
CREATE TEMP TABLE keep_household_members AS SELECT * FROM household_members;
CREATE TEMP TABLE keep_person_drugs AS SELECT * FROM person_drugs;
CREATE TEMP TABLE keep_person_history AS SELECT * FROM person_history;
DROP TABLE person_history;
DROP TABLE person_drugs;
DROP TABLE household_members;
DROP TABLE guardians;

CREATE TABLE persons_new (
    id                      INTEGER PRIMARY KEY,
    id_number               TEXT NOT NULL,          -- canonical 18 characters; unique index below
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
INSERT INTO persons_new SELECT * FROM persons;
DROP TABLE persons;
ALTER TABLE persons_new RENAME TO persons;
CREATE UNIQUE INDEX persons_id_number ON persons(id_number);
CREATE INDEX persons_residence ON persons(residence_region);

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
INSERT INTO guardians SELECT * FROM keep_guardians;
DROP TABLE keep_guardians;

CREATE TABLE household_members (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    relation    TEXT NOT NULL,
    name        TEXT
);
CREATE INDEX household_members_person ON household_members(person_id);
INSERT INTO household_members SELECT * FROM keep_household_members;
DROP TABLE keep_household_members;

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
INSERT INTO person_drugs SELECT * FROM keep_person_drugs;
DROP TABLE keep_person_drugs;

CREATE TABLE person_history (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    change_id   INTEGER NOT NULL REFERENCES change_sets(id),
    field       TEXT NOT NULL,
    old_value   TEXT,
    new_value   TEXT
);
CREATE INDEX person_history_person ON person_history(person_id, id);
INSERT INTO person_history SELECT * FROM keep_person_history;
DROP TABLE keep_person_history;
