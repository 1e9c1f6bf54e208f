-- Users, images and labels. Times are Unix microseconds (UTC).
-- The application lower-cases emails and label names, so every database agrees on
-- what is equal.
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  is_admin INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  CONSTRAINT users_email UNIQUE (email)
);

CREATE TABLE images (
  id TEXT PRIMARY KEY,
  owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  object_key TEXT NOT NULL,
  thumbnail_key TEXT NOT NULL DEFAULT '',
  content_type TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  taken_at INTEGER NULL,
  created_at INTEGER NOT NULL,
  status TEXT NOT NULL,
  failure_reason TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  queued_at INTEGER NOT NULL,
  labelled_at INTEGER NULL,
  provider TEXT NOT NULL DEFAULT '',
  model TEXT NOT NULL DEFAULT ''
);

-- Listing a user's images newest first, by keyset.
CREATE INDEX images_owner_created ON images (owner_id, created_at, id);
CREATE INDEX images_owner_sha256 ON images (owner_id, sha256);
-- The re-enqueue sweep.
CREATE INDEX images_status_queued ON images (status, queued_at);

-- owner_id and image_created_at are copied from the image so that a label search is one
-- ordered range scan of labels_search: the newest matching images come first and the
-- scan stops at the page size.
CREATE TABLE labels (
  image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  owner_id INTEGER NOT NULL,
  image_created_at INTEGER NOT NULL,
  confidence REAL NOT NULL,
  categories TEXT NOT NULL DEFAULT '[]',
  provider TEXT NOT NULL DEFAULT '',
  model TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (image_id, name)
);

CREATE INDEX labels_search ON labels (owner_id, name, image_created_at, image_id);
