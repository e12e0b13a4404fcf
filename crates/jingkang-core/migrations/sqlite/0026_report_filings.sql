-- A township's filing of a report for a quarter (附件2, SPEC §9): the figures entered by hand,
-- then 填报 → 审核 → 签发, each with name and day. At 签发 the whole report (computed figures and
-- hand-entered ones) is kept as it stood: a signed filing never changes; a correction is a new
-- version of the same township and quarter.
CREATE TABLE report_filings (
    id           INTEGER PRIMARY KEY,
    code         TEXT NOT NULL,
    region       TEXT NOT NULL REFERENCES regions(code),
    quarter      TEXT NOT NULL,
    version      INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('draft', 'filled', 'reviewed', 'signed')),
    manual       TEXT NOT NULL,
    snapshot     TEXT,
    filled_by    TEXT,
    filled_on    TEXT,
    reviewed_by  TEXT,
    reviewed_on  TEXT,
    signed_by    TEXT,
    signed_on    TEXT,
    change_id    INTEGER NOT NULL REFERENCES change_sets(id),
    UNIQUE (code, region, quarter, version)
);
CREATE INDEX report_filings_quarter ON report_filings(code, quarter, region);
