package eval

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/sortographer/sortographer/internal/classify"
)

// Mode is one way of reading a classifier's answer: with or without each label's
// parents (the hierarchy the worker stores as derived labels), judged on COCO's objects
// only or on every word of the vocabulary.
type Mode struct {
	Name string
	// Hierarchy adds each label's parents to the words given, as the worker stores them.
	Hierarchy bool
	// Broader judges the vocabulary's broader words too (animal, vehicle, …): without the
	// hierarchy the built-in model never gives them, so their recall is 0.
	Broader bool
}

// Modes are the three rows of the summary: the model's own classes; every word without
// the hierarchy (what a search found before it); every word with it.
var Modes = []Mode{
	{Name: "COCO objects, no hierarchy"},
	{Name: "every word, no hierarchy", Broader: true},
	{Name: "every word, with hierarchy", Hierarchy: true, Broader: true},
}

// Given are the words a classifier's labels give a photo: their names, and with the
// hierarchy their parents.
func Given(labels []classify.Label, hierarchy bool) []string {
	var out []string
	for _, l := range labels {
		out = append(out, l.Name)
		if hierarchy {
			out = append(out, l.Parents...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Score judges the labels each photo got (by photo id) in a mode.
func (s *Set) Score(labels map[string][]classify.Label, m Mode) Score {
	cases := make([]Case, len(s.Photos))
	for i, p := range s.Photos {
		cases[i] = Case{ID: p.ID, Expected: p.Labels, Maybe: p.Maybe, Predicted: Given(labels[p.ID], m.Hierarchy)}
	}
	judged := func(w string) bool {
		return slices.Contains(s.Vocabulary.Objects, w) || (m.Broader && slices.Contains(s.Vocabulary.Broader, w))
	}
	return Judge(cases, judged)
}

// Percent formats a 0–1 ratio as a percentage with one decimal, "–" when undefined.
func Percent(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.1f", 100*v)
}

// PrintLabels writes a Markdown table of every label scored: how often it was
// expected and given, its counts, precision, recall and F1 (in %).
func PrintLabels(w io.Writer, s Score, broader []string) {
	t := table{header: []string{"label", "kind", "expected", "given", "TP", "FP", "FN", "precision", "recall", "F1"}}
	for _, name := range s.Names() {
		c := s.Labels[name]
		kind := "object"
		if slices.Contains(broader, name) {
			kind = "broader"
		}
		t.add(name, kind, fmt.Sprint(c.TP+c.FN), fmt.Sprint(c.TP+c.FP), fmt.Sprint(c.TP), fmt.Sprint(c.FP), fmt.Sprint(c.FN),
			Percent(c.Precision()), Percent(c.Recall()), Percent(c.F1()))
	}
	t.write(w)
}

// PrintSummary writes a Markdown table of the overall figures of each mode, in %.
func PrintSummary(w io.Writer, modes []Mode, scores []Score) {
	t := table{header: []string{"mode", "TP", "FP", "FN", "micro P", "micro R", "micro F1", "macro P", "macro R", "macro F1"}}
	for i, m := range modes {
		s := scores[i]
		t.add(m.Name, fmt.Sprint(s.Micro.TP), fmt.Sprint(s.Micro.FP), fmt.Sprint(s.Micro.FN),
			Percent(s.Micro.Precision()), Percent(s.Micro.Recall()), Percent(s.Micro.F1()),
			Percent(s.MacroPrecision), Percent(s.MacroRecall), Percent(s.MacroF1))
	}
	t.write(w)
}

// PrintThresholds writes a Markdown table of the micro figures, in %, of the COCO
// objects without the hierarchy and of every word with it, at each threshold; labelsAt
// gives the labels each photo gets at one.
func PrintThresholds(w io.Writer, s *Set, thresholds []float64, configured float64, labelsAt func(float64) map[string][]classify.Label) {
	objects, all := Modes[0], Modes[len(Modes)-1]
	t := table{header: []string{"threshold", "objects P", "objects R", "objects F1", "every word P", "every word R", "every word F1"}}
	for _, th := range thresholds {
		labels := labelsAt(th)
		o, a := s.Score(labels, objects).Micro, s.Score(labels, all).Micro
		name := fmt.Sprintf("%g", th)
		if th == configured {
			name += " (configured)"
		}
		t.add(name, Percent(o.Precision()), Percent(o.Recall()), Percent(o.F1()), Percent(a.Precision()), Percent(a.Recall()), Percent(a.F1()))
	}
	t.write(w)
}

// PrintMistakes writes one line per photo with a mistake; detail adds what is known of
// a word (a confidence, the label it was derived from, the score below the threshold).
func PrintMistakes(w io.Writer, s Score, detail func(id, word string) string) {
	words := func(id string, ws []string) string {
		out := make([]string, len(ws))
		for i, word := range ws {
			out[i] = word
			if d := detail(id, word); d != "" {
				out[i] += " (" + d + ")"
			}
		}
		return strings.Join(out, ", ")
	}
	for _, m := range s.Mistakes {
		line := "- " + m.ID + ":"
		if len(m.FP) > 0 {
			line += " false positives: " + words(m.ID, m.FP) + "."
		}
		if len(m.FN) > 0 {
			line += " false negatives: " + words(m.ID, m.FN) + "."
		}
		fmt.Fprintln(w, line)
	}
	if len(s.Mistakes) == 0 {
		fmt.Fprintln(w, "- none")
	}
}

// table is a Markdown table with its columns padded to line up in a terminal.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	width := make([]int, len(t.header))
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(r []string) {
		var b strings.Builder
		for i, c := range r {
			b.WriteString("| " + c + strings.Repeat(" ", width[i]-len([]rune(c))) + " ")
		}
		fmt.Fprintln(w, b.String()+"|")
	}
	line(t.header)
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, r := range t.rows {
		line(r)
	}
}
