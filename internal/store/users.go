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

const userColumns = "id, email, password_hash, is_admin, created_at, oidc_issuer, oidc_subject, display_name, quota_bytes, quota_photos, used_bytes, used_photos, disabled_at, erase_requested_at"

func normaliseEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func scanUser(row rowScanner) (User, error) {
	var u User
	var created int64
	var issuer, subject sql.NullString
	var quotaBytes, quotaPhotos, disabled, erase sql.NullInt64
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.IsAdmin, &created, &issuer, &subject, &u.DisplayName,
		&quotaBytes, &quotaPhotos, &u.UsedBytes, &u.UsedPhotos, &disabled, &erase); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return User{}, ErrNotFound
		}
		return User{}, err
	}
	u.CreatedAt = fromMicros(created)
	u.OIDCIssuer, u.OIDCSubject = issuer.String, subject.String
	u.QuotaOverride = QuotaOverride{Bytes: nullInt(quotaBytes), Photos: nullInt(quotaPhotos)}
	u.DisabledAt = fromNullMicros(disabled)
	u.EraseRequestedAt = fromNullMicros(erase)
	return u, nil
}

// nullIfEmpty stores an absent OIDC identity as NULL, which a unique index lets many
// local accounts share.
func nullIfEmpty(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func (s *sqlStore) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	u := User{
		Email:        normaliseEmail(nu.Email),
		PasswordHash: nu.PasswordHash,
		IsAdmin:      nu.IsAdmin,
		CreatedAt:    time.Now().UTC().Truncate(time.Microsecond),
		OIDCIssuer:   nu.OIDCIssuer,
		OIDCSubject:  nu.OIDCSubject,
		DisplayName:  nu.DisplayName,
	}
	if u.Email == "" {
		return User{}, errors.New("create user: empty email")
	}
	if (u.OIDCIssuer == "") != (u.OIDCSubject == "") {
		return User{}, errors.New("create user: an OIDC identity needs both issuer and subject")
	}
	insert := "INSERT INTO users (email, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?)"
	args := []any{u.Email, u.PasswordHash, u.IsAdmin, micros(u.CreatedAt)}
	if u.OIDCIssuer != "" || u.DisplayName != "" {
		// Named only when set, so that a local account is created the same way on a
		// database from before migration 0009 (the backup tests make one).
		insert = "INSERT INTO users (email, password_hash, is_admin, created_at, oidc_issuer, oidc_subject, display_name) VALUES (?, ?, ?, ?, ?, ?, ?)"
		args = append(args, nullIfEmpty(u.OIDCIssuer), nullIfEmpty(u.OIDCSubject), u.DisplayName)
	}
	var err error
	if u.ID, err = s.insertID(ctx, insert, args...); err != nil {
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

func (s *sqlStore) UserByOIDC(ctx context.Context, issuer, subject string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.d.rebind("SELECT "+userColumns+" FROM users WHERE oidc_issuer = ? AND oidc_subject = ?"), issuer, subject))
	if err != nil {
		return User{}, fmt.Errorf("get user by oidc identity: %w", err)
	}
	return u, nil
}

func (s *sqlStore) LinkOIDC(ctx context.Context, userID int64, issuer, subject string) error {
	if issuer == "" || subject == "" {
		return errors.New("link oidc identity: empty issuer or subject")
	}
	// Only an unlinked account is linked: a user linked to one identity is never moved
	// to another by a later sign-in.
	res, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE users SET oidc_issuer = ?, oidc_subject = ? WHERE id = ? AND oidc_issuer IS NULL"), issuer, subject, userID)
	if err != nil {
		if s.d.isDuplicate(err) {
			return fmt.Errorf("link user %d to an oidc identity: %w", userID, ErrDuplicate)
		}
		return fmt.Errorf("link user %d to an oidc identity: %w", userID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("link user %d to an oidc identity: %w", userID, err)
	} else if n == 0 {
		if _, err := s.UserByID(ctx, userID); err != nil {
			return fmt.Errorf("link user %d to an oidc identity: %w", userID, err)
		}
		return fmt.Errorf("link user %d to an oidc identity: already linked: %w", userID, ErrDuplicate)
	}
	return nil
}

func (s *sqlStore) UpdateOIDCProfile(ctx context.Context, userID int64, displayName string, isAdmin bool) error {
	res, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE users SET display_name = ?, is_admin = ? WHERE id = ?"), displayName, isAdmin, userID)
	if err != nil {
		return fmt.Errorf("update user %d profile: %w", userID, err)
	}
	// MySQL counts changed rows only, so an unchanged profile affects none: look the
	// user up to tell that from a missing one.
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		if _, err := s.UserByID(ctx, userID); err != nil {
			return fmt.Errorf("update user %d profile: %w", userID, err)
		}
	}
	return nil
}

func (s *sqlStore) HasAdmin(ctx context.Context) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, "SELECT 1 FROM users WHERE is_admin = TRUE LIMIT 1").Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look for an admin: %w", err)
	}
	return true, nil
}

// insertID runs an INSERT into a table with an auto-increment id and returns the new
// row's id: RETURNING id where the driver has no LastInsertId (PostgreSQL).
func (s *sqlStore) insertID(ctx context.Context, insert string, args ...any) (int64, error) {
	var id int64
	if s.d.returningID {
		err := s.db.QueryRowContext(ctx, s.d.rebind(insert+" RETURNING id"), args...).Scan(&id)
		return id, err
	}
	res, err := s.db.ExecContext(ctx, insert, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}
