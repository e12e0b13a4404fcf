-- The agreements worklist filters on the registration state too: carry it in the list's index so a
-- count and a page are read from the index alone.
DROP INDEX persons_agreement_due;
CREATE INDEX persons_agreement_due ON persons(agreement_valid_until, residence_region, registration_state) INCLUDE (id) WHERE agreement_valid_until IS NOT NULL;
