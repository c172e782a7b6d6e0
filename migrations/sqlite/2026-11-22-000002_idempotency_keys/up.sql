-- Idempotency-Key records for message sends: the key belongs to the sender and the room.
-- The row is inserted first in the send transaction, so a concurrent request with the same
-- key waits on the primary key and then finds the committed result.
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
