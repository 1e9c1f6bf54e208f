package store

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/testservers"
)

func TestMain(m *testing.M) { testservers.Main(m) }

// backend makes a fresh, empty database of one kind for a test.
type backend struct {
	name string
	// database returns the configuration and, for SQLite, the file.
	database func(t *testing.T) (config.Database, string)
}

var backends = []backend{
	{"sqlite", func(t *testing.T) (config.Database, string) {
		return config.Database{Driver: config.DriverSQLite}, filepath.Join(t.TempDir(), "gallery.db")
	}},
	{"mariadb", func(t *testing.T) (config.Database, string) { return testservers.MariaDB(t).Config(), "" }},
	{"postgres", func(t *testing.T) (config.Database, string) { return testservers.Postgres(t).Config(), "" }},
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// open opens a store on db, closed when the test ends.
func open(t testing.TB, db config.Database, file string) *sqlStore {
	t.Helper()
	s, err := Open(ctxFor(t), db, file)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.(*sqlStore)
}

// TestStore runs every behaviour against every database, the databases in parallel.
func TestStore(t *testing.T) {
	runOnEveryDatabase(t, []storeCase{
		{name: "UsersAreUniqueByEmailInAnyCase", test: testUsers},
		{name: "OwnersSeeOnlyTheirImages", test: testOwnerIsolation},
		{name: "ListImagesPagesByKeyset", test: testPagination},
		{name: "SearchByTwoLabels", test: testSearchTwoLabels},
		{name: "LabelCounts", test: testLabelCounts},
		{name: "ParentsAreSearchable", test: testParentsAreSearchable},
		{name: "SetLabelsIsIdempotent", test: testSetLabelsIdempotent},
		{name: "SetLabelsOnDeletedImageWritesNothing", test: testSetLabelsDeleted},
		{name: "DeleteRemovesLabels", test: testDeleteRemovesLabels},
		{name: "StaleQueued", test: testStaleQueued},
		{name: "FailuresAttemptsAndStats", test: testFailuresAndStats},
		{name: "SessionsAreFoundRenewedAndRevoked", test: testSessions},
	})
}

// storeCase is one behaviour that runOnEveryDatabase checks.
type storeCase struct {
	name string
	test func(t *testing.T, s *sqlStore)
	// unmigrated: the case gets an empty database and migrates it itself.
	unmigrated bool
}

// runOnEveryDatabase runs each case on a fresh, migrated database of every backend,
// the backends in parallel.
func runOnEveryDatabase(t *testing.T, cases []storeCase) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					db, file := b.database(t)
					s := open(t, db, file)
					if !c.unmigrated {
						if err := s.Migrate(ctxFor(t)); err != nil {
							t.Fatalf("migrate: %v", err)
						}
					}
					c.test(t, s)
				})
			}
		})
	}
}

