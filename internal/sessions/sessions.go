// Package sessions keeps sign-in sessions on the server, so that they can be revoked.
//
// A session token is 32 random bytes (base64url, 43 characters) that means nothing by
// itself: the database row (store.Session, found by an HMAC-SHA256 of the token under
// the Gallery's session key) decides whether it is good. Revoking a session deletes its
// row, so sign-out, "sign out everywhere", a password change and an administrator
// disabling or deleting an account end the session on every server replica.
//
// Rows are cached in Redis, which every replica shares, for CacheTTL. A revocation
// deletes the row first and then replaces the cached copy with a tombstone that
// refuses the token until the cache entry would have expired anyway, so a replica that
// read the row a moment before the revocation cannot put it back in the cache. With
// Redis unreachable every check reads the database (the source of truth): sessions
// keep working and revocation stays immediate; a tombstone that could not be written
// then leaves a copy cached from before the outage good for at most CacheTTL, should
// Redis come back with its data.
//
// Lifetimes: a session ends after its idle lifetime unused (Options.Lifetime, or
// RememberLifetime for "remember me"), renewed while it is used, and in any case
// MaxLifetime after the sign-in (the absolute lifetime), when the user must sign in
// again.
package sessions

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/store"
)

// ErrInvalid: a token that is malformed, unknown, revoked or expired. Callers answer
// 401 without saying which.
var ErrInvalid = errors.New("invalid, revoked or expired session")

// Store is what sessions needs of the database.
type Store interface {
	CreateSession(ctx context.Context, s store.Session) (store.Session, error)
	SessionByTokenHash(ctx context.Context, tokenHash string) (store.Session, error)
	RenewSession(ctx context.Context, id int64, renewedAt, idleExpiresAt time.Time) error
	SessionsOfUser(ctx context.Context, userID int64) ([]store.Session, error)
	DeleteSession(ctx context.Context, userID, id int64) (store.Session, error)
	DeleteUserSessions(ctx context.Context, userID, exceptID int64) ([]string, error)
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
}

// MinKeyBytes is the shortest session key accepted (HMAC-SHA256 wants 256 bits).
const MinKeyBytes = 32

// CacheTTL is how long a replica may serve a session from the Redis cache without
// reading its row. It bounds how long a revocation made while Redis was unreachable can
// go unseen (see the package comment); a revocation with Redis up is seen at once.
const CacheTTL = time.Minute

// tokenBytes is a token's entropy: 256 bits.
const tokenBytes = 32

// tokenLength is a token's length in base64url without padding.
var tokenLength = base64.RawURLEncoding.EncodedLen(tokenBytes)

// sweepEvery is how often Start also deletes expired rows, for every user.
const sweepEvery = 10 * time.Minute

// Options configure a Manager.
type Options struct {
	// Key is the Gallery's session key (auth.LoadKey), at least MinKeyBytes: tokens are
	// stored as HMAC-SHA256 under it, so a copy of the database gives no usable token
	// and no way to test a guessed one offline.
	Key []byte
	// Lifetime ends a session left unused this long; RememberLifetime, a "remember me"
	// one. MaxLifetime ends any session this long after its sign-in, however it is
	// used. All positive.
	Lifetime, RememberLifetime, MaxLifetime time.Duration
	// Redis caches session rows for every replica; Prefix starts its keys
	// (config.RedisPrefix). Nil: no cache, every check reads the database (one
	// process, the embedded default).
	Redis  redis.UniversalClient
	Prefix string
	Log    *slog.Logger
}

// Manager starts, checks and revokes sessions.
type Manager struct {
	st  Store
	o   Options
	log *slog.Logger
	// Now is the clock; tests replace it before use.
	Now func() time.Time

	sweepMu   sync.Mutex
	lastSweep time.Time
	// lastCacheWarning throttles the warnings of an unreachable Redis (Unix nanoseconds):
	// every request would log two otherwise.
	lastCacheWarning atomic.Int64
}

// cacheWarningEvery is how often an unreachable cache is logged.
const cacheWarningEvery = time.Minute

// cacheWarning logs a failed cache operation, at most once every cacheWarningEvery.
func (m *Manager) cacheWarning(msg string, args ...any) {
	now, last := time.Now().UnixNano(), m.lastCacheWarning.Load()
	if now-last < int64(cacheWarningEvery) || !m.lastCacheWarning.CompareAndSwap(last, now) {
		return
	}
	m.log.Warn(msg, args...)
}

