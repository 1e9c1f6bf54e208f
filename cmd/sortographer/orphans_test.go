package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/photos"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
)

// `sortographer orphans` lists the photos no row points to, and removes them with
// -delete once they are older than -grace; a recorded photo stays.
func TestOrphansCommand(t *testing.T) {
	env := galleryEnv(t, "sqlite")
	if code := run([]string{"migrate"}, env, io.Discard); code != 0 {
		t.Fatalf("migrate exited %d", code)
	}
	cfg := mustLoad(t, env)
	ctx := context.Background()
	st, err := store.Open(ctx, cfg.Database, cfg.SQLiteFile())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	objs, err := objects.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.NewUser{Email: "ann@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	p := photos.New(st, objs, queue.NewMemory(queue.Options{}), nil)
	stage := func(data string) photos.Photo {
		ph, err := p.Stage(ctx, store.Image{OwnerID: u.ID, ContentType: "image/jpeg", SizeBytes: int64(len(data)), SHA256: strings.Repeat(data[:1], 64)}, []byte(data), []byte("thumb"))
		if err != nil {
			t.Fatal(err)
		}
		return ph
	}
	recorded := []photos.Photo{stage("a photo")}
	if err := p.Record(ctx, u.ID, recorded); err != nil {
		t.Fatal(err)
	}
	orphan := stage("b photo") // as an upload that crashed before its row

	exists := func(key string) bool {
		ok, err := objects.Exists(ctx, objs, key)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, tc := range []struct {
		args       []string
		logs       []string
		orphanKept bool
	}{
		// Flags persist between runs in one process, so each run sets both.
		{[]string{"-delete=false", "-grace=0s"}, []string{`"imageId":"` + orphan.Image.ID + `"`, `"images":1}`}, true},
		{[]string{"-delete", "-grace=1h"}, []string{`"removed orphaned photos"`, `"images":0}`}, true},
		{[]string{"-delete", "-grace=0s"}, []string{`"removed orphaned photos"`, `"images":1}`}, false},
	} {
		var stderr bytes.Buffer
		if code := run(append([]string{"orphans"}, tc.args...), env, &stderr); code != 0 {
			t.Fatalf("orphans %v exited %d: %s", tc.args, code, stderr.String())
		}
		for _, want := range tc.logs {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("orphans %v logged %s; want %s", tc.args, stderr.String(), want)
			}
		}
		if exists(orphan.Keys.Original) != tc.orphanKept || !exists(recorded[0].Keys.Original) {
			t.Errorf("after orphans %v: orphan kept %v (want %v), recorded photo kept %v (want true)",
				tc.args, exists(orphan.Keys.Original), tc.orphanKept, exists(recorded[0].Keys.Original))
		}
	}
}
