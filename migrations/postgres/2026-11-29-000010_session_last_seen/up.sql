-- When the session was last used (ms since the epoch): a session unused for
-- session_idle_secs ends. Written at most about once a minute per session, not per request.
-- Sessions that exist already count as used now.
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_at = (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT;
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
