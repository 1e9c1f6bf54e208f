package tesseract

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	w := func(text string, conf float64, block, par, line int) word {
		return word{text: text, confidence: conf, block: block, par: par, line: line}
	}
	for _, tc := range []struct {
		name  string
		words []word
		want  string
		conf  float64
	}{
		{"nothing", nil, "", 0},
		{"lines joined, words spaced once", []word{
			w("SORTOGRAPHER", 91, 1, 1, 1), w("receipt", 95, 1, 1, 1),
			w("total", 94, 1, 1, 2), w(" 42\t", 96, 1, 1, 2),
		}, "SORTOGRAPHER receipt\ntotal 42", 94},
		{"a new block or paragraph starts a line", []word{
			w("서울", 97, 1, 1, 1), w("지하철", 97, 2, 1, 1), w("안내", 97, 2, 2, 1),
		}, "서울\n지하철\n안내", 97},
		{"unsure words dropped, and a line left empty", []word{
			w("Region-based", 92, 1, 1, 1), w("sFgx", 40, 1, 1, 2), w("segmentation", 96, 1, 1, 3),
		}, "Region-based\nsegmentation", 94},
		{"fewer than two letters or digits dropped, however sure", []word{
			w("|", 90, 1, 1, 1), w("~", 96, 1, 1, 1), w("4", 97, 1, 1, 2), w("a>", 85, 1, 1, 2), w("협", 85, 1, 1, 2),
			w("B2", 88, 1, 1, 3), w("(40", 85, 1, 1, 3),
		}, "B2 (40", 86.5},
		{"all garbage", []word{w("=", 93, 1, 1, 1), w("ee", 40, 2, 1, 1)}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, conf := text(tc.words, 80)
			if got != tc.want || conf != tc.conf {
				t.Errorf("text = %q (confidence %v), want %q (%v)", got, conf, tc.want, tc.conf)
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	t.Setenv("TESSDATA_PREFIX", "")
	o := Options{}.withDefaults()
	if strings.Join(o.Languages, "+") != "eng+kor" || o.MinConfidence != DefaultMinConfidence || o.DataPath != DefaultDataPath ||
		o.MaxSide != DefaultMaxSide || o.Clients < 1 {
		t.Errorf("defaults = %+v", o)
	}
	t.Setenv("TESSDATA_PREFIX", "/opt/tessdata")
	if o := (Options{}).withDefaults(); o.DataPath != "/opt/tessdata" {
		t.Errorf("with TESSDATA_PREFIX set, DataPath = %q", o.DataPath)
	}
	if o := (Options{DataPath: "/x"}).withDefaults(); o.DataPath != "/x" {
		t.Errorf("DataPath given: %q", o.DataPath)
	}
}

// A language without its data is named with the file and the Debian package to install.
func TestCheckLanguages(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "eng.traineddata"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Options{Languages: []string{"eng", "kor"}, DataPath: dir}.checkLanguages()
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "kor.traineddata")) ||
		!strings.Contains(err.Error(), "apt-get install tesseract-ocr-kor") || strings.Contains(err.Error(), "eng") {
		t.Errorf("err = %v, want kor's file and package named, and not eng", err)
	}
	for _, bad := range []string{"eng+kor", "", "../eng"} {
		if err := (Options{Languages: []string{bad}, DataPath: dir}).checkLanguages(); err == nil {
			t.Errorf("language %q accepted", bad)
		}
	}
}
