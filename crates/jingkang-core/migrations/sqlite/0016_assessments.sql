-- 康复评估 (SPEC §6): one scored assessment with an instrument of data/instruments (or a local
-- one): the answers as JSON, the total, its band and whether the band calls for attention.
CREATE TABLE assessments (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    change_id    INTEGER NOT NULL REFERENCES change_sets(id),
    instrument   TEXT NOT NULL,
    version      TEXT NOT NULL,
    domain       TEXT NOT NULL,
    assessed_on  TEXT NOT NULL,
    assessor     TEXT NOT NULL,
    answers      TEXT NOT NULL,
    total        INTEGER NOT NULL,
    band         TEXT,
    flag         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX assessments_person ON assessments(person_id, assessed_on);
CREATE INDEX assessments_domain ON assessments(person_id, domain, assessed_on);
