package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Albums.
//
// A user's automatic albums are their labels: one per label, derived from the labels
// table (never stored), opened with SearchByLabels. Named albums are the user's own:
// an album holds any of its owner's images, an image may sit in several albums, and
// deleting an album never deletes an image. Deleting an image removes it from every
// album through ON DELETE CASCADE on album_images (SQLite connections turn foreign keys
// on; see openSQLite). Album names need not be unique: albums are told apart by id, as
// in Immich or Google Photos, and a user who wants two "Holidays" may have them.

// MaxAlbumNameLength is the longest album name, in characters.
const MaxAlbumNameLength = 100

// MaxAlbumBatch is the most images one AddToAlbum or RemoveFromAlbum may name.
const MaxAlbumBatch = 500

// ErrInvalidName: an album name that is empty after trimming, too long, or has control
// characters. The error's text says which.
var ErrInvalidName = errors.New("invalid album name")

// LabelAlbum is an automatic album: the owner's images that carry one label.
type LabelAlbum struct {
	Label  string
	Images int64
	// CoverImageID is the newest image with the label.
	CoverImageID string
}

// Album is a named album.
type Album struct {
	// ID is random and unguessable, like an image's.
	ID        string
	OwnerID   int64
	Name      string
	CreatedAt time.Time
	// UpdatedAt is when it was last renamed or had images added or removed.
	UpdatedAt time.Time
	// Images is how many images it holds.
	Images int64
	// CoverImageID is the image added last; empty when the album is empty.
	CoverImageID string
}

// NormaliseAlbumName trims a name and checks it: 1 to MaxAlbumNameLength characters of
// valid UTF-8 with no control characters. The error wraps ErrInvalidName.
func NormaliseAlbumName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name):
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidName)
	case n == 0:
		return "", fmt.Errorf("%w: a name is required", ErrInvalidName)
	case n > MaxAlbumNameLength:
		return "", fmt.Errorf("%w: at most %d characters, not %d", ErrInvalidName, MaxAlbumNameLength, n)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", fmt.Errorf("%w: no control characters (tabs, line breaks)", ErrInvalidName)
	}
	return name, nil
}

func (s *sqlStore) LabelAlbums(ctx context.Context, ownerID int64) ([]LabelAlbum, error) {
	// One statement for the whole list: the counts by one pass over the owner's part of
	// labels_search, and each cover by a one-row backward probe of the same index.
	rows, err := s.reader(ctx).QueryContext(ctx, s.d.rebind(
		"SELECT c.name, c.images, (SELECT x.image_id FROM labels x WHERE x.owner_id = ? AND x.name = c.name "+
			"ORDER BY x.image_created_at DESC, x.image_id DESC LIMIT 1) "+
			"FROM (SELECT name, COUNT(*) AS images FROM labels WHERE owner_id = ? GROUP BY name) c "+
			"ORDER BY c.images DESC, c.name"), ownerID, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list label albums: %w", err)
	}
	albums, err := scanAll(rows, func(row rowScanner) (LabelAlbum, error) {
		var a LabelAlbum
		var cover sql.NullString
		err := row.Scan(&a.Label, &a.Images, &cover)
		a.CoverImageID = cover.String
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("list label albums: %w", err)
	}
	return albums, nil
}

// albumSelect reads albums with their count and cover in the same statement.
const albumSelect = "SELECT a.id, a.owner_id, a.name, a.created_at, a.updated_at, " +
	"(SELECT COUNT(*) FROM album_images x WHERE x.album_id = a.id), " +
	"(SELECT x.image_id FROM album_images x WHERE x.album_id = a.id ORDER BY x.added_at DESC, x.image_id DESC LIMIT 1) " +
	"FROM albums a"

func scanAlbum(row rowScanner) (Album, error) {
	var a Album
	var created, updated int64
	var cover sql.NullString
	if err := row.Scan(&a.ID, &a.OwnerID, &a.Name, &created, &updated, &a.Images, &cover); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Album{}, ErrNotFound
		}
		return Album{}, err
	}
	a.CreatedAt, a.UpdatedAt, a.CoverImageID = fromMicros(created), fromMicros(updated), cover.String
	return a, nil
}

