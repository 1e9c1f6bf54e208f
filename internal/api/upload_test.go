package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"net/http"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/api"
)

// pngHeader is a PNG that declares w×h pixels and holds none: a decompression bomb's
// header, or (small) a truncated file.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IEND", nil)
	return b.Bytes()
}

// TestBadUploads: every refused upload answers 4xx and leaves nothing in storage, the
// database or the queue, including the good files sent alongside a bad one.
func TestBadUploads(t *testing.T) {
	const limit = 100_000
	for _, b := range []struct {
		name    string
		db      database
		storage storage
	}{{"filesystem", sqlite, filesystem}, {"s3", sqlite, s3Storage}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			g := newGallery(t, b.db, b.storage, withUploadLimit(limit), func(d *api.Deps) { d.MaxFilesPerUpload = 3 })
			u := g.signUp("uploader")
			good := photo(t, 120, 80, 7)
			oversize := append(photo(t, 120, 80, 8), make([]byte, limit)...)
			cases := []struct {
				name  string
				body  *body
				want  int
				code  string
				files []file
			}{
				{name: "wrong type", want: http.StatusUnsupportedMediaType, code: "unsupported_type",
					files: []file{{"notes.jpg", []byte("these are not the pixels you are looking for")}}},
				{name: "svg", want: http.StatusUnsupportedMediaType, code: "unsupported_type",
					files: []file{{"x.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)}}},
				{name: "truncated", want: http.StatusBadRequest, code: "bad_image",
					files: []file{{"cut.jpg", good[:len(good)/2]}}},
				{name: "oversize", want: http.StatusRequestEntityTooLarge, code: "too_large",
					files: []file{{"big.jpg", oversize}}},
				{name: "bomb", want: http.StatusUnprocessableEntity, code: "too_many_pixels",
					files: []file{{"bomb.png", pngHeader(15000, 15000)}}},
				{name: "bomb side", want: http.StatusUnprocessableEntity, code: "too_many_pixels",
					files: []file{{"bomb.png", pngHeader(1, 30000)}}},
				{name: "header only", want: http.StatusBadRequest, code: "bad_image",
					files: []file{{"hollow.png", pngHeader(100, 100)}}},
				{name: "empty", want: http.StatusBadRequest, code: "bad_image",
					files: []file{{"empty.jpg", nil}}},
				{name: "good then bad", want: http.StatusUnsupportedMediaType, code: "unsupported_type",
					files: []file{{"good.jpg", good}, {"good2.jpg", photo(t, 50, 50, 9)}, {"bad.txt", []byte("text")}}},
				{name: "too many files", want: http.StatusRequestEntityTooLarge, code: "too_many_files",
					files: []file{{"1.jpg", good}, {"2.jpg", good}, {"3.jpg", good}, {"4.jpg", good}}},
				{name: "no files", want: http.StatusBadRequest, code: "no_files", files: []file{}},
				{name: "not multipart", want: http.StatusBadRequest, code: "bad_upload",
					body: jsonBody(map[string]string{"file": "x"})},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					bd := c.body
					if bd == nil {
						bd = multipartBody(t, c.files...)
					}
					res, data := g.do(u, "POST", "/api/images", bd)
					var e struct{ Error struct{ Code string } }
					_ = json.Unmarshal(data, &e)
					if res.StatusCode != c.want || e.Error.Code != c.code {
						t.Errorf("= %d %s, want %d %s", res.StatusCode, data, c.want, c.code)
					}
					g.assertEmpty(u)
				})
			}
			// The gallery still takes a good photo afterwards.
			u.upload(file{"good.jpg", good})
		})
	}
}

// assertEmpty checks that u has no images and storage and the queue hold nothing.
func (g *gallery) assertEmpty(u *user) {
	g.t.Helper()
	if n := g.countObjects(); n != 0 {
		g.t.Errorf("storage holds %d objects, want none", n)
	}
	p, err := g.store.ListImages(context.Background(), u.id, storePage())
	if err != nil || len(p.Images) != 0 {
		g.t.Errorf("database holds %d images (%v), want none", len(p.Images), err)
	}
	if d, _ := g.queue.Depth(context.Background()); d != 0 {
		g.t.Errorf("queue holds %d jobs, want none", d)
	}
}

// TestUploadAnswersAtOnce: the answer names each image's place in the queue, behind
// the jobs already waiting.
func TestUploadQueuePositions(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	a, b := g.signUp("a"), g.signUp("b")
	a.upload(file{"1.jpg", photo(t, 32, 32, 1)}, file{"2.jpg", photo(t, 32, 32, 2)})
	imgs := b.upload(file{"3.jpg", photo(t, 32, 32, 3)})
	if p := imgs[0].QueuePosition; p == nil || *p != 2 {
		t.Errorf("third upload's position %v, want 2", p)
	}
	var one imageJSON
	g.mustDo(b, "GET", "/api/images/"+imgs[0].ID, nil, http.StatusOK, &one)
	if one.QueuePosition == nil || *one.QueuePosition != 2 || one.Status != "queued" {
		t.Errorf("image reads %+v", one)
	}
}

// TestUploadNamesTheBadFile: the error says which file was refused, without echoing
// anything that is not text.
func TestUploadNamesTheBadFile(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	u := g.signUp("u")
	_, data := g.do(u, "POST", "/api/images", multipartBody(t, file{"holiday.txt", []byte("nope")}))
	if !strings.Contains(string(data), "holiday.txt") {
		t.Errorf("error %s does not name the file", data)
	}
}
