package store

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestAlbumsAndShares runs the album and share-link behaviours against every database,
// the databases in parallel.
func TestAlbumsAndShares(t *testing.T) {
	runOnEveryDatabase(t, []storeCase{
		{name: "LabelAlbumsHaveCountAndNewestCover", test: testLabelAlbums},
		{name: "AlbumLifecycle", test: testAlbumLifecycle},
		{name: "AlbumNamesAreChecked", test: testAlbumNames},
		{name: "AlbumImagesPageNewestAddedFirst", test: testAlbumPagination},
		{name: "AlbumsAreTheOwnersOnly", test: testAlbumIsolation},
		{name: "DeletingAnImageLeavesEveryAlbum", test: testAlbumCascade},
		{name: "ShareLinks", test: testShares},
		{name: "ShareLinksExpire", test: testShareExpiry},
		{name: "ShareLinksAreTheOwnersOnly", test: testShareIsolation},
		{name: "ShareLinksGoWithWhatTheyShare", test: testShareCascade},
	})
}

func album(t *testing.T, s Store, owner User, name string) Album {
	t.Helper()
	a, err := s.CreateAlbum(ctxFor(t), owner.ID, name)
	if err != nil {
		t.Fatalf("create album %q: %v", name, err)
	}
	return a
}

func addToAlbum(t *testing.T, s Store, owner User, a Album, imgs ...Image) {
	t.Helper()
	if err := s.AddToAlbum(ctxFor(t), owner.ID, a.ID, ids(imgs)); err != nil {
		t.Fatalf("add %v to album %s: %v", ids(imgs), a.Name, err)
	}
}

func albumIDs(t *testing.T, s Store, owner User, a Album) []string {
	t.Helper()
	got, _ := allPages(t, func(r PageRequest) (Page, error) { return s.AlbumImages(ctxFor(t), owner.ID, a.ID, r) }, MaxPageSize)
	if got == nil {
		got = []string{}
	}
	return got
}

