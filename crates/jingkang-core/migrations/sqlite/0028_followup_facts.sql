-- Indicators (管理率, 规范管理率, 服药率, 规律服药率, unstable persons) read a scope's follow-ups of
-- the 12 months to a day from this index alone: the person and date lead, what the indicators
-- read comes with them. It serves every lookup followups_person served.
CREATE INDEX followups_facts ON followups(person_id, visit_date, lost, died, condition_class, adherence);
DROP INDEX followups_person;
