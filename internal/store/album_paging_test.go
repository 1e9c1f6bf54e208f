package store

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestAlbumPagesWithTiedTimes: an album whose images share added_at values (AddToAlbum
// never makes such ties, but rows written by hand or an older version may hold them) pages
// by (added_at, image id) descending at every page size, on every database: each image
// once, none skipped at a tie that straddles two pages.
func TestAlbumPagesWithTiedTimes(t *testing.T) {
	runOnEveryDatabase(t, []storeCase{{name: "PagesByAddedAtThenID", test: testAlbumPagesWithTiedTimes}})
}

func testAlbumPagesWithTiedTimes(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	al := album(t, s, a, "Ties")
	other := album(t, s, a, "Other")
	addedAt := []int64{500, 500, 500, 400, 400, 300, 300, 300, 300, 200}
	type row struct {
		id    string
		added int64
	}
	var rows []row
	for _, at := range addedAt {
		img := image(t, s, a, base)
		rows = append(rows, row{img.ID, at})
		for _, albumID := range []string{al.ID, other.ID} {
			if _, err := s.db.ExecContext(ctx, s.d.rebind("INSERT INTO album_images (album_id, image_id, added_at) VALUES (?, ?, ?)"), albumID, img.ID, at); err != nil {
				t.Fatalf("insert album image: %v", err)
			}
		}
	}
	slices.SortFunc(rows, func(x, y row) int {
		if x.added != y.added {
			return int(y.added - x.added)
		}
		return -strings.Compare(x.id, y.id)
	})
	var want []string
	for _, r := range rows {
		want = append(want, r.id)
	}
	for size := 1; size <= len(want)+1; size++ {
		got, pages := allPages(t, func(r PageRequest) (Page, error) { return s.AlbumImages(ctx, a.ID, al.ID, r) }, size)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("page size %d: %v, want %v", size, got, want)
		}
		if wantPages := max(1, (len(want)+size-1)/size); pages != wantPages {
			t.Errorf("page size %d: %d pages, want %d", size, pages, wantPages)
		}
	}
}
