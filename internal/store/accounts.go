package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Account administration: listing users, disabling them, and erasing an account
// (internal/accounts runs the erasure; this file holds its database steps).

// ErrLastAdmin: disabling or deleting this account would leave the Gallery without an
// enabled admin.
var ErrLastAdmin = errors.New("the last enabled admin")

// UserPageRequest asks for one page of the user list, in id order.
type UserPageRequest struct {
	// Limit is the page size: DefaultPageSize when zero, at most MaxPageSize.
	Limit int
	// AfterID is the last id of the previous page; zero for the first page.
	AfterID int64
}

// UserPage is one page of users.
type UserPage struct {
	Users []User
	// NextAfterID is the AfterID of the following page; zero on the last page.
	NextAfterID int64
}

// ListUsers implements Store.
func (s *sqlStore) ListUsers(ctx context.Context, page UserPageRequest) (UserPage, error) {
	limit := page.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT "+userColumns+" FROM users WHERE id > ? ORDER BY id LIMIT ?"), page.AfterID, limit+1)
	if err != nil {
		return UserPage{}, fmt.Errorf("list users: %w", err)
	}
	users, err := scanAll(rows, scanUser)
	if err != nil {
		return UserPage{}, fmt.Errorf("list users: %w", err)
	}
	out := UserPage{Users: users}
	if len(users) > limit {
		out.Users = users[:limit]
		out.NextAfterID = users[limit-1].ID
	}
	return out, nil
}

// SetUserDisabled implements Store.
func (s *sqlStore) SetUserDisabled(ctx context.Context, userID int64, disabled bool) error {
	if !disabled {
		return s.updateUser(ctx, fmt.Sprintf("enable user %d", userID),
			"UPDATE users SET disabled_at = NULL WHERE id = ? AND erase_requested_at IS NULL", userID)
	}
	return s.retireAccount(ctx, fmt.Sprintf("disable user %d", userID), "disabled_at", userID)
}

// RequestErasure implements Store.
func (s *sqlStore) RequestErasure(ctx context.Context, userID int64) error {
	return s.retireAccount(ctx, fmt.Sprintf("request erasure of user %d", userID), "erase_requested_at", userID)
}

// retireAccount sets column (disabled_at or erase_requested_at) of an account to now,
// unless it is set already, refusing with ErrLastAdmin when the account is the last
// enabled admin. The enabled admins' rows are locked first, in id order, so that two
// admins retiring each other at once cannot both succeed.
func (s *sqlStore) retireAccount(ctx context.Context, what, column string, userID int64) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.d.rebind("SELECT id FROM users WHERE is_admin = ? AND disabled_at IS NULL AND erase_requested_at IS NULL ORDER BY id"+s.d.forUpdate), true)
		if err != nil {
			return err
		}
		admins, err := scanAll(rows, scanValue[int64])
		if err != nil {
			return err
		}
		u, err := scanUser(tx.QueryRowContext(ctx, s.d.rebind("SELECT "+userColumns+" FROM users WHERE id = ?"+s.d.forUpdate), userID))
		if err != nil {
			return err
		}
		activeAdmin := u.IsAdmin && !u.Disabled() && !u.Erasing()
		if activeAdmin && len(admins) <= 1 {
			return ErrLastAdmin
		}
		_, err = tx.ExecContext(ctx, s.d.rebind("UPDATE users SET "+column+" = ? WHERE id = ? AND "+column+" IS NULL"),
			micros(time.Now()), userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// updateUser runs an UPDATE of one user's row whose last argument is the user's id,
// reporting ErrNotFound when no such user is left to update. (MySQL counts only rows
// it changed, so a row already as asked is read again rather than taken for missing.)
func (s *sqlStore) updateUser(ctx context.Context, what, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, s.d.rebind(query), args...)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			var u User
			if u, err = s.UserByID(ctx, args[len(args)-1].(int64)); err == nil && u.Erasing() {
				err = ErrNotFound
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// ErasuresPending implements Store.
func (s *sqlStore) ErasuresPending(ctx context.Context, limit int) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT id FROM users WHERE erase_requested_at IS NOT NULL ORDER BY erase_requested_at, id LIMIT ?"), limit)
	if err != nil {
		return nil, fmt.Errorf("list erasures pending: %w", err)
	}
	ids, err := scanAll(rows, scanValue[int64])
	if err != nil {
		return nil, fmt.Errorf("list erasures pending: %w", err)
	}
	return ids, nil
}

// erasedTables are the statements that delete what is left of an account being
// erased, children before parents. Each names the user once, by id.
var erasedTables = []struct{ table, where string }{
	{"shares", "owner_id = ?"},
	{"album_images", "album_id IN (SELECT id FROM albums WHERE owner_id = ?)"},
	{"albums", "owner_id = ?"},
	{"labels", "owner_id = ?"},
	{"image_texts", "owner_id = ?"},
	{"album_images", "image_id IN (SELECT id FROM images WHERE owner_id = ?)"},
	{"images", "owner_id = ?"},
}

// DeleteErasedUser implements Store.
func (s *sqlStore) DeleteErasedUser(ctx context.Context, userID int64) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, s.d.rebind("SELECT "+userColumns+" FROM users WHERE id = ?"+s.d.forUpdate), userID))
		if err != nil {
			return err
		}
		if !u.Erasing() {
			return fmt.Errorf("user %d was never asked to be erased", userID)
		}
		for _, t := range erasedTables {
			if _, err := tx.ExecContext(ctx, s.d.rebind("DELETE FROM "+t.table+" WHERE "+t.where), userID); err != nil {
				return fmt.Errorf("delete from %s: %w", t.table, err)
			}
		}
		_, err = tx.ExecContext(ctx, s.d.rebind("DELETE FROM users WHERE id = ?"), userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete erased user %d: %w", userID, err)
	}
	return nil
}
