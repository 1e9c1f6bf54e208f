package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// labelsBatch is the most image ids one labels query names, which keeps the statement
// well inside every database's limit on bound parameters (SQLite's was 999).
const labelsBatch = MaxPageSize

// LabelsOfImages reads the labels of a page of images at once: one query per
// labelsBatch ids, where ImageLabels took two per image. Each query finds its rows
// through the labels primary key (image_id, name), a handful of rows per image.
func (s *sqlStore) LabelsOfImages(ctx context.Context, ownerID int64, imageIDs []string) (map[string][]Label, error) {
	want := distinctIDs(imageIDs)
	out := make(map[string][]Label, len(want))
	db := s.reader(ctx)
	for start := 0; start < len(want); start += labelsBatch {
		chunk := want[start:min(start+labelsBatch, len(want))]
		args := make([]any, 0, 1+len(chunk))
		args = append(args, ownerID)
		for _, id := range chunk {
			args = append(args, id)
		}
		// owner_id is copied from the image into each label, so the condition on it
		// alone keeps another user's images out.
		rows, err := db.QueryContext(ctx, s.d.rebind("SELECT image_id, name, confidence, categories, provider, model FROM labels "+
			"WHERE owner_id = ? AND image_id IN ("+placeholders(len(chunk))+") ORDER BY image_id, confidence DESC, name"), args...)
		if err != nil {
			return nil, fmt.Errorf("get labels of %d images: %w", len(want), err)
		}
		if err := scanLabelsInto(rows, out); err != nil {
			return nil, fmt.Errorf("get labels of %d images: %w", len(want), err)
		}
	}
	return out, nil
}

// scanLabelsInto reads rows of (image_id, name, confidence, categories, provider,
// model) into labels by image, keeping the rows' order, and closes rows.
func scanLabelsInto(rows *sql.Rows, out map[string][]Label) error {
	defer rows.Close()
	for rows.Next() {
		var imageID, cats string
		var l Label
		if err := rows.Scan(&imageID, &l.Name, &l.Confidence, &cats, &l.Provider, &l.Model); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(cats), &l.Categories); err != nil {
			return fmt.Errorf("label %s of image %s: categories: %w", l.Name, imageID, err)
		}
		out[imageID] = append(out[imageID], l)
	}
	return rows.Err()
}
