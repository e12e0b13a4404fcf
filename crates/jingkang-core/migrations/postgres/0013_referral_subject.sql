-- A discharge referral may carry a person not yet in the registry (data/referrals.json
-- `new_person`): the identity entered by the hospital, as the person form's values (JSON), and the
-- name for the lists. The receiving township's acceptance creates the record and sets person_id.
ALTER TABLE referrals ADD COLUMN subject TEXT, ADD COLUMN subject_name TEXT;
