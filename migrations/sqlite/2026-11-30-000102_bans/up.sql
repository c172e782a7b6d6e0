-- Who may not join a room (again). A ban removes the member in the same transaction; a join
-- checks for a ban after it has locked the room's row, so a join and a ban at the same moment
-- never leave a banned member behind.
CREATE TABLE bans (
    room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    banned_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX bans_user ON bans (user_id);
