-- Read markers and unread counts (issue 15, item 5), kept exact by counters so that listing
-- rooms never scans events:
--   rooms.message_count        live messages (message.created, not deleted) of the room;
--   memberships.last_read_seq  the member's marker (monotonic);
--   memberships.read_count     live messages with seq <= last_read_seq;
--   memberships.own_after_read the member's own live messages with seq > last_read_seq.
-- unread = message_count - read_count - own_after_read: live messages by others after the
-- marker. Sends move message_count and own_after_read in their batch's transaction; a marker
-- moves read_count and own_after_read by counting only the messages it passes; a deletion
-- takes the message out of every counter that held it.
ALTER TABLE rooms ADD COLUMN message_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN last_read_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN read_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN own_after_read BIGINT NOT NULL DEFAULT 0;
UPDATE rooms SET message_count = (
    SELECT COUNT(*) FROM events
    WHERE events.room_id = rooms.id AND events.kind = 'message.created'
      AND events.deleted_at IS NULL
);
-- Existing members start with everything read: no badge appears out of nowhere.
UPDATE memberships SET
    last_read_seq = (SELECT last_seq FROM rooms WHERE rooms.id = memberships.room_id),
    read_count = (SELECT message_count FROM rooms WHERE rooms.id = memberships.room_id);
