-- Single sign-on (#19): an account signed in through the OpenID provider is linked to
-- its identity there, (oidc_issuer, oidc_subject), which is unique: a second account
-- can never claim the same person. Both are NULL for local accounts (NULLs are distinct
-- in a unique index). display_name is the provider's name claim, refreshed at every
-- OIDC sign-in; empty for local accounts.
ALTER TABLE users ADD COLUMN oidc_issuer TEXT COLLATE "C" NULL;
ALTER TABLE users ADD COLUMN oidc_subject TEXT COLLATE "C" NULL;
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX users_oidc_identity ON users (oidc_issuer, oidc_subject);
