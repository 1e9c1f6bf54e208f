package imaging_test

import (
	"testing"

	"github.com/sortographer/sortographer/internal/imaging"
)

// TestSharedContentType: PNG and WebP keep their type through a share link's copy;
// every other accepted format becomes a JPEG.
func TestSharedContentType(t *testing.T) {
	for _, f := range imaging.Formats() {
		want := "image/jpeg"
		if f == imaging.PNG || f == imaging.WebP {
			want = f.ContentType()
		}
		if got := imaging.SharedContentType(f.ContentType()); got != want {
			t.Errorf("SharedContentType(%s) = %s, want %s", f.ContentType(), got, want)
		}
	}
}
