-- 知情同意书 and 服务协议 (SPEC §3), with the scanned paper (checked by content, at most 10 MB) kept
-- in the database so that it is in every backup and every transaction.
CREATE TABLE documents (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    media_type   TEXT NOT NULL CHECK (media_type IN ('application/pdf','image/jpeg','image/png')),
    file_name    TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    content      BLOB NOT NULL
);
CREATE INDEX documents_person ON documents(person_id);
CREATE TABLE agreements (
    id            INTEGER PRIMARY KEY,
    person_id     INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    change_id     INTEGER NOT NULL REFERENCES change_sets(id),
    kind          TEXT NOT NULL CHECK (kind IN ('consent','service')),
    signed_on     TEXT NOT NULL,
    person_signed INTEGER NOT NULL,
    guardian_name TEXT,
    valid_until   TEXT NOT NULL,
    document_id   INTEGER REFERENCES documents(id)
);
CREATE INDEX agreements_person ON agreements(person_id, kind, valid_until);
-- The end of the person's latest service agreement, for the "expiring" worklist.
ALTER TABLE persons ADD COLUMN agreement_valid_until TEXT;
CREATE INDEX persons_agreement_due ON persons(agreement_valid_until, residence_region) WHERE agreement_valid_until IS NOT NULL;
