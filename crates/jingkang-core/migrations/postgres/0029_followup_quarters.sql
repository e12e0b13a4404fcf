-- What the follow-up indicators (管理率, 规范管理率, 服药率, 规律服药率, 病情不稳定) need of a person
-- in a quarter: seen follow-ups in the 12 months to the quarter's end (its quarter and the three
-- before), and in the quarter the seen ones, the attempts that found nobody, those assessed
-- unstable; the adherence of the latest seen one in the 12 months. Kept with every follow-up
-- (store::followups::refresh_quarters) and rebuilt by `gen history`; facts, not verdicts: the
-- thresholds are applied when read. A row for every quarter whose 12 months hold a follow-up.
CREATE TABLE followup_quarters (
    person_id     BIGINT NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    quarter_start DATE NOT NULL,
    seen_year     INTEGER NOT NULL,
    seen          INTEGER NOT NULL,
    lost          INTEGER NOT NULL,
    unstable      INTEGER NOT NULL,
    adherence     TEXT,
    PRIMARY KEY (person_id, quarter_start)
);
-- A quarter is one index range, read without the table.
CREATE INDEX followup_quarters_quarter ON followup_quarters(quarter_start, person_id) INCLUDE (seen_year, seen, lost, unstable, adherence);
-- The persons case-managed in a quarter: the sessions of one item.
CREATE INDEX service_sessions_item ON service_sessions(item, service_date);
INSERT INTO followup_quarters (person_id, quarter_start, seen_year, seen, lost, unstable, adherence)
SELECT person_id, qs,
       SUM(CASE WHEN lost OR died THEN 0 ELSE 1 END),
       SUM(CASE WHEN NOT (lost OR died) AND fq = qs THEN 1 ELSE 0 END),
       SUM(CASE WHEN lost AND fq = qs THEN 1 ELSE 0 END),
       SUM(CASE WHEN NOT (lost OR died) AND fq = qs AND condition_class = 'unstable' THEN 1 ELSE 0 END),
       substr(MAX(CASE WHEN lost OR died THEN NULL ELSE CAST(visit_date AS TEXT) || ':' || COALESCE(adherence, '') END), 12)
FROM (SELECT f.person_id, f.lost, f.died, f.condition_class, f.adherence, f.visit_date,
             CAST(date_trunc('quarter', f.visit_date) AS DATE) AS fq,
             CAST(date_trunc('quarter', f.visit_date) + k.n * INTERVAL '3 months' AS DATE) AS qs
      FROM followups f CROSS JOIN (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) k) x
GROUP BY person_id, qs;
