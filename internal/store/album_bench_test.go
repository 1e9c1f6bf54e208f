package store

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var albumBenchImages = flag.Int("album.images", 20_000, "images loaded for BenchmarkAlbumPages (the big user's album holds a third of theirs)")

// albumBenchOthers is how many other albums of the big user share album_images with the
// measured one, 500 images each.
const albumBenchOthers = 8

// BenchmarkAlbumPages: one album of a few thousand images among the owner's other
// albums, on MariaDB and on PostgreSQL, through AlbumImages. Each sub-benchmark reports
// the p50 and p99 over its iterations:
//
//	album-first  the first page of 50, most recently added first
//	album-deep   pages 10 to the last, by cursor
//
// With -scale.plans it logs the plan of the statement for the page halfway through.
//
// go test ./internal/store -run '^$' -bench AlbumPages [-album.images=N] [-scale.plans]
func BenchmarkAlbumPages(b *testing.B) {
	for _, be := range serverDatabases {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			s := open(b, be.db(b).Config(), "")
			if err := s.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			big, _, err := loadScale(ctx, s, *albumBenchImages)
			if err != nil {
				b.Fatal(err)
			}
			albumID, size, err := loadAlbums(ctx, s, big)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: %d images, album of %d among %d others of the same owner", be.name, *albumBenchImages, size, albumBenchOthers)

			// Every cursor from page 10 to the last.
			var cursors []string
			next := ""
			for n := 0; ; n++ {
				p, err := s.AlbumImages(ctx, big, albumID, PageRequest{Limit: DefaultPageSize, Cursor: next})
				if err != nil {
					b.Fatal(err)
				}
				if p.Next == "" {
					break
				}
				next = p.Next
				if n >= 10 {
					cursors = append(cursors, next)
				}
			}
			if len(cursors) == 0 {
				b.Fatal("the album has fewer than 11 pages")
			}
			for _, q := range []struct {
				name string
				run  func(i int) error
			}{
				{"album-first", func(int) error {
					_, err := s.AlbumImages(ctx, big, albumID, PageRequest{Limit: DefaultPageSize})
					return err
				}},
				{"album-deep", func(i int) error {
					p, err := s.AlbumImages(ctx, big, albumID, PageRequest{Limit: DefaultPageSize, Cursor: cursors[i%len(cursors)]})
					if err == nil && len(p.Images) == 0 {
						err = fmt.Errorf("empty page %d", i)
					}
					return err
				}},
			} {
				b.Run(q.name, func(b *testing.B) { benchLatency(b, q.run) })
			}
			if *scalePlans {
				logAlbumPlans(b, s, big, albumID, cursors)
			}
		})
	}
}

// logAlbumPlans logs, with the rows each step read, the plans of the statements for
// page 11, the page halfway through the album and the last page.
func logAlbumPlans(b *testing.B, s *sqlStore, owner int64, albumID string, cursors []string) {
	analyze := "ANALYZE " // MariaDB: EXPLAIN's columns plus r_rows, the rows read
	if s.d.numbered {
		analyze = "EXPLAIN ANALYZE "
	}
	for _, at := range []struct {
		name   string
		cursor string
	}{{"page 11", cursors[0]}, {"halfway", cursors[len(cursors)/2]}, {"last page", cursors[len(cursors)-1]}} {
		c, err := decodeCursor(at.cursor)
		if err != nil {
			b.Fatal(err)
		}
		q, args := s.albumPageQuery(owner, albumID, &c, DefaultPageSize)
		rows, err := s.db.QueryContext(context.Background(), analyze+s.d.rebind(q), args...)
		if err != nil {
			b.Fatalf("explain: %v", err)
		}
		b.Logf("plan of album-deep, %s:\n%s", at.name, dumpRows(rows))
	}
}

// loadAlbums makes the big user's albums straight in the tables: the measured one holds
// every third of their images, added one a second (the album's order differs from the
// images'), and albumBenchOthers more hold 500 each. It returns the measured album and
// its size.
func loadAlbums(ctx context.Context, s *sqlStore, owner int64) (string, int, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT id FROM images WHERE owner_id = ? ORDER BY id"), owner)
	if err != nil {
		return "", 0, fmt.Errorf("list images: %w", err)
	}
	ids, err := scanAll(rows, scanValue[string])
	if err != nil {
		return "", 0, err
	}
	slices.Sort(ids)
	added := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	var measured string
	size := 0
	for a := range albumBenchOthers + 1 {
		albumID := NewImageID()
		if _, err := s.db.ExecContext(ctx, s.d.rebind("INSERT INTO albums (id, owner_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"),
			albumID, owner, fmt.Sprintf("album %d", a), added, added); err != nil {
			return "", 0, fmt.Errorf("create album: %w", err)
		}
		var members []string
		if a == 0 {
			measured = albumID
			for i := len(ids) - 1; i >= 0; i -= 3 { // newest image added first
				members = append(members, ids[i])
			}
			size = len(members)
		} else {
			for i := range 500 {
				members = append(members, ids[(a*500+i)%len(ids)])
			}
		}
		for start := 0; start < len(members); start += scaleInsertBatch {
			var q strings.Builder
			q.WriteString("INSERT INTO album_images (album_id, image_id, added_at) VALUES ")
			for i, id := range members[start:min(start+scaleInsertBatch, len(members))] {
				if i > 0 {
					q.WriteByte(',')
				}
				fmt.Fprintf(&q, "('%s','%s',%d)", albumID, id, added+int64(start+i)*1_000_000)
			}
			if _, err := s.db.ExecContext(ctx, q.String()); err != nil {
				return "", 0, fmt.Errorf("bulk insert album images: %w", err)
			}
		}
	}
	analyze := "ANALYZE TABLE albums, album_images"
	if s.d.numbered {
		analyze = "VACUUM ANALYZE albums, album_images"
	}
	if _, err := s.db.ExecContext(ctx, analyze); err != nil {
		return "", 0, fmt.Errorf("analyze: %w", err)
	}
	return measured, size, nil
}
