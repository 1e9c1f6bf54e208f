package main

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestThumbnailCommand: `sortographer thumbnail IN OUT` writes a HEIC's thumbnail (made
// by heif-enc at test time) as a JPEG that fits 400 px, and refuses, with status 1 and
// the reason, a file that is no photo and one that is not there; with other than two
// arguments it prints its usage and exits 2.
func TestThumbnailCommand(t *testing.T) {
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	for _, argv := range [][]string{
		{"vips", "black", file("photo.png"), "900", "600", "--bands", "3"},
		{"heif-enc", "-q", "50", "-o", file("photo.heic"), file("photo.png")},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	if err := os.WriteFile(file("notes.txt"), []byte("not a photo at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		args   []string
		status int
		says   string      // in the output
		size   image.Point // of the thumbnail written; zero for none
	}{
		{"a HEIC", []string{"thumbnail", file("photo.heic"), file("photo.jpg")}, 0, `"msg":"made thumbnail"`, image.Pt(400, 267)},
		{"no photo", []string{"thumbnail", file("notes.txt"), file("notes.jpg")}, 1, "unsupported image format", image.Point{}},
		{"no file", []string{"thumbnail", file("gone.heic"), file("gone.jpg")}, 1, "no such file", image.Point{}},
		{"one argument", []string{"thumbnail", file("photo.heic")}, 2, "want IN OUT", image.Point{}},
		{"three arguments", []string{"thumbnail", file("photo.heic"), file("a.jpg"), file("b.jpg")}, 2, "want IN OUT", image.Point{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if got := run(c.args, nil, &out); got != c.status {
				t.Fatalf("run(%q) = %d, want %d\n%s", c.args, got, c.status, out.String())
			}
			if !strings.Contains(out.String(), c.says) {
				t.Errorf("output does not say %q:\n%s", c.says, out.String())
			}
			if len(c.args) != 3 {
				return
			}
			written := c.args[2]
			b, err := os.ReadFile(written)
			if c.size == (image.Point{}) {
				if err == nil {
					t.Errorf("wrote %s", written)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			thumb, err := jpeg.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("the thumbnail is no JPEG: %v", err)
			}
			if got := thumb.Bounds().Size(); got != c.size {
				t.Errorf("thumbnail %v, want %v", got, c.size)
			}
		})
	}
}
