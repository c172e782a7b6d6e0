-- Private rooms and direct messages (DMs). A private room is shown only to its members: to
-- everyone else its id answers as a room that does not exist. A DM is a private room of two
-- people whose members are fixed. Neither flag ever changes after creation.
ALTER TABLE rooms ADD COLUMN is_private BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN is_dm BOOLEAN NOT NULL DEFAULT 0;
