-- A referral read from the referral-platform exchange file keeps the file's `ref`, so that reading
-- the same file again does not put it in the inbox twice.
ALTER TABLE referrals ADD COLUMN external_ref TEXT;
CREATE UNIQUE INDEX referrals_external_ref ON referrals(external_ref) WHERE external_ref IS NOT NULL;
