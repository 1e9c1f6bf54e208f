package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/accounts"
	"github.com/sortographer/sortographer/internal/auth"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testenv"
)

// admin makes an admin account in the database (however sign-up decides who is an
// admin) and signs it in.
func (g *gallery) admin(name string) *user {
	g.t.Helper()
	u, err := g.store.CreateUser(context.Background(), store.NewUser{Email: name + "@admins.example.com", PasswordHash: mustHash(g.t, passwordOf(name)), IsAdmin: true})
	if err != nil {
		g.t.Fatal(err)
	}
	token, _, err := g.sessions.Start(context.Background(), u.ID, false, "test")
	if err != nil {
		g.t.Fatal(err)
	}
	return &user{g: g, id: u.ID, email: u.Email, token: token}
}

func userPath(u *user) string { return "/api/admin/users/" + strconv.FormatInt(u.id, 10) }

// TestAdminListsUsersInPages: the list pages by cursor through every user, with their
// state and quota; it is for admins only.
func TestAdminListsUsersInPages(t *testing.T) {
	g := newGallery(t, sqlite, filesystem, withQuota(ptr64(1<<30), nil))
	boss := g.admin("boss")
	var signed []*user
	for range 5 {
		signed = append(signed, g.signUp("ann"))
	}
	signed[0].upload(file{"a.jpg", photo(t, 32, 32, 1)})
	g.mustDo(nil, "GET", "/api/admin/users", nil, http.StatusUnauthorized, nil)
	g.mustDo(signed[1], "GET", "/api/admin/users", nil, http.StatusForbidden, nil)
	type listed struct {
		Users []struct {
			ID       int64
			Email    string
			IsAdmin  bool
			Disabled bool
			Quota    meQuota
		}
		Next *string
	}
	var all []int64
	path := "/api/admin/users?limit=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("the pages do not end")
		}
		var p listed
		g.mustDo(boss, "GET", path, nil, http.StatusOK, &p)
		for _, u := range p.Users {
			all = append(all, u.ID)
			if u.ID == signed[0].id && (u.Quota.UsedPhotos != 1 || u.Quota.StorageBytes == nil || *u.Quota.StorageBytes != 1<<30) {
				t.Errorf("the uploader is listed with quota %+v", u.Quota)
			}
			if u.ID == boss.id && !u.IsAdmin {
				t.Error("the admin is not listed as one")
			}
		}
		if p.Next == nil {
			break
		}
		path = "/api/admin/users?limit=2&cursor=" + *p.Next
	}
	if len(all) != 6 {
		t.Fatalf("listed %v, want 6 users", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i] <= all[i-1] {
			t.Fatalf("users listed out of order or twice: %v", all)
		}
	}
	res, data := g.do(boss, "GET", "/api/admin/users?cursor=x", nil)
	if res.StatusCode != http.StatusBadRequest || errorCode(t, data) != "bad_cursor" {
		t.Errorf("a bad cursor answered %d %s", res.StatusCode, data)
	}
}

