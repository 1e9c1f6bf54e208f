package store

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// destructive matches what breaks the previous release's queries when the schema
// migrates under its running pods: a table or column dropped or renamed, a column's type
// or nullability changed.
var destructive = regexp.MustCompile(`(?i)\b(DROP\s+(TABLE|COLUMN|VIEW)|RENAME\s+(TO|COLUMN|TABLE)|ALTER\s+COLUMN|MODIFY\s+(COLUMN\s+)?\w+|CHANGE\s+(COLUMN\s+)?\w+\s+\w+|TRUNCATE)\b`)

// releaseMarker names, in a migration that removes something, the release that stopped
// reading it: "-- destructive: unused since v0.4.0".
var releaseMarker = regexp.MustCompile(`(?m)^--\s*destructive:\s*unused since v\d+\.\d+\.\d+\s*$`)

// Every migration is additive for one release (docs/upgrading.md, version skew): during
// a rolling upgrade the previous release's pods run against the migrated schema, and a
// rollback needs no down-migration. One that drops or renames must say which release
// stopped using what it removes.
func TestMigrationsAreAdditive(t *testing.T) {
	for _, dialect := range []string{"mysql", "postgres", "sqlite"} {
		ms, err := migrations(dialect)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 || ms[len(ms)-1].version != LatestSchemaVersion {
			t.Fatalf("%s: newest migration is not LatestSchemaVersion %d", dialect, LatestSchemaVersion)
		}
		for _, m := range ms {
			body, err := migrationFiles.ReadFile("migrations/" + dialect + "/" + fileName(m))
			if err != nil {
				t.Fatal(err)
			}
			for _, stmt := range m.statements {
				if hit := destructive.FindString(withoutComments(stmt)); hit != "" && !releaseMarker.Match(body) {
					t.Errorf("%s %04d_%s: %q is not additive; mark the file \"-- destructive: unused since vX.Y.Z\" once the release before it stopped using what it removes",
						dialect, m.version, m.name, hit)
				}
			}
		}
	}
}

func fileName(m migration) string { return fmt.Sprintf("%04d_%s.sql", m.version, m.name) }

func withoutComments(stmt string) string {
	var lines []string
	for _, l := range strings.Split(stmt, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

func TestDestructiveStatementsAreRecognised(t *testing.T) {
	for stmt, want := range map[string]bool{
		"ALTER TABLE images DROP COLUMN size":               true,
		"DROP TABLE shares":                                 true,
		"ALTER TABLE images RENAME COLUMN a TO b":           true,
		"ALTER TABLE images MODIFY COLUMN name TEXT":        true,
		"ALTER TABLE images ALTER COLUMN name SET NOT NULL": true,
		"ALTER TABLE images ADD COLUMN taken_at BIGINT":     false,
		"CREATE INDEX images_by_owner ON images (owner)":    false,
		"CREATE TABLE IF NOT EXISTS app_versions (v INT)":   false,
	} {
		if got := destructive.MatchString(stmt); got != want {
			t.Errorf("%q destructive = %v, want %v", stmt, got, want)
		}
	}
}