// New makes a Manager over st.
func New(st Store, o Options) (*Manager, error) {
	if len(o.Key) < MinKeyBytes {
		return nil, fmt.Errorf("session key: %d bytes, need at least %d", len(o.Key), MinKeyBytes)
	}
	if o.Lifetime <= 0 || o.RememberLifetime <= 0 || o.MaxLifetime <= 0 {
		return nil, errors.New("session lifetimes must be positive")
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{st: st, o: o, log: log, Now: time.Now}, nil
}

// Session is a checked session: its row, and the token's hash for revoking it.
type Session = store.Session

// idleLifetime is how long s lasts unused.
func (m *Manager) idleLifetime(remember bool) time.Duration {
	if remember {
		return m.o.RememberLifetime
	}
	return m.o.Lifetime
}

// renewEvery is how stale a session's renewal may get before a use writes a new one: a
// 24th of its idle lifetime, at most an hour, so an active session costs at most one
// write an hour and its idle expiry is late by no more than that.
func (m *Manager) renewEvery(remember bool) time.Duration {
	return min(m.idleLifetime(remember)/24, time.Hour)
}

func (m *Manager) now() time.Time { return m.Now().UTC().Truncate(time.Microsecond) }

// hash is what the database keeps of a token.
func (m *Manager) hash(token string) string {
	mac := hmac.New(sha256.New, m.o.Key)
	mac.Write([]byte(token))
	return hex.EncodeToString(mac.Sum(nil))
}

// Start signs a user in: a new session (and token, which only the client keeps).
// userAgent is shown in the user's list of sessions.
func (m *Manager) Start(ctx context.Context, userID int64, remember bool, userAgent string) (string, Session, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", Session{}, fmt.Errorf("make session token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	now := m.now()
	s := Session{
		TokenHash: m.hash(token), UserID: userID, Remember: remember,
		CreatedAt: now, RenewedAt: now, ExpiresAt: now.Add(m.o.MaxLifetime), UserAgent: userAgent,
	}
	s.IdleExpiresAt = minTime(now.Add(m.idleLifetime(remember)), s.ExpiresAt)
	s, err := m.st.CreateSession(ctx, s)
	if err != nil {
		return "", Session{}, fmt.Errorf("start session: %w", err)
	}
	m.sweep(ctx, now)
	return token, s, nil
}

// sweep deletes expired sessions now and then, so rows of users who never come back do
// not pile up. Best effort: a failure is logged, not returned.
func (m *Manager) sweep(ctx context.Context, now time.Time) {
	m.sweepMu.Lock()
	due := now.Sub(m.lastSweep) >= sweepEvery
	if due {
		m.lastSweep = now
	}
	m.sweepMu.Unlock()
	if !due {
		return
	}
	if n, err := m.st.DeleteExpiredSessions(ctx, now); err != nil {
		m.log.Warn("deleting expired sessions failed", "error", err)
	} else if n > 0 {
		m.log.Info("deleted expired sessions", "sessions", n)
	}
}

// Check returns the session a token belongs to, renewing it when due; ErrInvalid when
// the token is malformed, unknown, revoked or expired. Other errors (the database
// unreachable) are the caller's to report as such, not as a bad token.
func (m *Manager) Check(ctx context.Context, token string) (Session, error) {
	if len(token) != tokenLength {
		return Session{}, ErrInvalid
	}
	hash := m.hash(token)
	s, cached, err := m.load(ctx, hash)
	if err != nil {
		return Session{}, err
	}
	now := m.now()
	if !now.Before(s.ExpiresAt) {
		return Session{}, fmt.Errorf("%w: past its absolute lifetime", ErrInvalid)
	}
	if !now.Before(s.IdleExpiresAt) && cached {
		// The cached copy may predate a renewal by another replica: ask the database.
		if s, err = m.fromDatabase(ctx, hash); err != nil {
			return Session{}, err
		}
	}
	if !now.Before(s.IdleExpiresAt) {
		return Session{}, fmt.Errorf("%w: idle too long", ErrInvalid)
	}
	if now.Sub(s.RenewedAt) >= m.renewEvery(s.Remember) {
		idle := minTime(now.Add(m.idleLifetime(s.Remember)), s.ExpiresAt)
		err := m.st.RenewSession(ctx, s.ID, now, idle)
		if errors.Is(err, store.ErrNotFound) {
			m.evict(ctx, hash) // revoked meanwhile
			return Session{}, fmt.Errorf("%w: revoked", ErrInvalid)
		}
		if err != nil {
			return Session{}, fmt.Errorf("renew session: %w", err)
		}
		s.RenewedAt, s.IdleExpiresAt = now, idle
		m.refresh(ctx, s)
	}
	return s, nil
}

// load finds a session by token hash: from the cache, else from the database (and then
// into the cache). cached says which.
func (m *Manager) load(ctx context.Context, hash string) (Session, bool, error) {
	if m.o.Redis != nil {
		v, err := m.o.Redis.Get(ctx, m.cacheKey(hash)).Result()
		switch {
		case err == nil && v == tombstone:
			return Session{}, false, fmt.Errorf("%w: revoked", ErrInvalid)
		case err == nil:
			var s Session
			if jerr := json.Unmarshal([]byte(v), &s); jerr == nil && s.TokenHash == hash {
				return s, true, nil
			}
		case !errors.Is(err, redis.Nil):
			m.cacheWarning("session cache unavailable; reading the database", "error", err)
		}
	}
	s, err := m.fromDatabase(ctx, hash)
	if err != nil {
		return Session{}, false, err
	}
	m.fill(ctx, s)
	return s, false, nil
}

func (m *Manager) fromDatabase(ctx context.Context, hash string) (Session, error) {
	s, err := m.st.SessionByTokenHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, fmt.Errorf("%w: no such session", ErrInvalid)
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	return s, nil
}

// tombstone is the cached value of a revoked session.
const tombstone = "revoked"

func (m *Manager) cacheKey(hash string) string { return m.o.Prefix + "session:" + hash }

// fill caches a session read from the database, unless a tombstone (or a fresher copy)
// is there: SET NX.
func (m *Manager) fill(ctx context.Context, s Session) {
	if m.o.Redis == nil {
		return
	}
	b, err := json.Marshal(s)
	if err != nil {
		return
	}
	if err := m.o.Redis.SetNX(ctx, m.cacheKey(s.TokenHash), b, CacheTTL).Err(); err != nil {
		m.cacheWarning("caching a session failed", "error", err)
	}
}

// refreshScript replaces a cached session, keeping its expiry, unless it is a
// tombstone or gone.
var refreshScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[2] then redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') end
return 0
`)

// refresh puts a renewed session in the cache in place of its older copy.
func (m *Manager) refresh(ctx context.Context, s Session) {
	if m.o.Redis == nil {
		return
	}
	b, err := json.Marshal(s)
	if err != nil {
		return
	}
	if err := refreshScript.Run(ctx, m.o.Redis, []string{m.cacheKey(s.TokenHash)}, string(b), tombstone).Err(); err != nil {
		m.cacheWarning("refreshing a cached session failed", "error", err)
	}
}

// evict replaces cached sessions with tombstones, after their rows were deleted. The
// context is detached from the request's cancellation: a client that hangs up must
// not leave a revoked session cached.
func (m *Manager) evict(ctx context.Context, hashes ...string) {
	if m.o.Redis == nil || len(hashes) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := m.o.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, h := range hashes {
			p.Set(ctx, m.cacheKey(h), tombstone, CacheTTL)
		}
		return nil
	})
	if err != nil {
		m.log.Warn("marking revoked sessions in the cache failed; cached copies expire within the cache lifetime",
			"error", err, "sessions", len(hashes), "cacheTtl", CacheTTL.String())
	}
}

// End revokes the session of a token (sign-out). An unknown token is not an error.
func (m *Manager) End(ctx context.Context, token string) error {
	if len(token) != tokenLength {
		return nil
	}
	hash := m.hash(token)
	s, err := m.st.SessionByTokenHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		m.evict(ctx, hash)
		return nil
	}
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return m.Revoke(ctx, s.UserID, s.ID)
}

// Revoke ends one of a user's sessions; another user's, or a missing one, is
// store.ErrNotFound.
func (m *Manager) Revoke(ctx context.Context, userID, sessionID int64) error {
	s, err := m.st.DeleteSession(ctx, userID, sessionID)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	m.evict(ctx, s.TokenHash)
	return nil
}

// RevokeUserSessions ends every session of a user, on every replica within the time a
// Redis write takes (CacheTTL at worst with Redis unreachable). Call it when an account
// is disabled, deleted, or loses a role: whatever the user's sessions were allowed is
// then asked again at their next sign-in.
func (m *Manager) RevokeUserSessions(ctx context.Context, userID int64) error {
	return m.RevokeOtherSessions(ctx, userID, 0)
}

// RevokeOtherSessions ends every session of a user but keepID ("sign out everywhere
// else", a password change).
func (m *Manager) RevokeOtherSessions(ctx context.Context, userID, keepID int64) error {
	hashes, err := m.st.DeleteUserSessions(ctx, userID, keepID)
	if err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	m.evict(ctx, hashes...)
	return nil
}

// List returns a user's sessions that have not expired, newest first.
func (m *Manager) List(ctx context.Context, userID int64) ([]Session, error) {
	all, err := m.st.SessionsOfUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	now := m.now()
	live := all[:0]
	for _, s := range all {
		if now.Before(s.IdleExpiresAt) && now.Before(s.ExpiresAt) {
			live = append(live, s)
		}
	}
	return live, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