// TestAdminQuotaOverride: an admin's override replaces the Gallery's default for one
// user (and GET /api/me shows it), -1 lifts it, null restores the default.
func TestAdminQuotaOverride(t *testing.T) {
	for _, b := range everyBackend {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			g := newGallery(t, b.db, b.storage, withQuota(nil, ptr64(5)))
			boss, ann, bob := g.admin("boss"), g.signUp("ann"), g.signUp("bob")
			if q := ann.quota(); q.Photos == nil || *q.Photos != 5 || q.StorageBytes != nil {
				t.Fatalf("the default quota shows as %+v", q)
			}
			g.mustDo(ann, "PUT", userPath(bob)+"/quota", jsonBody(map[string]any{"photos": 100}), http.StatusForbidden, nil)
			g.mustDo(boss, "PUT", userPath(ann)+"/quota", jsonBody(map[string]any{"photos": 1, "storageBytes": 10 << 20}), http.StatusOK, nil)
			if q := ann.quota(); *q.Photos != 1 || *q.StorageBytes != 10<<20 {
				t.Fatalf("the override shows as %+v", q)
			}
			ann.upload(file{"a.jpg", photo(t, 32, 32, 1)})
			res, data := g.do(ann, "POST", "/api/images", multipartBody(t, file{"b.jpg", photo(t, 32, 32, 2)}))
			if res.StatusCode != http.StatusInsufficientStorage || errorCode(t, data) != "quota_exceeded" {
				t.Fatalf("past the override: %d %s", res.StatusCode, data)
			}
			bob.upload(file{"b.jpg", photo(t, 32, 32, 2)}, file{"c.jpg", photo(t, 32, 32, 3)}) // bob keeps the default
			g.mustDo(boss, "PUT", userPath(ann)+"/quota", jsonBody(map[string]any{"photos": -1, "storageBytes": nil}), http.StatusOK, nil)
			if q := ann.quota(); q.Photos != nil || q.StorageBytes != nil {
				t.Fatalf("an unlimited override shows as %+v", q)
			}
			ann.upload(file{"b.jpg", photo(t, 32, 32, 2)})
			g.mustDo(boss, "PUT", userPath(ann)+"/quota", jsonBody(map[string]any{"photos": nil}), http.StatusOK, nil)
			if q := ann.quota(); *q.Photos != 5 || q.UsedPhotos != 2 {
				t.Fatalf("back to the default: %+v", q)
			}
			res, data = g.do(boss, "PUT", userPath(ann)+"/quota", jsonBody(map[string]any{"photos": -2}))
			if res.StatusCode != http.StatusBadRequest || errorCode(t, data) != "bad_quota" {
				t.Errorf("a quota of -2 answered %d %s", res.StatusCode, data)
			}
			g.mustDo(boss, "PUT", "/api/admin/users/999999/quota", jsonBody(map[string]any{"photos": 1}), http.StatusNotFound, nil)
		})
	}
}

