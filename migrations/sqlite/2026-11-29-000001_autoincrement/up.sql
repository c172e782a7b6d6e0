-- SQLite handed out max(id) + 1, so the id of a deleted room (user, event) came back: a bot
-- configured with ROOMCAST_ROOM=3, or a page restoring room 3, could land in a stranger's new
-- room 3. AUTOINCREMENT never hands out an id twice, like PostgreSQL's sequences.
--
-- SQLite cannot change a column in place, so each table with an integer id is rebuilt, the way
-- SQLite's ALTER TABLE documentation prescribes: new table, copy, drop the old, rename. That
-- needs foreign_keys OFF (or dropping users would cascade into memberships, sessions, …), and
-- the pragma is a no-op inside a transaction: so this migration runs outside diesel's
-- transaction (metadata.toml) and opens its own. Copied rows keep their ids, and
-- sqlite_sequence starts at the largest. If the process dies after COMMIT but before diesel
-- records the migration, running it again rebuilds the same tables again: harmless.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE users_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    is_bot BOOLEAN NOT NULL DEFAULT 0,
    bot_owner_id BIGINT REFERENCES users (id),
    token_hash TEXT,
    disabled_at BIGINT,
    revoked_at BIGINT
);
INSERT INTO users_new (id, username, password_hash, created_at, is_bot, bot_owner_id,
                       token_hash, disabled_at, revoked_at)
    SELECT id, username, password_hash, created_at, is_bot, bot_owner_id, token_hash,
           disabled_at, revoked_at
    FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE UNIQUE INDEX users_token_hash ON users (token_hash);
CREATE INDEX users_revoked_at ON users (revoked_at);

CREATE TABLE rooms_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES users (id),
    capacity INTEGER NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
    member_count INTEGER NOT NULL DEFAULT 0 CHECK (member_count BETWEEN 0 AND capacity),
    last_seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
INSERT INTO rooms_new (id, name, owner_id, capacity, member_count, last_seq, created_at)
    SELECT id, name, owner_id, capacity, member_count, last_seq, created_at FROM rooms;
DROP TABLE rooms;
ALTER TABLE rooms_new RENAME TO rooms;

CREATE TABLE events_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor_id BIGINT NOT NULL REFERENCES users (id),
    content TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (room_id, seq)
);
INSERT INTO events_new (id, room_id, seq, kind, actor_id, content, created_at)
    SELECT id, room_id, seq, kind, actor_id, content, created_at FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;

-- Every reference still holds, or nothing is committed: the CHECK fails on any violation.
CREATE TEMP TABLE fk_violations (n INTEGER NOT NULL CHECK (n = 0));
INSERT INTO fk_violations SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE fk_violations;
COMMIT;
PRAGMA foreign_keys = ON;
