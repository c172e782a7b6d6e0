-- The PostgreSQL twin of migrations/sqlite: same tables, columns and types.
-- Times are unix milliseconds (BIGINT) on both backends.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username);

CREATE TABLE rooms (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES users (id),
    capacity INTEGER NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
    member_count INTEGER NOT NULL DEFAULT 0 CHECK (member_count BETWEEN 0 AND capacity),
    last_seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- Every event of a room, in seq order; message.created rows are the chat history.
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor_id BIGINT NOT NULL REFERENCES users (id),
    content TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (room_id, seq)
);

-- Server-side sessions; the cookie holds a random key, only its SHA-256 is stored.
CREATE TABLE sessions (
    key_hash TEXT PRIMARY KEY NOT NULL,
    -- A public id of the session (never the key), so logout can find its sockets and row.
    sid TEXT,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE UNIQUE INDEX sessions_sid ON sessions (sid);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
