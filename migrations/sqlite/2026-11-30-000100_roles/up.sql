-- Admins run the server from the API: disable and enable accounts, delete any room, remove
-- any member. Granted by the CLI, or to the first account of an empty server.
ALTER TABLE users ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT 0;
-- Who was the server's first account (one row at most: the primary key is always 1). The
-- registration that inserts this row becomes admin; a concurrent one meets the key and does
-- not. A database that has accounts already counts as claimed: nobody is promoted by an
-- upgrade (grant with `roomcast user admin NAME on`).
CREATE TABLE admin_claim (
    slot INTEGER PRIMARY KEY NOT NULL CHECK (slot = 1),
    user_id BIGINT NOT NULL
);
INSERT INTO admin_claim (slot, user_id) SELECT 1, MIN(id) FROM users HAVING COUNT(*) > 0;
