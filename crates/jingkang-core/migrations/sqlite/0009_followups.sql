-- 随访 (SPEC §4): one row per follow-up, the 2018 随访服务记录表 as answered (JSON text, keys of
-- data/followup_form.json), with the items reports and worklists read as columns.
CREATE TABLE followups (
    id              INTEGER PRIMARY KEY,
    person_id       INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    change_id       INTEGER NOT NULL REFERENCES change_sets(id),
    visit_date      TEXT NOT NULL,
    mode            TEXT NOT NULL,
    lost            INTEGER NOT NULL DEFAULT 0,
    died            INTEGER NOT NULL DEFAULT 0,
    risk_grade      INTEGER CHECK (risk_grade BETWEEN 0 AND 5),
    condition_class TEXT CHECK (condition_class IN ('unstable','basically_stable','stable')),
    adherence       TEXT,
    next_date       TEXT,
    doctor          TEXT NOT NULL,
    form_version    TEXT NOT NULL,
    answers         TEXT NOT NULL
);
CREATE INDEX followups_person ON followups(person_id, visit_date);

-- The person's current schedule, kept by each follow-up (the latest by visit date).
ALTER TABLE persons ADD COLUMN condition_class TEXT CHECK (condition_class IN ('unstable','basically_stable','stable'));
ALTER TABLE persons ADD COLUMN last_followup_date TEXT;
ALTER TABLE persons ADD COLUMN next_followup_date TEXT;
ALTER TABLE persons ADD COLUMN followup_lost INTEGER NOT NULL DEFAULT 0;
ALTER TABLE persons ADD COLUMN last_followup_by TEXT;
-- Worklists: due and overdue by date; unstable and lost as partial indexes (few rows each).
CREATE INDEX persons_followup_due ON persons(next_followup_date, residence_region);
CREATE INDEX persons_unstable ON persons(last_followup_date, residence_region) WHERE condition_class = 'unstable';
CREATE INDEX persons_lost ON persons(last_followup_date, residence_region) WHERE followup_lost;
