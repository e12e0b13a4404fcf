-- What a referral carries, as the receiver reads it (SPEC §5): each document a scanned file
-- (checked by content, at most 10 MB; kept in the database like an agreement's scan) or a form
-- filled in as text (sealed under referral_documents.body); the assessment that stands for the
-- kind's assessed document; and the sending unit with a contact to call.
CREATE TABLE referral_documents (
    id           INTEGER PRIMARY KEY,
    referral_id  INTEGER NOT NULL REFERENCES referrals(id) ON DELETE CASCADE,
    slot         TEXT NOT NULL,
    media_type   TEXT CHECK (media_type IN ('application/pdf','image/jpeg','image/png')),
    file_name    TEXT,
    size         INTEGER NOT NULL,
    sha256       TEXT,
    content      BLOB,
    body         TEXT,
    CHECK ((content IS NULL) <> (body IS NULL))
);
CREATE INDEX referral_documents_referral ON referral_documents(referral_id);
ALTER TABLE referrals ADD COLUMN assessment_id INTEGER REFERENCES assessments(id);
ALTER TABLE referrals ADD COLUMN sender_unit TEXT;
ALTER TABLE referrals ADD COLUMN contact_name TEXT;
ALTER TABLE referrals ADD COLUMN contact_phone TEXT;
