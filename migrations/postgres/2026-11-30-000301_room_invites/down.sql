DELETE FROM invites WHERE room_id IS NOT NULL;
ALTER TABLE invites DROP COLUMN room_id;
