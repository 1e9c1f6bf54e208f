package api_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	_ "image/gif"  // decoders for image.Decode
	_ "image/jpeg" // decoders for image.Decode
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/api"
)

// locatedPhoto is a 40×20 halves picture (display_test.go) in format (jpg, png, webp or heic) carrying
// where it was taken in every place exiftool writes it: EXIF GPS, XMP's exif:GPS and
// photoshop:City, and (in JPEG) IPTC's City; and EXIF orientation 6. The tools are
// Debian's (hack/install-deps.sh): exiftool, vips and heif-enc.
func locatedPhoto(t *testing.T, format string) []byte {
	t.Helper()
	dir := t.TempDir()
	pngPath := filepath.Join(dir, "src.png")
	if err := os.WriteFile(pngPath, halves(t, 40, 20), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		if b, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s (run hack/install-deps.sh)", name, args, err, b)
		}
	}
	out := filepath.Join(dir, "photo."+format)
	switch format {
	case "png":
		out = pngPath
	case "jpg", "webp":
		run("vips", "copy", pngPath, out+"[Q=95]")
	case "heic":
		jpg := filepath.Join(dir, "src.jpg")
		run("vips", "copy", pngPath, jpg+"[Q=95]")
		run("heif-enc", "-q", "90", "-o", out, jpg)
	}
	tags := []string{"-q", "-overwrite_original", "-n",
		"-GPSLatitude=48.8584", "-GPSLatitudeRef=N", "-GPSLongitude=2.2945", "-GPSLongitudeRef=E",
		"-XMP-exif:GPSLatitude=48.8584", "-XMP-photoshop:City=Paris"}
	if format != "heic" {
		// HEIF turns by its own irot property, which heif-enc writes; an EXIF
		// orientation there is ignored by every reader.
		tags = append(tags, "-Orientation=6")
	}
	if format == "jpg" {
		tags = append(tags, "-IPTC:City=Paris", "-IPTC:Sub-location=Eiffel Tower")
	}
	run("exiftool", append(tags, out)...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(locationTags(t, b)) == 0 {
		t.Fatalf("the %s sample carries no location: exiftool did not write it", format)
	}
	return b
}

// locationTags reads data's metadata with exiftool and returns every tag that tells
// where: GPS anything, and IPTC/XMP city, sub-location, state, country and location.
func locationTags(t *testing.T, data []byte) []string {
	t.Helper()
	cmd := exec.Command("exiftool", "-j", "-a", "-G1", "-n", "-")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("exiftool: %v", err)
	}
	var docs []map[string]any
	if err := json.Unmarshal(out, &docs); err != nil || len(docs) != 1 {
		t.Fatalf("exiftool answered %s: %v", out, err)
	}
	var found []string
	for tag := range docs[0] {
		name := strings.ToLower(tag)
		for _, w := range []string{"gps", "city", "location", "country", "state", "province"} {
			if strings.Contains(name, w) {
				found = append(found, tag)
				break
			}
		}
	}
	return found
}

// orientationTag is data's EXIF orientation as exiftool reads it, 0 for none.
func orientationTag(t *testing.T, data []byte) int {
	t.Helper()
	cmd := exec.Command("exiftool", "-j", "-n", "-Orientation", "-")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("exiftool: %v", err)
	}
	var docs []struct{ Orientation int }
	if err := json.Unmarshal(out, &docs); err != nil || len(docs) != 1 {
		t.Fatalf("exiftool answered %s: %v", out, err)
	}
	return docs[0].Orientation
}

