-- Indicators (管理率, 规范管理率, 服药率, 规律服药率, unstable persons) read a scope's follow-ups of
-- the 12 months to a day: the person and date lead, what the indicators read comes with them.
CREATE INDEX followups_facts ON followups(person_id, visit_date) INCLUDE (lost, died, condition_class, adherence);
DROP INDEX followups_person;
