package alerts

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sortographer/sortographer/internal/testenv"
)

const (
	release   = "sortographer"
	namespace = "sortographer-system"
)

var (
	root     = testenv.RepoRoot()
	chartDir = filepath.Join(root, "charts", "sortographer")
)

// tool is the path of a pinned tool the Makefile passes in (HELM, PROMTOOL). A missing
// tool fails the test; only `go test -short` outside CI (make test-short, which builds
// no promtool) skips.
func tool(t *testing.T, name string) string {
	t.Helper()
	p := os.Getenv(name)
	var why string
	if p == "" {
		why = fmt.Sprintf("%s is not set: run through `make test`, which builds the pinned tools under bin/ (hack/prometheus.sh for promtool)", name)
	} else if _, err := os.Stat(p); err != nil {
		why = fmt.Sprintf("%s=%s: %v (run `make prometheus-bin` or `make test`)", name, p, err)
	}
	if why != "" {
		if testing.Short() && os.Getenv("CI") == "" {
			t.Skip(why)
		}
		t.Fatal(why)
	}
	return p
}

func run(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// render runs helm template on the chart as release "sortographer" in
// sortographer-system with the alert rules and the dashboard on, plus set (--set values).
func render(t *testing.T, set ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", release, chartDir, "--namespace", namespace,
		"--set", "prometheusRule.enabled=true,dashboard.enabled=true"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := run(t, root, tool(t, "HELM"), args...)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.Objects(t, []byte(out))
}

func only(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s, got %d", kind, len(found))
	}
	return found[0]
}

// rule is one alerting or recording rule of a Prometheus rules file.
type rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

// rulesFile is a Prometheus rules file: what the Prometheus Operator makes of a
// PrometheusRule's spec.
type rulesFile struct {
	Groups []ruleGroup `json:"groups"`
}

func (f rulesFile) alerts() []rule {
	var out []rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// chartRules renders the chart and returns its PrometheusRule's spec as a rules file, as
// parsed and as bytes.
func chartRules(t *testing.T, set ...string) (rulesFile, []byte) {
	t.Helper()
	pr := only(t, render(t, set...), "PrometheusRule")
	raw, err := yaml.Marshal(pr.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	var f rulesFile
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		t.Fatalf("the PrometheusRule's spec is not a rules file: %v", err)
	}
	return f, raw
}

// writeFile writes data into dir/name and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkRules runs `promtool check rules` on a rules file.
func checkRules(t *testing.T, rules []byte) {
	t.Helper()
	p := writeFile(t, t.TempDir(), "rules.yaml", rules)
	out, err := run(t, root, tool(t, "PROMTOOL"), "check", "rules", p)
	if err != nil {
		t.Fatalf("%v\nrules:\n%s", err, numbered(rules))
	}
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules did not say SUCCESS:\n%s", out)
	}
}

func numbered(b []byte) string {
	var s strings.Builder
	for i, l := range bytes.Split(b, []byte("\n")) {
		fmt.Fprintf(&s, "%4d  %s\n", i+1, l)
	}
	return s.String()
}
