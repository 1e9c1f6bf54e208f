-- Storage quotas and account administration (#19). Times are Unix microseconds (UTC).
--
-- used_bytes and used_photos are the sums of the user's images' size_bytes and their
-- count, kept in the same transaction as every INSERT and DELETE of an image, so they
-- always equal what the images table holds. An upload reserves its bytes with one
-- conditional UPDATE of this row (store.CreateImageWithinQuota): concurrent uploads of
-- one user queue on the row lock and each sees the others' bytes, so none overshoots.
--
-- quota_bytes and quota_photos are an admin's override of the Gallery's default
-- (spec.auth.quota): NULL takes the default, -1 is unlimited.
--
-- disabled_at: an admin disabled the account; its requests are refused.
-- erase_requested_at: the account is being erased (GDPR). Its requests are refused
-- like a deleted account's, no upload is recorded for it, and the erasure (server's
-- accounts.Eraser) removes its photos, albums and share links, then the row; a crash
-- midway is resumed from this mark.
ALTER TABLE users
  ADD COLUMN quota_bytes BIGINT NULL,
  ADD COLUMN quota_photos BIGINT NULL,
  ADD COLUMN used_bytes BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN used_photos BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN disabled_at BIGINT NULL,
  ADD COLUMN erase_requested_at BIGINT NULL;

UPDATE users SET
  used_bytes = COALESCE((SELECT SUM(i.size_bytes) FROM images i WHERE i.owner_id = users.id), 0),
  used_photos = (SELECT COUNT(*) FROM images i WHERE i.owner_id = users.id);

-- The erasures to resume.
CREATE INDEX users_erase_requested ON users (erase_requested_at);
