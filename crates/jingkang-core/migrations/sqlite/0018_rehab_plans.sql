-- 个案康复计划 (SPEC §6): every version of a person's plan is kept; the current one is the
-- latest. The person's row carries the current plan's review date for the worklist and 规范服务.
CREATE TABLE rehab_plans (
    id            INTEGER PRIMARY KEY,
    person_id     INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    change_id     INTEGER NOT NULL REFERENCES change_sets(id),
    version       INTEGER NOT NULL,
    goals         TEXT NOT NULL,
    items         TEXT NOT NULL,
    responsible   TEXT NOT NULL,
    starts_on     TEXT NOT NULL,
    review_on     TEXT NOT NULL,
    signed_on     TEXT,
    signed_by     TEXT,
    UNIQUE (person_id, version)
);
CREATE INDEX rehab_plans_period ON rehab_plans(person_id, starts_on, review_on);
ALTER TABLE persons ADD COLUMN plan_review_on TEXT;
CREATE INDEX persons_plan_review ON persons(plan_review_on, residence_region) WHERE plan_review_on IS NOT NULL;
