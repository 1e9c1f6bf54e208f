-- Which gallery versions have migrated this database, and when (Unix microseconds,
-- UTC): `sortographer migrate` records its own version after migrating, so an admin
-- or a support request can read what ran against the data, and in which order.
-- Bookkeeping like schema_migrations, not gallery data: backups leave it out.
CREATE TABLE app_versions (
  version TEXT NOT NULL PRIMARY KEY,
  first_migrated_at BIGINT NOT NULL,
  last_migrated_at BIGINT NOT NULL
);
