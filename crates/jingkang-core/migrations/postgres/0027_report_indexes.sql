-- Reports as of a day: the persons with an event after the day are found from the events by
-- day; the person measures read region, state, entry day and diagnosis from one index.
CREATE INDEX registration_events_day ON registration_events(effective_on, person_id);
CREATE INDEX persons_report ON persons(residence_region, registration_state, known_since, diagnosis_code) INCLUDE (id);
