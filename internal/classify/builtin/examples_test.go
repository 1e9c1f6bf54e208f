package builtin

import (
	"slices"
	"testing"
)

// The search box suggests only words the shipped model can produce: its labels and
// their parents.
func TestSearchExamplesAreWordsTheModelGives(t *testing.T) {
	if !haveModel() && testing.Short() {
		t.Skip("model files missing; -short skips the built-in classifier")
	}
	labels, err := LabelsIn(modelDir)
	if err != nil {
		t.Fatalf("%v: run hack/model.sh", err)
	}
	got := SearchExamples(labels, 3)
	if want := []string{"dog", "car", "animal"}; !slices.Equal(got, want) {
		t.Errorf("SearchExamples = %v, want %v", got, want)
	}
	for _, w := range SearchExamples(labels, len(searchWords)) {
		produced := slices.Contains(labels, w)
		for _, l := range labels {
			produced = produced || slices.Contains(Parents(l), w)
		}
		if !produced {
			t.Errorf("search example %q is neither a label of the model nor a parent of one", w)
		}
	}
}

func TestSearchExamplesOfACustomModel(t *testing.T) {
	for _, c := range []struct {
		labels []string
		want   []string
	}{
		{[]string{"", "cat", "hot dog"}, []string{"animal", "cat", "food"}},
		{[]string{"", "scratch", "dent", "rust", "crack"}, []string{"scratch", "dent", "rust"}},
		{[]string{"rust", "car"}, []string{"car", "vehicle", "rust"}},
		{nil, []string{}},
	} {
		if got := SearchExamples(c.labels, 3); !slices.Equal(got, c.want) {
			t.Errorf("SearchExamples(%q) = %q, want %q", c.labels, got, c.want)
		}
	}
}
