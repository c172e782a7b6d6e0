DROP TABLE server_secrets;
DROP TABLE sessions;
DROP TABLE events;
DROP TABLE memberships;
DROP TABLE rooms;
DROP TABLE users;
