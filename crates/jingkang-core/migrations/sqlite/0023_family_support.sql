-- 家庭支持 (SPEC §6): caregiver training sessions (家属护理培训) with the family members who
-- attended, each for a person of the registry; respite episodes (喘息服务) of a person; mutual-aid
-- groups (家属互助小组) with their members and meetings, attendance recorded once for all; and peer
-- supporters (同伴支持者). Trainings, groups and supporters belong to a township (or village) by
-- `region`, the lists' scope; what is about a person is scoped by the person's residence.
CREATE TABLE caregiver_trainings (
    id          INTEGER PRIMARY KEY,
    change_id   INTEGER NOT NULL REFERENCES change_sets(id),
    held_on     TEXT NOT NULL,
    region      TEXT NOT NULL,
    topic       TEXT NOT NULL,
    hours       REAL NOT NULL CHECK (hours > 0),
    trainer     TEXT NOT NULL,
    attendees   INTEGER NOT NULL
);
CREATE INDEX caregiver_trainings_region ON caregiver_trainings(region, held_on);
CREATE TABLE caregiver_training_attendees (
    training_id  INTEGER NOT NULL REFERENCES caregiver_trainings(id) ON DELETE CASCADE,
    ordinal      INTEGER NOT NULL,
    person_id    INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    relation     TEXT NOT NULL CHECK (relation IN ('parent', 'spouse', 'child', 'sibling', 'other')),
    PRIMARY KEY (training_id, ordinal)
);
CREATE INDEX caregiver_training_attendees_person ON caregiver_training_attendees(person_id);
CREATE TABLE respite_episodes (
    id          INTEGER PRIMARY KEY,
    change_id   INTEGER NOT NULL REFERENCES change_sets(id),
    person_id   INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    from_date   TEXT NOT NULL,
    to_date     TEXT NOT NULL,
    provider    TEXT NOT NULL,
    hours       REAL NOT NULL CHECK (hours > 0),
    notes       TEXT,
    CHECK (to_date >= from_date)
);
CREATE INDEX respite_episodes_person ON respite_episodes(person_id, from_date);
CREATE TABLE mutual_aid_groups (
    id           INTEGER PRIMARY KEY,
    change_id    INTEGER NOT NULL REFERENCES change_sets(id),
    name         TEXT NOT NULL,
    region       TEXT NOT NULL,
    facilitator  TEXT NOT NULL,
    started_on   TEXT NOT NULL
);
CREATE INDEX mutual_aid_groups_region ON mutual_aid_groups(region, started_on);
CREATE TABLE mutual_aid_members (
    id           INTEGER PRIMARY KEY,
    group_id     INTEGER NOT NULL REFERENCES mutual_aid_groups(id) ON DELETE CASCADE,
    person_id    INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    relation     TEXT NOT NULL CHECK (relation IN ('parent', 'spouse', 'child', 'sibling', 'other')),
    joined_on    TEXT NOT NULL,
    left_on      TEXT,
    change_id    INTEGER NOT NULL REFERENCES change_sets(id),
    left_change  INTEGER REFERENCES change_sets(id),
    CHECK (left_on IS NULL OR left_on >= joined_on)
);
CREATE INDEX mutual_aid_members_group ON mutual_aid_members(group_id);
CREATE INDEX mutual_aid_members_person ON mutual_aid_members(person_id);
-- The same family member of the same person is in a group once at a time.
CREATE UNIQUE INDEX mutual_aid_members_current ON mutual_aid_members(group_id, person_id, name) WHERE left_on IS NULL;
CREATE TABLE mutual_aid_meetings (
    id          INTEGER PRIMARY KEY,
    group_id    INTEGER NOT NULL REFERENCES mutual_aid_groups(id) ON DELETE CASCADE,
    change_id   INTEGER NOT NULL REFERENCES change_sets(id),
    held_on     TEXT NOT NULL,
    topic       TEXT NOT NULL,
    notes       TEXT,
    attendees   INTEGER NOT NULL
);
CREATE INDEX mutual_aid_meetings_group ON mutual_aid_meetings(group_id, held_on);
CREATE TABLE mutual_aid_attendance (
    meeting_id  INTEGER NOT NULL REFERENCES mutual_aid_meetings(id) ON DELETE CASCADE,
    member_id   INTEGER NOT NULL REFERENCES mutual_aid_members(id) ON DELETE CASCADE,
    PRIMARY KEY (meeting_id, member_id)
);
CREATE INDEX mutual_aid_attendance_member ON mutual_aid_attendance(member_id);
CREATE TABLE peer_supporters (
    id              INTEGER PRIMARY KEY,
    change_id       INTEGER NOT NULL REFERENCES change_sets(id),
    updated_change  INTEGER NOT NULL REFERENCES change_sets(id),
    name            TEXT NOT NULL,
    region          TEXT NOT NULL,
    person_id       INTEGER REFERENCES persons(id) ON DELETE SET NULL,
    trained_on      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    hours           REAL NOT NULL CHECK (hours >= 0)
);
CREATE INDEX peer_supporters_region ON peer_supporters(region);
CREATE INDEX peer_supporters_person ON peer_supporters(person_id) WHERE person_id IS NOT NULL;
