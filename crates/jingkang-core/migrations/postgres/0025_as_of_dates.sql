-- Dates for reports "as of" a day (附件2 at a quarter's end, indicators by quarter): the day each
-- registration event took effect, and the day a person entered the registry. Existing rows take
-- the day of their change set (in China Standard Time); the stores write the user's day from now on.
ALTER TABLE registration_events ADD COLUMN effective_on DATE;
UPDATE registration_events e SET effective_on = (c.at AT TIME ZONE 'Asia/Shanghai')::date FROM change_sets c WHERE c.id = e.change_id;
CREATE INDEX registration_events_effective ON registration_events(person_id, effective_on, id);
ALTER TABLE persons ADD COLUMN known_since DATE;
UPDATE persons p SET known_since = (c.at AT TIME ZONE 'Asia/Shanghai')::date FROM change_sets c WHERE c.id = p.created_change;
