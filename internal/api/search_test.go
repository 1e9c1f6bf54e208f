package api_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/store"
)

// foundJSON is a page of a search by q, as a client reads it.
type foundJSON struct {
	Images []struct {
		ID      string
		Rank    string
		Matches []struct{ Term, Kind, Label, From, Snippet string }
		Labels  []struct{ Name string }
	}
	Next *string
}

// read gives an image labels and the text a reader found, as a worker would.
func (g *gallery) read(id, text string, labels ...store.Label) {
	g.t.Helper()
	c := store.Classification{Provider: "test", Model: "test", Labels: labels,
		Text: &store.Text{Content: text, Confidence: 91, Provider: "tesseract", Model: "eng+kor"}}
	if err := g.store.SetLabels(context.Background(), id, c); err != nil {
		g.t.Fatalf("set labels and text: %v", err)
	}
}

// TestSearchByLabelsParentsAndText: GET /api/search?q= finds photos by label, parent
// label and text on every database, ranked, every term required, each photo saying
// why; pages continue through the ranks; an image's page shows its text.
func TestSearchByLabelsParentsAndText(t *testing.T) {
	for _, b := range everyBackend {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			g := newGallery(t, b.db, filesystem)
			u, other := g.signUp("searcher"), g.signUp("other")
			imgs := u.upload(file{"a.jpg", photo(t, 32, 32, 1)}, file{"b.jpg", photo(t, 32, 32, 2)}, file{"c.jpg", photo(t, 32, 32, 3)}, file{"d.jpg", photo(t, 32, 32, 4)})
			// Uploaded in one request, so their times are close; the ranks order them.
			cat, kitten, poster, plain := imgs[0].ID, imgs[1].ID, imgs[2].ID, imgs[3].ID
			g.label(cat, "cat")
			g.read(kitten, "", store.Label{Name: "kitten", Confidence: 90, Categories: []string{"cat"}})
			g.read(poster, "오늘의 고양이\nCAT CAFÉ 서울에서 만나요", store.Label{Name: "poster", Confidence: 80})
			g.label(plain, "dog")
			theirs := other.upload(file{"e.jpg", photo(t, 32, 32, 5)})[0].ID
			g.read(theirs, "cat 서울", store.Label{Name: "cat", Confidence: 90})

			find := func(u *user, q string) foundJSON {
				t.Helper()
				var p foundJSON
				g.mustDo(u, "GET", "/api/search?"+q, nil, http.StatusOK, &p)
				return p
			}
			p := find(u, url.Values{"q": {"Cat"}}.Encode())
			var got [][2]string
			for _, img := range p.Images {
				got = append(got, [2]string{img.ID, img.Rank})
			}
			if want := [][2]string{{cat, "label"}, {kitten, "parent"}, {poster, "text"}}; !reflect.DeepEqual(got, want) || p.Next != nil {
				t.Fatalf("q=Cat: %v (next %v), want %v", got, p.Next, want)
			}
			if m := p.Images[1].Matches; len(m) != 1 || m[0].Term != "cat" || m[0].Kind != "parent" || m[0].Label != "cat" || m[0].From != "kitten" {
				t.Errorf("the kitten's match: %+v", m)
			}
			if m := p.Images[2].Matches; len(m) != 1 || m[0].Kind != "text" || m[0].Snippet != "CAT CAFÉ 서울에서 만나요" || len(p.Images[2].Labels) != 1 {
				t.Errorf("the poster's match: %+v, labels %+v", m, p.Images[2].Labels)
			}

			// Korean inside a word, and every term required: a label and a word.
			p = find(u, url.Values{"q": {"poster, 서울"}}.Encode())
			if len(p.Images) != 1 || p.Images[0].ID != poster || len(p.Images[0].Matches) != 2 ||
				p.Images[0].Matches[0].Kind != "label" || p.Images[0].Matches[1].Kind != "text" {
				t.Errorf("q=poster, 서울: %+v", p.Images)
			}
			if p := find(u, url.Values{"q": {"dog,서울"}}.Encode()); len(p.Images) != 0 {
				t.Errorf("q=dog,서울 found %+v: no photo has both", p.Images)
			}
			// The label search is labels only, as the label albums show.
			var labelled pageJSON
			g.mustDo(u, "GET", "/api/search?label=cat", nil, http.StatusOK, &labelled)
			if len(labelled.Images) != 2 {
				t.Errorf("label=cat: %d images, want the cat and the kitten", len(labelled.Images))
			}

			// One photo a page, through the ranks.
			var paged []string
			next := ""
			for range 5 {
				q := url.Values{"q": {"cat"}, "limit": {"1"}}
				if next != "" {
					q.Set("cursor", next)
				}
				p := find(u, q.Encode())
				for _, img := range p.Images {
					paged = append(paged, img.ID)
				}
				if p.Next == nil {
					break
				}
				next = *p.Next
			}
			if want := []string{cat, kitten, poster}; !reflect.DeepEqual(paged, want) {
				t.Errorf("paged q=cat: %v, want %v", paged, want)
			}

			// An image's page shows its text; one without text has none.
			var page struct {
				Text *struct {
					Content, Provider, Model string
					Confidence               float64
					ReadAt                   time.Time
				}
			}
			g.mustDo(u, "GET", "/api/images/"+poster, nil, http.StatusOK, &page)
			if page.Text == nil || page.Text.Content != "오늘의 고양이\nCAT CAFÉ 서울에서 만나요" || page.Text.Provider != "tesseract" || page.Text.Confidence != 91 || page.Text.ReadAt.IsZero() {
				t.Errorf("the poster's page: text %+v", page.Text)
			}
			page.Text = nil
			g.mustDo(u, "GET", "/api/images/"+cat, nil, http.StatusOK, &page)
			if page.Text != nil {
				t.Errorf("the cat's page has text %+v", page.Text)
			}
			g.mustDo(u, "GET", "/api/images/"+theirs, nil, http.StatusNotFound, nil)

			// Refused: no term, too many, both kinds of search, another search's cursor.
			var list pageJSON
			g.mustDo(u, "GET", "/api/images?limit=1", nil, http.StatusOK, &list)
			for _, q := range []string{"q=", "q=,+,", "q=a,b,c,d,e,f,g,h,i,j,k", "q=cat&label=cat", "q=cat&cursor=" + url.QueryEscape(*list.Next)} {
				res, body := g.do(u, "GET", "/api/search?"+q, nil)
				if res.StatusCode != http.StatusBadRequest {
					t.Errorf("search %s: %d %s, want 400", q, res.StatusCode, body)
				}
			}
		})
	}
}
