package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/backup/report"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/testenv"
	"github.com/sortographer/sortographer/internal/testservers"
)

// galleryEnv is the environment of a gallery on this machine with in-process workers
// (the built-in model) and the database given: a fresh one per call.
func galleryEnv(t *testing.T, database string) []string {
	t.Helper()
	env := []string{
		config.EnvDataDir + "=" + t.TempDir(),
		config.EnvListenAddr + "=" + testenv.FreeAddr(t),
		config.EnvMetricsAddr + "=" + testenv.FreeAddr(t),
		config.EnvModelDir + "=" + testservers.ModelDir(t),
		config.EnvShutdownGrace + "=10s",
	}
	var db testservers.Database
	switch database {
	case "sqlite":
		return env
	case "mariadb":
		db = testservers.MariaDB(t)
	case "postgres":
		db = testservers.Postgres(t)
	}
	return append(env,
		config.EnvDatabaseDriver+"="+db.Driver,
		config.EnvDatabaseHost+"="+db.Host,
		config.EnvDatabasePort+"="+strconv.Itoa(db.Port),
		config.EnvDatabaseName+"="+db.Name,
		config.EnvDatabaseUser+"="+db.User,
		config.EnvDatabasePassword+"="+db.Password,
	)
}

// backupEnv is a backup location of each kind: a directory, or a bucket on a real
// S3-compatible server with its own static credentials.
func backupEnv(t *testing.T, kind string) []string {
	t.Helper()
	if kind == "volume" {
		return []string{config.EnvBackupPath + "=" + t.TempDir()}
	}
	srv := testservers.S3(t)
	return []string{
		config.EnvBackupS3Bucket + "=" + srv.Bucket(t),
		config.EnvBackupS3Prefix + "=backups",
		config.EnvBackupS3Endpoint + "=" + srv.Endpoint,
		config.EnvBackupS3Region + "=" + srv.Region,
		config.EnvBackupS3ForcePathStyle + "=true",
		config.EnvBackupS3AccessKeyID + "=" + srv.AccessKey,
		config.EnvBackupS3SecretAccessKey + "=" + srv.SecretKey,
	}
}

// runCommand runs a sortographer command as its own process would and returns its
// report.
func runCommand(t *testing.T, env []string, name string) (report.Report, int, string) {
	t.Helper()
	reportPath := filepath.Join(t.TempDir(), "termination-log")
	var stderr bytes.Buffer
	code := run([]string{name}, append(env, config.EnvBackupGallery+"=photos", config.EnvBackupReportPath+"="+reportPath), &stderr)
	b, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatalf("%s left no report (exit %d): %v\n%s", name, code, err, stderr.String())
	}
	rep, err := report.Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return rep, code, stderr.String()
}

// A gallery backed up while it runs restores into a new gallery (its own database and
// storage) where every user sees exactly what they saw: photos, labels, albums, share
// links, originals and thumbnails byte for byte, and they sign in with their
// passwords. On each database, to a volume and to S3.
func TestBackupAndRestoreThroughTheAPI(t *testing.T) {
	for _, database := range []string{"sqlite", "mariadb", "postgres"} {
		for _, dest := range []string{"volume", "s3"} {
			t.Run(database+" to "+dest, func(t *testing.T) {
				location := backupEnv(t, dest)
				srcEnv := galleryEnv(t, database)
				src := mustLoad(t, srcEnv)
				if code := run([]string{"migrate"}, srcEnv, io.Discard); code != 0 {
					t.Fatalf("migrate: exit %d", code)
				}
				base, stop := startServe(t, src)
				users := fillGallery(t, base)
				want := viewOf(t, base, users)

				rep, code, stderr := runCommand(t, append(srcEnv, location...), "backup")
				if code != 0 || !rep.Succeeded() || rep.Counts["images"] != 4 || rep.Counts["users"] != 2 || rep.Photos.Mode != "copied" {
					t.Fatalf("backup exit %d, report %+v\n%s", code, rep, stderr)
				}
				stop()

				dstEnv := galleryEnv(t, database)
				restored, code, stderr := runCommand(t, append(dstEnv, location...), "restore")
				if code != 0 || !restored.Succeeded() || restored.Backup != rep.Backup || restored.Photos.Verified != rep.Photos.Objects {
					t.Fatalf("restore exit %d, report %+v\n%s", code, restored, stderr)
				}
				dstBase, _ := startServe(t, mustLoad(t, dstEnv))
				for i := range users {
					users[i].token = signIn(t, dstBase, users[i].email)
				}
				got := viewOf(t, dstBase, users)
				for k, w := range want {
					if g := got[k]; g != w {
						t.Errorf("after the restore %s differs:\nwant %.300s\ngot  %.300s", k, w, g)
					}
				}
				if len(got) != len(want) {
					t.Errorf("views: %d after the restore, %d before", len(got), len(want))
				}

				// Once restored, the gallery has data: a second restore of another
				// backup is refused with the reason, and nothing changes.
				again, code, _ := runCommand(t, append(dstEnv, append(location, config.EnvRestoreBackup+"=20200101T000000Z")...), "restore")
				if code == 0 || !strings.Contains(again.Error, "no complete backup named 20200101T000000Z") {
					t.Errorf("restore of a missing backup: exit %d, %q", code, again.Error)
				}
			})
		}
	}
}