func countRows(t *testing.T, s *sqlStore, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(ctxFor(t), s.d.rebind(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func testLabelAlbums(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a, b := user(t, s, "a@example.com"), user(t, s, "b@example.com")
	old := image(t, s, a, base)
	labelled(t, s, old, "cat", "dog")
	middle := image(t, s, a, base.Add(time.Second))
	labelled(t, s, middle, "cat")
	newest := image(t, s, a, base.Add(2*time.Second))
	labelled(t, s, newest, "tree", "dog")
	image(t, s, a, base.Add(3*time.Second)) // not labelled yet: in no label album
	labelled(t, s, image(t, s, b, base.Add(time.Hour)), "cat", "boat")

	got, err := s.LabelAlbums(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []LabelAlbum{{"cat", 2, middle.ID}, {"dog", 2, newest.ID}, {"tree", 1, newest.ID}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("label albums = %+v, want %+v (most common first, newest cover)", got, want)
	}
	if _, err := s.DeleteImage(ctx, a.ID, middle.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = s.LabelAlbums(ctx, a.ID)
	if want := []LabelAlbum{{"dog", 2, newest.ID}, {"cat", 1, old.ID}, {"tree", 1, newest.ID}}; !reflect.DeepEqual(got, want) {
		t.Errorf("label albums after deleting the cat cover = %+v, want %+v", got, want)
	}
	nobody := user(t, s, "c@example.com")
	if got, err := s.LabelAlbums(ctx, nobody.ID); err != nil || got == nil || len(got) != 0 {
		t.Errorf("label albums of a user with no images = %#v, %v; want empty, not nil", got, err)
	}
}

func testAlbumLifecycle(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	one, two, three := image(t, s, a, base), image(t, s, a, base.Add(time.Second)), image(t, s, a, base.Add(2*time.Second))

	trip := album(t, s, a, "  Summer trip ")
	if trip.Name != "Summer trip" || trip.Images != 0 || trip.CoverImageID != "" || len(trip.ID) != 32 || trip.CreatedAt.IsZero() {
		t.Errorf("new album = %+v, want trimmed name, empty, a 32-character id", trip)
	}
	// Names need not be unique.
	again := album(t, s, a, "Summer trip")
	if again.ID == trip.ID {
		t.Fatal("two albums got one id")
	}
	addToAlbum(t, s, a, trip, one, two)
	addToAlbum(t, s, a, trip, three, one) // one is already there: it keeps its place
	addToAlbum(t, s, a, again, two)       // an image in two albums
	if got, want := albumIDs(t, s, a, trip), []string{three.ID, one.ID, two.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("album images = %v, want newest added first, a batch in its order %v", got, want)
	}
	got, err := s.Album(ctx, a.ID, trip.ID)
	if err != nil || got.Images != 3 || got.CoverImageID != three.ID || got.Name != "Summer trip" {
		t.Errorf("album = %+v, %v; want 3 images, cover the last added", got, err)
	}
	if !got.UpdatedAt.After(trip.UpdatedAt) {
		t.Errorf("updated at %v after adding, created %v: want later", got.UpdatedAt, trip.UpdatedAt)
	}
	if img, err := s.AlbumImage(ctx, a.ID, trip.ID, two.ID); err != nil || img.ID != two.ID || img.ObjectKey != two.ObjectKey {
		t.Errorf("album image = %+v, %v", img, err)
	}

	renamed, err := s.RenameAlbum(ctx, a.ID, trip.ID, "Summer 2025")
	if err != nil || renamed.Name != "Summer 2025" || renamed.Images != 3 {
		t.Fatalf("rename = %+v, %v", renamed, err)
	}

	if n, err := s.RemoveFromAlbum(ctx, a.ID, trip.ID, []string{three.ID, "0123456789abcdef0123456789abcdef"}); err != nil || n != 1 {
		t.Fatalf("remove = %d, %v; want 1 removed", n, err)
	}
	before, err := s.Album(ctx, a.ID, trip.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.RemoveFromAlbum(ctx, a.ID, trip.ID, []string{three.ID}); err != nil || n != 0 {
		t.Errorf("remove again = %d, %v; want 0 removed", n, err)
	}
	addToAlbum(t, s, a, trip, one) // already there
	// Changing nothing does not move the album up the list, which is ordered by it.
	if after, err := s.Album(ctx, a.ID, trip.ID); err != nil || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("updated at %v after removing and adding nothing, was %v: want unchanged", after.UpdatedAt, before.UpdatedAt)
	}
	if _, err := s.AlbumImage(ctx, a.ID, trip.ID, three.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("removed image through the album: err = %v, want ErrNotFound", err)
	}
	if got, err := s.Album(ctx, a.ID, trip.ID); err != nil || got.Images != 2 || got.CoverImageID != one.ID {
		t.Errorf("album after removing its cover = %+v, %v; want 2 images, cover %s", got, err, one.ID)
	}
	if _, err := s.Image(ctx, a.ID, three.ID); err != nil {
		t.Errorf("an image removed from an album is gone: %v", err)
	}

	list, err := s.Albums(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != trip.ID || list[1].ID != again.ID || list[0].Images != 2 || list[1].Images != 1 || list[1].CoverImageID != two.ID {
		t.Errorf("albums = %+v, want the trip (changed last) then the other, with counts and covers", list)
	}

	if err := s.DeleteAlbum(ctx, a.ID, trip.ID); err != nil {
		t.Fatalf("delete album: %v", err)
	}
	if _, err := s.Album(ctx, a.ID, trip.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted album: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAlbum(ctx, a.ID, trip.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: err = %v, want ErrNotFound", err)
	}
	if n := countRows(t, s, "SELECT COUNT(*) FROM album_images WHERE album_id = ?", trip.ID); n != 0 {
		t.Errorf("%d membership rows left by the deleted album", n)
	}
	if p, err := s.ListImages(ctx, a.ID, PageRequest{}); err != nil || len(p.Images) != 3 {
		t.Errorf("images after deleting an album = %d, %v; want all 3", len(p.Images), err)
	}
	if got := albumIDs(t, s, a, again); !reflect.DeepEqual(got, []string{two.ID}) {
		t.Errorf("other album = %v, want untouched", got)
	}
	if _, err := s.AlbumImages(ctx, a.ID, trip.ID, PageRequest{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("list a deleted album: err = %v, want ErrNotFound", err)
	}
	if err := s.AddToAlbum(ctx, a.ID, trip.ID, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("add nothing to a deleted album: err = %v, want ErrNotFound", err)
	}
	tooMany := make([]string, MaxAlbumBatch+1)
	for i := range tooMany {
		tooMany[i] = NewImageID()
	}
	if err := s.AddToAlbum(ctx, a.ID, again.ID, tooMany); err == nil {
		t.Errorf("add %d images at once: want an error", len(tooMany))
	}
}

func testAlbumNames(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	for _, bad := range []string{"", "   ", strings.Repeat("x", MaxAlbumNameLength+1), "two\nlines", "bad \xff utf-8"} {
		if _, err := s.CreateAlbum(ctx, a.ID, bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("create album %q: err = %v, want ErrInvalidName", bad, err)
		}
	}
	// 100 characters of four bytes each fit: the limit is characters, on every database.
	long := strings.Repeat("🐕", MaxAlbumNameLength)
	al := album(t, s, a, long)
	if got, err := s.Album(ctx, a.ID, al.ID); err != nil || got.Name != long {
		t.Errorf("album with a 100-emoji name read back %q, %v", got.Name, err)
	}
	if _, err := s.RenameAlbum(ctx, a.ID, al.ID, " "); !errors.Is(err, ErrInvalidName) {
		t.Errorf("rename to blank: err = %v, want ErrInvalidName", err)
	}
	if got, _ := s.Album(ctx, a.ID, al.ID); got.Name != long {
		t.Errorf("a refused rename changed the name to %q", got.Name)
	}
}

func testAlbumPagination(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	al := album(t, s, a, "Many")
	var imgs []Image
	for i := range 7 {
		imgs = append(imgs, image(t, s, a, base.Add(time.Duration(i)*time.Second)))
	}
	// Three batches; within a batch the first given is newest.
	addToAlbum(t, s, a, al, imgs[0], imgs[1])
	addToAlbum(t, s, a, al, imgs[5], imgs[2], imgs[3])
	addToAlbum(t, s, a, al, imgs[6], imgs[4])
	want, err := s.AlbumImages(ctx, a.ID, al.ID, PageRequest{})
	if err != nil || len(want.Images) != 7 || want.Next != "" {
		t.Fatalf("one page = %d images, next %q, %v", len(want.Images), want.Next, err)
	}
	// Batches newest first; each batch in the order it was given.
	if w := ids([]Image{imgs[6], imgs[4], imgs[5], imgs[2], imgs[3], imgs[0], imgs[1]}); !reflect.DeepEqual(ids(want.Images), w) {
		t.Errorf("album order %v, want %v", ids(want.Images), w)
	}
	for _, size := range []int{1, 2, 3, 7} {
		got, pages := allPages(t, func(r PageRequest) (Page, error) { return s.AlbumImages(ctx, a.ID, al.ID, r) }, size)
		if !reflect.DeepEqual(got, ids(want.Images)) {
			t.Errorf("page size %d: %v, want %v", size, got, ids(want.Images))
		}
		if wantPages := (7 + size - 1) / size; pages != wantPages {
			t.Errorf("page size %d: %d pages, want %d", size, pages, wantPages)
		}
	}
	if _, err := s.AlbumImages(ctx, a.ID, al.ID, PageRequest{Cursor: "forged"}); !errors.Is(err, ErrInvalidCursor) {
		t.Errorf("forged cursor: err = %v, want ErrInvalidCursor", err)
	}
}

func testAlbumIsolation(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a, b := user(t, s, "a@example.com"), user(t, s, "b@example.com")
	mine, theirs := image(t, s, a, base), image(t, s, b, base)
	al := album(t, s, a, "Mine")
	addToAlbum(t, s, a, al, mine)
	bAlbum := album(t, s, b, "Theirs")

	if _, err := s.Album(ctx, b.ID, al.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("other user gets album: err = %v, want ErrNotFound", err)
	}
	if _, err := s.AlbumImages(ctx, b.ID, al.ID, PageRequest{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("other user lists album: err = %v, want ErrNotFound", err)
	}
	if _, err := s.AlbumImage(ctx, b.ID, al.ID, mine.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("other user gets album image: err = %v, want ErrNotFound", err)
	}
	if _, err := s.RenameAlbum(ctx, b.ID, al.ID, "Stolen"); !errors.Is(err, ErrNotFound) {
		t.Errorf("other user renames album: err = %v, want ErrNotFound", err)
	}
	if err := s.AddToAlbum(ctx, b.ID, al.ID, []string{theirs.ID}); !errors.Is(err, ErrNotFound) {
		t.Errorf("other user adds to album: err = %v, want ErrNotFound", err)
	}
	if _, err := s.RemoveFromAlbum(ctx, b.ID, al.ID, []string{mine.ID}); !errors.Is(err, ErrNotFound) {
		t.Errorf("other user removes from album: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAlbum(ctx, b.ID, al.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("other user deletes album: err = %v, want ErrNotFound", err)
	}
	// Someone else's image in my album: refused, and nothing of the batch is added.
	extra := image(t, s, a, base.Add(time.Second))
	if err := s.AddToAlbum(ctx, a.ID, al.ID, []string{extra.ID, theirs.ID}); !errors.Is(err, ErrNotFound) {
		t.Errorf("add another user's image: err = %v, want ErrNotFound", err)
	}
	if err := s.AddToAlbum(ctx, a.ID, al.ID, []string{"0123456789abcdef0123456789abcdef"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("add a missing image: err = %v, want ErrNotFound", err)
	}
	if got := albumIDs(t, s, a, al); !reflect.DeepEqual(got, []string{mine.ID}) {
		t.Errorf("album after refused adds = %v, want only %s", got, mine.ID)
	}
	if got, err := s.Album(ctx, a.ID, al.ID); err != nil || got.Name != "Mine" || got.Images != 1 {
		t.Errorf("album after other user's attempts = %+v, %v", got, err)
	}
	if list, err := s.Albums(ctx, b.ID); err != nil || len(list) != 1 || list[0].ID != bAlbum.ID {
		t.Errorf("other user's albums = %+v, %v; want only their own", list, err)
	}
}

func testAlbumCascade(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	img, keep := image(t, s, a, base), image(t, s, a, base.Add(time.Second))
	one, two := album(t, s, a, "One"), album(t, s, a, "Two")
	addToAlbum(t, s, a, one, img, keep)
	addToAlbum(t, s, a, two, img)
	if _, err := s.DeleteImage(ctx, a.ID, img.ID); err != nil {
		t.Fatalf("delete image: %v", err)
	}
	if n := countRows(t, s, "SELECT COUNT(*) FROM album_images WHERE image_id = ?", img.ID); n != 0 {
		t.Errorf("%d membership rows of the deleted image, want 0", n)
	}
	if got := albumIDs(t, s, a, one); !reflect.DeepEqual(got, []string{keep.ID}) {
		t.Errorf("album one = %v, want %v", got, keep.ID)
	}
	if got, err := s.Album(ctx, a.ID, two.ID); err != nil || got.Images != 0 || got.CoverImageID != "" {
		t.Errorf("album two = %+v, %v; want empty with no cover", got, err)
	}
}

func share(t *testing.T, s Store, ns NewShare) (Share, string) {
	t.Helper()
	token, hash := NewShareToken()
	ns.TokenHash = hash
	sh, err := s.CreateShare(ctxFor(t), ns)
	if err != nil {
		t.Fatalf("create share %+v: %v", ns, err)
	}
	return sh, token
}

func testShares(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	img := image(t, s, a, base)
	al := album(t, s, a, "Shared")
	now := time.Now()

	imgShare, imgToken := share(t, s, NewShare{OwnerID: a.ID, ImageID: img.ID})
	later := now.Add(time.Hour)
	albumShare, albumToken := share(t, s, NewShare{OwnerID: a.ID, AlbumID: al.ID, ExpiresAt: later})
	if len(imgToken) != ShareTokenLength || imgToken == albumToken || strings.ContainsAny(imgToken, "+/=") {
		t.Errorf("tokens %q and %q: want two different %d-character URL-safe tokens", imgToken, albumToken, ShareTokenLength)
	}
	// Only the hash is stored: no column holds the token.
	if n := countRows(t, s, "SELECT COUNT(*) FROM shares WHERE token_sha256 = ? OR token_sha256 = ?", imgToken, albumToken); n != 0 {
		t.Errorf("%d rows store a token as it is", n)
	}

	got, err := s.ShareByTokenHash(ctx, HashShareToken(imgToken), now)
	if err != nil || got.ID != imgShare.ID || got.ImageID != img.ID || got.AlbumID != "" || got.OwnerID != a.ID || !got.ExpiresAt.IsZero() {
		t.Errorf("image share by token = %+v, %v", got, err)
	}
	got, err = s.ShareByTokenHash(ctx, HashShareToken(albumToken), now)
	if err != nil || got.AlbumID != al.ID || got.AlbumName != "Shared" || !got.ExpiresAt.Equal(later.UTC().Truncate(time.Microsecond)) {
		t.Errorf("album share by token = %+v, %v", got, err)
	}
	if _, err := s.ShareByTokenHash(ctx, HashShareToken("not a token"), now); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown token: err = %v, want ErrNotFound", err)
	}

	list, err := s.Shares(ctx, a.ID)
	if err != nil || len(list) != 2 || list[0].ID != albumShare.ID || list[1].ID != imgShare.ID || list[0].AlbumName != "Shared" {
		t.Errorf("shares = %+v, %v; want both, newest first", list, err)
	}

	if err := s.DeleteShare(ctx, a.ID, imgShare.ID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if _, err := s.ShareByTokenHash(ctx, HashShareToken(imgToken), now); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked link: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteShare(ctx, a.ID, imgShare.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke twice: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Image(ctx, a.ID, img.ID); err != nil {
		t.Errorf("revoking a link removed the image: %v", err)
	}
	if _, err := s.CreateShare(ctx, NewShare{OwnerID: a.ID, ImageID: img.ID, AlbumID: al.ID, TokenHash: HashShareToken("x")}); err == nil {
		t.Error("a link to an image and an album at once: want an error")
	}
	if _, err := s.CreateShare(ctx, NewShare{OwnerID: a.ID, ImageID: img.ID, TokenHash: "short"}); err == nil {
		t.Error("a link without a proper hash: want an error")
	}
}

func testShareExpiry(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	img := image(t, s, a, base)
	expiry := time.Now().Add(time.Minute)
	sh, token := share(t, s, NewShare{OwnerID: a.ID, ImageID: img.ID, ExpiresAt: expiry})
	hash := HashShareToken(token)
	if _, err := s.ShareByTokenHash(ctx, hash, expiry.Add(-time.Microsecond)); err != nil {
		t.Errorf("just before expiry: %v, want the link", err)
	}
	if _, err := s.ShareByTokenHash(ctx, hash, expiry); !errors.Is(err, ErrNotFound) {
		t.Errorf("at expiry: err = %v, want ErrNotFound", err)
	}
	// The owner still sees an expired link, to know why it stopped working.
	list, err := s.Shares(ctx, a.ID)
	if err != nil || len(list) != 1 || list[0].ID != sh.ID || !list[0].Expired(expiry.Add(time.Second)) {
		t.Errorf("shares = %+v, %v; want the link, expired after its expiry", list, err)
	}
}

func testShareIsolation(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a, b := user(t, s, "a@example.com"), user(t, s, "b@example.com")
	img := image(t, s, a, base)
	al := album(t, s, a, "Private")
	for _, ns := range []NewShare{{OwnerID: b.ID, ImageID: img.ID}, {OwnerID: b.ID, AlbumID: al.ID}} {
		ns.TokenHash = HashShareToken(NewImageID())
		if _, err := s.CreateShare(ctx, ns); !errors.Is(err, ErrNotFound) {
			t.Errorf("other user shares %+v: err = %v, want ErrNotFound", ns, err)
		}
	}
	sh, token := share(t, s, NewShare{OwnerID: a.ID, ImageID: img.ID})
	if err := s.DeleteShare(ctx, b.ID, sh.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("other user revokes: err = %v, want ErrNotFound", err)
	}
	if list, err := s.Shares(ctx, b.ID); err != nil || len(list) != 0 {
		t.Errorf("other user's shares = %+v, %v; want none", list, err)
	}
	if _, err := s.ShareByTokenHash(ctx, HashShareToken(token), time.Now()); err != nil {
		t.Errorf("link after other user's attempts: %v", err)
	}
}

func testShareCascade(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	img, inAlbum := image(t, s, a, base), image(t, s, a, base.Add(time.Second))
	al := album(t, s, a, "Gone soon")
	addToAlbum(t, s, a, al, inAlbum)
	_, imgToken := share(t, s, NewShare{OwnerID: a.ID, ImageID: img.ID})
	_, albumToken := share(t, s, NewShare{OwnerID: a.ID, AlbumID: al.ID})
	if _, err := s.DeleteImage(ctx, a.ID, img.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAlbum(ctx, a.ID, al.ID); err != nil {
		t.Fatal(err)
	}
	for what, token := range map[string]string{"deleted image": imgToken, "deleted album": albumToken} {
		if _, err := s.ShareByTokenHash(ctx, HashShareToken(token), time.Now()); !errors.Is(err, ErrNotFound) {
			t.Errorf("link to a %s: err = %v, want ErrNotFound", what, err)
		}
	}
	if n := countRows(t, s, "SELECT COUNT(*) FROM shares WHERE owner_id = ?", a.ID); n != 0 {
		t.Errorf("%d share rows left", n)
	}
	if _, err := s.Image(ctx, a.ID, inAlbum.ID); err != nil {
		t.Errorf("deleting a shared album removed its image: %v", err)
	}
}
