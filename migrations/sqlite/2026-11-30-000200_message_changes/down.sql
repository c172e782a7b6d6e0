DROP INDEX events_target;
ALTER TABLE events DROP COLUMN deleted_at;
ALTER TABLE events DROP COLUMN edited_at;
ALTER TABLE events DROP COLUMN target_id;