func mustLoad(t *testing.T, env []string) config.Config {
	t.Helper()
	cfg, err := config.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type galleryUser struct {
	email, token string
	shares       []string // share link tokens
}

// fillGallery signs two users up; they upload four photos, which the built-in model
// labels; one makes an album of two of them and shares it and one photo.
func fillGallery(t *testing.T, base string) []galleryUser {
	t.Helper()
	users := []galleryUser{{email: "ann@example.com"}, {email: "bob@example.com"}}
	jpg, err := os.ReadFile("/usr/share/darknet/data/dog.jpg")
	if err != nil {
		t.Fatal(err)
	}
	var annImages []string
	for i := range 4 {
		u := &users[min(i/3, 1)]
		if u.token == "" {
			u.token = signUpToken(t, base, u.email)
		}
		// Bytes after the JPEG's end make each upload distinct content.
		id := uploadBytes(t, base, u.token, fmt.Sprintf("dog%d.jpg", i), append(slices.Clone(jpg), bytes.Repeat([]byte{0}, i)...))
		waitLabelled(t, base, u.token, id)
		if u == &users[0] {
			annImages = append(annImages, id)
		}
	}
	call := apiCaller(t, base, users[0].token)
	var album struct{ ID string }
	_ = json.Unmarshal(call("POST", "/api/albums", strings.NewReader(`{"name":"Walks 🐕"}`), "application/json"), &album)
	call("POST", "/api/albums/"+album.ID+"/images", strings.NewReader(`{"imageIds":["`+annImages[0]+`","`+annImages[1]+`"]}`), "application/json")
	for _, body := range []string{`{"albumId":"` + album.ID + `"}`, `{"imageId":"` + annImages[2] + `","expiresInSeconds":172800}`} {
		var share struct{ Token string }
		_ = json.Unmarshal(call("POST", "/api/shares", strings.NewReader(body), "application/json"), &share)
		if share.Token == "" {
			t.Fatalf("share %s: no token", body)
		}
		users[0].shares = append(users[0].shares, share.Token)
	}
	return users
}

func uploadBytes(t *testing.T, base, token, name string, data []byte) string {
	t.Helper()
	body, contentType := multipartPhoto(name, data)
	var page struct{ Images []struct{ ID string } }
	out := apiCaller(t, base, token)("POST", "/api/images", body, contentType)
	if _ = json.Unmarshal(out, &page); len(page.Images) != 1 || page.Images[0].ID == "" {
		t.Fatalf("upload %s: %s", name, out)
	}
	return page.Images[0].ID
}

func signIn(t *testing.T, base, email string) string {
	t.Helper()
	return sessionToken(t, base, "/api/auth/signin", email)
}

// viewOf is everything the users see through the API, by request.
func viewOf(t *testing.T, base string, users []galleryUser) map[string]string {
	t.Helper()
	view := map[string]string{}
	for _, u := range users {
		call := apiCaller(t, base, u.token)
		get := func(path string) []byte {
			b := call("GET", path, nil, "")
			view[u.email+" "+path] = string(b)
			return b
		}
		var list struct{ Images []struct{ ID string } }
		if err := json.Unmarshal(get("/api/images"), &list); err != nil || len(list.Images) == 0 {
			t.Fatalf("%s's images: %v", u.email, err)
		}
		for _, img := range list.Images {
			for _, part := range []string{"", "/original", "/thumbnail"} {
				get("/api/images/" + img.ID + part)
			}
		}
		get("/api/labels")
		get("/api/label-albums")
		get("/api/search?labels=dog")
		var albums struct{ Albums []struct{ ID string } }
		_ = json.Unmarshal(get("/api/albums"), &albums)
		if u.email == "ann@example.com" && len(albums.Albums) != 1 {
			t.Fatalf("%s has %d albums, want 1", u.email, len(albums.Albums))
		}
		for _, a := range albums.Albums {
			get("/api/albums/" + a.ID + "/images")
		}
		get("/api/shares")
		for _, token := range u.shares {
			res, err := http.Get(base + "/api/shared/" + token + "/images")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			view["shared "+token[:6]] = res.Status + " " + string(b)
		}
	}
	return view
}