func (s *sqlStore) CreateAlbum(ctx context.Context, ownerID int64, name string) (Album, error) {
	name, err := NormaliseAlbumName(name)
	if err != nil {
		return Album{}, fmt.Errorf("create album: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	a := Album{ID: NewImageID(), OwnerID: ownerID, Name: name, CreatedAt: now, UpdatedAt: now}
	if _, err := s.db.ExecContext(ctx, s.d.rebind("INSERT INTO albums (id, owner_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"),
		a.ID, a.OwnerID, a.Name, micros(now), micros(now)); err != nil {
		return Album{}, fmt.Errorf("create album: %w", err)
	}
	return a, nil
}

func (s *sqlStore) Albums(ctx context.Context, ownerID int64) ([]Album, error) {
	rows, err := s.reader(ctx).QueryContext(ctx, s.d.rebind(albumSelect+" WHERE a.owner_id = ? ORDER BY a.updated_at DESC, a.id DESC"), ownerID)
	if err != nil {
		return nil, fmt.Errorf("list albums: %w", err)
	}
	albums, err := scanAll(rows, scanAlbum)
	if err != nil {
		return nil, fmt.Errorf("list albums: %w", err)
	}
	return albums, nil
}

func (s *sqlStore) Album(ctx context.Context, ownerID int64, id string) (Album, error) {
	a, err := scanAlbum(s.db.QueryRowContext(ctx, s.d.rebind(albumSelect+" WHERE a.id = ? AND a.owner_id = ?"), id, ownerID))
	if err != nil {
		return Album{}, fmt.Errorf("get album %s: %w", id, err)
	}
	return a, nil
}

func (s *sqlStore) RenameAlbum(ctx context.Context, ownerID int64, id, name string) (Album, error) {
	name, err := NormaliseAlbumName(name)
	if err != nil {
		return Album{}, fmt.Errorf("rename album %s: %w", id, err)
	}
	if err := s.execOne(ctx, "rename album "+id, "UPDATE albums SET name = ?, updated_at = ? WHERE id = ? AND owner_id = ?",
		name, time.Now().UnixMicro(), id, ownerID); err != nil {
		return Album{}, err
	}
	return s.Album(ctx, ownerID, id)
}

func (s *sqlStore) DeleteAlbum(ctx context.Context, ownerID int64, id string) error {
	// ON DELETE CASCADE removes the album's image memberships and its share links; the
	// images themselves stay.
	return s.execOne(ctx, "delete album "+id, "DELETE FROM albums WHERE id = ? AND owner_id = ?", id, ownerID)
}

// lockAlbum locks one of owner's albums for the rest of tx, so that changes to its
// images are serialised. It does not mark the album changed: touchAlbum does, once
// something did change.
func (s *sqlStore) lockAlbum(ctx context.Context, tx *sql.Tx, ownerID int64, albumID string) error {
	var one int
	err := tx.QueryRowContext(ctx, s.d.rebind("SELECT 1 FROM albums WHERE id = ? AND owner_id = ?"+s.d.forUpdate), albumID, ownerID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	// SQLite has no FOR UPDATE: a write takes its database lock now, not at the first
	// real change.
	_, err = tx.ExecContext(ctx, s.d.rebind("UPDATE albums SET updated_at = updated_at WHERE id = ?"), albumID)
	return err
}

// touchAlbum marks an album changed (its list is ordered by that), within tx.
func (s *sqlStore) touchAlbum(ctx context.Context, tx *sql.Tx, albumID string) error {
	_, err := tx.ExecContext(ctx, s.d.rebind("UPDATE albums SET updated_at = ? WHERE id = ?"), time.Now().UnixMicro(), albumID)
	return err
}

func (s *sqlStore) AddToAlbum(ctx context.Context, ownerID int64, albumID string, imageIDs []string) error {
	want := distinctIDs(imageIDs)
	if len(want) > MaxAlbumBatch {
		return fmt.Errorf("add to album %s: at most %d images at once, not %d", albumID, MaxAlbumBatch, len(want))
	}
	if len(want) == 0 {
		// Still tell a missing album from an empty request.
		_, err := s.Album(ctx, ownerID, albumID)
		return err
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAlbum(ctx, tx, ownerID, albumID); err != nil {
			return err
		}
		// Every image must be the owner's: one that is not (or is gone) adds nothing.
		args := []any{ownerID}
		for _, id := range want {
			args = append(args, id)
		}
		var owned int
		if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT COUNT(*) FROM images WHERE owner_id = ? AND id IN ("+placeholders(len(want))+")"), args...).Scan(&owned); err != nil {
			return err
		}
		if owned != len(want) {
			return ErrNotFound
		}
		// Images already in the album keep their place. The album row is locked, so no
		// other transaction adds the same image meanwhile.
		args[0] = albumID
		rows, err := tx.QueryContext(ctx, s.d.rebind("SELECT image_id FROM album_images WHERE album_id = ? AND image_id IN ("+placeholders(len(want))+")"), args...)
		if err != nil {
			return err
		}
		inAlbum, err := scanAll(rows, scanValue[string])
		if err != nil {
			return err
		}
		present := make(map[string]bool, len(inAlbum))
		for _, id := range inAlbum {
			present[id] = true
		}
		// Each image gets its own added_at, above every one already in the album (the
		// clock may step back), and the first given is the newest: the album lists a
		// batch in the order it was given, above the batches before it.
		var newest sql.NullInt64
		if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT MAX(added_at) FROM album_images WHERE album_id = ?"), albumID).Scan(&newest); err != nil {
			return err
		}
		var adding []string
		for _, id := range want {
			if !present[id] {
				adding = append(adding, id)
			}
		}
		at := max(time.Now().UnixMicro(), newest.Int64+1) + int64(len(adding)) - 1
		for _, id := range adding {
			if _, err := tx.ExecContext(ctx, s.d.rebind("INSERT INTO album_images (album_id, image_id, added_at) VALUES (?, ?, ?)"), albumID, id, at); err != nil {
				return err
			}
			at--
		}
		if len(adding) == 0 {
			return nil
		}
		return s.touchAlbum(ctx, tx, albumID)
	})
	if err != nil {
		return fmt.Errorf("add images to album %s: %w", albumID, err)
	}
	return nil
}