// TestDisabledAccountIsRefused: a disabled user's session and sign-in are refused
// (403 account_disabled; a wrong password still only says wrong), their sessions are
// revoked, and re-enabling lets them in again.
func TestDisabledAccountIsRefused(t *testing.T) {
	g := newGallery(t, postgres, filesystem)
	boss, ann := g.admin("boss"), g.signUp("ann")
	img := ann.upload(file{"a.jpg", photo(t, 32, 32, 1)})[0]
	link := ann.share(map[string]any{"imageId": img.ID})
	g.mustDo(nil, "GET", "/api/shared/"+link.Token, nil, http.StatusOK, nil)
	g.mustDo(ann, "POST", userPath(boss)+"/disable", nil, http.StatusForbidden, nil)
	g.mustDo(boss, "POST", userPath(ann)+"/disable", nil, http.StatusNoContent, nil)
	// Disabling revoked ann's sessions, and her share links open no more.
	g.mustDo(ann, "GET", "/api/me", nil, http.StatusUnauthorized, nil)
	g.mustDo(nil, "GET", "/api/shared/"+link.Token, nil, http.StatusNotFound, nil)
	// A session that outlived the revocation (one started after it, as if revoking had
	// failed) is refused all the same: the middleware reads the account's state.
	token, _, err := g.sessions.Start(context.Background(), ann.id, false, "test")
	if err != nil {
		t.Fatal(err)
	}
	survivor := &user{g: g, id: ann.id, email: ann.email, token: token}
	for _, path := range []string{"/api/me", "/api/images", "/api/albums"} {
		res, data := g.do(survivor, "GET", path, nil)
		if res.StatusCode != http.StatusForbidden || errorCode(t, data) != "account_disabled" {
			t.Errorf("GET %s by a disabled user answered %d %s", path, res.StatusCode, data)
		}
	}
	res, data := g.do(survivor, "POST", "/api/images", multipartBody(t, file{"b.jpg", photo(t, 32, 32, 2)}))
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("an upload by a disabled user answered %d %s", res.StatusCode, data)
	}
	res, data = g.do(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": ann.email, "password": passwordOf("ann")}))
	if res.StatusCode != http.StatusForbidden || errorCode(t, data) != "account_disabled" {
		t.Errorf("signing in to a disabled account answered %d %s", res.StatusCode, data)
	}
	res, data = g.do(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": ann.email, "password": "wrong-password"}))
	if res.StatusCode != http.StatusUnauthorized || errorCode(t, data) != "bad_credentials" {
		t.Errorf("a wrong password for a disabled account answered %d %s", res.StatusCode, data)
	}
	var list struct {
		Users []struct {
			ID       int64
			Disabled bool
		}
	}
	g.mustDo(boss, "GET", "/api/admin/users", nil, http.StatusOK, &list)
	for _, u := range list.Users {
		if u.ID == ann.id && !u.Disabled {
			t.Error("the admin's list shows the account enabled")
		}
	}
	g.mustDo(boss, "POST", userPath(ann)+"/enable", nil, http.StatusNoContent, nil)
	// Disabling revoked the sessions: re-enabled, the account signs in anew.
	g.mustDo(ann, "GET", "/api/me", nil, http.StatusUnauthorized, nil)
	g.mustDo(nil, "POST", "/api/auth/signin", jsonBody(map[string]any{"email": ann.email, "password": passwordOf("ann")}), http.StatusOK, nil)
}

// TestLastAdminGuard: an admin cannot disable or delete their own account from the
// user list, the last enabled admin cannot delete their account, and two admins
// disabling each other at once cannot both succeed.
func TestLastAdminGuard(t *testing.T) {
	for _, b := range everyBackend {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			g := newGallery(t, b.db, b.storage)
			boss := g.admin("boss")
			for _, req := range []struct{ method, path string }{{"POST", userPath(boss) + "/disable"}, {"DELETE", userPath(boss)}} {
				res, data := g.do(boss, req.method, req.path, nil)
				if res.StatusCode != http.StatusConflict || errorCode(t, data) != "own_account" {
					t.Errorf("%s %s on one's own account answered %d %s", req.method, req.path, res.StatusCode, data)
				}
			}
			res, data := g.do(boss, "DELETE", "/api/me", jsonBody(map[string]any{"password": passwordOf("boss")}))
			if res.StatusCode != http.StatusConflict || errorCode(t, data) != "last_admin" {
				t.Errorf("the last admin deleting their account answered %d %s", res.StatusCode, data)
			}
			g.mustDo(boss, "GET", "/api/me", nil, http.StatusOK, nil)

			for round := range 5 {
				a, c := g.admin(fmt.Sprintf("a%d", round)), g.admin(fmt.Sprintf("c%d", round))
				// Only a and c are enabled admins: boss steps aside for the round.
				if err := g.store.SetUserDisabled(context.Background(), boss.id, true); err != nil {
					t.Fatal(err)
				}
				statuses := make([]int, 2)
				var wg sync.WaitGroup
				for i, pair := range [][2]*user{{a, c}, {c, a}} {
					wg.Go(func() {
						res, _ := g.do(pair[0], "POST", userPath(pair[1])+"/disable", nil)
						statuses[i] = res.StatusCode
					})
				}
				wg.Wait()
				ok := 0
				for _, s := range statuses {
					if s == http.StatusNoContent {
						ok++
					} else if s != http.StatusConflict && s != http.StatusForbidden && s != http.StatusUnauthorized {
						// 401: the other's disable came first and revoked this one's session.
						t.Errorf("round %d: a mutual disable answered %d", round, s)
					}
				}
				if ok != 1 {
					t.Fatalf("round %d: two admins disabling each other at once: %v, want exactly one to succeed", round, statuses)
				}
				// Leave no enabled admin but boss for the next round.
				if err := g.store.SetUserDisabled(context.Background(), boss.id, false); err != nil {
					t.Fatal(err)
				}
				for _, u := range []*user{a, c} {
					if err := g.store.SetUserDisabled(context.Background(), u.id, true); err != nil {
						t.Fatal(err)
					}
				}
			}
			err := g.store.SetUserDisabled(context.Background(), boss.id, true)
			if !errors.Is(err, store.ErrLastAdmin) {
				t.Errorf("disabling the last admin in the store: %v, want ErrLastAdmin", err)
			}
		})
	}
}

