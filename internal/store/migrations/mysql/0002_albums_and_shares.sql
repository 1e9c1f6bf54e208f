-- Named albums and share links. Times are Unix microseconds (UTC).
-- Albums by label are not stored: they are derived from the labels table.
CREATE TABLE albums (
  id VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner_id BIGINT NOT NULL,
  name VARCHAR(100) NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  -- The owner's album list, most recently changed first.
  KEY albums_owner_updated (owner_id, updated_at, id),
  CONSTRAINT albums_owner FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Deleting an image or an album deletes its rows here (ON DELETE CASCADE); deleting an
-- album never deletes images.
CREATE TABLE album_images (
  album_id VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  image_id VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  added_at BIGINT NOT NULL,
  PRIMARY KEY (album_id, image_id),
  -- An album's images, most recently added first, by keyset; and its cover.
  KEY album_images_added (album_id, added_at, image_id),
  -- The cascade from images.
  KEY album_images_image (image_id),
  CONSTRAINT album_images_album FOREIGN KEY (album_id) REFERENCES albums (id) ON DELETE CASCADE,
  CONSTRAINT album_images_image FOREIGN KEY (image_id) REFERENCES images (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A share link opens exactly one image or one album. Only the SHA-256 of its token is
-- kept, so the table alone opens no link. Revoking a link deletes its row.
CREATE TABLE shares (
  id VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner_id BIGINT NOT NULL,
  token_sha256 CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  image_id VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,
  album_id VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY shares_token (token_sha256),
  KEY shares_owner_created (owner_id, created_at, id),
  KEY shares_image (image_id),
  KEY shares_album (album_id),
  CONSTRAINT shares_owner FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT shares_image FOREIGN KEY (image_id) REFERENCES images (id) ON DELETE CASCADE,
  CONSTRAINT shares_album FOREIGN KEY (album_id) REFERENCES albums (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
