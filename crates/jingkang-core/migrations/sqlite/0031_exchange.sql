-- Information exchange (信息比对, SPEC §8): a department's list kept as a dated snapshot, the column
-- names each department uses, and the discrepancies a comparison with the registry found, each
-- waiting for a user's decision. Nothing here changes the registry by itself.
CREATE TABLE exchange_mappings (
    source      TEXT NOT NULL,
    header      TEXT NOT NULL,
    column_key  TEXT NOT NULL,
    change_id   INTEGER NOT NULL REFERENCES change_sets(id),
    PRIMARY KEY (source, header)
);

CREATE TABLE exchange_lists (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    region      TEXT NOT NULL REFERENCES regions(code),
    taken_on    TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    row_count   INTEGER NOT NULL,
    change_id   INTEGER NOT NULL REFERENCES change_sets(id)
);
CREATE INDEX exchange_lists_region ON exchange_lists(region, source, taken_on);

CREATE TABLE exchange_rows (
    id           INTEGER PRIMARY KEY,
    list_id      INTEGER NOT NULL REFERENCES exchange_lists(id),
    row_number   INTEGER NOT NULL,
    name         TEXT NOT NULL,
    id_number    TEXT,
    id_valid     INTEGER NOT NULL,
    sex          TEXT,
    birth_date   TEXT,
    address      TEXT,
    phone        TEXT,
    guardian     TEXT,
    died         INTEGER NOT NULL,
    died_on      TEXT,
    certificate  TEXT,
    grade        INTEGER,
    township     TEXT,
    category     TEXT
);
CREATE INDEX exchange_rows_list ON exchange_rows(list_id, row_number);

CREATE TABLE exchange_runs (
    id          INTEGER PRIMARY KEY,
    list_id     INTEGER REFERENCES exchange_lists(id),
    source      TEXT NOT NULL,
    region      TEXT NOT NULL REFERENCES regions(code),
    summary     TEXT NOT NULL,
    change_id   INTEGER NOT NULL REFERENCES change_sets(id)
);
CREATE INDEX exchange_runs_region ON exchange_runs(region, id);

CREATE TABLE exchange_items (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES exchange_runs(id),
    class           TEXT NOT NULL CHECK (class IN ('theirs_only', 'ours_only', 'conflict', 'duplicate')),
    person_id       INTEGER REFERENCES persons(id),
    other_person_id INTEGER REFERENCES persons(id),
    row_id          INTEGER REFERENCES exchange_rows(id),
    score           REAL,
    detail          TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'linked', 'merged', 'created', 'rejected')),
    decided_change  INTEGER REFERENCES change_sets(id)
);
CREATE INDEX exchange_items_run ON exchange_items(run_id, class, state);
CREATE INDEX exchange_items_person ON exchange_items(person_id);