// TestConcurrentMigrate starts five "replicas", each with its own connection pool, that
// migrate one empty database at once.
func TestConcurrentMigrate(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db, file := b.database(t)
			const replicas = 5
			stores := make([]*sqlStore, replicas)
			for i := range stores {
				stores[i] = open(t, db, file)
			}
			if v, err := stores[0].SchemaVersion(ctxFor(t)); err != nil || v != 0 {
				t.Fatalf("schema version before migrating = %d, %v; want 0, nil", v, err)
			}
			var wg sync.WaitGroup
			errs := make([]error, replicas)
			start := make(chan struct{})
			for i, s := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					errs[i] = s.Migrate(context.Background())
				}()
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("replica %d: migrate: %v", i, err)
				}
			}
			ms, err := migrations(stores[0].d.name)
			if err != nil {
				t.Fatal(err)
			}
			var rows int
			if err := stores[0].db.QueryRowContext(ctxFor(t), "SELECT COUNT(*) FROM schema_migrations").Scan(&rows); err != nil {
				t.Fatalf("count schema_migrations: %v", err)
			}
			if rows != len(ms) {
				t.Errorf("schema_migrations has %d rows, want %d (one per migration)", rows, len(ms))
			}
			if v, err := stores[0].SchemaVersion(ctxFor(t)); err != nil || v != LatestSchemaVersion {
				t.Errorf("schema version = %d, %v; want %d", v, err, LatestSchemaVersion)
			}
			// A later start finds nothing to do.
			if err := stores[1].Migrate(ctxFor(t)); err != nil {
				t.Errorf("migrate again: %v", err)
			}

			// Each version that migrated is recorded once, with its first and last run;
			// replicas recording at once all succeed.
			var recording sync.WaitGroup
			recordErrs := make([]error, len(stores))
			for i, s := range stores {
				recording.Go(func() { recordErrs[i] = s.RecordAppVersion(ctxFor(t), "v0.3.0") })
			}
			recording.Wait()
			for i, err := range recordErrs {
				if err != nil {
					t.Errorf("replica %d: record app version: %v", i, err)
				}
			}
			time.Sleep(2 * time.Millisecond)
			if err := stores[0].RecordAppVersion(ctxFor(t), "v0.4.0"); err != nil {
				t.Fatal(err)
			}
			if err := stores[0].RecordAppVersion(ctxFor(t), "v0.3.0"); err != nil {
				t.Fatal(err)
			}
			vs, err := stores[1].AppVersions(ctxFor(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != 2 || vs[0].Version != "v0.3.0" || vs[1].Version != "v0.4.0" || !vs[0].LastMigrated.After(vs[0].FirstMigrated) {
				t.Errorf("app versions = %+v, want v0.3.0 (migrated twice) then v0.4.0", vs)
			}
		})
	}
}

// ---- fixtures

func user(t *testing.T, s Store, email string) User {
	t.Helper()
	u, err := s.CreateUser(ctxFor(t), NewUser{Email: email, PasswordHash: "hash"})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// base is a fixed instant in the past, so tests choose creation times and order.
var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func image(t *testing.T, s Store, owner User, created time.Time) Image {
	t.Helper()
	img, err := s.CreateImage(ctxFor(t), Image{
		OwnerID:     owner.ID,
		ObjectKey:   "originals/" + NewImageID(),
		ContentType: "image/jpeg",
		SizeBytes:   1234,
		Width:       640,
		Height:      480,
		CreatedAt:   created,
		// Distinct content: one owner's images are unique by hash (migration 0003).
		SHA256: NewImageID() + NewImageID(),
	})
	if err != nil {
		t.Fatalf("create image: %v", err)
	}
	return img
}

func labelled(t *testing.T, s Store, img Image, names ...string) {
	t.Helper()
	c := Classification{Provider: "builtin", Model: "mobilenet"}
	for i, n := range names {
		c.Labels = append(c.Labels, Label{Name: n, Confidence: 90 - float64(i)})
	}
	if err := s.SetLabels(ctxFor(t), img.ID, c); err != nil {
		t.Fatalf("set labels %v on %s: %v", names, img.ID, err)
	}
}

func ids(imgs []Image) []string {
	out := make([]string, len(imgs))
	for i, img := range imgs {
		out[i] = img.ID
	}
	return out
}

// allPages follows cursors to the end, failing on a loop.
func allPages(t *testing.T, page func(PageRequest) (Page, error), size int) (got []string, pages int) {
	t.Helper()
	req := PageRequest{Limit: size}
	for {
		p, err := page(req)
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		if len(p.Images) > size {
			t.Fatalf("page %d has %d images, limit %d", pages, len(p.Images), size)
		}
		got = append(got, ids(p.Images)...)
		if p.Next == "" {
			return got, pages
		}
		if pages > 100 {
			t.Fatal("more than 100 pages: cursor does not advance")
		}
		req.Cursor = p.Next
	}
}

func countLabelRows(t *testing.T, s *sqlStore, imageID string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(ctxFor(t), s.d.rebind("SELECT COUNT(*) FROM labels WHERE image_id = ?"), imageID).Scan(&n); err != nil {
		t.Fatalf("count labels: %v", err)
	}
	return n
}

// ---- behaviours

func testUsers(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	ann := user(t, s, "  Ann@Example.COM ")
	if ann.Email != "ann@example.com" {
		t.Errorf("stored email = %q, want trimmed lower case", ann.Email)
	}
	_, err := s.CreateUser(ctx, NewUser{Email: "ANN@example.com", PasswordHash: "other"})
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second sign-up with the email in other case: err = %v, want ErrDuplicate", err)
	}
	got, err := s.UserByEmail(ctx, "aNN@EXAMPLE.com")
	if err != nil || got.ID != ann.ID || got.PasswordHash != "hash" {
		t.Fatalf("user by email = %+v, %v; want ann", got, err)
	}
	if !got.CreatedAt.Equal(ann.CreatedAt) {
		t.Errorf("created at read back = %v, want %v", got.CreatedAt, ann.CreatedAt)
	}
	if got, err := s.UserByID(ctx, ann.ID); err != nil || got.Email != ann.Email {
		t.Fatalf("user by id = %+v, %v", got, err)
	}
	admin, err := s.CreateUser(ctx, NewUser{Email: "root@example.com", PasswordHash: "h", IsAdmin: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.UserByID(ctx, admin.ID); err != nil || !got.IsAdmin || got.ID == ann.ID {
		t.Fatalf("admin read back = %+v, %v", got, err)
	}
	if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown email: err = %v, want ErrNotFound", err)
	}
	if _, err := s.UserByID(ctx, ann.ID+1000); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: err = %v, want ErrNotFound", err)
	}
}

