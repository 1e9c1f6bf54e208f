package chart

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/discovery"

	"github.com/sortographer/sortographer/internal/testenv"
)

// serviceMonitorCRD and prometheusRuleCRD let the chart's optional ServiceMonitor and
// PrometheusRule be validated for real.
const (
	serviceMonitorCRD = "test/chart/testdata/monitoring.coreos.com_servicemonitors.yaml"
	prometheusRuleCRD = "test/chart/testdata/monitoring.coreos.com_prometheusrules.yaml"
)

var (
	envOnce sync.Once
	env     *testenv.Env
	envErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}
	os.Exit(code)
}

// apiserver starts (once) a kube-apiserver with the Gallery, ServiceMonitor and
// PrometheusRule CRDs and the namespaces the variants install into.
func apiserver(t *testing.T) *testenv.Env {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a kube-apiserver")
	}
	envOnce.Do(func() {
		env, envErr = testenv.Start(serviceMonitorCRD, prometheusRuleCRD)
		if envErr != nil {
			return
		}
		for _, ns := range []string{namespace, "team-a", "team-b"} {
			if _, err := run(t, nil, kubectl(), "--kubeconfig", env.Kubeconfig, "create", "namespace", ns); err != nil {
				envErr = err
				return
			}
		}
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	return env
}

func kubectl() string { return filepath.Join(env.BinDir, "kubectl") }

// TestServerSideDryRun sends every rendering to a real kube-apiserver, which validates
// each object against its full schema (and the CRDs against the structural-schema and
// CEL rules) without storing anything.
func TestServerSideDryRun(t *testing.T) {
	e := apiserver(t)
	manifests := map[string][]byte{"kustomize config/default": kustomizeBuild(t)}
	for _, v := range variants {
		manifests["helm "+v.name] = mustHelmTemplate(t, v.args...)
	}
	for name, m := range manifests {
		t.Run(name, func(t *testing.T) {
			out, err := run(t, m, kubectl(), "--kubeconfig", e.Kubeconfig, "apply", "--server-side", "--force-conflicts",
				"--field-manager=chart-test", "--dry-run=server", "-f", "-")
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(out), "(server dry run)"); n != len(testenv.Objects(t, m)) {
				t.Errorf("apiserver accepted %d of %d objects:\n%s", n, len(testenv.Objects(t, m)), out)
			}
		})
	}
}

// TestKubeconform runs `helm template | kubeconform -strict` with JSON schemas made from
// the apiserver's OpenAPI document (this Kubernetes version's, plus the installed CRDs),
// so no schema is missing and none is downloaded.
func TestKubeconform(t *testing.T) {
	e := apiserver(t)
	dc, err := discovery.NewDiscoveryClientForConfig(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := dc.RESTClient().Get().AbsPath("/openapi/v2").SetHeader("Accept", "application/json").Do(context.Background()).Raw()
	if err != nil {
		t.Fatalf("read /openapi/v2: %v", err)
	}
	dir := t.TempDir()
	n, err := writeSchemas(raw, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kinds' schemas from the apiserver's OpenAPI", n)
	location := filepath.Join(dir, "{{ .ResourceKind }}{{ .KindSuffix }}.json")

	manifests := map[string][]byte{"kustomize config/default": kustomizeBuild(t)}
	for _, v := range variants {
		manifests["helm "+v.name] = mustHelmTemplate(t, v.args...)
	}
	for name, m := range manifests {
		t.Run(name, func(t *testing.T) {
			out, err := run(t, m, tool(t, "KUBECONFORM"), "-strict", "-summary", "-schema-location", location, "-")
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("Valid: %d, Invalid: 0, Errors: 0, Skipped: 0", len(testenv.Objects(t, m)))
			if !strings.Contains(string(out), want) {
				t.Errorf("want %q, got:\n%s", want, out)
			}
		})
	}

	// The schemas are worth something only if they reject a broken object.
	broken := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: two\n  selector: {}\n  template: {}\n")
	if _, err := run(t, broken, tool(t, "KUBECONFORM"), "-strict", "-schema-location", location, "-"); err == nil {
		t.Errorf("kubeconform accepted replicas: two")
	}
	typo := []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  selectr: {a: b}\n")
	if _, err := run(t, typo, tool(t, "KUBECONFORM"), "-strict", "-schema-location", location, "-"); err == nil {
		t.Errorf("kubeconform -strict accepted an unknown field")
	}
}

// writeSchemas turns an OpenAPI v2 document into kubeconform's layout, as
// openapi2jsonschema does for github.com/yannh/kubernetes-json-schema: every definition in
// _definitions.json, one <kind>-<group>-<version>.json per kind referring to it, objects
// closed to unknown fields (strict), and int-or-string and quantities accepting numbers.
func writeSchemas(openapi []byte, dir string) (int, error) {
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
		return 0, fmt.Errorf("parse OpenAPI: %w", err)
	}
	for name, def := range doc.Definitions {
		doc.Definitions[name] = fixSchema(def).(map[string]any)
	}
	// Quantities are strings in OpenAPI but numbers are valid in manifests (cpu: 1).
	doc.Definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}

	all, err := json.Marshal(map[string]any{"definitions": doc.Definitions})
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(dir, "_definitions.json"), all, 0o644); err != nil {
		return 0, err
	}
	n := 0
	for name, def := range doc.Definitions {
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk := g.(map[string]any)
			group, version, kind := gvk["group"].(string), gvk["version"].(string), gvk["kind"].(string)
			// kubeconform's KindSuffix: "-<first label of the group>-<version>", or
			// "-<version>" for the core group.
			suffix := "-" + version
			if group != "" {
				suffix = "-" + strings.ToLower(strings.Split(group, ".")[0]) + suffix
			}
			ref, _ := json.Marshal(map[string]any{"$ref": "_definitions.json#/definitions/" + name})
			if err := os.WriteFile(filepath.Join(dir, strings.ToLower(kind)+suffix+".json"), ref, 0o644); err != nil {
				return 0, err
			}
			n++
		}
	}
	return n, nil
}

// fixSchema rewrites one OpenAPI v2 schema into JSON Schema as kubeconform reads it.
func fixSchema(s any) any {
	switch v := s.(type) {
	case map[string]any:
		if v["format"] == "int-or-string" {
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
		}
		out := map[string]any{}
		for k, x := range v {
			switch k {
			case "$ref":
				out[k] = "_definitions.json" + x.(string)
			case "properties", "patternProperties", "definitions":
				props := map[string]any{}
				for p, ps := range x.(map[string]any) {
					props[p] = fixSchema(ps)
				}
				out[k] = props
			default:
				out[k] = fixSchema(x)
			}
		}
		// Strict: a field the schema does not know is an error (a typo in a value file).
		if _, ok := v["properties"]; ok {
			if _, set := v["additionalProperties"]; !set && v["x-kubernetes-preserve-unknown-fields"] != true {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = fixSchema(x)
		}
		return out
	default:
		return v
	}
}
