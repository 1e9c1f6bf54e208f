package store

import (
	"errors"
	"sync"
	"testing"
)

func TestQuotasAndAccounts(t *testing.T) {
	runOnEveryDatabase(t, []storeCase{
		{name: "UsageFollowsImages", test: testUsageFollowsImages},
		{name: "QuotaRefusesWhatDoesNotFit", test: testQuotaRefuses},
		{name: "ConcurrentDeletesOfOneImageCountItOnce", test: testConcurrentDeletes},
		{name: "MigrationCountsExistingImages", test: testMigrationCountsUsage, unmigrated: true},
		{name: "ErasureMarkAndLastRows", test: testErasureRows},
	})
}

func usage(t *testing.T, s Store, id int64) (int64, int64) {
	t.Helper()
	u, err := s.UserByID(ctxFor(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return u.UsedBytes, u.UsedPhotos
}

// The usage counts every image recorded and not the ones deleted, refused as
// duplicates, or reclassified.
func testUsageFollowsImages(t *testing.T, s *sqlStore) {
	ann := user(t, s, "ann@example.com")
	a := image(t, s, ann, base)
	image(t, s, ann, base)
	if b, p := usage(t, s, ann.ID); b != 2*1234 || p != 2 {
		t.Fatalf("after two images: %d bytes, %d photos", b, p)
	}
	dup := a
	dup.ID = ""
	if _, err := s.CreateImage(ctxFor(t), dup); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("a duplicate: %v", err)
	}
	labelled(t, s, a, "cat")
	if _, err := s.RequestReclassify(ctxFor(t), ann.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if b, p := usage(t, s, ann.ID); b != 2*1234 || p != 2 {
		t.Fatalf("after a duplicate and a reclassification: %d bytes, %d photos", b, p)
	}
	if _, err := s.DeleteImage(ctxFor(t), ann.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteImage(ctxFor(t), ann.ID, a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	if b, p := usage(t, s, ann.ID); b != 1234 || p != 1 {
		t.Fatalf("after a delete: %d bytes, %d photos", b, p)
	}
}

// An image over the quota (the default, or the owner's override) records nothing and
// says why; an override of UnlimitedQuota lifts the default.
func testQuotaRefuses(t *testing.T, s *sqlStore) {
	ann := user(t, s, "ann@example.com")
	two, bytes := int64(2), int64(3000)
	def := Quota{Photos: &two, Bytes: &bytes}
	img := func() Image {
		return Image{OwnerID: ann.ID, SizeBytes: 1234, SHA256: NewImageID(), ContentType: "image/jpeg"}
	}
	for range 2 {
		if _, err := s.CreateImageWithinQuota(ctxFor(t), img(), def); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.CreateImageWithinQuota(ctxFor(t), img(), def)
	var qe *QuotaError
	if !errors.As(err, &qe) || qe.UsedPhotos != 2 || qe.UsedBytes != 2468 || qe.ImageLargerThanQuota() {
		t.Fatalf("a third photo over a two-photo quota: %v", err)
	}
	unlimited := UnlimitedQuota
	if err := s.SetUserQuota(ctxFor(t), ann.ID, nil, &unlimited); err != nil {
		t.Fatal(err)
	}
	huge := img()
	huge.SizeBytes = 5000
	_, err = s.CreateImageWithinQuota(ctxFor(t), huge, def)
	if !errors.As(err, &qe) || !qe.ImageLargerThanQuota() {
		t.Fatalf("a photo larger than the byte quota: %v", err)
	}
	if _, err := s.CreateImageWithinQuota(ctxFor(t), img(), Quota{Photos: &two}); err != nil {
		t.Fatalf("a third photo with the photo quota lifted: %v", err)
	}
	if b, p := usage(t, s, ann.ID); b != 3*1234 || p != 3 {
		t.Fatalf("usage %d bytes, %d photos; want 3 photos", b, p)
	}
	if err := s.SetUserQuota(ctxFor(t), ann.ID, nil, &unlimited); err != nil {
		t.Fatalf("setting the same override again: %v", err) // MySQL changes no row
	}
	if err := s.SetUserQuota(ctxFor(t), 999999, nil, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the quota of no user: %v", err)
	}
}

// Two deletes of one image at once take its size off the usage once.
func testConcurrentDeletes(t *testing.T, s *sqlStore) {
	ann := user(t, s, "ann@example.com")
	for range 5 {
		a := image(t, s, ann, base)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { _, _ = s.DeleteImage(ctxFor(t), ann.ID, a.ID) })
		}
		wg.Wait()
	}
	if b, p := usage(t, s, ann.ID); b != 0 || p != 0 {
		t.Fatalf("after deleting every image: %d bytes, %d photos", b, p)
	}
}

// Migration 0008 counts the images a database already holds.
func testMigrationCountsUsage(t *testing.T, s *sqlStore) {
	if err := s.MigrateTo(ctxFor(t), 6); err != nil {
		t.Fatal(err)
	}
	ann := user(t, s, "ann@example.com")
	for i := range 3 {
		img := newImageRow(Image{OwnerID: ann.ID, SizeBytes: int64(100 * (i + 1)), SHA256: NewImageID(), ContentType: "image/jpeg"})
		if err := s.insertImage(ctxFor(t), s.db, img); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Migrate(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if b, p := usage(t, s, ann.ID); b != 600 || p != 3 {
		t.Fatalf("usage after the migration: %d bytes, %d photos; want 600, 3", b, p)
	}
}

// An account marked for erasure records no image, DeleteErasedUser refuses an unmarked
// one, and deletes every row of a marked one.
func testErasureRows(t *testing.T, s *sqlStore) {
	ann, bob := user(t, s, "ann@example.com"), user(t, s, "bob@example.com")
	a := image(t, s, ann, base)
	labelled(t, s, a, "cat")
	album, err := s.CreateAlbum(ctxFor(t), ann.ID, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddToAlbum(ctxFor(t), ann.ID, album.ID, []string{a.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteErasedUser(ctxFor(t), ann.ID); err == nil {
		t.Fatal("an account not marked was erased")
	}
	if err := s.RequestErasure(ctxFor(t), ann.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RequestErasure(ctxFor(t), ann.ID); err != nil {
		t.Fatalf("asking twice: %v", err)
	}
	if _, err := s.CreateImage(ctxFor(t), Image{OwnerID: ann.ID, SHA256: NewImageID()}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an image for an account being erased: %v", err)
	}
	if ids, err := s.ErasuresPending(ctxFor(t), 10); err != nil || len(ids) != 1 || ids[0] != ann.ID {
		t.Fatalf("pending erasures %v, %v", ids, err)
	}
	if err := s.DeleteErasedUser(ctxFor(t), ann.ID); err != nil {
		t.Fatal(err)
	}
	counts, err := TableCounts(ctxFor(t), s)
	if err != nil {
		t.Fatal(err)
	}
	for table, n := range counts {
		if want := map[string]int64{"users": 1}[table]; n != want {
			t.Errorf("table %s holds %d rows, want %d (bob's)", table, n, want)
		}
	}
	if _, err := s.UserByID(ctxFor(t), bob.ID); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.ErasuresPending(ctxFor(t), 10); err != nil || len(ids) != 0 {
		t.Fatalf("pending erasures after it: %v, %v", ids, err)
	}
}
