-- What 规范服务 needs of a person in a quarter, kept with every service record, plan and
-- assessment (store::standard::refresh_quarters): contacts in each of the quarter's three
-- months, whether a plan was current at any time in it, and the latest assessment on or before
-- its last day. The rule (data/standard_service.json) is applied when the figures are read, so
-- changing it changes the figures, not these rows. Only quarters with contacts have a row.
CREATE TABLE service_quarters (
    person_id        INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    quarter_start    TEXT NOT NULL,
    m1               INTEGER NOT NULL,
    m2               INTEGER NOT NULL,
    m3               INTEGER NOT NULL,
    planned          INTEGER NOT NULL,
    last_assessed_on TEXT,
    PRIMARY KEY (person_id, quarter_start)
) WITHOUT ROWID;
-- A region's quarter read from one index range (the persons meeting the rule, without a seek
-- into the table); the key's person_id comes with every entry.
CREATE INDEX service_quarters_quarter ON service_quarters(quarter_start, m1, m2, m3, planned, last_assessed_on);
INSERT INTO service_quarters (person_id, quarter_start, m1, m2, m3, planned, last_assessed_on)
    SELECT g.person_id, g.qs, g.m1, g.m2, g.m3,
           EXISTS (SELECT 1 FROM rehab_plans r WHERE r.person_id = g.person_id AND r.starts_on <= date(g.qs, '+3 months', '-1 day') AND r.review_on >= g.qs),
           (SELECT MAX(a.assessed_on) FROM assessments a WHERE a.person_id = g.person_id AND a.assessed_on <= date(g.qs, '+3 months', '-1 day'))
    FROM (SELECT person_id, qs, SUM(CASE WHEN k = 0 THEN contacts ELSE 0 END) AS m1, SUM(CASE WHEN k = 1 THEN contacts ELSE 0 END) AS m2,
                 SUM(CASE WHEN k = 2 THEN contacts ELSE 0 END) AS m3
          FROM (SELECT person_id, contacts, (CAST(substr(month, 6, 2) AS INTEGER) - 1) % 3 AS k,
                       substr(month, 1, 5) || printf('%02d', ((CAST(substr(month, 6, 2) AS INTEGER) - 1) / 3) * 3 + 1) || '-01' AS qs
                FROM service_months) mq
          GROUP BY person_id, qs) g;
