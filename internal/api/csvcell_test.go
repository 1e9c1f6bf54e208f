package api

import "testing"

// TestCSVCellIsNeverAFormula: a photos.csv cell that a spreadsheet would run as a
// formula gets a leading apostrophe; others are left as they are.
func TestCSVCellIsNeverAFormula(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"EXIT\n출구", "EXIT\n출구"},
		{`=HYPERLINK("http://x","y")`, `'=HYPERLINK("http://x","y")`},
		{"+1", "'+1"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"a=1", "a=1"},
		{"dog (97.5); animal (97.5)", "dog (97.5); animal (97.5)"},
	} {
		if got := csvCell(c.in); got != c.want {
			t.Errorf("csvCell(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
