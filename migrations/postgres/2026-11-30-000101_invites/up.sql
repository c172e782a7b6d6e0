-- Invitations to register, for `registration = "invite"`. Only the code's SHA-256 is stored
-- (the code is shown once, at creation). A registration takes one use in the same
-- transaction as its account insert, with a conditional update (uses left, not expired), so
-- a code is never used more often than it allows. created_by is NULL for the CLI's.
CREATE TABLE invites (
    id BIGSERIAL PRIMARY KEY,
    code_hash TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    uses_left INTEGER NOT NULL CHECK (uses_left >= 0),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX invites_code_hash ON invites (code_hash);
