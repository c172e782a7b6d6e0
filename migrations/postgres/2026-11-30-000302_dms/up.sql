-- Direct messages: at most one room per unordered pair of users. The pair is stored ordered
-- (low_id < high_id), and its primary key is what makes two concurrent creations of the same
-- DM (from either side) end with one room: the second insert meets the key and its whole
-- transaction, room included, rolls back.
CREATE TABLE dm_pairs (
    low_id BIGINT NOT NULL REFERENCES users (id),
    high_id BIGINT NOT NULL REFERENCES users (id),
    room_id BIGINT NOT NULL UNIQUE REFERENCES rooms (id) ON DELETE CASCADE,
    PRIMARY KEY (low_id, high_id),
    CHECK (low_id < high_id)
);
