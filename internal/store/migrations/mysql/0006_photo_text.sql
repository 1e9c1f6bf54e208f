-- The words in a photo (#21): what the configured text reader (SORTOGRAPHER_TEXT_READER)
-- read in it, one row per image, replaced with its labels by every classification that
-- reads text. owner_id and image_created_at are copied from the image, as in labels, so
-- that a text search orders and pages without reading images. Times are Unix
-- microseconds (UTC).
--
-- search_terms is what the full-text index reads: the words of content as the
-- application cuts them (internal/store/terms.go: lower case, Korean, Chinese and
-- Japanese as single characters and overlapping pairs, each term written w_<word>),
-- because InnoDB's own parser drops words under innodb_ft_min_token_size (3) and its
-- stop words, and MariaDB has no n-gram parser: 서울 would never be found in 서울에서.
-- Every database indexes the same column, so a backup restores anywhere.
CREATE TABLE image_texts (
  image_id VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner_id BIGINT NOT NULL,
  image_created_at BIGINT NOT NULL,
  content TEXT NOT NULL,
  search_terms MEDIUMTEXT NOT NULL,
  confidence DOUBLE NOT NULL,
  provider VARCHAR(64) NOT NULL DEFAULT '',
  model VARCHAR(255) NOT NULL DEFAULT '',
  read_at BIGINT NOT NULL,
  PRIMARY KEY (image_id),
  FULLTEXT KEY image_texts_search (search_terms),
  CONSTRAINT image_texts_image FOREIGN KEY (image_id) REFERENCES images (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The ranked search (labels.go, Search) shows photos where the classifier saw a word
-- before those where the word is a broader label derived from another: with
-- derived_from in the key, each of the two is one ordered range of this index, newest
-- first, however many rows of the other kind the name has.
CREATE INDEX labels_rank ON labels (owner_id, name, derived_from, image_created_at, image_id);
