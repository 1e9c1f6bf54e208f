package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Share links.
//
// A link opens one image or one named album to anyone holding its token, without
// signing in, until it expires or its owner revokes it. The token is 32 random bytes
// (256 bits) from crypto/rand; only its SHA-256 is stored, so reading the database
// opens no link, and the owner sees a token once, when the link is made. Revoking
// deletes the row. Deleting the image or album deletes its links (ON DELETE CASCADE).

// ShareTokenLength is the length of a share token: 32 bytes in unpadded base64url.
const ShareTokenLength = 43

// NewShareToken returns a new share token and the hash to store for it.
func NewShareToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashShareToken(token)
}

// HashShareToken is what the database keeps of a token: its SHA-256 in hex. Tokens have
// 256 bits of entropy, so a fast unsalted hash is enough: there is nothing to guess.
func HashShareToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewShare is what CreateShare needs: exactly one of ImageID and AlbumID.
type NewShare struct {
	OwnerID   int64
	ImageID   string
	AlbumID   string
	TokenHash string
	// ExpiresAt is when the link stops working; zero: never (until revoked).
	ExpiresAt time.Time
}

// Share is a share link, without its token.
type Share struct {
	// ID names the link to its owner (to revoke it); it opens nothing.
	ID      string
	OwnerID int64
	// Exactly one of ImageID and AlbumID is set.
	ImageID string
	AlbumID string
	// AlbumName is the shared album's current name.
	AlbumName string
	CreatedAt time.Time
	// ExpiresAt is zero for a link that never expires.
	ExpiresAt time.Time
}

// Expired reports whether the link has expired at now.
func (sh Share) Expired(now time.Time) bool {
	return !sh.ExpiresAt.IsZero() && !now.Before(sh.ExpiresAt)
}

const shareSelect = "SELECT s.id, s.owner_id, s.image_id, s.album_id, a.name, s.created_at, s.expires_at " +
	"FROM shares s LEFT JOIN albums a ON a.id = s.album_id"

func scanShare(row rowScanner) (Share, error) {
	var sh Share
	var image, album, name sql.NullString
	var created int64
	var expires sql.NullInt64
	if err := row.Scan(&sh.ID, &sh.OwnerID, &image, &album, &name, &created, &expires); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Share{}, ErrNotFound
		}
		return Share{}, err
	}
	sh.ImageID, sh.AlbumID, sh.AlbumName = image.String, album.String, name.String
	sh.CreatedAt, sh.ExpiresAt = fromMicros(created), fromNullMicros(expires)
	return sh, nil
}

func (s *sqlStore) CreateShare(ctx context.Context, ns NewShare) (Share, error) {
	if (ns.ImageID == "") == (ns.AlbumID == "") {
		return Share{}, errors.New("create share: give exactly one of an image and an album")
	}
	if len(ns.TokenHash) != sha256.Size*2 {
		return Share{}, errors.New("create share: the token hash must be a hex SHA-256")
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	sh := Share{ID: NewImageID(), OwnerID: ns.OwnerID, ImageID: ns.ImageID, AlbumID: ns.AlbumID, CreatedAt: now}
	if !ns.ExpiresAt.IsZero() {
		sh.ExpiresAt = ns.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Lock what is shared, so a delete racing with this either runs first (and this
		// finds nothing) or after (and cascades to the new link).
		target := "SELECT name FROM albums WHERE id = ? AND owner_id = ?"
		id := ns.AlbumID
		if ns.ImageID != "" {
			target, id = "SELECT '' FROM images WHERE id = ? AND owner_id = ?", ns.ImageID
		}
		err := tx.QueryRowContext(ctx, s.d.rebind(target+s.d.forUpdate), id, ns.OwnerID).Scan(&sh.AlbumName)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.d.rebind("INSERT INTO shares (id, owner_id, token_sha256, image_id, album_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"),
			sh.ID, sh.OwnerID, ns.TokenHash, sql.NullString{String: ns.ImageID, Valid: ns.ImageID != ""},
			sql.NullString{String: ns.AlbumID, Valid: ns.AlbumID != ""}, micros(now), nullMicros(sh.ExpiresAt))
		return err
	})
	if err != nil {
		return Share{}, fmt.Errorf("create share: %w", err)
	}
	return sh, nil
}

func (s *sqlStore) Shares(ctx context.Context, ownerID int64) ([]Share, error) {
	// From the writer: the list is where the owner checks that a revoked link is gone.
	rows, err := s.db.QueryContext(ctx, s.d.rebind(shareSelect+" WHERE s.owner_id = ? ORDER BY s.created_at DESC, s.id DESC"), ownerID)
	if err != nil {
		return nil, fmt.Errorf("list shares: %w", err)
	}
	shares, err := scanAll(rows, scanShare)
	if err != nil {
		return nil, fmt.Errorf("list shares: %w", err)
	}
	return shares, nil
}

func (s *sqlStore) DeleteShare(ctx context.Context, ownerID int64, id string) error {
	return s.execOne(ctx, "revoke share "+id, "DELETE FROM shares WHERE id = ? AND owner_id = ?", id, ownerID)
}

func (s *sqlStore) ShareByTokenHash(ctx context.Context, tokenHash string, now time.Time) (Share, error) {
	// Always the writer: a link revoked a moment ago must not open on a lagging replica.
	// A link of an account disabled by an admin, or being deleted, opens no more.
	sh, err := scanShare(s.db.QueryRowContext(ctx, s.d.rebind(shareSelect+
		" JOIN users u ON u.id = s.owner_id WHERE s.token_sha256 = ? AND u.disabled_at IS NULL AND u.erase_requested_at IS NULL"), tokenHash))
	if err == nil && sh.Expired(now) {
		err = ErrNotFound
	}
	if err != nil {
		return Share{}, fmt.Errorf("find share: %w", err)
	}
	return sh, nil
}
