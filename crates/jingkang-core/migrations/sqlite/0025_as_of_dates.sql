-- Dates for reports "as of" a day (附件2 at a quarter's end, indicators by quarter): the day each
-- registration event took effect, and the day a person entered the registry. Existing rows take
-- the day of their change set (in China Standard Time); the stores write the user's day from now on.
ALTER TABLE registration_events ADD COLUMN effective_on TEXT;
UPDATE registration_events SET effective_on = (SELECT date(substr(c.at, 1, 19), '+8 hours') FROM change_sets c WHERE c.id = registration_events.change_id);
CREATE INDEX registration_events_effective ON registration_events(person_id, effective_on, id);
ALTER TABLE persons ADD COLUMN known_since TEXT;
UPDATE persons SET known_since = (SELECT date(substr(c.at, 1, 19), '+8 hours') FROM change_sets c WHERE c.id = persons.created_change);
