package builtin

import (
	"slices"
	"testing"
)

// Every label the shipped model can give has broader words, so a search for
// "animal" or "vehicle" can find what the model saw; the map has no entry the model
// cannot produce under one of COCO's or darknet's spellings.
func TestEveryModelLabelHasParents(t *testing.T) {
	c := open(t, EngineGo)
	for _, l := range c.Labels() {
		if len(Parents(l)) == 0 {
			t.Errorf("model label %q has no parents", l)
		}
	}
	if got := len(c.Labels()); got != 80 {
		t.Errorf("the model has %d labels, want COCO's 80", got)
	}
}

func TestParents(t *testing.T) {
	for label, want := range map[string][]string{
		"cat":        {"animal", "pet", "mammal"},
		"car":        {"vehicle"},
		"cell phone": {"electronic", "phone"},
		"unicorn":    nil,
	} {
		got := Parents(label)
		if !slices.Equal(got, want) {
			t.Errorf("Parents(%q) = %v, want %v", label, got, want)
		}
		for _, p := range got {
			if p == label {
				t.Errorf("%q is its own parent", label)
			}
		}
	}
	// A caller may change the slice without changing the map.
	p := Parents("dog")
	p[0] = "changed"
	if Parents("dog")[0] != "animal" {
		t.Error("Parents returned the map's own slice")
	}
}