// victim is an account with something of everything: photos (labelled, with text,
// in an album, shared, one with a display image and one marked for reclassification),
// an album and share links, and an object left under its folder as a crashed upload
// would leave it.
func (g *gallery) victim(name string) *user {
	g.t.Helper()
	ctx := context.Background()
	v := g.signUp(name)
	imgs := v.upload(file{"a.jpg", photo(g.t, 40, 30, uint64(len(name)*100+1))}, file{"b.jpg", photo(g.t, 40, 30, uint64(len(name)*100+2))})
	c := store.Classification{Provider: "test", Model: "test", Labels: []store.Label{{Name: "dog", Confidence: 90, Categories: []string{"animal"}}},
		Text: &store.Text{Content: "HELLO 안녕", Confidence: 90, Provider: "test", Model: "test"}}
	if err := g.store.SetLabels(ctx, imgs[0].ID, c); err != nil {
		g.t.Fatal(err)
	}
	g.label(imgs[1].ID, "cat")
	g.mustDo(v, "POST", "/api/images/"+imgs[1].ID+"/reclassify", nil, http.StatusAccepted, nil)
	var album struct{ ID string }
	g.mustDo(v, "POST", "/api/albums", jsonBody(map[string]any{"name": "holiday"}), http.StatusCreated, &album)
	g.mustDo(v, "POST", "/api/albums/"+album.ID+"/images", jsonBody(map[string]any{"imageIds": []string{imgs[0].ID, imgs[1].ID}}), http.StatusOK, nil)
	g.mustDo(v, "POST", "/api/shares", jsonBody(map[string]any{"imageId": imgs[0].ID}), http.StatusCreated, nil)
	g.mustDo(v, "POST", "/api/shares", jsonBody(map[string]any{"albumId": album.ID}), http.StatusCreated, nil)
	keys, err := objects.ImageKeys(strconv.FormatInt(v.id, 10), imgs[0].ID)
	if err != nil {
		g.t.Fatal(err)
	}
	if err := g.objects.Put(ctx, keys.Display, bytes.NewReader([]byte("display")), 7, "image/jpeg"); err != nil {
		g.t.Fatal(err)
	}
	orphan, _ := objects.ImageKeys(strconv.FormatInt(v.id, 10), store.NewImageID())
	if err := g.objects.Put(ctx, orphan.Original, bytes.NewReader([]byte("orphan")), 6, "image/jpeg"); err != nil {
		g.t.Fatal(err)
	}
	return v
}

// objectsOf lists the keys under a user's folder in the object store.
func (g *gallery) objectsOf(id int64) []string {
	g.t.Helper()
	var keys []string
	prefix, _ := objects.OwnerPrefix(strconv.FormatInt(id, 10))
	if err := g.objects.(objects.Lister).List(context.Background(), prefix, func(i objects.Info) error {
		keys = append(keys, i.Key)
		return nil
	}); err != nil {
		g.t.Fatal(err)
	}
	return keys
}

func (g *gallery) tableCounts() map[string]int64 {
	g.t.Helper()
	counts, err := store.TableCounts(context.Background(), g.store)
	if err != nil {
		g.t.Fatal(err)
	}
	return counts
}

// assertErased checks that nothing of the victim is left: every table holds exactly
// the rows it held before the victim signed up (the others' rows are untouched, and
// not one of the victim's remains), and the victim's folder in storage is empty while
// the others' objects are all there.
func (g *gallery) assertErased(v *user, rowsBefore map[string]int64, objectsBefore int) {
	g.t.Helper()
	if _, err := g.store.UserByID(context.Background(), v.id); !errors.Is(err, store.ErrNotFound) {
		g.t.Errorf("the user's row: %v, want ErrNotFound", err)
	}
	after := g.tableCounts()
	for table, n := range after {
		if n != rowsBefore[table] {
			g.t.Errorf("table %s holds %d rows, %d before the erased user signed up", table, n, rowsBefore[table])
		}
	}
	if keys := g.objectsOf(v.id); len(keys) != 0 {
		g.t.Errorf("storage still holds the erased user's %v", keys)
	}
	if n := g.countObjects(); n != objectsBefore {
		g.t.Errorf("storage holds %d objects, %d before the erased user signed up", n, objectsBefore)
	}
}

