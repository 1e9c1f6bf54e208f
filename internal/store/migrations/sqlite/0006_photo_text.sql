-- The words in a photo (#21): what the configured text reader (SORTOGRAPHER_TEXT_READER)
-- read in it, one row per image, replaced with its labels by every classification that
-- reads text. owner_id and image_created_at are copied from the image, as in labels, so
-- that a text search orders and pages without reading images. Times are Unix
-- microseconds (UTC).
--
-- search_terms is what the full-text index reads: the words of content as the
-- application cuts them (internal/store/terms.go: lower case, Korean, Chinese and
-- Japanese as single characters and overlapping pairs, each term written w_<word>), the
-- same on every database so that a backup restores anywhere.
CREATE TABLE image_texts (
  image_id TEXT PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
  owner_id INTEGER NOT NULL,
  image_created_at INTEGER NOT NULL,
  content TEXT NOT NULL,
  search_terms TEXT NOT NULL,
  confidence REAL NOT NULL,
  provider TEXT NOT NULL DEFAULT '',
  model TEXT NOT NULL DEFAULT '',
  read_at INTEGER NOT NULL
);

-- The full-text index of search_terms: an FTS5 table whose content is image_texts
-- (external content: the terms are not stored twice), kept in step by the triggers
-- below, keyed by image_texts' rowid. Its tokenizer splits at spaces only (letters,
-- digits, marks and '_' are word characters) and keeps the terms as they are, so it
-- sees exactly the application's terms. The index is not backed up (its tables are
-- rebuilt from image_texts by the triggers as a restore loads it); should it ever
-- disagree with image_texts (a VACUUM may renumber the rowids of a table without an
-- INTEGER PRIMARY KEY), INSERT INTO image_texts_fts(image_texts_fts) VALUES('rebuild')
-- remakes it.
CREATE VIRTUAL TABLE image_texts_fts USING fts5(
  search_terms,
  content = 'image_texts',
  content_rowid = 'rowid',
  tokenize = "unicode61 remove_diacritics 0 tokenchars '_' categories 'L* N* Co M*'"
);

-- Each trigger is one line: migrations split statements at a semicolon ending a line.
CREATE TRIGGER image_texts_insert AFTER INSERT ON image_texts BEGIN INSERT INTO image_texts_fts (rowid, search_terms) VALUES (new.rowid, new.search_terms); END;
CREATE TRIGGER image_texts_delete AFTER DELETE ON image_texts BEGIN INSERT INTO image_texts_fts (image_texts_fts, rowid, search_terms) VALUES ('delete', old.rowid, old.search_terms); END;
CREATE TRIGGER image_texts_update AFTER UPDATE ON image_texts BEGIN INSERT INTO image_texts_fts (image_texts_fts, rowid, search_terms) VALUES ('delete', old.rowid, old.search_terms); INSERT INTO image_texts_fts (rowid, search_terms) VALUES (new.rowid, new.search_terms); END;

-- The ranked search (labels.go, Search) shows photos where the classifier saw a word
-- before those where the word is a broader label derived from another: with
-- derived_from in the key, each of the two is one ordered range of this index, newest
-- first, however many rows of the other kind the name has.
CREATE INDEX labels_rank ON labels (owner_id, name, derived_from, image_created_at, image_id);
