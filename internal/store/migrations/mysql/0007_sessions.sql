-- Sign-in sessions (#19): one row per signed-in browser or API client, so that a
-- session can be revoked (sign-out, sign out everywhere, a password change, an admin
-- disabling the account) on every server replica. The token itself is never stored:
-- token_hash is HMAC-SHA256 of it under the Gallery's session key, hex. Times are Unix
-- microseconds (UTC). Sessions are not backed up (store.TransientTables): a restored
-- gallery signs everyone in again.
CREATE TABLE sessions (
  id BIGINT NOT NULL AUTO_INCREMENT,
  token_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id BIGINT NOT NULL,
  remember BOOLEAN NOT NULL DEFAULT FALSE,
  created_at BIGINT NOT NULL,
  renewed_at BIGINT NOT NULL,
  idle_expires_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  user_agent VARCHAR(255) NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  UNIQUE KEY sessions_token_hash (token_hash),
  KEY sessions_user (user_id),
  KEY sessions_idle_expires (idle_expires_at),
  CONSTRAINT sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
