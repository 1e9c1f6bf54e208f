package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/tesseract"
	"github.com/sortographer/sortographer/internal/testservers"
)

// TestSearch runs the text and search behaviours against every database.
func TestSearch(t *testing.T) {
	runOnEveryDatabase(t, []storeCase{
		{name: "TextIsStoredWithTheLabelsAndReplaced", test: testTextStored},
		{name: "TextIsFoundByItsWordsInEnglishAndKorean", test: testTextFound},
		{name: "RanksLabelThenParentThenText", test: testSearchRanks},
		{name: "EveryTermMustMatchByLabelOrText", test: testSearchAND},
		{name: "PagesThroughTheRanks", test: testSearchPages},
		{name: "DeletingAnImageRemovesItsText", test: testDeleteRemovesText},
		{name: "WordsTesseractReadAreFound", test: testTesseractWordsFound},
	})
}

// read sets an image's labels and the text a reader found, as a worker commits them.
func read(t *testing.T, s Store, img Image, text string, labels ...Label) {
	t.Helper()
	c := Classification{Provider: "builtin", Model: "centernet", Labels: labels,
		Text: &Text{Content: text, Confidence: 88.5, Provider: "tesseract", Model: "eng+kor"}}
	if err := s.SetLabels(ctxFor(t), img.ID, c); err != nil {
		t.Fatalf("set labels and text %q on %s: %v", text, img.ID, err)
	}
}

// found is a search's images, in order, as ids; a search that fails fails the test.
func found(t *testing.T, s Store, owner User, terms ...string) []string {
	t.Helper()
	p, err := s.Search(ctxFor(t), owner.ID, terms, PageRequest{Limit: MaxPageSize})
	if err != nil {
		t.Fatalf("search %q: %v", terms, err)
	}
	out := []string{}
	for _, r := range p.Results {
		out = append(out, r.Image.ID)
	}
	return out
}

