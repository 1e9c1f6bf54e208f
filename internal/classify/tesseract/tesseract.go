// Package tesseract reads the words in photos offline, with Debian's libtesseract (5.3)
// through github.com/otiai10/gosseract/v2 and the language data of Debian's
// tesseract-ocr-<lang> packages (English and Korean by default). It implements
// classify.TextReader.
//
// Each photo is read from the JPEG imaging.ClassifierJPEG makes of it (any format the
// gallery accepts, upright, sRGB), at most Options.MaxSide pixels on its longest side.
// Tesseract's words come back with a confidence each. On a photo without writing it
// still sees words in bricks, leaves and shadows: almost all of one character ("|",
// "~", "a", "4"), and below 80. So words under Options.MinConfidence, and words with
// fewer than two letters or digits, are dropped, and what is left is joined line by
// line. (A one-character word is also one no full-text index of the gallery's
// databases finds: MariaDB's ngram parser needs two.)
//
// A gosseract client (one tesseract::TessBaseAPI) must not be used by two goroutines at
// once and holds its own copy of the language data (about 33 MB for eng+kor): a Reader
// keeps a pool of at most Options.Clients, made as workers need them. Debian's
// libtesseract is built with OpenMP, whose threads spin while they wait: with
// OMP_THREAD_LIMIT=1 in the process's environment (read when the library loads; the
// gallery image and the Makefile set it) a photo costs about a quarter of the CPU time
// for the same text (BenchmarkReadText: 1.6 s instead of 6.8 s for the English card).
//
// Without cgo there is no libtesseract: New returns ErrNoCgo (tesseract_nocgo.go).
package tesseract

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unicode"
)

// Provider is recorded with the text; the model is the languages joined by "+"
// ("eng+kor").
const Provider = "tesseract"

// DefaultDataPath is where Debian's tesseract-ocr-<lang> packages put the language data
// (<lang>.traineddata), the folder Debian's libtesseract5 reads by default.
const DefaultDataPath = "/usr/share/tesseract-ocr/5/tessdata"

// Defaults of Options.
var DefaultLanguages = []string{"eng", "kor"}

const (
	DefaultMinConfidence = 80
	DefaultMaxSide       = 2048
)

// Options configure New. Zero values take the defaults.
type Options struct {
	// Languages are Tesseract's language codes, each with a <code>.traineddata in
	// DataPath. Default DefaultLanguages (English and Korean).
	Languages []string
	// MinConfidence (0–100) drops words Tesseract is less sure of. Default
	// DefaultMinConfidence.
	MinConfidence float64
	// DataPath is the folder holding the .traineddata files. Default $TESSDATA_PREFIX,
	// else DefaultDataPath.
	DataPath string
	// MaxSide is the longest side, in pixels, of the image Tesseract reads: a larger
	// photo is scaled down to it. Default DefaultMaxSide.
	MaxSide int
	// Clients is how many photos are read at once at most, each by its own Tesseract
	// instance with its own copy of the language data, made when first needed. Default
	// GOMAXPROCS (the CPUs the container may use): a recognition keeps one CPU busy.
	Clients int
}

func (o Options) withDefaults() Options {
	if len(o.Languages) == 0 {
		o.Languages = DefaultLanguages
	}
	if o.MinConfidence <= 0 {
		o.MinConfidence = DefaultMinConfidence
	}
	if o.DataPath == "" {
		o.DataPath = os.Getenv("TESSDATA_PREFIX")
	}
	if o.DataPath == "" {
		o.DataPath = DefaultDataPath
	}
	if o.MaxSide <= 0 {
		o.MaxSide = DefaultMaxSide
	}
	if o.Clients <= 0 {
		o.Clients = runtime.GOMAXPROCS(0)
	}
	return o
}

// checkLanguages fails, naming the file and the Debian package that brings it, when a
// language's data is missing. Tesseract would say so too, but on stderr, after the
// language data of the others is loaded.
func (o Options) checkLanguages() error {
	var missing []string
	for _, l := range o.Languages {
		if l == "" || strings.ContainsAny(l, "+/") {
			return fmt.Errorf("tesseract: language %q: want a code such as eng or kor", l)
		}
		if _, err := os.Stat(filepath.Join(o.DataPath, l+".traineddata")); err != nil {
			missing = append(missing, fmt.Sprintf("%s (apt-get install tesseract-ocr-%s)", filepath.Join(o.DataPath, l+".traineddata"), l))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("tesseract: language data missing: %s", strings.Join(missing, ", "))
	}
	return nil
}

// ErrNoCgo is New's error in a binary built without cgo.
var ErrNoCgo = errors.New("tesseract: needs a binary built with cgo (libtesseract)")

// word is one word Tesseract read, with where it sits: lines are numbered within
// paragraphs, paragraphs within blocks.
type word struct {
	text             string
	confidence       float64
	block, par, line int
}

// text joins the words at or above minConfidence, line by line: spaces within a line
// collapsed to one, a line with no word left dropped. Words with fewer than two letters
// or digits are dropped whatever their confidence. Its confidence is the mean of the
// words kept.
func text(words []word, minConfidence float64) (content string, confidence float64) {
	var lines []string
	var cur []string
	var sum float64
	kept := 0
	flush := func() {
		if len(cur) > 0 {
			lines = append(lines, strings.Join(cur, " "))
		}
		cur = cur[:0]
	}
	for i, w := range words {
		if i > 0 && (w.block != words[i-1].block || w.par != words[i-1].par || w.line != words[i-1].line) {
			flush()
		}
		t := strings.Join(strings.Fields(w.text), " ")
		if w.confidence < minConfidence || letters(t) < 2 {
			continue
		}
		cur = append(cur, t)
		sum += w.confidence
		kept++
	}
	flush()
	if kept == 0 {
		return "", 0
	}
	return strings.Join(lines, "\n"), sum / float64(kept)
}

// letters counts the letters and digits in s.
func letters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n
}
