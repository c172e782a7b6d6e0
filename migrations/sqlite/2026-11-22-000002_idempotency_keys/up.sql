-- Idempotency-Key records for message sends: the key belongs to the sender and the room.
-- A send's transaction (store/group_commit/phases.rs) first bumps the room's last_seq, which
-- locks the room (SQLite: the one writer), then reads the keys already stored, and inserts
-- the row after the message's event, with its id. So a concurrent request with the same key
-- waits on the room and then finds the committed row; the primary key stays the backstop.
CREATE TABLE idempotency_keys (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    event_id BIGINT REFERENCES events (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
