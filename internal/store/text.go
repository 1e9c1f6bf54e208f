package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Texts: the words a text reader found in an image (image_texts), one row per image,
// written with the image's labels by SetLabels (setText), read for an image's page
// (ImageText) and for a page of search results (TextsOfImages), and searched through
// each database's full-text index of search_terms (search.go, terms.go).

const textColumns = "content, confidence, provider, model, read_at"

func scanText(row rowScanner) (Text, error) {
	var t Text
	var read int64
	if err := row.Scan(&t.Content, &t.Confidence, &t.Provider, &t.Model, &read); err != nil {
		return Text{}, err
	}
	t.ReadAt = fromMicros(read)
	return t, nil
}

// setText replaces an image's text within SetLabels' transaction.
func (s *sqlStore) setText(ctx context.Context, tx *sql.Tx, imageID string, ownerID, created int64, t Text) error {
	if _, err := tx.ExecContext(ctx, s.d.rebind("DELETE FROM image_texts WHERE image_id = ?"), imageID); err != nil {
		return fmt.Errorf("replace text: %w", err)
	}
	if t.ReadAt.IsZero() {
		t.ReadAt = time.Now()
	}
	content := cleanText(t.Content)
	_, err := tx.ExecContext(ctx, s.d.rebind("INSERT INTO image_texts (image_id, owner_id, image_created_at, "+textColumns+", search_terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		imageID, ownerID, created, content, t.Confidence, t.Provider, t.Model, micros(t.ReadAt), textTerms(content))
	if err != nil {
		return fmt.Errorf("write text: %w", err)
	}
	return nil
}

func (s *sqlStore) ImageText(ctx context.Context, ownerID int64, imageID string) (Text, error) {
	t, err := scanText(s.db.QueryRowContext(ctx, s.d.rebind("SELECT "+textColumns+" FROM image_texts WHERE image_id = ? AND owner_id = ?"), imageID, ownerID))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Text{}, fmt.Errorf("get text of image %s: %w", imageID, err)
	}
	return t, nil
}

func (s *sqlStore) TextsOfImages(ctx context.Context, ownerID int64, imageIDs []string) (map[string]Text, error) {
	want := distinctIDs(imageIDs)
	out := make(map[string]Text, len(want))
	db := s.reader(ctx)
	for start := 0; start < len(want); start += labelsBatch {
		chunk := want[start:min(start+labelsBatch, len(want))]
		args := make([]any, 0, 1+len(chunk))
		args = append(args, ownerID)
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := db.QueryContext(ctx, s.d.rebind("SELECT image_id, "+textColumns+" FROM image_texts WHERE owner_id = ? AND image_id IN ("+placeholders(len(chunk))+")"), args...)
		if err != nil {
			return nil, fmt.Errorf("get texts of %d images: %w", len(want), err)
		}
		type imageText struct {
			id string
			Text
		}
		texts, err := scanAll(rows, func(row rowScanner) (imageText, error) {
			var t imageText
			var read int64
			err := row.Scan(&t.id, &t.Content, &t.Confidence, &t.Provider, &t.Model, &read)
			t.ReadAt = fromMicros(read)
			return t, err
		})
		if err != nil {
			return nil, fmt.Errorf("get texts of %d images: %w", len(want), err)
		}
		for _, t := range texts {
			out[t.id] = t.Text
		}
	}
	return out, nil
}
