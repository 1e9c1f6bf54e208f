-- Named albums and share links. Times are Unix microseconds (UTC).
-- Albums by label are not stored: they are derived from the labels table.
CREATE TABLE albums (
  id TEXT PRIMARY KEY,
  owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- The owner's album list, most recently changed first.
CREATE INDEX albums_owner_updated ON albums (owner_id, updated_at, id);

-- Deleting an image or an album deletes its rows here (ON DELETE CASCADE); deleting an
-- album never deletes images.
CREATE TABLE album_images (
  album_id TEXT NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
  image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  added_at INTEGER NOT NULL,
  PRIMARY KEY (album_id, image_id)
);

-- An album's images, most recently added first, by keyset; and its cover.
CREATE INDEX album_images_added ON album_images (album_id, added_at, image_id);
-- The cascade from images.
CREATE INDEX album_images_image ON album_images (image_id);

-- A share link opens exactly one image or one album. Only the SHA-256 of its token is
-- kept, so the table alone opens no link. Revoking a link deletes its row.
CREATE TABLE shares (
  id TEXT PRIMARY KEY,
  owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_sha256 TEXT NOT NULL,
  image_id TEXT NULL REFERENCES images (id) ON DELETE CASCADE,
  album_id TEXT NULL REFERENCES albums (id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NULL,
  CONSTRAINT shares_token UNIQUE (token_sha256)
);

CREATE INDEX shares_owner_created ON shares (owner_id, created_at, id);
CREATE INDEX shares_image ON shares (image_id);
CREATE INDEX shares_album ON shares (album_id);
