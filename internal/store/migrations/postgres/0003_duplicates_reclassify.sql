-- Duplicate detection, reclassification and the admin view's recent failures.
--
-- content_key is the image's sha256 for the one image per owner and content that
-- duplicate detection returns, NULL otherwise (no hash). The unique index on
-- (owner_id, content_key) makes two concurrent uploads of the same photo by one user
-- end with one image. Uploads before this migration were never checked, so a user may
-- already hold duplicates: only the oldest of each set gets the key and the others keep
-- NULL, which a unique index never finds equal. Nothing is deleted, so no stored photo
-- is orphaned; the owner still sees (and may delete) the older copies.
--
-- reclassify_at is when the owner asked to classify the image again (NULL: not asked).
-- The workers' drain moves marked images into the low-priority queue, recording in
-- reclassify_enqueued_at the job's enqueue time; the worker clears both once that job
-- has run. A mark whose job went missing (a crash, a lost queue) is enqueued again
-- after the requeue delay, like the sweep of stale queued images: nothing is lost.
--
-- failed_at is when the image was marked failed; failures before this migration take
-- their queued_at.
ALTER TABLE images
  ADD COLUMN content_key TEXT COLLATE "C" NULL,
  ADD COLUMN reclassify_at BIGINT NULL,
  ADD COLUMN reclassify_enqueued_at BIGINT NULL,
  ADD COLUMN failed_at BIGINT NULL;

UPDATE images AS i SET content_key = i.sha256
  WHERE i.sha256 <> '' AND NOT EXISTS (
    SELECT 1 FROM images o WHERE o.owner_id = i.owner_id AND o.sha256 = i.sha256
      AND (o.created_at < i.created_at OR (o.created_at = i.created_at AND o.id < i.id)));

UPDATE images SET failed_at = queued_at WHERE status = 'failed';

CREATE UNIQUE INDEX images_owner_content ON images (owner_id, content_key);
-- The reclassification drain, oldest request first.
CREATE INDEX images_reclassify ON images (reclassify_at, id);
-- The admin view's recent failures.
CREATE INDEX images_status_failed ON images (status, failed_at);
