-- Reactions (issue 15): one row per message, user and emoji, so a repeated reaction is a
-- no-op by the primary key. History counts them per message and emoji from this key's prefix
-- (no scan of the room); a deleted message's reactions go with its content.
CREATE TABLE reactions (
    message_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    emoji TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);
CREATE INDEX reactions_user ON reactions (user_id);
