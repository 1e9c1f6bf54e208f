package store

import (
	"context"
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
		rows, err := db.QueryContext(ctx, s.d.rebind("SELECT image_id, name, confidence, categories, provider, model, derived_from FROM labels "+
			"WHERE owner_id = ? AND image_id IN ("+placeholders(len(chunk))+") ORDER BY image_id, confidence DESC, derived_from, name"), args...)
		if err != nil {
			return nil, fmt.Errorf("get labels of %d images: %w", len(want), err)
		}
		labels, err := scanAll(rows, scanImageLabel)
		if err != nil {
			return nil, fmt.Errorf("get labels of %d images: %w", len(want), err)
		}
		for _, l := range labels {
			out[l.imageID] = append(out[l.imageID], l.Label)
		}
	}
	return out, nil
}

// imageLabel is a label with the image it belongs to.
type imageLabel struct {
	imageID string
	Label
}

// scanImageLabel reads a row of (image_id, name, confidence, categories, provider,
// model, derived_from).
func scanImageLabel(row rowScanner) (imageLabel, error) {
	var l imageLabel
	var cats string
	if err := row.Scan(&l.imageID, &l.Name, &l.Confidence, &cats, &l.Provider, &l.Model, &l.DerivedFrom); err != nil {
		return imageLabel{}, err
	}
	if err := json.Unmarshal([]byte(cats), &l.Categories); err != nil {
		return imageLabel{}, fmt.Errorf("label %s of image %s: categories: %w", l.Name, l.imageID, err)
	}
	return l, nil
}
