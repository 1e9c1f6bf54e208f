package controllers

import (
	"fmt"
	"strings"
	"testing"
)

func TestCreatedNote(t *testing.T) {
	many := make([]string, 60)
	for i := range many {
		many[i] = fmt.Sprintf("NetworkPolicy a-rather-long-gallery-name-%02d", i)
	}
	cases := []struct {
		name    string
		created []string
		want    string // the whole note, or its end when cut
		cut     bool
	}{
		{"one", []string{"Service g-server"}, "created 1 child: Service g-server", false},
		{"a few", []string{"ConfigMap g-config", "Deployment g-server"}, "created 2 children: ConfigMap g-config, Deployment g-server", false},
		{"too many for one note", many, " more", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := createdNote(c.created)
			if len(got) > maxEventNote {
				t.Fatalf("note of %d bytes, the API server refuses more than %d", len(got), maxEventNote)
			}
			if !c.cut {
				if got != c.want {
					t.Fatalf("note %q, want %q", got, c.want)
				}
				return
			}
			listed := strings.Count(got, "NetworkPolicy ")
			want := fmt.Sprintf(", and %d more", len(c.created)-listed)
			if !strings.HasSuffix(got, want) || listed == 0 || !strings.HasPrefix(got, "created 60 children: ") {
				t.Fatalf("note %q: want the first %d names then %q", got, listed, want)
			}
			list := strings.TrimSuffix(got, want)
			next := fmt.Sprintf(", %s, and %d more", c.created[listed], len(c.created)-listed-1)
			if len(list)+len(next) <= maxEventNote {
				t.Fatalf("note %q stops at %d names although the next one fits", got, listed)
			}
		})
	}
}
