DROP INDEX users_revoked_at;
DROP INDEX users_token_hash;
ALTER TABLE users DROP COLUMN revoked_at;
ALTER TABLE users DROP COLUMN disabled_at;
ALTER TABLE users DROP COLUMN token_hash;
ALTER TABLE users DROP COLUMN bot_owner_id;
ALTER TABLE users DROP COLUMN is_bot;
