package store

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestLabelsOfImages runs LabelsOfImages against every database, the databases in
// parallel.
func TestLabelsOfImages(t *testing.T) {
	runOnEveryDatabase(t, []storeCase{
		{name: "MostConfidentFirstAsImageLabels", test: testLabelsOfImagesOrder},
		{name: "OnlyTheOwnersImages", test: testLabelsOfImagesIsolation},
		{name: "EmptyAndUnknownInput", test: testLabelsOfImagesEmpty},
		{name: "MoreIDsThanOneBatch", test: testLabelsOfImagesManyIDs},
	})
}

// classified gives an image exactly these labels.
func classified(t *testing.T, s Store, img Image, labels ...Label) {
	t.Helper()
	if err := s.SetLabels(ctxFor(t), img.ID, Classification{Provider: "builtin", Model: "m1", Labels: labels}); err != nil {
		t.Fatalf("set labels on %s: %v", img.ID, err)
	}
}

func testLabelsOfImagesOrder(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	first, second, bare := image(t, s, a, base), image(t, s, a, base.Add(time.Second)), image(t, s, a, base.Add(2*time.Second))
	// Confidence order differs from name order and from insertion order; two tie.
	classified(t, s, first,
		Label{Name: "apple", Confidence: 50, Categories: []string{"fruit", "food"}},
		Label{Name: "Zebra", Confidence: 99, Categories: []string{"animal"}},
		Label{Name: "mango", Confidence: 75},
	)
	classified(t, s, second,
		Label{Name: "dog", Confidence: 80, Categories: []string{"animal", "pet"}},
		Label{Name: "cat", Confidence: 80, Categories: []string{"animal", "pet"}},
		Label{Name: "beach", Confidence: 12.5},
	)
	got, err := s.LabelsOfImages(ctx, a.ID, []string{second.ID, bare.ID, first.ID, second.ID})
	if err != nil {
		t.Fatalf("labels of images: %v", err)
	}
	names := func(ls []Label) []string {
		out := []string{}
		for _, l := range ls {
			out = append(out, l.Name)
		}
		return out
	}
	// A label's parents follow it (derived, with its confidence); "cat" gives the
	// parents it shares with "dog", the names tying.
	if n := names(got[first.ID]); !reflect.DeepEqual(n, []string{"zebra", "animal", "mango", "apple", "food", "fruit"}) {
		t.Errorf("first image's labels %v, want zebra, animal, mango, apple, food, fruit", n)
	}
	if n := names(got[second.ID]); !reflect.DeepEqual(n, []string{"cat", "dog", "animal", "pet", "beach"}) {
		t.Errorf("second image's labels %v (id named twice), want cat, dog, animal, pet, beach", n)
	}
	if l, ok := got[bare.ID]; ok {
		t.Errorf("unlabelled image has an entry: %v", l)
	}
	if len(got) != 2 {
		t.Errorf("%d entries, want 2: %v", len(got), got)
	}
	// Field for field what ImageLabels answers for each image, so a page reads the same
	// labels as an image's own view.
	for _, img := range []Image{first, second, bare} {
		one, err := s.ImageLabels(ctx, a.ID, img.ID)
		if err != nil {
			t.Fatalf("image labels: %v", err)
		}
		if len(one) == 0 && len(got[img.ID]) == 0 {
			continue
		}
		if !reflect.DeepEqual(got[img.ID], one) {
			t.Errorf("image %s: LabelsOfImages %+v, ImageLabels %+v", img.ID, got[img.ID], one)
		}
	}
	want := Label{Name: "apple", Confidence: 50, Categories: []string{"fruit", "food"}, Provider: "builtin", Model: "m1"}
	if l := got[first.ID]; len(l) == 3 && !reflect.DeepEqual(l[2], want) {
		t.Errorf("apple = %+v, want %+v", l[2], want)
	}
}

func testLabelsOfImagesIsolation(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a, b := user(t, s, "a@example.com"), user(t, s, "b@example.com")
	mine, theirs := image(t, s, a, base), image(t, s, b, base)
	labelled(t, s, mine, "cat")
	labelled(t, s, theirs, "secret", "diary")
	got, err := s.LabelsOfImages(ctx, a.ID, []string{mine.ID, theirs.ID})
	if err != nil {
		t.Fatalf("labels of images: %v", err)
	}
	if len(got) != 1 || len(got[mine.ID]) != 1 || got[mine.ID][0].Name != "cat" {
		t.Errorf("a's labels of a's and b's images = %v, want only a's image with cat", got)
	}
	got, err = s.LabelsOfImages(ctx, b.ID, []string{mine.ID, theirs.ID})
	if err != nil {
		t.Fatalf("labels of images: %v", err)
	}
	if _, ok := got[mine.ID]; ok || len(got[theirs.ID]) != 2 {
		t.Errorf("b's labels of a's and b's images = %v, want only b's image with two labels", got)
	}
}

func testLabelsOfImagesEmpty(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	labelled(t, s, image(t, s, a, base), "cat")
	for _, in := range [][]string{nil, {}, {""}, {"nosuchimage", NewImageID()}} {
		got, err := s.LabelsOfImages(ctx, a.ID, in)
		if err != nil {
			t.Errorf("labels of %q: %v", in, err)
		}
		if got == nil || len(got) != 0 {
			t.Errorf("labels of %q = %#v, want an empty map", in, got)
		}
	}
}

func testLabelsOfImagesManyIDs(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	early, late := image(t, s, a, base), image(t, s, a, base.Add(time.Second))
	labelled(t, s, early, "cat")
	labelled(t, s, late, "dog", "ball")
	// The labelled images sit at either end of more ids than one query takes.
	ids := []string{early.ID}
	for i := range labelsBatch + 100 {
		ids = append(ids, fmt.Sprintf("%032x", i))
	}
	ids = append(ids, late.ID)
	got, err := s.LabelsOfImages(ctx, a.ID, ids)
	if err != nil {
		t.Fatalf("labels of %d ids: %v", len(ids), err)
	}
	if len(got) != 2 || len(got[early.ID]) != 1 || len(got[late.ID]) != 2 {
		t.Errorf("labels of %d ids = %v, want cat on one image and dog, ball on the other", len(ids), got)
	}
}
