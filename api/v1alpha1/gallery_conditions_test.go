package v1alpha1

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// conditionVocabulary reads the constants of gallery_conditions.go whose names start
// with prefix: name to value.
func conditionVocabulary(t *testing.T, prefix string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "gallery_conditions.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !strings.HasPrefix(name.Name, prefix) || !ok {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				found[name.Name] = v
			}
		}
	}
	if len(found) == 0 {
		t.Fatalf("no %s… constants in gallery_conditions.go", prefix)
	}
	return found
}

// The Status section of docs/operator.md names every condition and every reason the
// operator writes, so an admin reading `kubectl describe` finds each word explained.
func TestOperatorDocsListEveryConditionAndReason(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operator.md")
	if err != nil {
		t.Fatal(err)
	}
	_, status, ok := strings.Cut(string(doc), "\n## Status\n")
	if !ok {
		t.Fatal("docs/operator.md has no Status section")
	}
	for _, prefix := range []string{"Condition", "Reason"} {
		for name, value := range conditionVocabulary(t, prefix) {
			if !strings.Contains(status, "`"+value+"`") {
				t.Errorf("docs/operator.md, Status, does not mention %s (%s)", value, name)
			}
		}
	}
}

// Each reason is one word of its own: two constants with one value would read as one
// reason in status while the code tells them apart.
func TestReasonsAreDistinct(t *testing.T) {
	seen := map[string]string{}
	for name, value := range conditionVocabulary(t, "Reason") {
		if other, ok := seen[value]; ok {
			t.Errorf("%s and %s are both %q", name, other, value)
		}
		seen[value] = name
	}
}
