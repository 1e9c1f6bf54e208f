package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Users: gallery accounts, found by id or by email in any case.

const userColumns = "id, email, password_hash, is_admin, created_at, quota_bytes, quota_photos, used_bytes, used_photos, disabled_at, erase_requested_at"

func normaliseEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func scanUser(row rowScanner) (User, error) {
	var u User
	var created int64
	var quotaBytes, quotaPhotos, disabled, erase sql.NullInt64
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.IsAdmin, &created, &quotaBytes, &quotaPhotos,
		&u.UsedBytes, &u.UsedPhotos, &disabled, &erase); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return User{}, ErrNotFound
		}
		return User{}, err
	}
	u.CreatedAt = fromMicros(created)
	u.QuotaOverride = QuotaOverride{Bytes: nullInt(quotaBytes), Photos: nullInt(quotaPhotos)}
	u.DisabledAt = fromNullMicros(disabled)
	u.EraseRequestedAt = fromNullMicros(erase)
	return u, nil
}

func (s *sqlStore) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	u := User{
		Email:        normaliseEmail(nu.Email),
		PasswordHash: nu.PasswordHash,
		IsAdmin:      nu.IsAdmin,
		CreatedAt:    time.Now().UTC().Truncate(time.Microsecond),
	}
	if u.Email == "" {
		return User{}, errors.New("create user: empty email")
	}
	insert := "INSERT INTO users (email, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?)"
	args := []any{u.Email, u.PasswordHash, u.IsAdmin, micros(u.CreatedAt)}
	var err error
	if s.d.returningID {
		err = s.db.QueryRowContext(ctx, s.d.rebind(insert+" RETURNING id"), args...).Scan(&u.ID)
	} else {
		var res sql.Result
		if res, err = s.db.ExecContext(ctx, insert, args...); err == nil {
			u.ID, err = res.LastInsertId()
		}
	}
	if err != nil {
		if s.d.isDuplicate(err) {
			return User{}, fmt.Errorf("create user %s: %w", u.Email, ErrDuplicate)
		}
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

func (s *sqlStore) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.d.rebind("SELECT "+userColumns+" FROM users WHERE email = ?"), normaliseEmail(email)))
	if err != nil {
		return User{}, fmt.Errorf("get user by email: %w", err)
	}
	return u, nil
}

func (s *sqlStore) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.d.rebind("SELECT "+userColumns+" FROM users WHERE id = ?"), id))
	if err != nil {
		return User{}, fmt.Errorf("get user %d: %w", id, err)
	}
	return u, nil
}
