package eval

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"image"
	"image/png"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/builtin"
)

// A confusion small enough to count by hand:
//
//	a: expected cat, animal (indoor maybe); given cat, animal, indoor, dog
//	b: expected dog;                         given cat
//	c: expected nothing;                     given car (not judged)
//	d: expected cat, sofa (not judged);      given cat
//
// cat: TP 2 (a, d), FP 1 (b) → P 2/3, R 1, F1 4/5. animal: TP 1 → 1, 1, 1.
// dog: FP 1 (a), FN 1 (b) → 0, 0, 0. indoor: maybe, counted nowhere. car: unjudged.
// Micro: TP 3, FP 2, FN 1 → P 3/5, R 3/4, F1 6/9. Macro: P (2/3+1+0)/3 = 5/9,
// R (1+1+0)/3 = 2/3, F1 (4/5+1+0)/3 = 3/5.
func TestJudgeCountsByHand(t *testing.T) {
	cases := []Case{
		{ID: "a", Expected: []string{"cat", "animal"}, Maybe: []string{"indoor"}, Predicted: []string{"cat", "animal", "indoor", "dog"}},
		{ID: "b", Expected: []string{"dog"}, Predicted: []string{"cat"}},
		{ID: "c", Predicted: []string{"car"}},
		{ID: "d", Expected: []string{"cat", "sofa"}, Predicted: []string{"cat"}},
	}
	judged := func(w string) bool { return w != "car" && w != "sofa" }
	s := Judge(cases, judged)

	wantLabels := map[string]Counts{"cat": {TP: 2, FP: 1}, "animal": {TP: 1}, "dog": {FP: 1, FN: 1}}
	if !reflect.DeepEqual(s.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", s.Labels, wantLabels)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"cat precision", s.Labels["cat"].Precision(), 2.0 / 3},
		{"cat recall", s.Labels["cat"].Recall(), 1},
		{"cat F1", s.Labels["cat"].F1(), 4.0 / 5},
		{"dog precision", s.Labels["dog"].Precision(), 0},
		{"dog F1", s.Labels["dog"].F1(), 0},
		{"micro precision", s.Micro.Precision(), 3.0 / 5},
		{"micro recall", s.Micro.Recall(), 3.0 / 4},
		{"micro F1", s.Micro.F1(), 6.0 / 9},
		{"macro precision", s.MacroPrecision, 5.0 / 9},
		{"macro recall", s.MacroRecall, 2.0 / 3},
		{"macro F1", s.MacroF1, 3.0 / 5},
	} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if s.Micro != (Counts{TP: 3, FP: 2, FN: 1}) {
		t.Errorf("micro counts %+v", s.Micro)
	}
	wantMistakes := []Mistakes{{ID: "a", FP: []string{"dog"}}, {ID: "b", FP: []string{"cat"}, FN: []string{"dog"}}}
	if !reflect.DeepEqual(s.Mistakes, wantMistakes) {
		t.Errorf("mistakes %+v, want %+v", s.Mistakes, wantMistakes)
	}
	if !reflect.DeepEqual(s.Unjudged, map[string]int{"car": 1}) || !slices.Equal(s.MaybeGiven, []string{"a: indoor"}) {
		t.Errorf("unjudged %v, maybe given %v; want car ×1 and a's indoor", s.Unjudged, s.MaybeGiven)
	}
	if got := s.Names(); !slices.Equal(got, []string{"cat", "animal", "dog"}) {
		t.Errorf("names %v, want the most expected first, then by name", got)
	}
}

// Undefined ratios are NaN and print as "–", never as 0 % or 100 %.
func TestUndefinedRatios(t *testing.T) {
	var none Counts
	if !math.IsNaN(none.Precision()) || !math.IsNaN(none.Recall()) || !math.IsNaN(none.F1()) {
		t.Errorf("empty counts: %v %v %v, want NaN", none.Precision(), none.Recall(), none.F1())
	}
	onlyFN := Counts{FN: 2}
	if !math.IsNaN(onlyFN.Precision()) || onlyFN.Recall() != 0 || onlyFN.F1() != 0 {
		t.Errorf("a label never given: P %v R %v F1 %v", onlyFN.Precision(), onlyFN.Recall(), onlyFN.F1())
	}
	if Percent(math.NaN()) != "–" || Percent(2.0/3) != "66.7" {
		t.Errorf("Percent: %q %q", Percent(math.NaN()), Percent(2.0/3))
	}
	if s := Judge(nil, func(string) bool { return true }); !math.IsNaN(s.MacroF1) || !math.IsNaN(s.Micro.Precision()) {
		t.Errorf("no cases: %+v", s)
	}
}

