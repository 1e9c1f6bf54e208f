package objects

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// files lists every file and folder under root, relative to it.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(root, p); rel != "." {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFilesystemLayout(t *testing.T) {
	root := t.TempDir()
	s, err := NewFilesystem(filepath.Join(root, "new", "objects"))
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "images/1/2/original", []byte("photo"), "image/jpeg")
	b, err := os.ReadFile(filepath.Join(s.Root(), "images", "1", "2", "original"))
	if err != nil || string(b) != "photo" {
		t.Errorf("file on disk = %q, %v; want the object's bytes", b, err)
	}
	want := []string{"images", "images/1", "images/1/2", "images/1/2/.original.content-type", "images/1/2/original"}
	if got := files(t, s.Root()); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("files = %q, want %q", got, want)
	}
}

func TestFilesystemLeavesNothingBehind(t *testing.T) {
	s, err := NewFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put(t, s, "images/1/2/original", []byte("photo"), "image/jpeg")
	// A failed Put leaves no temporary file.
	r := io.MultiReader(strings.NewReader("part"), iotest.ErrReader(errors.New("client went away")))
	if err := s.Put(ctx, "images/1/2/thumb.jpg", r, -1, "image/jpeg"); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	want := []string{"images", "images/1", "images/1/2", "images/1/2/.original.content-type", "images/1/2/original"}
	if got := files(t, s.Root()); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("after a failed Put, files = %q, want %q", got, want)
	}
	// Delete removes the folders it empties.
	if err := s.Delete(ctx, "images/1/2/original"); err != nil {
		t.Fatal(err)
	}
	if got := files(t, s.Root()); len(got) != 0 {
		t.Errorf("after Delete, files = %q, want none", got)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after Delete = %v, want nil: the root must survive", err)
	}
}

func TestFilesystemPingFailsWithoutRoot(t *testing.T) {
	s, err := NewFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// A file where the folder was: even root cannot create a file inside it.
	if err := os.Remove(s.Root()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Root(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Error("Ping succeeded with the root folder gone")
	}
}

func TestNewFilesystemRefusesEmptyRoot(t *testing.T) {
	if _, err := NewFilesystem(""); err == nil {
		t.Error("NewFilesystem(\"\") succeeded, want an error")
	}
}

// A batched store writes the same objects, readable at once, and Sync succeeds; the
// plain store's Sync is a no-op through objects.Sync as well.
func TestFilesystemBatchedThenSync(t *testing.T) {
	fs, err := NewFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := fs.Batched()
	put(t, b, "images/1/a/original", []byte("photo"), "image/jpeg")
	if got, info := get(t, fs, "images/1/a/original"); string(got) != "photo" || info.ContentType != "image/jpeg" {
		t.Fatalf("batched put read back as %q, %+v", got, info)
	}
	if err := Sync(context.Background(), b); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if b.Root() != fs.Root() {
		t.Errorf("batched root %s, want %s", b.Root(), fs.Root())
	}
}
