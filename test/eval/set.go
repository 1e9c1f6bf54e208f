// Package eval scores a classifier against a labelled set of real photos (photos.yaml):
// precision and recall per label and overall, with and without the label hierarchy.
// `make eval` runs it (cmd/eval); it is a benchmark, not a test, so `make test` checks
// only its arithmetic and the set itself.
package eval

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// SetFile is the set's path from the repository root.
const SetFile = "test/eval/photos.yaml"

// Set is photos.yaml: the words it was judged for and the photos.
type Set struct {
	Vocabulary Vocabulary `json:"vocabulary"`
	Photos     []Photo    `json:"photos"`
}

// Vocabulary is every word a photo was judged for: Objects are COCO's classes as the
// built-in model names them, Broader the words of its label hierarchy.
type Vocabulary struct {
	Objects []string `json:"objects"`
	Broader []string `json:"broader"`
}

// Has reports whether word is in the vocabulary.
func (v Vocabulary) Has(word string) bool {
	return slices.Contains(v.Objects, word) || slices.Contains(v.Broader, word)
}

// Photo is one photo of the set.
type Photo struct {
	ID string `json:"id"`
	// Package is the Debian package that installs Path.
	Package string `json:"package"`
	Path    string `json:"path"`
	// Labels are the words a person uses for the photo; Maybe the words fair either way,
	// which count neither for nor against a classifier.
	Labels []string `json:"labels"`
	Maybe  []string `json:"maybe"`
	Notes  string   `json:"notes"`
}

// Load reads and checks a set: unique ids, absolute paths, every word in the
// vocabulary, no word both expected and maybe.
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read photo set: %w", err)
	}
	var s Set
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		return nil, fmt.Errorf("parse photo set %s: %w", path, err)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("photo set %s: %w", path, err)
	}
	return &s, nil
}

func (s *Set) check() error {
	var errs []error
	if len(s.Vocabulary.Objects) == 0 || len(s.Photos) == 0 {
		errs = append(errs, errors.New("no vocabulary or no photos"))
	}
	for _, w := range s.Vocabulary.Objects {
		if slices.Contains(s.Vocabulary.Broader, w) {
			errs = append(errs, fmt.Errorf("vocabulary: %q is both an object and a broader word", w))
		}
	}
	ids := map[string]bool{}
	for _, p := range s.Photos {
		if p.ID == "" || ids[p.ID] {
			errs = append(errs, fmt.Errorf("photo %q: empty or repeated id", p.ID))
		}
		ids[p.ID] = true
		if !filepath.IsAbs(p.Path) || p.Package == "" {
			errs = append(errs, fmt.Errorf("photo %s: want an absolute path and the package that installs it", p.ID))
		}
		for _, w := range append(slices.Clone(p.Labels), p.Maybe...) {
			if !s.Vocabulary.Has(w) {
				errs = append(errs, fmt.Errorf("photo %s: %q is not in the vocabulary", p.ID, w))
			}
		}
		for _, w := range p.Maybe {
			if slices.Contains(p.Labels, w) {
				errs = append(errs, fmt.Errorf("photo %s: %q is both a label and a maybe", p.ID, w))
			}
		}
	}
	return errors.Join(errs...)
}

// Missing lists the photos whose file cannot be read, naming the package of each.
func (s *Set) Missing() []string {
	var out []string
	for _, p := range s.Photos {
		if _, err := os.Stat(p.Path); err != nil {
			out = append(out, fmt.Sprintf("%s (package %s)", p.Path, p.Package))
		}
	}
	return out
}

// Bytes are the photo as an upload would give them: the file itself, except a NumPy
// .npz (PyWavelets' samples), whose greyscale array is encoded as a PNG.
func (p Photo) Bytes() ([]byte, error) {
	b, err := os.ReadFile(p.Path)
	if err != nil {
		return nil, fmt.Errorf("read photo %s: %w", p.ID, err)
	}
	if strings.HasSuffix(p.Path, ".npz") {
		if b, err = npzToPNG(b); err != nil {
			return nil, fmt.Errorf("photo %s: %w", p.ID, err)
		}
	}
	return b, nil
}

// npyShape reads the shape from a .npy header such as
// {'descr': '|u1', 'fortran_order': False, 'shape': (512, 512), }.
var npyShape = regexp.MustCompile(`'shape':\s*\((\d+),\s*(\d+),?\s*\)`)

// npzToPNG encodes the one two-dimensional uint8 array of an .npz archive (NumPy's zip of
// .npy files) as a greyscale PNG.
func npzToPNG(npz []byte) ([]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(npz), int64(len(npz)))
	if err != nil {
		return nil, fmt.Errorf("read npz: %w", err)
	}
	if len(zr.File) != 1 {
		return nil, fmt.Errorf("npz holds %d arrays, want 1", len(zr.File))
	}
	f, err := zr.File[0].Open()
	if err != nil {
		return nil, fmt.Errorf("read npz: %w", err)
	}
	defer f.Close()
	npy, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read npz: %w", err)
	}
	// Version 1 of the format: magic, two version bytes, a 2-byte little-endian header
	// length, the header, the data.
	if len(npy) < 10 || string(npy[:6]) != "\x93NUMPY" || npy[6] != 1 {
		return nil, errors.New("not a version 1 .npy array")
	}
	n := int(binary.LittleEndian.Uint16(npy[8:10]))
	if len(npy) < 10+n {
		return nil, errors.New("truncated .npy header")
	}
	header, data := string(npy[10:10+n]), npy[10+n:]
	m := npyShape.FindStringSubmatch(header)
	if !strings.Contains(header, "'descr': '|u1'") || strings.Contains(header, "'fortran_order': True") || m == nil {
		return nil, fmt.Errorf("want a C-order uint8 image, got %s", strings.TrimSpace(header))
	}
	h, _ := strconv.Atoi(m[1])
	w, _ := strconv.Atoi(m[2])
	if h <= 0 || w <= 0 || len(data) != w*h {
		return nil, fmt.Errorf("array %d×%d holds %d bytes", h, w, len(data))
	}
	img := &image.Gray{Pix: data, Stride: w, Rect: image.Rect(0, 0, w, h)}
	var out bytes.Buffer
	if err := png.Encode(&out, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return out.Bytes(), nil
}
