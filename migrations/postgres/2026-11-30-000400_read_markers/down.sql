ALTER TABLE memberships DROP COLUMN own_after_read;
ALTER TABLE memberships DROP COLUMN read_count;
ALTER TABLE memberships DROP COLUMN last_read_seq;
ALTER TABLE rooms DROP COLUMN message_count;
