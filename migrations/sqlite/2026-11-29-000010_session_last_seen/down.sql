DROP INDEX sessions_last_seen;
ALTER TABLE sessions DROP COLUMN last_seen_at;
