-- Encryption at rest (SPEC §10): ID numbers, phone numbers, diagnoses and free-text notes are
-- stored sealed (AES-256-GCM under the master key, `secrets::Keys`); searches use keyed blind
-- indexes (HMAC-SHA256): the whole ID number (uniqueness, linkage, imports), its first 6 and first
-- 14 characters (prefix search), its last 4 (the digits a masked ID shows), and the diagnosis's
-- ICD-10 category (the reports' severe / not severe). The values of an existing database are
-- sealed and indexed by the application right after this migration (`store::sealing`), in
-- batches, before it serves anything; a sealed value is unique by its random nonce, so the unique
-- index moves to the whole ID number's blind index.
ALTER TABLE persons ADD COLUMN id_hash TEXT;
ALTER TABLE persons ADD COLUMN id_bi6 TEXT;
ALTER TABLE persons ADD COLUMN id_bi14 TEXT;
ALTER TABLE persons ADD COLUMN id_bi4 TEXT;
ALTER TABLE persons ADD COLUMN dx_bi3 TEXT;
DROP INDEX persons_id_number;
CREATE UNIQUE INDEX persons_id_hash ON persons(id_hash);
CREATE INDEX persons_id_bi6 ON persons(id_bi6, residence_region);
CREATE INDEX persons_id_bi14 ON persons(id_bi14, residence_region);
CREATE INDEX persons_id_bi4 ON persons(id_bi4, residence_region);
DROP INDEX persons_report;
CREATE INDEX persons_report ON persons(residence_region, registration_state, known_since, dx_bi3, close_reason);

-- Which key the whole database was last sealed with (a database migrated from before encryption,
-- or a rotation, seals in batches until it is), and the key a rotation is moving to (set while it
-- runs: the application refuses to start until it is finished).
ALTER TABLE key_check ADD COLUMN sealed_with TEXT;
ALTER TABLE key_check ADD COLUMN rotating_to TEXT;