func (s *sqlStore) RemoveFromAlbum(ctx context.Context, ownerID int64, albumID string, imageIDs []string) (int64, error) {
	want := distinctIDs(imageIDs)
	if len(want) > MaxAlbumBatch {
		return 0, fmt.Errorf("remove from album %s: at most %d images at once, not %d", albumID, MaxAlbumBatch, len(want))
	}
	var removed int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAlbum(ctx, tx, ownerID, albumID); err != nil {
			return err
		}
		if len(want) == 0 {
			return nil
		}
		args := []any{albumID}
		for _, id := range want {
			args = append(args, id)
		}
		res, err := tx.ExecContext(ctx, s.d.rebind("DELETE FROM album_images WHERE album_id = ? AND image_id IN ("+placeholders(len(want))+")"), args...)
		if err != nil {
			return err
		}
		if removed, err = res.RowsAffected(); err != nil || removed == 0 {
			return err
		}
		return s.touchAlbum(ctx, tx, albumID)
	})
	if err != nil {
		return 0, fmt.Errorf("remove images from album %s: %w", albumID, err)
	}
	return removed, nil
}

func (s *sqlStore) AlbumImages(ctx context.Context, ownerID int64, albumID string, page PageRequest) (Page, error) {
	limit, after, err := pageBounds(page)
	if err != nil {
		return Page{}, fmt.Errorf("list album %s: %w", albumID, err)
	}
	db := s.reader(ctx)
	var one int
	err = db.QueryRowContext(ctx, s.d.rebind("SELECT 1 FROM albums WHERE id = ? AND owner_id = ?"), albumID, ownerID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Page{}, fmt.Errorf("list album %s: %w", albumID, err)
	}
	q, args := s.albumPageQuery(ownerID, albumID, after, limit)
	rows, err := db.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return Page{}, fmt.Errorf("list album %s: %w", albumID, err)
	}
	listed, err := scanAll(rows, func(row rowScanner) (pageRow, error) {
		var r pageRow
		var err error
		r.img, err = scanImage(addedAtScanner{row, &r.at})
		return r, err
	})
	if err != nil {
		return Page{}, fmt.Errorf("list album %s: %w", albumID, err)
	}
	return toPage(listed, limit), nil
}

// albumPageQuery is AlbumImages' statement for one page (limit+1 rows) after the
// cursor (nil: the first page).
func (s *sqlStore) albumPageQuery(ownerID int64, albumID string, after *cursor, limit int) (string, []any) {
	// Newest added first; the cursor is the last row's (added_at, image id). The owner
	// condition on images is belt and braces: only the owner's images are ever added.
	q := "SELECT " + prefixed("i") + ", ai.added_at FROM album_images ai JOIN images i ON i.id = ai.image_id " +
		"WHERE ai.album_id = ? AND i.owner_id = ?"
	args := []any{albumID, ownerID}
	if after != nil {
		// As in ListImages, "added_at <= ?" is what bounds the index range: with the OR
		// alone, PostgreSQL scanned album_images_added backwards from the newest row and
		// filtered its way down to the cursor, 10,300 rows (3.2 ms) 200 pages into an
		// album of 20,000, against 51 rows (0.13 ms) now (BenchmarkAlbumPages). MariaDB
		// read 51 rows of the same index either way, so it needs no FORCE INDEX here.
		q += " AND ai.added_at <= ? AND (ai.added_at < ? OR ai.image_id < ?)"
		args = append(args, after.createdAt, after.createdAt, after.id)
	}
	q += " ORDER BY ai.added_at DESC, ai.image_id DESC LIMIT ?"
	return q, append(args, limit+1)
}

// addedAtScanner lets scanImage read a row of image columns followed by added_at.
type addedAtScanner struct {
	row   rowScanner
	added *int64
}

func (a addedAtScanner) Scan(dest ...any) error { return a.row.Scan(append(dest, a.added)...) }

func (s *sqlStore) AlbumImage(ctx context.Context, ownerID int64, albumID, imageID string) (Image, error) {
	img, err := scanImage(s.reader(ctx).QueryRowContext(ctx, s.d.rebind("SELECT "+prefixed("i")+
		" FROM album_images ai JOIN albums a ON a.id = ai.album_id JOIN images i ON i.id = ai.image_id "+
		"WHERE ai.album_id = ? AND ai.image_id = ? AND a.owner_id = ? AND i.owner_id = ?"), albumID, imageID, ownerID, ownerID))
	if err != nil {
		return Image{}, fmt.Errorf("get image %s of album %s: %w", imageID, albumID, err)
	}
	return img, nil
}