// TestAccountDeletionLeavesNothing: an admin deletes an account, and a user deletes
// their own, on each database with a real S3 server: afterwards no table holds a row
// of theirs and the bucket no object under their folder, while another user's photos,
// album and links are untouched. The deleted account's session stops at once.
func TestAccountDeletionLeavesNothing(t *testing.T) {
	for _, b := range everyBackend {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			g := newGallery(t, b.db, s3Storage)
			boss := g.admin("boss")
			keeper := g.victim("keeper")
			rowsBefore, objectsBefore := g.tableCounts(), g.countObjects()
			for _, byAdmin := range []bool{true, false} {
				v := g.victim("gone")
				if len(g.objectsOf(v.id)) < 5 {
					t.Fatalf("the victim has only %v stored", g.objectsOf(v.id))
				}
				if byAdmin {
					g.mustDo(boss, "DELETE", userPath(v), nil, http.StatusAccepted, nil)
				} else {
					res, data := g.do(v, "DELETE", "/api/me", jsonBody(map[string]any{"password": "wrong-password"}))
					if res.StatusCode != http.StatusForbidden || errorCode(t, data) != "wrong_password" {
						t.Fatalf("deleting one's account with a wrong password answered %d %s", res.StatusCode, data)
					}
					g.mustDo(v, "DELETE", "/api/me", jsonBody(map[string]any{"password": passwordOf("gone")}), http.StatusAccepted, nil)
				}
				if n, err := g.store.SessionsOfUser(context.Background(), v.id); err != nil || len(n) != 0 {
					t.Errorf("the deleted account still has sessions: %v, %v", n, err)
				}
				res, data := g.do(v, "GET", "/api/me", nil)
				if res.StatusCode != http.StatusUnauthorized {
					t.Errorf("the deleted account's session answered %d %s", res.StatusCode, data)
				}
				testenv.Eventually(t, 30*time.Second, "the account is erased", func() error {
					if _, err := g.store.UserByID(context.Background(), v.id); !errors.Is(err, store.ErrNotFound) {
						return fmt.Errorf("the user's row is still there (%w)", err)
					}
					return nil
				})
				g.assertErased(v, rowsBefore, objectsBefore)
			}
			if n := len(g.objectsOf(keeper.id)); n != 6 {
				t.Errorf("the other user's folder holds %d objects, want their 6", n)
			}
			var shares struct{ Shares []struct{ ID string } }
			g.mustDo(keeper, "GET", "/api/shares", nil, http.StatusOK, &shares)
			if len(shares.Shares) != 2 {
				t.Errorf("the other user has %d share links, want 2", len(shares.Shares))
			}
		})
	}
}

// failingDeletes is an object store whose deletes fail after the first few: a crash
// in the middle of an erasure, as far as the erasure can tell.
type failingDeletes struct {
	objects.Store
	mu   sync.Mutex
	left int
}

func (f *failingDeletes) Delete(ctx context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left == 0 {
		return io.ErrUnexpectedEOF
	}
	f.left--
	return f.Store.Delete(ctx, key)
}

func (f *failingDeletes) List(ctx context.Context, prefix string, fn func(objects.Info) error) error {
	return f.Store.(objects.Lister).List(ctx, prefix, fn)
}

// TestAccountErasureResumesAfterACrash: an erasure that fails midway leaves the
// account marked and refused, and ResumePending (what every server runs each minute)
// finishes it, leaving nothing.
func TestAccountErasureResumesAfterACrash(t *testing.T) {
	g := newGallery(t, mariadb, s3Storage)
	rowsBefore, objectsBefore := g.tableCounts(), g.countObjects()
	v := g.victim("gone")
	ctx := context.Background()
	if err := g.store.RequestErasure(ctx, v.id); err != nil {
		t.Fatal(err)
	}
	broken := accounts.NewEraser(g.store, &failingDeletes{Store: g.objects, left: 2}, nil)
	if err := broken.Erase(ctx, v.id); err == nil {
		t.Fatal("an erasure whose deletes failed reported success")
	}
	u, err := g.store.UserByID(ctx, v.id)
	if err != nil || !u.Erasing() {
		t.Fatalf("after the failed erasure the user is %+v, %v: want still there, marked", u, err)
	}
	if res, _ := g.do(v, "GET", "/api/images", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("an account being erased answered %d", res.StatusCode)
	}
	n, err := g.server.Eraser().ResumePending(ctx)
	if err != nil || n != 1 {
		t.Fatalf("ResumePending = %d, %v; want 1 erased", n, err)
	}
	g.assertErased(v, rowsBefore, objectsBefore)
}

func mustHash(t *testing.T, password string) string {
	t.Helper()
	h, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
