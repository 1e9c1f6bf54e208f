package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestStoreListsWhatEachFileCalls keeps store.go true: every s.d.Store call in a handler
// file is a method of the interface listed for that file, and every method listed is
// called by one of its files.
func TestStoreListsWhatEachFileCalls(t *testing.T) {
	listed := map[reflect.Type][]string{
		reflect.TypeFor[userStore]():       {"accounts.go", "middleware.go"},
		reflect.TypeFor[oidcStore]():       {"oidc.go"},
		reflect.TypeFor[passwordStore]():   {"sessions.go"},
		reflect.TypeFor[imageStore]():      {"images.go", "display.go"},
		reflect.TypeFor[uploadStore]():     {"upload.go"},
		reflect.TypeFor[reclassifyStore](): {"reclassify.go"},
		reflect.TypeFor[albumStore]():      {"albums.go"},
		reflect.TypeFor[shareStore]():      {"shares.go"},
		reflect.TypeFor[adminStore]():      {"admin.go"},
		reflect.TypeFor[accountStore]():    {"users.go", "quota.go"},
	}
	calls := storeCalls(t)
	for file, methods := range calls {
		var iface reflect.Type
		for typ, files := range listed {
			if slices.Contains(files, file) {
				iface = typ
			}
		}
		if iface == nil {
			t.Errorf("%s calls the store (%s) but store.go lists no interface for it", file, strings.Join(methods, ", "))
			continue
		}
		for _, m := range methods {
			if _, ok := iface.MethodByName(m); !ok {
				t.Errorf("%s calls Store.%s, which %s in store.go does not list", file, m, iface.Name())
			}
		}
	}
	for iface, files := range listed {
		for i := range iface.NumMethod() {
			m := iface.Method(i).Name
			if !slices.ContainsFunc(files, func(f string) bool { return slices.Contains(calls[f], m) }) {
				t.Errorf("%s lists %s, which none of %s calls", iface.Name(), m, strings.Join(files, ", "))
			}
		}
	}
}

// storeCalls finds the methods called on s.d.Store in each of the package's files.
func storeCalls(t *testing.T) map[string][]string {
	t.Helper()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string][]string{}
	fset := token.NewFileSet()
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if m, ok := call.Fun.(*ast.SelectorExpr); ok && isServerStore(m.X) && !slices.Contains(calls[p], m.Sel.Name) {
				calls[p] = append(calls[p], m.Sel.Name)
			}
			return true
		})
	}
	return calls
}

// isServerStore reports whether e is s.d.Store (s being the *Server).
func isServerStore(e ast.Expr) bool {
	store, ok := e.(*ast.SelectorExpr)
	if !ok || store.Sel.Name != "Store" {
		return false
	}
	d, ok := store.X.(*ast.SelectorExpr)
	if !ok || d.Sel.Name != "d" {
		return false
	}
	s, ok := d.X.(*ast.Ident)
	return ok && s.Name == "s"
}
