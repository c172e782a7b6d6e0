-- A bot is a principal of its own: a users row with is_bot set, owned by the user who made
-- it, with no password and one bearer token (only its SHA-256 is stored; NULL = revoked).
-- Sharing the users table keeps memberships, events and authorship rules identical for both.
ALTER TABLE users ADD COLUMN is_bot BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN bot_owner_id BIGINT REFERENCES users (id);
ALTER TABLE users ADD COLUMN token_hash TEXT;
-- Set when an operator disables the account (or a bot is deleted): it can no longer log in
-- or use a token, and running servers close its sockets.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
-- The last time this principal's credentials were revoked (disable, token rotation or
-- revocation): every server polls it to close the sockets opened with them (4001).
ALTER TABLE users ADD COLUMN revoked_at BIGINT;
CREATE UNIQUE INDEX users_token_hash ON users (token_hash);
CREATE INDEX users_revoked_at ON users (revoked_at);
