-- The words in a photo (#21): what the configured text reader (SORTOGRAPHER_TEXT_READER)
-- read in it, one row per image, replaced with its labels by every classification that
-- reads text. owner_id and image_created_at are copied from the image, as in labels, so
-- that a text search orders and pages without reading images. Times are Unix
-- microseconds (UTC).
--
-- search_terms is what the full-text index reads: the words of content as the
-- application cuts them (internal/store/terms.go: lower case, Korean, Chinese and
-- Japanese as single characters and overlapping pairs, each term written w_<word>), the
-- same on every database so that a backup restores anywhere. The index is a tsvector of
-- exactly those terms (array_to_tsvector: no parser, no dictionary, no stemming), and a
-- search asks for them with a tsquery of the same terms.
CREATE TABLE image_texts (
  image_id TEXT COLLATE "C" PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
  owner_id BIGINT NOT NULL,
  image_created_at BIGINT NOT NULL,
  content TEXT NOT NULL,
  search_terms TEXT NOT NULL,
  confidence DOUBLE PRECISION NOT NULL,
  provider TEXT NOT NULL DEFAULT '',
  model TEXT NOT NULL DEFAULT '',
  read_at BIGINT NOT NULL
);

CREATE INDEX image_texts_search ON image_texts USING GIN (array_to_tsvector(string_to_array(search_terms, ' ')));

-- The ranked search (labels.go, Search) shows photos where the classifier saw a word
-- before those where the word is a broader label derived from another: with
-- derived_from in the key, each of the two is one ordered range of this index, newest
-- first, however many rows of the other kind the name has.
CREATE INDEX labels_rank ON labels (owner_id, name, derived_from, image_created_at, image_id);
