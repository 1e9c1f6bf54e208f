package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fillForBackup gives s a little of everything a backup must carry: an admin and a
// user, labelled, queued and failed images, an image marked for reclassification, an
// album, share links to an image and to the album (one expiring), and the text read in
// a photo.
func fillForBackup(t *testing.T, s Store) {
	t.Helper()
	ctx := ctxFor(t)
	admin, err := s.CreateUser(ctx, NewUser{Email: "admin@example.com", PasswordHash: "$2a$10$hash", IsAdmin: true})
	if err != nil {
		t.Fatal(err)
	}
	ann := user(t, s, "ann@example.com")
	// ann signs in through single sign-on too: her identity and display name (#19).
	if err := s.LinkOIDC(ctx, ann.ID, "https://login.example.edu/realms/uni", "ann-subject"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateOIDCProfile(ctx, ann.ID, "Ann Ötzi 앤", false); err != nil {
		t.Fatal(err)
	}
	a1 := image(t, s, ann, base)
	labelled(t, s, a1, "dog", "beach")
	a2 := image(t, s, ann, base.Add(time.Minute))
	read(t, s, a2, "고양이 카페\nCAT CAFÉ", Label{Name: "cat", Confidence: 90})
	image(t, s, ann, base.Add(2*time.Minute)) // still queued
	failed := image(t, s, admin, base.Add(3*time.Minute))
	if err := s.MarkFailed(ctx, failed.ID, "unreadable: ünïcode reason"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequestReclassify(ctx, ann.ID, a1.ID); err != nil {
		t.Fatal(err)
	}
	album, err := s.CreateAlbum(ctx, ann.ID, "Summer ☀ 2026")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddToAlbum(ctx, ann.ID, album.ID, []string{a1.ID, a2.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateShare(ctx, NewShare{OwnerID: ann.ID, ImageID: a1.ID, TokenHash: strings.Repeat("a", 64)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateShare(ctx, NewShare{OwnerID: ann.ID, AlbumID: album.ID, TokenHash: strings.Repeat("b", 64), ExpiresAt: base.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Account administration (migration 0008): a quota override and a disabled account.
	photos := int64(100)
	if err := s.SetUserQuota(ctx, ann.ID, nil, &photos); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserDisabled(ctx, ann.ID, true); err != nil {
		t.Fatal(err)
	}
}

// assertAccountsRestored checks what fillForBackup set of ann's account survived.
func assertAccountsRestored(t *testing.T, s Store) {
	t.Helper()
	ann, err := s.UserByEmail(ctxFor(t), "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ann.UsedPhotos != 3 || ann.UsedBytes != 3*1234 || ann.QuotaOverride.Bytes != nil ||
		ann.QuotaOverride.Photos == nil || *ann.QuotaOverride.Photos != 100 || !ann.Disabled() || ann.Erasing() {
		t.Errorf("restored account %+v: want 3 photos of 1234 bytes, a 100-photo override, disabled", ann)
	}
}

// dumpAll reads every table through a snapshot, booleans as integers so that
// databases compare equal.
func dumpAll(t *testing.T, s Store) map[string][]string {
	t.Helper()
	sn, err := OpenSnapshot(ctxFor(t), s)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sn.Close() }()
	out := map[string][]string{}
	for _, tb := range BackupTables {
		err := sn.Rows(ctxFor(t), tb.Name, func(cols []string, vals []any) error {
			var b strings.Builder
			for i, c := range cols {
				fmt.Fprintf(&b, "%s=%#v ", c, coerce(vals[i], "INTEGER"))
			}
			out[tb.Name] = append(out[tb.Name], b.String())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// A snapshot of each database restores into each database (even another kind) with
// every row equal; the restored database then works: a new sign-up gets a fresh id.
func TestRestoreFromSnapshotOnEveryDatabase(t *testing.T) {
	for _, from := range backends {
		t.Run("from "+from.name, func(t *testing.T) {
			t.Parallel()
			src := openFresh(t, from)
			if err := src.Migrate(ctxFor(t)); err != nil {
				t.Fatal(err)
			}
			fillForBackup(t, src)
			want := dumpAll(t, src)
			n := 0
			for _, rows := range want {
				n += len(rows)
			}
			if n != 2+4+3+1+1+2+2 {
				t.Fatalf("the source holds %d rows, want 15: %v", n, want)
			}
			for _, to := range backends {
				t.Run("to "+to.name, func(t *testing.T) {
					dst := openFresh(t, to)
					sn, err := OpenSnapshot(ctxFor(t), src)
					if err != nil {
						t.Fatal(err)
					}
					defer func() { _ = sn.Close() }()
					if err := Restore(ctxFor(t), dst, sn.SchemaVersion(), sn); err != nil {
						t.Fatalf("Restore: %v", err)
					}
					if got := dumpAll(t, dst); !reflect.DeepEqual(got, want) {
						t.Fatalf("restored rows differ:\ngot  %v\nwant %v", got, want)
					}
					assertAccountsRestored(t, dst)
					if v, err := dst.SchemaVersion(ctxFor(t)); err != nil || v != LatestSchemaVersion {
						t.Errorf("restored schema version %d, %v; want %d", v, err, LatestSchemaVersion)
					}
					u, err := dst.CreateUser(ctxFor(t), NewUser{Email: "new@example.com", PasswordHash: "h"})
					if err != nil {
						t.Fatalf("sign-up after restore: %v", err)
					}
					if u.ID <= 2 {
						t.Errorf("new user's id %d collides with a restored one", u.ID)
					}
					// The restored account is still linked to its identity.
					if got, err := dst.UserByOIDC(ctxFor(t), "https://login.example.edu/realms/uni", "ann-subject"); err != nil || got.DisplayName != "Ann Ötzi 앤" {
						t.Errorf("ann's identity after restore = %+v, %v", got, err)
					}
					// The restored text is in the full-text index.
					if p, err := dst.Search(ctxFor(t), 2, []string{"고양이"}, PageRequest{}); err != nil || len(p.Results) != 1 {
						t.Errorf("search of the restored text = %+v, %v; want one photo", p, err)
					}
				})
			}
		})
	}
}

// A backup taken before image_texts existed (schema version 5) restores: without the
// table's rows, and then migrated to the latest version, where text works.
func TestRestoreFromBeforeTheTextTable(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			src := openFresh(t, b)
			if err := src.MigrateTo(ctxFor(t), 5); err != nil {
				t.Fatal(err)
			}
			ann := user(t, src, "ann@example.com")
			// The schema before the quota's usage columns (migration 0008): the row as
			// that version's CreateImage wrote it.
			img := newImageRow(Image{OwnerID: ann.ID, ObjectKey: "originals/x", ContentType: "image/jpeg", SizeBytes: 4321,
				Width: 640, Height: 480, CreatedAt: base, SHA256: NewImageID()})
			if err := src.insertImage(ctxFor(t), src.db, img); err != nil {
				t.Fatal(err)
			}
			labelled(t, src, img, "cat")
			if counts, err := TableCounts(ctxFor(t), src); err != nil || counts["labels"] != 1 || counts["image_texts"] != 0 {
				t.Fatalf("counts at version 5 = %v, %v", counts, err)
			}
			sn, err := OpenSnapshot(ctxFor(t), src)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sn.Close() }()
			dst := openFresh(t, b)
			if err := Restore(ctxFor(t), dst, sn.SchemaVersion(), sn); err != nil {
				t.Fatalf("Restore of a version 5 snapshot: %v", err)
			}
			if counts, err := TableCounts(ctxFor(t), dst); err != nil || counts["labels"] != 1 || counts["image_texts"] != 0 {
				t.Errorf("restored counts = %v, %v", counts, err)
			}
			if err := dst.SetLabels(ctxFor(t), img.ID, Classification{Provider: "builtin", Reclassify: true, Labels: []Label{{Name: "cat"}},
				Text: &Text{Content: "서울", Provider: "tesseract"}}); err != nil {
				t.Fatal(err)
			}
			if got := found(t, dst, ann, "서울"); len(got) != 1 {
				t.Errorf("search of text read after the restore = %v", got)
			}
			// Migration 0008 counted the restored photos into their owner's usage.
			if u, err := dst.UserByID(ctxFor(t), ann.ID); err != nil || u.UsedBytes != 4321 || u.UsedPhotos != 1 {
				t.Errorf("the restored owner's usage = %d bytes, %d photos (%v); want 4321, 1", u.UsedBytes, u.UsedPhotos, err)
			}
		})
	}
}

// A restore refuses a database with any gallery row, and names what it holds.
func TestRestoreRefusesADatabaseWithData(t *testing.T) {
	runOnEveryDatabase(t, []storeCase{{name: "refuses", test: func(t *testing.T, s *sqlStore) {
		user(t, s, "already@example.com")
		err := Restore(ctxFor(t), s, LatestSchemaVersion, emptySource{})
		if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "1 users") {
			t.Fatalf("Restore over data = %v, want ErrNotEmpty naming 1 users", err)
		}
		if got := dumpAll(t, s); len(got["users"]) != 1 {
			t.Errorf("the refused restore changed the users: %v", got["users"])
		}
	}}})
}

// A source that fails part-way (a truncated backup) leaves the database empty: the
// load is one transaction.
func TestRestoreFailingPartWayLeavesNothing(t *testing.T) {
	runOnEveryDatabase(t, []storeCase{{name: "all or nothing", unmigrated: true, test: func(t *testing.T, s *sqlStore) {
		src := openFresh(t, backends[0])
		if err := src.Migrate(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		fillForBackup(t, src)
		sn, err := OpenSnapshot(ctxFor(t), src)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sn.Close() }()
		broken := failingSource{TableSource: sn, failAt: "album_images"}
		if err := Restore(ctxFor(t), s, sn.SchemaVersion(), broken); err == nil || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("Restore from a failing source = %v, want its error", err)
		}
		counts, err := TableCounts(ctxFor(t), s)
		if err != nil {
			t.Fatal(err)
		}
		for table, n := range counts {
			if n != 0 {
				t.Errorf("after a failed restore %s holds %d rows, want 0", table, n)
			}
		}
		// And the same database then takes the whole restore.
		if err := Restore(ctxFor(t), s, sn.SchemaVersion(), sn); err != nil {
			t.Fatalf("Restore after the failed one: %v", err)
		}
	}}})
}

// A snapshot sees the database as it was when it began, however the gallery writes
// meanwhile, and blocks no writer (SQLite included: the write below would wait out
// busy_timeout and fail if the snapshot held the write lock).
func TestSnapshotIsConsistentWhileTheGalleryWrites(t *testing.T) {
	runOnEveryDatabase(t, []storeCase{{name: "consistent", test: func(t *testing.T, s *sqlStore) {
		ann := user(t, s, "ann@example.com")
		img := image(t, s, ann, base)
		sn, err := OpenSnapshot(ctxFor(t), s)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sn.Close() }()
		count := func(table string) int {
			n := 0
			if err := sn.Rows(ctxFor(t), table, func([]string, []any) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if count("users") != 1 {
			t.Fatal("snapshot misses the user made before it")
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := s.CreateUser(ctx, NewUser{Email: "bob@example.com", PasswordHash: "h"}); err != nil {
				t.Errorf("a write during the snapshot: %v", err)
			}
			labelled(t, s, img, "dog")
		})
		wg.Wait()
		if n, l := count("users"), count("labels"); n != 1 || l != 0 {
			t.Errorf("snapshot sees %d users and %d labels, want the 1 and 0 of its start", n, l)
		}
	}}})
}

// Every table the migrations make is in BackupTables (or is schema_migrations), so a
// new table cannot be left out of backups.
func TestBackupTablesAreEveryTable(t *testing.T) {
	s := openFresh(t, backends[0])
	if err := s.Migrate(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	rows, err := s.db.QueryContext(ctxFor(t), "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		if _, ok := backupTable(name); !ok && name != "schema_migrations" && name != "app_versions" && !isIndexTable(name) && !isTransientTable(name) {
			t.Errorf("table %s is not in BackupTables: backups would lose it", name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

type emptySource struct{}

func (emptySource) Rows(context.Context, string, func([]string, []any) error) error { return nil }

type failingSource struct {
	TableSource
	failAt string
}

func (f failingSource) Rows(ctx context.Context, table string, fn func([]string, []any) error) error {
	if table == f.failAt {
		return errors.New("backup file truncated")
	}
	return f.TableSource.Rows(ctx, table, fn)
}

func openFresh(t *testing.T, b backend) *sqlStore {
	t.Helper()
	db, file := b.database(t)
	return open(t, db, file)
}
