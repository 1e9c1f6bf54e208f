package builtin

import (
	"path/filepath"
	"slices"
)

// searchWords are words a newcomer searches with, most telling first: two things the
// model often sees in everyday photos, then a broader word that only the label
// hierarchy gives, so the search box's hint teaches both.
var searchWords = []string{"dog", "car", "animal", "cat", "person", "food", "vehicle", "pizza", "bicycle", "pet"}

// SearchExamples picks up to n words for the search box to suggest, among those a model
// with these labels can produce (the labels and their parents): common words first, then,
// for a custom model that knows none of them, its own first labels. The built-in model
// gives dog, car, animal.
func SearchExamples(labels []string, n int) []string {
	can := map[string]bool{}
	for _, l := range labels {
		if l == "" {
			continue
		}
		can[l] = true
		for _, p := range Parents(l) {
			can[p] = true
		}
	}
	out := []string{}
	for _, w := range searchWords {
		if len(out) < n && can[w] {
			out = append(out, w)
		}
	}
	for _, l := range labels {
		if len(out) < n && l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// LabelsIn reads the labels of the model in dir (DefaultModelDir when empty) without
// loading the model: what a server whose workers run apart needs to know of it.
func LabelsIn(dir string) ([]string, error) {
	if dir == "" {
		dir = DefaultModelDir
	}
	return readLabels(filepath.Join(dir, LabelsFile))
}
