package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Sessions: one row per signed-in client (migration 0007). The row decides whether a
// session token is good: internal/sessions hashes the token, finds the row, renews it
// while it is used and deletes it to revoke it. Sessions are not backed up
// (TransientTables).

// Session is one signed-in browser or API client.
type Session struct {
	ID int64
	// TokenHash identifies the session's token without being it (internal/sessions
	// makes it); the token itself is never stored.
	TokenHash string
	UserID    int64
	// Remember: a "remember me" session, with the longer idle lifetime.
	Remember bool
	// CreatedAt is the sign-in; RenewedAt the last time use pushed IdleExpiresAt on.
	CreatedAt time.Time
	RenewedAt time.Time
	// IdleExpiresAt ends the session unless it is renewed first; ExpiresAt ends it
	// whatever happens (the absolute lifetime). IdleExpiresAt is never after ExpiresAt.
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
	// UserAgent is the client's User-Agent at sign-in, cut to MaxUserAgentBytes, so the
	// user can tell their sessions apart.
	UserAgent string
}

// MaxUserAgentBytes is the longest user agent a session keeps.
const MaxUserAgentBytes = 255

const sessionColumns = "id, token_hash, user_id, remember, created_at, renewed_at, idle_expires_at, expires_at, user_agent"

func scanSession(row rowScanner) (Session, error) {
	var ss Session
	var created, renewed, idle, expires int64
	if err := row.Scan(&ss.ID, &ss.TokenHash, &ss.UserID, &ss.Remember, &created, &renewed, &idle, &expires, &ss.UserAgent); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Session{}, ErrNotFound
		}
		return Session{}, err
	}
	ss.CreatedAt, ss.RenewedAt = fromMicros(created), fromMicros(renewed)
	ss.IdleExpiresAt, ss.ExpiresAt = fromMicros(idle), fromMicros(expires)
	return ss, nil
}

// cutUserAgent keeps at most MaxUserAgentBytes of ua, whole characters only.
func cutUserAgent(ua string) string {
	ua = strings.ToValidUTF8(ua, "")
	if len(ua) <= MaxUserAgentBytes {
		return ua
	}
	cut := ua[:MaxUserAgentBytes]
	for !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	return cut
}

func (s *sqlStore) CreateSession(ctx context.Context, ss Session) (Session, error) {
	if ss.TokenHash == "" || ss.UserID <= 0 {
		return Session{}, errors.New("create session: token hash and user are required")
	}
	ss.UserAgent = cutUserAgent(ss.UserAgent)
	for _, t := range []*time.Time{&ss.CreatedAt, &ss.RenewedAt, &ss.IdleExpiresAt, &ss.ExpiresAt} {
		*t = t.UTC().Truncate(time.Microsecond)
	}
	insert := "INSERT INTO sessions (token_hash, user_id, remember, created_at, renewed_at, idle_expires_at, expires_at, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
	args := []any{ss.TokenHash, ss.UserID, ss.Remember, micros(ss.CreatedAt), micros(ss.RenewedAt), micros(ss.IdleExpiresAt), micros(ss.ExpiresAt), ss.UserAgent}
	var err error
	if ss.ID, err = s.insertID(ctx, insert, args...); err != nil {
		return Session{}, fmt.Errorf("create session for user %d: %w", ss.UserID, err)
	}
	return ss, nil
}

func (s *sqlStore) SessionByTokenHash(ctx context.Context, tokenHash string) (Session, error) {
	ss, err := scanSession(s.db.QueryRowContext(ctx, s.d.rebind("SELECT "+sessionColumns+" FROM sessions WHERE token_hash = ?"), tokenHash))
	if err != nil {
		return Session{}, fmt.Errorf("get session: %w", err)
	}
	return ss, nil
}

func (s *sqlStore) RenewSession(ctx context.Context, id int64, renewedAt, idleExpiresAt time.Time) error {
	return s.execOne(ctx, fmt.Sprintf("renew session %d", id),
		"UPDATE sessions SET renewed_at = ?, idle_expires_at = ? WHERE id = ?",
		micros(renewedAt), micros(idleExpiresAt), id)
}

func (s *sqlStore) SessionsOfUser(ctx context.Context, userID int64) ([]Session, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT "+sessionColumns+" FROM sessions WHERE user_id = ? ORDER BY created_at DESC, id DESC"), userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
	}
	out, err := scanAll(rows, scanSession)
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
	}
	return out, nil
}

func (s *sqlStore) DeleteSession(ctx context.Context, userID, id int64) (Session, error) {
	var ss Session
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		ss, err = scanSession(tx.QueryRowContext(ctx, s.d.rebind("SELECT "+sessionColumns+" FROM sessions WHERE id = ? AND user_id = ?"), id, userID))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.d.rebind("DELETE FROM sessions WHERE id = ?"), id)
		return err
	})
	if err != nil {
		return Session{}, fmt.Errorf("delete session %d of user %d: %w", id, userID, err)
	}
	return ss, nil
}

func (s *sqlStore) DeleteUserSessions(ctx context.Context, userID, exceptID int64) ([]string, error) {
	var hashes []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.d.rebind("SELECT id, token_hash FROM sessions WHERE user_id = ? AND id <> ?"), userID, exceptID)
		if err != nil {
			return err
		}
		type row struct {
			id   int64
			hash string
		}
		found, err := scanAll(rows, func(r rowScanner) (row, error) {
			var v row
			return v, r.Scan(&v.id, &v.hash)
		})
		if err != nil || len(found) == 0 {
			return err
		}
		// By id, the rows just read: the caller evicts exactly these from its cache.
		ids := make([]any, len(found))
		hashes = make([]string, len(found))
		for i, f := range found {
			ids[i], hashes[i] = f.id, f.hash
		}
		_, err = tx.ExecContext(ctx, s.d.rebind("DELETE FROM sessions WHERE id IN ("+placeholders(len(ids))+")"), ids...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("delete sessions of user %d: %w", userID, err)
	}
	return hashes, nil
}

func (s *sqlStore) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.d.rebind("DELETE FROM sessions WHERE idle_expires_at <= ?"), micros(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}

func (s *sqlStore) RemovePassword(ctx context.Context, userID int64) error {
	return s.execOne(ctx, fmt.Sprintf("remove password of user %d", userID),
		"UPDATE users SET password_hash = '' WHERE id = ?", userID)
}

func (s *sqlStore) SetPasswordHash(ctx context.Context, userID int64, hash string) error {
	if hash == "" {
		return errors.New("set password: empty hash")
	}
	return s.execOne(ctx, fmt.Sprintf("set password of user %d", userID),
		"UPDATE users SET password_hash = ? WHERE id = ?", hash, userID)
}