// The modes read the same labels three ways: the hierarchy adds parents; the broader
// words are judged only when the mode says so.
func TestModes(t *testing.T) {
	set := &Set{
		Vocabulary: Vocabulary{Objects: []string{"cat", "dog"}, Broader: []string{"animal", "pet"}},
		Photos:     []Photo{{ID: "p", Labels: []string{"cat", "animal", "pet"}}},
	}
	labels := map[string][]classify.Label{"p": {
		{Name: "cat", Confidence: 90, Parents: []string{"animal", "pet"}},
		{Name: "dog", Confidence: 40, Parents: []string{"animal", "pet"}},
	}}
	if got := Given(labels["p"], true); !slices.Equal(got, []string{"animal", "cat", "dog", "pet"}) {
		t.Errorf("given with the hierarchy %v", got)
	}
	want := []Counts{{TP: 1, FP: 1}, {TP: 1, FP: 1, FN: 2}, {TP: 3, FP: 1}}
	for i, m := range Modes {
		if got := set.Score(labels, m).Micro; got != want[i] {
			t.Errorf("%s: %+v, want %+v", m.Name, got, want[i])
		}
	}
}

func TestNPZToPNG(t *testing.T) {
	pix := []byte{0, 10, 20, 30, 40, 250}
	header := "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }"
	header += strings.Repeat(" ", 5) + "\n" // NumPy pads the header with spaces and ends it with a newline
	npy := append([]byte("\x93NUMPY\x01\x00"), binary.LittleEndian.AppendUint16(nil, uint16(len(header)))...)
	npy = append(append(npy, header...), pix...)
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	f, err := zw.Create("data.npy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(npy); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}

	out, err := npzToPNG(z.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := img.(*image.Gray)
	if !ok || g.Rect.Dx() != 3 || g.Rect.Dy() != 2 || !bytes.Equal(g.Pix, pix) {
		t.Fatalf("decoded %T %v %v, want 3×2 grey %v", img, img.Bounds(), g.Pix, pix)
	}
	if _, err := npzToPNG([]byte("not a zip")); err == nil {
		t.Error("a file that is not an npz was accepted")
	}
}

// The committed set loads, and its vocabulary is exactly COCO's 80 classes and the
// broader words of the built-in hierarchy: a word added to the hierarchy must be judged
// here before the eval can run (cmd/eval checks the model's own labels too).
func TestTheSet(t *testing.T) {
	set, err := Load("photos.yaml") // tests run in their package's folder
	if err != nil {
		t.Fatal(err)
	}
	if n := len(set.Vocabulary.Objects); n != 80 {
		t.Errorf("%d objects, want COCO's 80", n)
	}
	parents := map[string]bool{}
	for _, o := range set.Vocabulary.Objects {
		ps := builtin.Parents(o)
		if len(ps) == 0 {
			t.Errorf("object %q has no parents in the built-in hierarchy: not one of the model's names?", o)
		}
		for _, p := range ps {
			parents[p] = true
			if !slices.Contains(set.Vocabulary.Broader, p) {
				t.Errorf("the hierarchy gives %q (for %s), which the set was not judged for", p, o)
			}
		}
	}
	for _, b := range set.Vocabulary.Broader {
		if !parents[b] {
			t.Errorf("broader word %q is no parent in the hierarchy", b)
		}
	}
	if len(set.Photos) < 30 {
		t.Errorf("%d photos, want at least 30", len(set.Photos))
	}
}

func TestLoadRefusesWordsOutsideTheVocabulary(t *testing.T) {
	s := &Set{
		Vocabulary: Vocabulary{Objects: []string{"cat"}, Broader: []string{"animal"}},
		Photos: []Photo{
			{ID: "a", Package: "p", Path: "/a.jpg", Labels: []string{"cat", "kitten"}},
			{ID: "a", Package: "p", Path: "/b.jpg", Labels: []string{"cat"}, Maybe: []string{"cat"}},
		},
	}
	err := s.check()
	for _, want := range []string{`"kitten" is not in the vocabulary`, "repeated id", `"cat" is both a label and a maybe`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check: %v, want it to say %s", err, want)
		}
	}
}
