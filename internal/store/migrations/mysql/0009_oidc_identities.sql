-- Single sign-on (#19): an account signed in through the OpenID provider is linked to
-- its identity there, (oidc_issuer, oidc_subject), which is unique: a second account
-- can never claim the same person. Both are NULL for local accounts (NULLs are distinct
-- in a unique index). OpenID Connect caps a subject at 255 ASCII characters; the
-- operator caps the issuer URL at 255 too, which keeps the index within InnoDB's 3072
-- bytes. display_name is the provider's name claim, refreshed at every OIDC sign-in;
-- empty for local accounts.
ALTER TABLE users
  ADD COLUMN oidc_issuer VARCHAR(255) NULL,
  ADD COLUMN oidc_subject VARCHAR(255) NULL,
  ADD COLUMN display_name VARCHAR(255) NOT NULL DEFAULT '',
  ADD UNIQUE KEY users_oidc_identity (oidc_issuer, oidc_subject);
