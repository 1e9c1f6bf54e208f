package store

import (
	"reflect"
	"testing"
	"time"
)

// TestUsage: images by status and the sum of their sizes, on every database, with a sum
// beyond 32 bits (MySQL's SUM is a DECIMAL and PostgreSQL's a NUMERIC).
func TestUsage(t *testing.T) {
	runOnEveryDatabase(t, []storeCase{{name: "CountsAndSums", test: testUsage}})
}

func testUsage(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	u, err := s.Usage(ctx)
	if err != nil || len(u.Images) != 0 || u.OriginalBytes != 0 {
		t.Fatalf("usage of an empty gallery = %+v, %v; want nothing", u, err)
	}
	a, b := user(t, s, "a@example.com"), user(t, s, "b@example.com")
	sized := func(owner User, size int64, at time.Time) Image {
		t.Helper()
		img, err := s.CreateImage(ctx, Image{OwnerID: owner.ID, ObjectKey: "originals/" + NewImageID(), ContentType: "image/jpeg",
			SizeBytes: size, Width: 1, Height: 1, CreatedAt: at, SHA256: NewImageID() + NewImageID()})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	labelled(t, s, sized(a, 3_000_000_000, base), "cat")
	labelled(t, s, sized(b, 2_500_000_000, base), "dog")
	sized(a, 1234, base.Add(time.Second))
	failed := sized(b, 10, base.Add(time.Second))
	if err := s.MarkFailed(ctx, failed.ID, "unreadable"); err != nil {
		t.Fatal(err)
	}
	gone := sized(a, 999, base.Add(2*time.Second))
	if _, err := s.DeleteImage(ctx, a.ID, gone.ID); err != nil {
		t.Fatal(err)
	}

	u, err = s.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[ImageStatus]int64{StatusLabelled: 2, StatusQueued: 1, StatusFailed: 1}; !reflect.DeepEqual(u.Images, want) {
		t.Errorf("images by status = %v, want %v", u.Images, want)
	}
	if want := int64(3_000_000_000 + 2_500_000_000 + 1234 + 10); u.OriginalBytes != want {
		t.Errorf("original bytes = %d, want %d (a deleted image is not counted)", u.OriginalBytes, want)
	}
}
