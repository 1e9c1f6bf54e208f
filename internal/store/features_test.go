package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestGalleryFeatures runs duplicate detection, reclassification marks and the admin
// view's queries against every database, the databases in parallel.
func TestGalleryFeatures(t *testing.T) {
	runOnEveryDatabase(t, []storeCase{
		{name: "SameContentIsOneImagePerOwner", test: testDuplicateContent},
		{name: "ConcurrentSameContentMakesOneImage", test: testConcurrentDuplicates},
		{name: "MigrationKeepsEarlierDuplicates", test: testMigrationWithDuplicates, unmigrated: true},
		{name: "ReclassificationMarks", test: testReclassificationMarks},
		{name: "RecentFailures", test: testRecentFailures},
	})
}

const photoSum = "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea"

func imageWithSum(s Store, owner User, sum string, created time.Time) (Image, error) {
	return s.CreateImage(context.Background(), Image{
		OwnerID: owner.ID, ObjectKey: "originals/" + NewImageID(), ContentType: "image/jpeg",
		SizeBytes: 10, Width: 1, Height: 1, SHA256: sum, CreatedAt: created,
	})
}

func testDuplicateContent(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a, b := user(t, s, "a@example.com"), user(t, s, "b@example.com")
	first, err := imageWithSum(s, a, photoSum, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := imageWithSum(s, a, photoSum, base.Add(time.Second)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second image of the same content: err = %v, want ErrDuplicate", err)
	}
	// Upper-case hex is the same content.
	if _, err := imageWithSum(s, a, "3F79BB7B435B05321651DAEFD374CDC681DC06FAA65E374E38337B88CA046DEA", base); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("same content in upper case: err = %v, want ErrDuplicate", err)
	}
	got, err := s.ImageBySHA256(ctx, a.ID, photoSum)
	if err != nil || got.ID != first.ID {
		t.Fatalf("ImageBySHA256 = %s, %v; want %s", got.ID, err, first.ID)
	}
	// Another user's copy is their own image.
	theirs, err := imageWithSum(s, b, photoSum, base)
	if err != nil || theirs.ID == first.ID {
		t.Fatalf("other user's image of the same content = %+v, %v", theirs, err)
	}
	// Images without a hash are never duplicates of each other.
	for range 2 {
		if _, err := imageWithSum(s, a, "", base); err != nil {
			t.Fatalf("image without a hash: %v", err)
		}
	}
	// Deleting the image frees its content: the next upload is new again.
	if _, err := s.DeleteImage(ctx, a.ID, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := imageWithSum(s, a, photoSum, base); err != nil {
		t.Fatalf("upload after deleting the original: %v", err)
	}
}

func testConcurrentDuplicates(t *testing.T, s *sqlStore) {
	a := user(t, s, "a@example.com")
	const uploads = 8
	var wg sync.WaitGroup
	errs := make([]error, uploads)
	start := make(chan struct{})
	for i := range uploads {
		wg.Go(func() {
			<-start
			_, errs[i] = imageWithSum(s, a, photoSum, base)
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrDuplicate):
			t.Errorf("upload %d: %v, want success or ErrDuplicate", i, err)
		}
	}
	p, err := s.ListImages(ctxFor(t), a.ID, PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if won != 1 || len(p.Images) != 1 {
		t.Errorf("%d concurrent uploads of one photo: %d succeeded, %d images; want 1 and 1", uploads, won, len(p.Images))
	}
}

// testMigrationWithDuplicates migrates a database whose users already hold duplicates
// (uploaded before migration 0003): nothing is lost and new uploads are deduplicated.
func testMigrationWithDuplicates(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	ms, err := migrations(s.d.name)
	if err != nil {
		t.Fatal(err)
	}
	var before []migration
	for _, m := range ms {
		if m.version < 3 {
			before = append(before, m)
		}
	}
	if err := s.applyMigrations(ctx, s.db, before, func(apply func(querier) error) error { return apply(s.db) }); err != nil {
		t.Fatalf("migrate to version 2: %v", err)
	}
	a := user(t, s, "a@example.com")
	// Three copies, written as the old schema's CreateImage did.
	var copies []string
	for i := range 3 {
		id := NewImageID()
		created := base.Add(time.Duration(i) * time.Second).UnixMicro()
		status := "labelled"
		if i == 2 {
			status = "failed"
		}
		_, err := s.db.ExecContext(ctx, s.d.rebind("INSERT INTO images ("+imageColumns+") VALUES (?, ?, ?, '', 'image/jpeg', 10, 1, 1, ?, NULL, ?, ?, 'broken', 0, ?, NULL, '', '')"),
			id, a.ID, "originals/"+id, photoSum, created, status, created)
		if err != nil {
			t.Fatalf("insert copy %d: %v", i, err)
		}
		copies = append(copies, id)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate with duplicates present: %v", err)
	}
	p, err := s.ListImages(ctx, a.ID, PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Images) != 3 {
		t.Fatalf("after the migration the user has %d images, want the 3 copies", len(p.Images))
	}
	rows, err := s.db.QueryContext(ctx, "SELECT id FROM images WHERE content_key IS NOT NULL")
	if err != nil {
		t.Fatal(err)
	}
	keyed, err := scanAll(rows, scanValue[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(keyed) != 1 || keyed[0] != copies[0] {
		t.Errorf("content keys on %v, want only the oldest copy %s", keyed, copies[0])
	}
	if _, err := imageWithSum(s, a, photoSum, base.Add(time.Hour)); !errors.Is(err, ErrDuplicate) {
		t.Errorf("upload of the same content after the migration: err = %v, want ErrDuplicate", err)
	}
	// The failure recorded before the migration has a time: its queued_at.
	fs, err := s.RecentFailures(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].ImageID != copies[2] || !fs[0].At.Equal(base.Add(2*time.Second)) || fs[0].Reason != "broken" {
		t.Errorf("recent failures = %+v, want copy %s failed at %s", fs, copies[2], base.Add(2*time.Second))
	}
}

func testReclassificationMarks(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a, b := user(t, s, "a@example.com"), user(t, s, "b@example.com")
	done := image(t, s, a, base)
	labelled(t, s, done, "cat")
	failed := image(t, s, a, base.Add(time.Second))
	if err := s.MarkFailed(ctx, failed.ID, "timeout"); err != nil {
		t.Fatal(err)
	}
	waiting := image(t, s, a, base.Add(2*time.Second))
	other := image(t, s, b, base)
	labelled(t, s, other, "dog")

	if _, err := s.RequestReclassify(ctx, a.ID, waiting.ID); !errors.Is(err, ErrStillQueued) {
		t.Errorf("reclassify a queued image: err = %v, want ErrStillQueued", err)
	}
	if _, err := s.RequestReclassify(ctx, a.ID, other.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("reclassify another user's image: err = %v, want ErrNotFound", err)
	}
	img, err := s.RequestReclassify(ctx, a.ID, done.ID)
	if err != nil || img.Status != StatusLabelled {
		t.Fatalf("reclassify one = %+v, %v; want it still labelled", img, err)
	}
	now := func() time.Time { return time.Now().Truncate(time.Microsecond) }
	pending, err := s.PendingReclassification(ctx, now(), 10)
	if err != nil || len(pending) != 1 || pending[0].ImageID != done.ID || pending[0].OwnerID != a.ID {
		t.Fatalf("pending after one request = %+v, %v", pending, err)
	}
	time.Sleep(2 * time.Millisecond) // a later request has a later mark
	n, err := s.RequestReclassifyAll(ctx, a.ID)
	if err != nil || n != 2 {
		t.Fatalf("reclassify all = %d, %v; want the labelled and the failed image", n, err)
	}
	// The listing from before the second request is stale: recording its enqueue leaves
	// the newer request pending.
	if err := s.MarkReclassifyEnqueued(ctx, pending, now()); err != nil {
		t.Fatal(err)
	}
	if pending, err = s.PendingReclassification(ctx, time.Unix(0, 0), 10); err != nil || len(pending) != 2 {
		t.Fatalf("pending after a stale enqueue = %+v, %v; want both", pending, err)
	}
	enqueued := now()
	if err := s.MarkReclassifyEnqueued(ctx, pending, enqueued); err != nil {
		t.Fatal(err)
	}
	if got, err := s.PendingReclassification(ctx, enqueued, 10); err != nil || len(got) != 0 {
		t.Fatalf("pending once enqueued = %+v, %v; want none", got, err)
	}
	// A job not run by a later cutoff is listed again: it may have been lost.
	if got, err := s.PendingReclassification(ctx, enqueued.Add(time.Microsecond), 10); err != nil || len(got) != 2 {
		t.Fatalf("pending with stale jobs = %+v, %v; want both", got, err)
	}
	if st, err := s.Stats(ctx); err != nil || st.ReclassifyPending != 2 {
		t.Fatalf("pending in stats = %d, %v; want 2", st.ReclassifyPending, err)
	}
	// Another job's finish removes nothing; this job's removes the mark.
	if err := s.FinishReclassification(ctx, done.ID, enqueued.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishReclassification(ctx, done.ID, enqueued); err != nil {
		t.Fatal(err)
	}
	// A request renewed while its job ran stays pending after the job.
	if _, err := s.RequestReclassify(ctx, a.ID, failed.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishReclassification(ctx, failed.ID, enqueued); err != nil {
		t.Fatal(err)
	}
	got, err := s.PendingReclassification(ctx, time.Unix(0, 0), 10)
	if err != nil || len(got) != 1 || got[0].ImageID != failed.ID {
		t.Fatalf("pending after finishing = %+v, %v; want the renewed request for %s", got, err, failed.ID)
	}
	if st, err := s.Stats(ctx); err != nil || st.ReclassifyPending != 1 {
		t.Errorf("pending in stats after finishing = %d, %v; want 1", st.ReclassifyPending, err)
	}
	// The user's images are untouched by the marks: labels stay until new ones land.
	if labels, err := s.ImageLabels(ctx, a.ID, done.ID); err != nil || len(labels) != 1 || labels[0].Name != "cat" {
		t.Errorf("labels of a marked image = %+v, %v", labels, err)
	}
}

func testRecentFailures(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a, b := user(t, s, "a@example.com"), user(t, s, "b@example.com")
	first, second := image(t, s, a, base), image(t, s, b, base)
	image(t, s, a, base.Add(time.Second)) // queued: not a failure
	if err := s.MarkFailed(ctx, first.ID, "timed out"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	if err := s.MarkFailed(ctx, second.ID, "not a photo"); err != nil {
		t.Fatal(err)
	}
	fs, err := s.RecentFailures(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0].ImageID != second.ID || fs[0].OwnerID != b.ID || fs[0].Reason != "not a photo" ||
		fs[1].ImageID != first.ID || !fs[0].At.After(fs[1].At) || time.Since(fs[1].At) > time.Minute {
		t.Errorf("recent failures = %+v, want %s then %s, newest first", fs, second.ID, first.ID)
	}
	if fs, err := s.RecentFailures(ctx, 1); err != nil || len(fs) != 1 {
		t.Errorf("recent failures, limit 1 = %d, %v", len(fs), err)
	}
}
