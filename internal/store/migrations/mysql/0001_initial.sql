-- Users, images and labels. Times are Unix microseconds (UTC).
-- Text compares byte-wise (utf8mb4_bin): the application lower-cases emails and label
-- names, so every database agrees on what is equal.
CREATE TABLE users (
  id BIGINT NOT NULL AUTO_INCREMENT,
  email VARCHAR(320) NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  is_admin BOOLEAN NOT NULL DEFAULT FALSE,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE images (
  id VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner_id BIGINT NOT NULL,
  object_key VARCHAR(1024) NOT NULL,
  thumbnail_key VARCHAR(1024) NOT NULL DEFAULT '',
  content_type VARCHAR(255) NOT NULL,
  size_bytes BIGINT NOT NULL,
  width INT NOT NULL,
  height INT NOT NULL,
  sha256 CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  taken_at BIGINT NULL,
  created_at BIGINT NOT NULL,
  status VARCHAR(16) NOT NULL,
  failure_reason VARCHAR(2000) NOT NULL DEFAULT '',
  attempts INT NOT NULL DEFAULT 0,
  queued_at BIGINT NOT NULL,
  labelled_at BIGINT NULL,
  provider VARCHAR(64) NOT NULL DEFAULT '',
  model VARCHAR(255) NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  -- Listing a user's images newest first, by keyset.
  KEY images_owner_created (owner_id, created_at, id),
  KEY images_owner_sha256 (owner_id, sha256),
  -- The re-enqueue sweep.
  KEY images_status_queued (status, queued_at),
  CONSTRAINT images_owner FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- owner_id and image_created_at are copied from the image so that a label search is one
-- ordered range scan of labels_search: the newest matching images come first and the
-- scan stops at the page size, however many millions of rows carry the label.
CREATE TABLE labels (
  image_id VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name VARCHAR(100) NOT NULL,
  owner_id BIGINT NOT NULL,
  image_created_at BIGINT NOT NULL,
  confidence DOUBLE NOT NULL,
  categories VARCHAR(2000) NOT NULL DEFAULT '[]',
  provider VARCHAR(64) NOT NULL DEFAULT '',
  model VARCHAR(255) NOT NULL DEFAULT '',
  PRIMARY KEY (image_id, name),
  KEY labels_search (owner_id, name, image_created_at, image_id),
  CONSTRAINT labels_image FOREIGN KEY (image_id) REFERENCES images (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
