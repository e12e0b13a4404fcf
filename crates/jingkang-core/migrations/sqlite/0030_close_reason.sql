-- A closed person's reason (died, moved away …) kept beside the state, NULL unless closed: the
-- reports as of a day read it from the index with the state instead of the person's events.
ALTER TABLE persons ADD COLUMN close_reason TEXT;
UPDATE persons SET close_reason = (
    SELECT e.close_reason FROM registration_events e WHERE e.person_id = persons.id AND e.to_state = 'closed'
    ORDER BY e.effective_on DESC, e.id DESC LIMIT 1)
WHERE registration_state = 'closed';
DROP INDEX persons_report;
CREATE INDEX persons_report ON persons(residence_region, registration_state, known_since, diagnosis_code, close_reason);
