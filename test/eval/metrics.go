package eval

import (
	"math"
	"slices"
	"sort"
)

// Case is one photo as judged: the words a person uses for it, the words fair either
// way, and the words a classifier gave it.
type Case struct {
	ID        string
	Expected  []string
	Maybe     []string
	Predicted []string
}

// Counts are one label's (or all labels') true positives (given and expected), false
// positives (given, not expected) and false negatives (expected, not given).
type Counts struct{ TP, FP, FN int }

func (c *Counts) add(o Counts) { c.TP, c.FP, c.FN = c.TP+o.TP, c.FP+o.FP, c.FN+o.FN }

// Precision is TP/(TP+FP): NaN when nothing was given.
func (c Counts) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall is TP/(TP+FN): NaN when nothing was expected.
func (c Counts) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// F1 is the harmonic mean of precision and recall, 2TP/(2TP+FP+FN): 0 with no true
// positive, NaN when the label was neither given nor expected.
func (c Counts) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// Mistakes are one photo's false positives and false negatives.
type Mistakes struct {
	ID     string
	FP, FN []string
}

// Score is a classifier's result on a set of cases, over the words judged.
type Score struct {
	// Labels holds every judged word that was expected or given at least once.
	Labels map[string]Counts
	// Micro sums every label's counts: its precision and recall weigh each photo-label
	// decision alike, so common labels count most.
	Micro Counts
	// Macro are the means over labels, weighing a rare label like a common one: precision
	// over the labels given at least once, recall over those expected at least once, F1
	// over both (NaN when there are none).
	MacroPrecision, MacroRecall, MacroF1 float64
	// Mistakes lists the photos with a false positive or negative, in case order.
	Mistakes []Mistakes
	// Unjudged counts the words given that are outside the judged words (most of
	// Rekognition's), by word: neither right nor wrong.
	Unjudged map[string]int
	// MaybeGiven are the given words that were fair either way, as "photo: word".
	MaybeGiven []string
}

// Judge scores cases over the words judged says are in scope: an expected word outside
// it is dropped; a given word outside it is counted in Unjudged; a maybe word counts for
// nothing.
func Judge(cases []Case, judged func(string) bool) Score {
	s := Score{Labels: map[string]Counts{}, Unjudged: map[string]int{}}
	for _, c := range cases {
		m := Mistakes{ID: c.ID}
		expected := map[string]bool{}
		for _, w := range c.Expected {
			if judged(w) {
				expected[w] = true
			}
		}
		given := map[string]bool{}
		for _, w := range c.Predicted {
			given[w] = true
		}
		for _, w := range sortedKeys(given) {
			switch {
			case !judged(w):
				s.Unjudged[w]++
			case expected[w]:
				s.count(w, Counts{TP: 1})
			case slices.Contains(c.Maybe, w):
				s.MaybeGiven = append(s.MaybeGiven, c.ID+": "+w)
			default:
				s.count(w, Counts{FP: 1})
				m.FP = append(m.FP, w)
			}
		}
		for _, w := range sortedKeys(expected) {
			if !given[w] {
				s.count(w, Counts{FN: 1})
				m.FN = append(m.FN, w)
			}
		}
		if len(m.FP)+len(m.FN) > 0 {
			s.Mistakes = append(s.Mistakes, m)
		}
	}
	var ps, rs, fs []float64
	for _, c := range s.Labels {
		s.Micro.add(c)
		if c.TP+c.FP > 0 {
			ps = append(ps, c.Precision())
		}
		if c.TP+c.FN > 0 {
			rs = append(rs, c.Recall())
		}
		fs = append(fs, c.F1())
	}
	s.MacroPrecision, s.MacroRecall, s.MacroF1 = mean(ps), mean(rs), mean(fs)
	return s
}

func (s *Score) count(w string, c Counts) {
	l := s.Labels[w]
	l.add(c)
	s.Labels[w] = l
}

// Names are the labels scored, most expected first, then by name.
func (s Score) Names() []string {
	names := sortedKeys(s.Labels)
	sort.SliceStable(names, func(i, j int) bool {
		a, b := s.Labels[names[i]], s.Labels[names[j]]
		return a.TP+a.FN > b.TP+b.FN
	})
	return names
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