func testTextStored(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	img := image(t, s, a, base)
	before := time.Now().Add(-time.Second)
	read(t, s, img, "GRAND OPENING\n서울에서 만나요", Label{Name: "sign", Confidence: 90})
	got, err := s.ImageText(ctx, a.ID, img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Content != "GRAND OPENING\n서울에서 만나요" || got.Confidence != 88.5 || got.Provider != "tesseract" || got.Model != "eng+kor" || got.ReadAt.Before(before) {
		t.Errorf("text = %+v", got)
	}
	other := user(t, s, "b@example.com")
	if _, err := s.ImageText(ctx, other.ID, img.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another user's text: err = %v, want ErrNotFound", err)
	}

	// A reclassification that reads text replaces it; one without a reader leaves it.
	c := Classification{Provider: "builtin", Model: "centernet", Reclassify: true, Labels: []Label{{Name: "sign", Confidence: 91}},
		Text: &Text{Content: "closed", Confidence: 70, Provider: "rekognition", Model: "detect-text", ReadAt: base}}
	if err := s.SetLabels(ctx, img.ID, c); err != nil {
		t.Fatal(err)
	}
	c.Text = nil
	if err := s.SetLabels(ctx, img.ID, c); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ImageText(ctx, a.ID, img.ID); err != nil || got.Content != "closed" || got.Provider != "rekognition" || !got.ReadAt.Equal(base) {
		t.Errorf("text after reclassification = %+v, %v; want closed, by rekognition at %v", got, err, base)
	}
	if ids := found(t, s, a, "opening"); len(ids) != 0 {
		t.Errorf("the replaced text is still found: %v", ids)
	}

	// Text is cut at MaxTextBytes on a character boundary and made storable.
	long := image(t, s, a, base.Add(time.Second))
	read(t, s, long, "nul\x00byte "+strings.Repeat("가", MaxTextBytes))
	texts, err := s.TextsOfImages(ctx, a.ID, []string{img.ID, long.ID, "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != 2 || texts[img.ID].Content != "closed" {
		t.Errorf("texts of images = %v entries, %+v", len(texts), texts[img.ID])
	}
	if c := texts[long.ID].Content; len(c) > MaxTextBytes || !strings.HasPrefix(c, "nulbyte 가가") || !strings.HasSuffix(c, "가") {
		t.Errorf("long text stored as %d bytes, starting %q", len(c), c[:min(len(c), 20)])
	}
	if texts, err := s.TextsOfImages(ctx, other.ID, []string{img.ID}); err != nil || len(texts) != 0 {
		t.Errorf("another user's texts of images = %v, %v", texts, err)
	}
}

func testTextFound(t *testing.T, s *sqlStore) {
	a := user(t, s, "a@example.com")
	b := user(t, s, "b@example.com")
	shop := image(t, s, a, base)
	read(t, s, shop, "Grand Opening SALE!\nLet's go to the beach")
	seoul := image(t, s, a, base.Add(time.Second))
	read(t, s, seoul, "내일 서울에서 만나요")
	water := image(t, s, a, base.Add(2*time.Second))
	read(t, s, water, "시원한 물 한 잔")
	menu := image(t, s, a, base.Add(3*time.Second))
	read(t, s, menu, "東京ラーメン　ＡＢＣ") // full-width letters and an ideographic space
	blank := image(t, s, a, base.Add(4*time.Second))
	read(t, s, blank, "")
	theirs := image(t, s, b, base.Add(5*time.Second))
	read(t, s, theirs, "서울 sale")

	for _, tc := range []struct {
		term string
		want []string
	}{
		{"opening", []string{shop.ID}},
		{"SALE", []string{shop.ID}},
		{"grand opening", []string{shop.ID}},
		{"opening grand", []string{shop.ID}},
		{"grand closing", nil},
		// Words InnoDB's parser would drop: two letters, a stop word.
		{"go", []string{shop.ID}},
		{"the", []string{shop.ID}},
		{"let's", []string{shop.ID}},
		{"open", nil}, // words, not prefixes
		// Korean: a word with its particle attached is found by the word.
		{"서울", []string{seoul.ID}},
		{"서울에서", []string{seoul.ID}},
		{"만나요", []string{seoul.ID}},
		{"부산", nil},
		{"물", []string{water.ID}},
		{"시원한 물", []string{water.ID}},
		{"東京", []string{menu.ID}},
		{"ラーメン", []string{menu.ID}},
		{"abc", []string{menu.ID}},
		{"!!!", nil},
	} {
		if got := found(t, s, a, tc.term); !sameIDs(got, tc.want) {
			t.Errorf("search %q = %v, want %v", tc.term, got, tc.want)
		}
	}
}

func sameIDs(got, want []string) bool {
	return len(got) == 0 && len(want) == 0 || reflect.DeepEqual(got, want)
}

func testSearchRanks(t *testing.T, s *sqlStore) {
	a := user(t, s, "a@example.com")
	// Oldest to newest: the newest photos are the weakest matches, so the order shows
	// the ranks, not the times.
	catOld := image(t, s, a, base)
	labelled(t, s, catOld, "cat")
	cat := image(t, s, a, base.Add(time.Second))
	labelled(t, s, cat, "cat", "sofa")
	kittenOld := image(t, s, a, base.Add(2*time.Second))
	set(t, s, kittenOld, Label{Name: "kitten", Confidence: 90, Categories: []string{"cat", "animal"}})
	kitten := image(t, s, a, base.Add(3*time.Second))
	set(t, s, kitten, Label{Name: "kitten", Confidence: 80, Categories: []string{"cat"}})
	poster := image(t, s, a, base.Add(4*time.Second))
	read(t, s, poster, "CAT CAFÉ — open daily", Label{Name: "poster", Confidence: 70})
	both := image(t, s, a, base.Add(5*time.Second))
	read(t, s, both, "my cat", Label{Name: "cat", Confidence: 60})
	image(t, s, a, base.Add(6*time.Second)) // unrelated, still queued

	want := []string{both.ID, cat.ID, catOld.ID, kitten.ID, kittenOld.ID, poster.ID}
	p, err := s.Search(ctxFor(t), a.ID, []string{"Cat"}, PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var ranks []MatchKind
	for _, r := range p.Results {
		got = append(got, r.Image.ID)
		ranks = append(ranks, r.Rank)
	}
	wantRanks := []MatchKind{MatchLabel, MatchLabel, MatchLabel, MatchParent, MatchParent, MatchText}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(ranks, wantRanks) || p.Next != "" {
		t.Errorf("search cat = %v %v (next %q),\nwant %v %v", got, ranks, p.Next, want, wantRanks)
	}
	if p.Results[0].Image.OwnerID != a.ID || p.Results[0].Image.Status != StatusLabelled {
		t.Errorf("a found image reads %+v", p.Results[0].Image)
	}
	// A term that is only ever a parent, and two terms of which one is a parent.
	if got := found(t, s, a, "animal"); !reflect.DeepEqual(got, []string{kittenOld.ID}) {
		t.Errorf("search animal = %v", got)
	}
	if got := found(t, s, a, "kitten", "cat"); !reflect.DeepEqual(got, []string{kitten.ID, kittenOld.ID}) {
		t.Errorf("search kitten, cat = %v", got)
	}
	if got := found(t, s, a, "cat", "sofa"); !reflect.DeepEqual(got, []string{cat.ID}) {
		t.Errorf("search cat, sofa = %v", got)
	}
}

// set labels an image with labels as given (parents included).
func set(t *testing.T, s Store, img Image, labels ...Label) {
	t.Helper()
	if err := s.SetLabels(ctxFor(t), img.ID, Classification{Provider: "rekognition", Model: "detect-labels", Labels: labels}); err != nil {
		t.Fatal(err)
	}
}

func testSearchAND(t *testing.T, s *sqlStore) {
	a := user(t, s, "a@example.com")
	dogInSeoul := image(t, s, a, base)
	read(t, s, dogInSeoul, "서울숲 산책", Label{Name: "dog", Confidence: 90, Categories: []string{"animal"}})
	dog := image(t, s, a, base.Add(time.Second))
	labelled(t, s, dog, "dog")
	seoul := image(t, s, a, base.Add(2*time.Second))
	read(t, s, seoul, "서울숲 입구", Label{Name: "tree", Confidence: 90})
	dogSign := image(t, s, a, base.Add(3*time.Second))
	read(t, s, dogSign, "dog park, 서울숲", Label{Name: "sign", Confidence: 90})
	labelledBoth := image(t, s, a, base.Add(4*time.Second))
	labelled(t, s, labelledBoth, "dog", "서울숲")

	p, err := s.Search(ctxFor(t), a.ID, []string{"dog", "서울숲"}, PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]MatchKind{}
	var order []string
	for _, r := range p.Results {
		got[r.Image.ID] = r.Rank
		order = append(order, r.Image.ID)
	}
	// Both terms labels first; then the photos needing their text for one term or both,
	// newest first.
	want := []string{labelledBoth.ID, dogSign.ID, dogInSeoul.ID}
	if !reflect.DeepEqual(order, want) || got[labelledBoth.ID] != MatchLabel || got[dogSign.ID] != MatchText || got[dogInSeoul.ID] != MatchText {
		t.Errorf("search dog, 서울숲 = %v %v, want %v", order, got, want)
	}
	if ids := found(t, s, a, "animal", "산책"); !reflect.DeepEqual(ids, []string{dogInSeoul.ID}) {
		t.Errorf("search animal, 산책 = %v", ids)
	}
	if ids := found(t, s, a, "dog", "입구"); len(ids) != 0 {
		t.Errorf("search dog, 입구 = %v, want nothing: no photo has both", ids)
	}
}

func testSearchPages(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	var labels, parents, texts []string
	// Interleaved in time, so each rank's photos are spread over the whole range.
	for i := range 7 {
		at := base.Add(time.Duration(i) * time.Minute)
		l := image(t, s, a, at)
		labelled(t, s, l, "boat")
		p := image(t, s, a, at.Add(time.Second))
		set(t, s, p, Label{Name: "canoe", Confidence: 90, Categories: []string{"boat"}})
		x := image(t, s, a, at.Add(2*time.Second))
		read(t, s, x, "boat tours daily", Label{Name: "sign", Confidence: 90})
		labels, parents, texts = append([]string{l.ID}, labels...), append([]string{p.ID}, parents...), append([]string{x.ID}, texts...)
	}
	want := append(append(append([]string{}, labels...), parents...), texts...)
	for _, size := range []int{1, 2, 3, 7, 8, 20, 21, 22} {
		got, pages := allPages(t, func(p PageRequest) (Page, error) {
			sp, err := s.Search(ctx, a.ID, []string{"boat"}, p)
			page := Page{Next: sp.Next}
			for _, r := range sp.Results {
				page.Images = append(page.Images, r.Image)
			}
			return page, err
		}, size)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("pages of %d: %v,\nwant %v", size, got, want)
		}
		if wantPages := (len(want) + size - 1) / size; pages != wantPages {
			t.Errorf("pages of %d: %d pages, want %d", size, pages, wantPages)
		}
	}
	// Cursors are Search's own.
	list, err := s.ListImages(ctx, a.ID, PageRequest{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Search(ctx, a.ID, []string{"boat"}, PageRequest{Cursor: list.Next}); !errors.Is(err, ErrInvalidCursor) {
		t.Errorf("search with a listing's cursor: err = %v, want ErrInvalidCursor", err)
	}
	sp, err := s.Search(ctx, a.ID, []string{"boat"}, PageRequest{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListImages(ctx, a.ID, PageRequest{Cursor: sp.Next}); !errors.Is(err, ErrInvalidCursor) {
		t.Errorf("listing with a search's cursor: err = %v, want ErrInvalidCursor", err)
	}
	if _, err := s.Search(ctx, a.ID, []string{" ", ""}, PageRequest{}); err == nil {
		t.Error("a search without terms succeeded")
	}
	if _, err := s.Search(ctx, a.ID, strings.Fields("a b c d e f g h i j k"), PageRequest{}); err == nil {
		t.Error("a search of 11 terms succeeded")
	}
}

func testDeleteRemovesText(t *testing.T, s *sqlStore) {
	ctx := ctxFor(t)
	a := user(t, s, "a@example.com")
	img := image(t, s, a, base)
	read(t, s, img, "서울에서 만나요")
	keep := image(t, s, a, base.Add(time.Second))
	read(t, s, keep, "서울 tower")
	if _, err := s.DeleteImage(ctx, a.ID, img.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT COUNT(*) FROM image_texts WHERE image_id = ?"), img.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("text rows of a deleted image = %d, %v", n, err)
	}
	if ids := found(t, s, a, "서울"); !reflect.DeepEqual(ids, []string{keep.ID}) {
		t.Errorf("search after delete = %v, want only %s", ids, keep.ID)
	}
	if ids := found(t, s, a, "만나요"); len(ids) != 0 {
		t.Errorf("the deleted image's text is still found: %v", ids)
	}
}

func TestSearchTerms(t *testing.T) {
	for _, tc := range []struct {
		text, want string
	}{
		{"Grand Opening SALE!", "w_grand w_opening w_sale"},
		{"don't  go", "w_don w_t w_go"},
		{"서울에서 만나요", "w_서 w_울 w_에 w_서울 w_울에 w_에서 w_만 w_나 w_요 w_만나 w_나요"},
		{"iPhone15용", "w_iphone15 w_용"},
		{"ＡＢＣ　東京", "w_abc w_東 w_京 w_東京"},
		{"café Café", "w_café"},
		{strings.Repeat("x", 50), "w_" + strings.Repeat("x", maxTermRunes)},
		{"", ""},
	} {
		if got := textTerms(tc.text); got != tc.want {
			t.Errorf("textTerms(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
	for _, tc := range []struct {
		term string
		want []string
	}{
		{"서울", []string{"w_서울"}},
		{"서울에서", []string{"w_서울", "w_울에", "w_에서"}},
		{"물", []string{"w_물"}},
		{"Grand opening", []string{"w_grand", "w_opening"}},
		{"!!!", nil},
	} {
		if got := queryTerms(tc.term); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("queryTerms(%q) = %q, want %q", tc.term, got, tc.want)
		}
	}
}

func TestExplainMatch(t *testing.T) {
	labels := []Label{{Name: "cat"}, {Name: "animal", DerivedFrom: "cat"}}
	text := "OPEN\n서울에서 만나요\n" + strings.Repeat("가나다 ", 60) + "the big sale " + strings.Repeat("라마바 ", 30)
	for _, tc := range []struct {
		term string
		want TermMatch
		ok   bool
	}{
		{"Cat", TermMatch{Term: "cat", Kind: MatchLabel, Label: "cat"}, true},
		{"animal", TermMatch{Term: "animal", Kind: MatchParent, Label: "animal", From: "cat"}, true},
		{"서울", TermMatch{Term: "서울", Kind: MatchText, Snippet: "서울에서 만나요"}, true},
		{"open", TermMatch{Term: "open", Kind: MatchText, Snippet: "OPEN"}, true},
		{"dog", TermMatch{}, false},
	} {
		got, ok := ExplainMatch(tc.term, labels, text)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ExplainMatch(%q) = %+v, %v; want %+v, %v", tc.term, got, ok, tc.want, tc.ok)
		}
	}
	m, ok := ExplainMatch("big sale", labels, text)
	if !ok || !strings.Contains(m.Snippet, "the big sale") || !strings.HasPrefix(m.Snippet, "…") || !strings.HasSuffix(m.Snippet, "…") ||
		len([]rune(m.Snippet)) > snippetRunes+2 {
		t.Errorf("snippet of a long line = %q, %v", m.Snippet, ok)
	}
}

// readSigns is what Tesseract reads in the two sign photos (testservers.ReceiptPhoto,
// SubwayPhoto), read once, in the first database's run, for all of them.
func readSigns(t *testing.T) (map[string]string, error) {
	signs.once.Do(func() {
		r, err := tesseract.New(tesseract.Options{})
		if err != nil {
			signs.err = err
			return
		}
		defer func() { _ = r.Close() }()
		signs.texts = map[string]string{}
		for name, photo := range map[string]func(testing.TB) string{"receipt": testservers.ReceiptPhoto, "subway": testservers.SubwayPhoto} {
			b, err := os.ReadFile(photo(t))
			if err != nil {
				signs.err = err
				return
			}
			text, err := r.ReadText(context.Background(), classify.Image{ID: name, ContentType: "image/jpeg", Bytes: b})
			if err != nil {
				signs.err = fmt.Errorf("read %s: %w", name, err)
				return
			}
			signs.texts[name] = text.Content
		}
	})
	return signs.texts, signs.err
}

var signs struct {
	once  sync.Once
	texts map[string]string
	err   error
}

// What Tesseract reads in photos of an English card and a Korean sign is found by a word
// of each, a Korean one with a particle attached included.
func testTesseractWordsFound(t *testing.T, s *sqlStore) {
	texts, err := readSigns(t)
	if err != nil {
		t.Fatalf("read the sign photos with Tesseract (hack/install-deps.sh: libtesseract-dev, tesseract-ocr-eng, tesseract-ocr-kor, fonts-noto-cjk): %v", err)
	}
	a := user(t, s, "reader@example.com")
	receipt := image(t, s, a, base)
	subway := image(t, s, a, base.Add(time.Minute))
	read(t, s, receipt, texts["receipt"], Label{Name: "dog", Confidence: 90})
	read(t, s, subway, texts["subway"], Label{Name: "horse", Confidence: 90})
	for _, tc := range []struct {
		terms []string
		want  []string
	}{
		{[]string{"receipt"}, []string{receipt.ID}},
		{[]string{"sortographer"}, []string{receipt.ID}},
		{[]string{"서울"}, []string{subway.ID}},
		{[]string{"지하철"}, []string{subway.ID}},
		{[]string{"서울에서"}, nil}, // the photo says 서울, not 서울에서
		{[]string{"horse", "안내"}, []string{subway.ID}},
		{[]string{"receipt", "서울"}, nil},
	} {
		if got := found(t, s, a, tc.terms...); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("search %q found %v, want %v (texts read: %q, %q)", tc.terms, got, tc.want, texts["receipt"], texts["subway"])
		}
	}
}
