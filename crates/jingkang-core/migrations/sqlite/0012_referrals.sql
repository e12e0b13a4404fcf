-- 双向转介 (SPEC §5): a referral from one region to another, its state and deadline (working days,
-- data/referrals.json and data/holidays.json), the documents it carries, and every step.
CREATE TABLE referrals (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER REFERENCES persons(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('initiated','accepted','returned','completed','timed_out')),
    urgent       INTEGER NOT NULL DEFAULT 0,
    from_region  TEXT NOT NULL,
    to_region    TEXT NOT NULL,
    reason       TEXT,
    documents    TEXT NOT NULL,
    sent_on      TEXT NOT NULL,
    accepted_on  TEXT,
    deadline     TEXT,
    change_id    INTEGER NOT NULL REFERENCES change_sets(id)
);
CREATE INDEX referrals_inbox ON referrals(to_region, state, deadline);
CREATE INDEX referrals_sent ON referrals(from_region, state);
CREATE INDEX referrals_person ON referrals(person_id);
CREATE TABLE referral_events (
    id           INTEGER PRIMARY KEY,
    referral_id  INTEGER NOT NULL REFERENCES referrals(id) ON DELETE CASCADE,
    change_id    INTEGER NOT NULL REFERENCES change_sets(id),
    event        TEXT NOT NULL,
    from_state   TEXT,
    to_state     TEXT NOT NULL,
    reason       TEXT
);
CREATE INDEX referral_events_referral ON referral_events(referral_id, id);
