-- A label can be a broader word of another one on the same image: "animal" because the
-- classifier saw a "cat" (its parents: Rekognition's, or the built-in model's COCO
-- supercategories). derived_from names that label; empty for what the classifier saw
-- itself. The broader words are rows like any label, so a search for "animal" is the
-- same range scan of labels_search as a search for "cat".
ALTER TABLE labels ADD COLUMN derived_from TEXT NOT NULL DEFAULT '';
