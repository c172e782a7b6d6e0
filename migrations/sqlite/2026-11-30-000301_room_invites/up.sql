-- Invites to a room (a private one, usually) share the registration invites' table and rules:
-- only the code's SHA-256 is stored, a use is taken by one conditional update. room_id says
-- which kind: NULL for an invite to register, the room for an invite to a room (deleted with
-- it). A code of one kind is never accepted as the other.
ALTER TABLE invites ADD COLUMN room_id BIGINT REFERENCES rooms (id) ON DELETE CASCADE;
CREATE INDEX invites_room_id ON invites (room_id);
