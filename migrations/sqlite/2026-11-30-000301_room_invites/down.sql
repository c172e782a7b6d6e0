-- SQLite cannot drop a column with a foreign key: the table is rebuilt without it.
DROP INDEX invites_room_id;
DELETE FROM invites WHERE room_id IS NOT NULL;
CREATE TABLE invites_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    code_hash TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    uses_left INTEGER NOT NULL CHECK (uses_left >= 0),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO invites_old (id, code_hash, created_by, uses_left, expires_at, created_at)
    SELECT id, code_hash, created_by, uses_left, expires_at, created_at FROM invites;
DROP TABLE invites;
ALTER TABLE invites_old RENAME TO invites;
CREATE UNIQUE INDEX invites_code_hash ON invites (code_hash);
