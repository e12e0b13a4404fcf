-- What raised a notification: the follow-up (kind 'followup') or the emergency (kind 'emergency')
-- it was sent for, so the doctor's confirmation can say who was told and when.
ALTER TABLE notifications ADD COLUMN source_id BIGINT;
CREATE INDEX notifications_source ON notifications(kind, source_id) WHERE source_id IS NOT NULL;