// TestShareLinkStripsLocation: a JPEG, PNG, WebP and HEIC that say where they were taken
// (EXIF GPS, XMP, IPTC) are served through an image link and an album link, original,
// display and thumbnail, with no location that exiftool can read; the pictures stay
// whole and upright (EXIF orientation 6 applied). The owner's original keeps its GPS.
// With location kept (spec.auth.sharing.stripLocation false), the shared original has it.
func TestShareLinkStripsLocation(t *testing.T) {
	formats := []struct {
		ext, contentType, sharedType string
		// w×h as shown: the 40×20 picture turned by orientation 6, except HEIC's.
		w, h int
	}{
		{"jpg", "image/jpeg", "image/jpeg", 20, 40},
		{"png", "image/png", "image/png", 20, 40},
		{"webp", "image/webp", "image/webp", 20, 40},
		{"heic", "image/heic", "image/jpeg", 40, 20},
	}
	for _, keep := range []bool{false, true} {
		name := "stripped"
		if keep {
			name = "kept"
		}
		t.Run(name, func(t *testing.T) {
			g := newGallery(t, sqlite, filesystem, func(d *api.Deps) { d.ShareKeepsLocation = keep })
			u := g.signUp("traveller")
			album := u.createAlbum("Paris")
			for _, f := range formats {
				t.Run(f.ext, func(t *testing.T) {
					original := locatedPhoto(t, f.ext)
					img := u.upload(file{"photo." + f.ext, original})[0]
					if img.ContentType != f.contentType {
						t.Fatalf("uploaded as %s, want %s", img.ContentType, f.contentType)
					}
					u.addToAlbum(album, img)
					res, own := g.do(u, "GET", img.OriginalURL, nil)
					if res.StatusCode != http.StatusOK || !bytes.Equal(own, original) || len(locationTags(t, own)) == 0 {
						t.Errorf("owner's original: %d, the upload byte for byte: %v, location %v; want all of it",
							res.StatusCode, bytes.Equal(own, original), locationTags(t, own))
					}

					links := map[string]string{
						"image link": u.share(map[string]any{"imageId": img.ID}).Token,
						"album link": u.share(map[string]any{"albumId": album.ID}).Token,
					}
					for link, token := range links {
						base := "/api/shared/" + token + "/images/" + img.ID
						for _, variant := range []string{"original", "display", "thumbnail"} {
							res, data := g.do(nil, "GET", base+"/"+variant, nil)
							if res.StatusCode != http.StatusOK {
								t.Fatalf("%s %s: %d %s", link, variant, res.StatusCode, data)
							}
							tags := locationTags(t, data)
							// Kept, the original (and a display that is the original) is
							// the upload itself; thumbnails and display JPEGs never had it.
							wantLocation := keep && (variant == "original" || variant == "display" && f.ext != "heic")
							if (len(tags) > 0) != wantLocation {
								t.Errorf("%s %s: location tags %v, want some: %v", link, variant, tags, wantLocation)
							}
							if keep || variant == "thumbnail" {
								continue
							}
							wantType := f.sharedType
							if variant == "display" && f.ext == "heic" {
								wantType = "image/jpeg" // the display JPEG
							}
							if got := res.Header.Get("Content-Type"); got != wantType {
								t.Errorf("%s %s: content type %s, want %s", link, variant, got, wantType)
							}
							if o := orientationTag(t, data); o != 0 && o != 1 {
								t.Errorf("%s %s: EXIF orientation %d on pixels already upright", link, variant, o)
							}
							checkUprightHalves(t, link+" "+variant, data, f.w, f.h, f.ext == "heic")
						}
					}
				})
			}
		})
	}
}

// checkUprightHalves decodes a served picture and checks its size and that its red and
// blue halves are where the photo shows them: top and bottom once turned by orientation
// 6, left and right for the HEIC that was not turned. The WebP and HEIC are decoded by
// vips, which the test has for that.
func checkUprightHalves(t *testing.T, what string, data []byte, w, h int, leftRight bool) {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		// WebP: no decoder in the standard library; vips makes a PNG of it.
		dir := t.TempDir()
		in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out.png")
		if err := os.WriteFile(in, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command("vips", "copy", in, out).CombinedOutput(); err != nil {
			t.Fatalf("%s: undecodable: %v\n%s", what, err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = png.Decode(bytes.NewReader(b)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if got := img.Bounds().Size(); got.X != w || got.Y != h {
		t.Errorf("%s: %d×%d, want %d×%d", what, got.X, got.Y, w, h)
		return
	}
	red, blue := image.Pt(w/2, h/4), image.Pt(w/2, 3*h/4)
	if leftRight {
		red, blue = image.Pt(w/4, h/2), image.Pt(3*w/4, h/2)
	}
	isRed := func(c color.Color) bool { r, _, b, _ := c.RGBA(); return r > 0xa000 && b < 0x6000 }
	isBlue := func(c color.Color) bool { r, _, b, _ := c.RGBA(); return b > 0xa000 && r < 0x6000 }
	if !isRed(img.At(red.X, red.Y)) || !isBlue(img.At(blue.X, blue.Y)) {
		t.Errorf("%s: at %v %v and at %v %v, want red then blue: the picture is not upright", what, red, img.At(red.X, red.Y), blue, img.At(blue.X, blue.Y))
	}
}
