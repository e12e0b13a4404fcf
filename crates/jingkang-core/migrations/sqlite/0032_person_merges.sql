-- Merging a duplicate record into another (信息比对, SPEC §8): the absorbed record stays, closed
-- (reason merged) and pointing at the survivor; its follow-ups, services, plans and the rest move to
-- the survivor. Each merge keeps what it changed so that it can be undone exactly.
ALTER TABLE persons ADD COLUMN merged_into INTEGER REFERENCES persons(id);
CREATE TABLE person_merges (
    id                    INTEGER PRIMARY KEY,
    survivor_id           INTEGER NOT NULL REFERENCES persons(id),
    absorbed_id           INTEGER NOT NULL REFERENCES persons(id),
    item_id               INTEGER REFERENCES exchange_items(id),
    change_id             INTEGER NOT NULL REFERENCES change_sets(id),
    taken                 TEXT NOT NULL,   -- JSON: the fields the survivor took from the absorbed record
    survivor_before       TEXT NOT NULL,   -- JSON: those fields of the survivor before (field → value)
    absorbed_state        TEXT NOT NULL,   -- the absorbed record's state and reason before
    absorbed_close_reason TEXT,
    moved                 TEXT NOT NULL,   -- JSON: the rows moved, by table
    undone_change         INTEGER REFERENCES change_sets(id)
);
CREATE INDEX person_merges_survivor ON person_merges(survivor_id);
CREATE INDEX person_merges_absorbed ON person_merges(absorbed_id);
