package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Quotas: how much a user may store. A user's usage (User.UsedBytes, UsedPhotos) is
// kept in the users row by the same transaction that inserts or deletes an image, so
// it always equals what the images table holds; an upload reserves its bytes there
// with one conditional UPDATE, which concurrent uploads of the same user queue on.

// ErrQuotaExceeded is returned (wrapped in a *QuotaError) by CreateImageWithinQuota
// when the image would take its owner past their quota.
var ErrQuotaExceeded = errors.New("quota exceeded")

// UnlimitedQuota in a QuotaOverride field lifts the Gallery's default for one user.
const UnlimitedQuota int64 = -1

// Quota is how much a user may store: the bytes of their originals and how many
// photos. A nil field is unlimited.
type Quota struct {
	Bytes  *int64
	Photos *int64
}

// QuotaOverride is an admin's override of the Gallery's default quota for one user. A
// nil field takes the default; UnlimitedQuota is unlimited.
type QuotaOverride struct {
	Bytes  *int64
	Photos *int64
}

// Apply is the quota of a user with this override on a Gallery whose default is def.
func (o QuotaOverride) Apply(def Quota) Quota {
	pick := func(override, def *int64) *int64 {
		switch {
		case override == nil:
			return def
		case *override < 0:
			return nil
		default:
			return override
		}
	}
	return Quota{Bytes: pick(o.Bytes, def.Bytes), Photos: pick(o.Photos, def.Photos)}
}

// QuotaError is an image refused for its owner's quota.
type QuotaError struct {
	// Quota is the owner's quota; UsedBytes and UsedPhotos what they had stored.
	Quota                 Quota
	UsedBytes, UsedPhotos int64
	// ImageBytes is the refused image's size.
	ImageBytes int64
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("an image of %d bytes over the quota (%s) with %d bytes and %d photos stored",
		e.ImageBytes, e.Quota, e.UsedBytes, e.UsedPhotos)
}

// Unwrap makes errors.Is(err, ErrQuotaExceeded) hold.
func (e *QuotaError) Unwrap() error { return ErrQuotaExceeded }

// ImageLargerThanQuota reports whether the image alone exceeds the whole storage
// quota, so that it could never be stored, however much the user deletes.
func (e *QuotaError) ImageLargerThanQuota() bool {
	return e.Quota.Bytes != nil && e.ImageBytes > *e.Quota.Bytes
}

func (q Quota) String() string {
	f := func(v *int64) string {
		if v == nil {
			return "unlimited"
		}
		return fmt.Sprint(*v)
	}
	return "bytes " + f(q.Bytes) + ", photos " + f(q.Photos)
}

// sqlLimit is a quota field as the SQL below takes it: -1 for unlimited.
func sqlLimit(v *int64) int64 {
	if v == nil {
		return UnlimitedQuota
	}
	return *v
}

func nullInt(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
}

func toNullInt(v *int64) sql.NullInt64 {
	if v == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *v, Valid: true}
}

// reserveQuota adds an image of size bytes to its owner's usage, in tx, when the owner
// has room for it under their quota (their override applied to defaults) and is not
// being erased. The UPDATE locks the owner's row, so concurrent reservations of one
// owner run one after the other, each seeing the usage the one before left. It
// returns a *QuotaError when there is no room, ErrNotFound when the owner is gone.
func (s *sqlStore) reserveQuota(ctx context.Context, tx *sql.Tx, ownerID, size int64, defaults Quota) error {
	maxBytes, maxPhotos := sqlLimit(defaults.Bytes), sqlLimit(defaults.Photos)
	res, err := tx.ExecContext(ctx, s.d.rebind("UPDATE users SET used_bytes = used_bytes + ?, used_photos = used_photos + 1 "+
		"WHERE id = ? AND erase_requested_at IS NULL "+
		"AND (COALESCE(quota_bytes, ?) < 0 OR used_bytes + ? <= COALESCE(quota_bytes, ?)) "+
		"AND (COALESCE(quota_photos, ?) < 0 OR used_photos + 1 <= COALESCE(quota_photos, ?))"),
		size, ownerID, maxBytes, size, maxBytes, maxPhotos, maxPhotos)
	if err != nil {
		return fmt.Errorf("reserve quota: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("reserve quota: %w", err)
	}
	if n == 1 {
		return nil
	}
	u, err := scanUser(tx.QueryRowContext(ctx, s.d.rebind("SELECT "+userColumns+" FROM users WHERE id = ?"), ownerID))
	if err != nil {
		return fmt.Errorf("reserve quota: read user %d: %w", ownerID, err)
	}
	if u.Erasing() {
		return fmt.Errorf("reserve quota: user %d is being deleted: %w", ownerID, ErrNotFound)
	}
	return &QuotaError{Quota: u.QuotaOverride.Apply(defaults), UsedBytes: u.UsedBytes, UsedPhotos: u.UsedPhotos, ImageBytes: size}
}

// SetUserQuota implements Store.
func (s *sqlStore) SetUserQuota(ctx context.Context, userID int64, bytes, photos *int64) error {
	for _, v := range []*int64{bytes, photos} {
		if v != nil && *v < UnlimitedQuota {
			return fmt.Errorf("set quota of user %d: %d is neither a limit nor UnlimitedQuota", userID, *v)
		}
	}
	return s.updateUser(ctx, fmt.Sprintf("set quota of user %d", userID),
		"UPDATE users SET quota_bytes = ?, quota_photos = ? WHERE id = ? AND erase_requested_at IS NULL",
		toNullInt(bytes), toNullInt(photos), userID)
}
