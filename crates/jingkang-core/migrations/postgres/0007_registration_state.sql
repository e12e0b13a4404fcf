-- 登记状态 (SPEC §3): every person on the roster starts 待评估; the care workflow moves it on.
ALTER TABLE persons ADD COLUMN registration_state TEXT NOT NULL DEFAULT 'pending'
    CHECK (registration_state IN ('pending','registered','in_service','suspended','closed','declined'));
-- Lists filtered by state within a region.
CREATE INDEX persons_state_region ON persons(registration_state, residence_region) INCLUDE (id);
