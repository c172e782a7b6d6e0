DROP TABLE admin_claim;
ALTER TABLE users DROP COLUMN is_admin;