func testOwnerIsolation(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a, b := user(t, s, "a@example.com"), user(t, s, "b@example.com")
	img := image(t, s, a, base)
	labelled(t, s, img, "cat")

	if got, err := s.Image(ctx, a.ID, img.ID); err != nil || got.ObjectKey != img.ObjectKey || got.Status != StatusLabelled {
		t.Fatalf("owner gets own image = %+v, %v", got, err)
	}
	if _, err := s.Image(ctx, b.ID, img.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("other user gets image: err = %v, want ErrNotFound", err)
	}
	if _, err := s.ImageLabels(ctx, b.ID, img.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("other user gets labels: err = %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteImage(ctx, b.ID, img.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("other user deletes image: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Image(ctx, a.ID, img.ID); err != nil {
		t.Errorf("image after other user's delete attempt: %v, want still there", err)
	}
	if p, err := s.ListImages(ctx, b.ID, PageRequest{}); err != nil || len(p.Images) != 0 {
		t.Errorf("other user's listing = %v, %v; want empty", ids(p.Images), err)
	}
	if p, err := s.SearchByLabels(ctx, b.ID, []string{"cat"}, PageRequest{}); err != nil || len(p.Images) != 0 {
		t.Errorf("other user's search = %v, %v; want empty", ids(p.Images), err)
	}
	if c, err := s.LabelCounts(ctx, b.ID); err != nil || len(c) != 0 {
		t.Errorf("other user's label counts = %v, %v; want none", c, err)
	}
	if got, err := s.ImageForJob(ctx, img.ID); err != nil || got.OwnerID != a.ID {
		t.Errorf("worker gets image = %+v, %v", got, err)
	}
}

func testPagination(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	other := user(t, s, "other@example.com")
	var imgs []Image
	// Four images share one timestamp, as a batch upload may; the id breaks the tie.
	for _, offset := range []time.Duration{0, time.Second, time.Second, time.Second, time.Second, 2 * time.Second, 3 * time.Second} {
		imgs = append(imgs, image(t, s, a, base.Add(offset)))
	}
	image(t, s, other, base.Add(time.Second))
	want := make([]Image, len(imgs))
	copy(want, imgs)
	// Newest first; equal times by id, descending.
	for i := range want {
		for j := i + 1; j < len(want); j++ {
			if want[j].CreatedAt.After(want[i].CreatedAt) ||
				(want[j].CreatedAt.Equal(want[i].CreatedAt) && want[j].ID > want[i].ID) {
				want[i], want[j] = want[j], want[i]
			}
		}
	}
	for _, size := range []int{1, 2, 3, 7, 50} {
		got, pages := allPages(t, func(r PageRequest) (Page, error) { return s.ListImages(ctx, a.ID, r) }, size)
		if !reflect.DeepEqual(got, ids(want)) {
			t.Errorf("page size %d: images %v, want %v", size, got, ids(want))
		}
		if wantPages := (len(want) + size - 1) / size; pages != wantPages {
			t.Errorf("page size %d: %d pages, want %d", size, pages, wantPages)
		}
	}
	first, err := s.ListImages(ctx, a.ID, PageRequest{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Images[0]; got.CreatedAt != want[0].CreatedAt || got.Width != 640 || got.Status != StatusQueued || !got.TakenAt.IsZero() {
		t.Errorf("listed image read back wrong: %+v", got)
	}
	if _, err := s.ListImages(ctx, a.ID, PageRequest{Cursor: "not-a-cursor"}); !errors.Is(err, ErrInvalidCursor) {
		t.Errorf("made-up cursor: err = %v, want ErrInvalidCursor", err)
	}
}

func testSearchTwoLabels(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a, b := user(t, s, "a@example.com"), user(t, s, "b@example.com")
	catDog := image(t, s, a, base)
	labelled(t, s, catDog, "Cat", "dog")
	labelled(t, s, image(t, s, a, base.Add(time.Second)), "cat")
	labelled(t, s, image(t, s, a, base.Add(2*time.Second)), "dog", "tree")
	catDogTree := image(t, s, a, base.Add(3*time.Second))
	labelled(t, s, catDogTree, "tree", "dog", "cat")
	labelled(t, s, image(t, s, b, base.Add(4*time.Second)), "cat", "dog")

	want := []string{catDogTree.ID, catDog.ID}
	p, err := s.SearchByLabels(ctx, a.ID, []string{"CAT", " dog"}, PageRequest{})
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	if got := ids(p.Images); !reflect.DeepEqual(got, want) || p.Next != "" {
		t.Errorf("search cat AND dog = %v (next %q), want %v and no next page", got, p.Next, want)
	}
	got, pages := allPages(t, func(r PageRequest) (Page, error) {
		return s.SearchByLabels(ctx, a.ID, []string{"dog", "cat"}, r)
	}, 1)
	if !reflect.DeepEqual(got, want) || pages != 2 {
		t.Errorf("search dog AND cat one per page = %v in %d pages, want %v in 2", got, pages, want)
	}
	if p, err := s.SearchByLabels(ctx, a.ID, []string{"cat", "dog", "tree"}, PageRequest{}); err != nil || !reflect.DeepEqual(ids(p.Images), []string{catDogTree.ID}) {
		t.Errorf("search three labels = %v, %v; want %v", ids(p.Images), err, catDogTree.ID)
	}
	if _, err := s.SearchByLabels(ctx, a.ID, nil, PageRequest{}); err == nil {
		t.Error("search with no labels: want an error")
	}
}

func testLabelCounts(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a, b := user(t, s, "a@example.com"), user(t, s, "b@example.com")
	labelled(t, s, image(t, s, a, base), "cat", "dog")
	labelled(t, s, image(t, s, a, base.Add(time.Second)), "cat")
	labelled(t, s, image(t, s, a, base.Add(2*time.Second)), "cat", "tree", "dog")
	labelled(t, s, image(t, s, b, base), "cat", "boat")
	got, err := s.LabelCounts(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []LabelCount{{"cat", 3}, {"dog", 2}, {"tree", 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("label counts = %v, want %v", got, want)
	}
}

// A label's parents become labels of the image derived from it, so a search for the
// broader word ("animal", "pet") finds every photo under it, alone or with another
// label, and counts and label albums see it; a parent the classifier also gave
// directly stays the classifier's.
func testParentsAreSearchable(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	cat, dog, car := image(t, s, a, base), image(t, s, a, base.Add(time.Second)), image(t, s, a, base.Add(2*time.Second))
	set := func(img Image, labels ...Label) {
		t.Helper()
		if err := s.SetLabels(ctx, img.ID, Classification{Provider: "rekognition", Model: "detect-labels", Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	set(cat, Label{Name: "Cat", Confidence: 97, Categories: []string{"Animal", "Pet", "Mammal"}},
		Label{Name: "Kitten", Confidence: 99, Categories: []string{"Animal", "Cat"}})
	set(dog, Label{Name: "Dog", Confidence: 95, Categories: []string{"Animal", "Pet"}},
		Label{Name: "Animal", Confidence: 80, Categories: []string{}})
	set(car, Label{Name: "Car", Confidence: 90, Categories: []string{"Vehicle", "Transportation"}})

	for _, tc := range []struct {
		terms []string
		want  []string
	}{
		{[]string{"animal"}, []string{dog.ID, cat.ID}},
		{[]string{"pet"}, []string{dog.ID, cat.ID}},
		{[]string{"vehicle"}, []string{car.ID}},
		{[]string{"pet", "kitten"}, []string{cat.ID}},
		{[]string{"mammal", "dog"}, nil},
	} {
		p, err := s.SearchByLabels(ctx, a.ID, tc.terms, PageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(p.Images); !reflect.DeepEqual(got, tc.want) && (len(got) != 0 || len(tc.want) != 0) {
			t.Errorf("search %v = %v, want %v", tc.terms, got, tc.want)
		}
	}

	labels, err := s.ImageLabels(ctx, a.ID, cat.ID)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name, from string
		conf       float64
	}
	var got []row
	for _, l := range labels {
		got = append(got, row{l.Name, l.DerivedFrom, l.Confidence})
	}
	// "animal" from the more confident kitten; "cat" is the classifier's own label, not
	// derived from kitten; each derived label carries its child's confidence. The
	// classifier's labels come first where confidences tie.
	want := []row{{"kitten", "", 99}, {"animal", "kitten", 99}, {"cat", "", 97}, {"mammal", "cat", 97}, {"pet", "cat", 97}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("labels of the cat photo = %v, want %v", got, want)
	}
	if labels, err := s.ImageLabels(ctx, a.ID, dog.ID); err != nil || len(labels) != 3 || labels[2].Name != "animal" || labels[2].DerivedFrom != "" {
		t.Errorf("labels of the dog photo = %+v, %v; want animal as the classifier's own (80)", labels, err)
	}
	batch, err := s.LabelsOfImages(ctx, a.ID, []string{cat.ID})
	if err != nil || !reflect.DeepEqual(batch[cat.ID], labels0(t, s, a.ID, cat.ID)) {
		t.Errorf("LabelsOfImages = %+v, %v; want what ImageLabels reads", batch[cat.ID], err)
	}
	counts, err := s.LabelCounts(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(counts, LabelCount{"animal", 2}) || !slices.Contains(counts, LabelCount{"vehicle", 1}) {
		t.Errorf("label counts = %v, want animal 2 and vehicle 1 among them", counts)
	}
}

func labels0(t *testing.T, s *sqlStore, owner int64, id string) []Label {
	t.Helper()
	l, err := s.ImageLabels(ctxFor(t), owner, id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testSetLabelsIdempotent(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	img := image(t, s, a, base)
	c := Classification{Provider: "rekognition", Model: "v3", Labels: []Label{
		{Name: "Dog", Confidence: 97.5, Categories: []string{"animal", "pet"}},
		{Name: "grass", Confidence: 80},
		{Name: "dog", Confidence: 60}, // a repeat under another parent: the best one stays
	}}
	if err := s.SetLabels(ctx, img.ID, c); err != nil {
		t.Fatalf("delivery 1: %v", err)
	}
	if err := s.SetLabels(ctx, img.ID, c); !errors.Is(err, ErrAlreadyLabelled) {
		t.Fatalf("delivery 2: %v, want ErrAlreadyLabelled (nothing written twice)", err)
	}
	got, err := s.ImageLabels(ctx, a.ID, img.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []Label{
		{Name: "dog", Confidence: 97.5, Categories: []string{"animal", "pet"}, Provider: "rekognition", Model: "v3"},
		{Name: "animal", Confidence: 97.5, Categories: []string{}, Provider: "rekognition", Model: "v3", DerivedFrom: "dog"},
		{Name: "pet", Confidence: 97.5, Categories: []string{}, Provider: "rekognition", Model: "v3", DerivedFrom: "dog"},
		{Name: "grass", Confidence: 80, Categories: []string{}, Provider: "rekognition", Model: "v3"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("labels after two deliveries = %+v, want %+v", got, want)
	}
	if counts, _ := s.LabelCounts(ctx, a.ID); !reflect.DeepEqual(counts, []LabelCount{{"animal", 1}, {"dog", 1}, {"grass", 1}, {"pet", 1}}) {
		t.Errorf("label counts after two deliveries = %v, want each once", counts)
	}
	stored, err := s.Image(ctx, a.ID, img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != StatusLabelled || stored.LabelledAt.IsZero() || stored.Provider != "rekognition" || stored.Model != "v3" {
		t.Errorf("image after labelling = %+v", stored)
	}
	// A late duplicate delivery (the sweep re-enqueued the job while a worker held it)
	// finds the image labelled and writes nothing.
	late := Classification{Provider: "builtin", Model: "mobilenet", Labels: []Label{{Name: "cat", Confidence: 90}}}
	if err := s.SetLabels(ctx, img.ID, late); !errors.Is(err, ErrAlreadyLabelled) {
		t.Errorf("late duplicate: SetLabels = %v, want ErrAlreadyLabelled", err)
	}
	if n := countLabelRows(t, s, img.ID); n != 4 {
		t.Errorf("label rows after a late duplicate = %d, want the 4 first written (2 and their 2 parents)", n)
	}
	// A reclassification replaces the labels rather than adding to them.
	re := Classification{Provider: "builtin", Model: "mobilenet", Reclassify: true, Labels: []Label{{Name: "cat", Confidence: 90}}}
	if err := s.SetLabels(ctx, img.ID, re); err != nil {
		t.Fatal(err)
	}
	if n := countLabelRows(t, s, img.ID); n != 1 {
		t.Errorf("label rows after reclassifying = %d, want 1", n)
	}
}

func testSetLabelsDeleted(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	img := image(t, s, a, base)
	if _, err := s.DeleteImage(ctx, a.ID, img.ID); err != nil {
		t.Fatal(err)
	}
	err := s.SetLabels(ctx, img.ID, Classification{Labels: []Label{{Name: "cat", Confidence: 99}}})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("set labels on a deleted image: err = %v, want ErrNotFound", err)
	}
	if n := countLabelRows(t, s, img.ID); n != 0 {
		t.Errorf("label rows for the deleted image = %d, want 0", n)
	}
}

func testDeleteRemovesLabels(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	img := image(t, s, a, base)
	keep := image(t, s, a, base.Add(time.Second))
	labelled(t, s, img, "cat", "dog")
	labelled(t, s, keep, "cat")
	deleted, err := s.DeleteImage(ctx, a.ID, img.ID)
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if deleted.ObjectKey != img.ObjectKey || deleted.ID != img.ID {
		t.Errorf("delete returned %+v, want the image with its keys", deleted)
	}
	if n := countLabelRows(t, s, img.ID); n != 0 {
		t.Errorf("label rows after delete = %d, want 0", n)
	}
	if n := countLabelRows(t, s, keep.ID); n != 1 {
		t.Errorf("other image's label rows = %d, want 1", n)
	}
	if _, err := s.Image(ctx, a.ID, img.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("get deleted image: err = %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteImage(ctx, a.ID, img.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: err = %v, want ErrNotFound", err)
	}
	if counts, _ := s.LabelCounts(ctx, a.ID); !reflect.DeepEqual(counts, []LabelCount{{"cat", 1}}) {
		t.Errorf("label counts after delete = %v", counts)
	}
}

func testStaleQueued(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	now := time.Now()
	old := image(t, s, a, now.Add(-2*time.Hour))
	older := image(t, s, a, now.Add(-3*time.Hour))
	image(t, s, a, now.Add(-time.Minute)) // queued, but recently
	done := image(t, s, a, now.Add(-2*time.Hour))
	labelled(t, s, done, "cat")
	failed := image(t, s, a, now.Add(-2*time.Hour))
	if err := s.MarkFailed(ctx, failed.ID, "unreadable"); err != nil {
		t.Fatal(err)
	}
	got, err := s.StaleQueued(ctx, time.Hour, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{older.ID, old.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("stale queued = %v, want %v (oldest first)", got, want)
	}
	if got, _ := s.StaleQueued(ctx, time.Hour, 1); !reflect.DeepEqual(got, []string{older.ID}) {
		t.Errorf("stale queued limit 1 = %v, want %v", got, older.ID)
	}
	// Re-enqueued images wait another full period before the sweep picks them again.
	if err := s.Requeue(ctx, older.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.StaleQueued(ctx, time.Hour, 10); !reflect.DeepEqual(got, []string{old.ID}) {
		t.Errorf("stale queued after requeue = %v, want %v", got, old.ID)
	}
}

func testFailuresAndStats(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a, b := user(t, s, "a@example.com"), user(t, s, "b@example.com")
	img := image(t, s, a, base)
	for want := 1; want <= 2; want++ {
		if n, err := s.RecordAttempt(ctx, img.ID); err != nil || n != want {
			t.Fatalf("attempt %d recorded as %d, %v", want, n, err)
		}
	}
	for range 2 { // marking twice with the same reason is not "not found"
		if err := s.MarkFailed(ctx, img.ID, "classifier timed out"); err != nil {
			t.Fatalf("mark failed: %v", err)
		}
	}
	got, err := s.Image(ctx, a.ID, img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusFailed || got.FailureReason != "classifier timed out" || got.Attempts != 2 {
		t.Errorf("failed image = %+v", got)
	}
	if err := s.MarkFailed(ctx, "nosuchimage", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("mark unknown image failed: err = %v, want ErrNotFound", err)
	}
	if _, err := s.RecordAttempt(ctx, "nosuchimage"); !errors.Is(err, ErrNotFound) {
		t.Errorf("attempt on unknown image: err = %v, want ErrNotFound", err)
	}
	labelled(t, s, image(t, s, b, base), "cat", "dog")
	image(t, s, b, base.Add(time.Second))
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stats{Users: 2, Images: 3, Queued: 1, Labelled: 1, Failed: 1, Labels: 2}); st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping: %v", err)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := cursor{createdAt: 1717243200123456, id: NewImageID()}
	got, err := decodeCursor(encodeCursor(c))
	if err != nil || got != c {
		t.Fatalf("decode(encode(%v)) = %v, %v", c, got, err)
	}
	for _, bad := range []string{"", "!!!", encodeCursor(c)[:5], "djEuMTIz"} {
		if _, err := decodeCursor(bad); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("decode %q: err = %v, want ErrInvalidCursor", bad, err)
		}
	}
}

func TestRebind(t *testing.T) {
	d := dialect{numbered: true}
	if got := d.rebind("a = ? AND b = ?"); got != "a = $1 AND b = $2" {
		t.Errorf("rebind = %q", got)
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- header; with a semicolon\nCREATE TABLE a (\n  x INT -- note\n);\n\nCREATE INDEX i ON a (x);\n-- trailing\n")
	want := []string{"-- header; with a semicolon\nCREATE TABLE a (\n  x INT -- note\n)", "CREATE INDEX i ON a (x)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("split = %q, want %q", got, want)
	}
}

func TestEveryDialectHasEveryMigration(t *testing.T) {
	var versions []int
	for _, d := range []string{config.DriverMySQL, config.DriverPostgres, config.DriverSQLite} {
		ms, err := migrations(d)
		if err != nil {
			t.Fatal(err)
		}
		var vs []int
		for _, m := range ms {
			vs = append(vs, m.version)
		}
		if versions == nil {
			versions = vs
		}
		if !reflect.DeepEqual(vs, versions) {
			t.Errorf("%s migrations %v, want %v like the others", d, vs, versions)
		}
		if got := vs[len(vs)-1]; got != LatestSchemaVersion {
			t.Errorf("%s newest migration %d, LatestSchemaVersion %d", d, got, LatestSchemaVersion)
		}
	}
}
