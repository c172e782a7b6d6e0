-- Edits and deletions of messages (issue 15). A message is its `message.created` event row:
-- an edit rewrites that row's content and sets `edited_at`; a deletion erases its content
-- (and the content of every edit of it) and sets `deleted_at`, so nothing of the text stays.
-- Each change is an event of its own (`message.updated`, `message.deleted`) with the room's
-- next seq; `target_id` names the message it changes.
ALTER TABLE events ADD COLUMN target_id BIGINT REFERENCES events (id) ON DELETE CASCADE;
ALTER TABLE events ADD COLUMN edited_at BIGINT;
ALTER TABLE events ADD COLUMN deleted_at BIGINT;
-- A deletion finds the edits whose content it erases.
CREATE INDEX events_target ON events (target_id);
