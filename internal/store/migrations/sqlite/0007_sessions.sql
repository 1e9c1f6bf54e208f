-- Sign-in sessions (#19): one row per signed-in browser or API client, so that a
-- session can be revoked (sign-out, sign out everywhere, a password change, an admin
-- disabling the account) on every server replica. The token itself is never stored:
-- token_hash is HMAC-SHA256 of it under the Gallery's session key, hex. Times are Unix
-- microseconds (UTC). Sessions are not backed up (store.TransientTables): a restored
-- gallery signs everyone in again.
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY,
  token_hash TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  remember INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  renewed_at INTEGER NOT NULL,
  idle_expires_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  user_agent TEXT NOT NULL DEFAULT '',
  CONSTRAINT sessions_token_hash UNIQUE (token_hash)
);

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_idle_expires ON sessions (idle_expires_at);
