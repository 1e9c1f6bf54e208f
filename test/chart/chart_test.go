// Package chart checks how Sortographer is installed: the Helm chart (charts/sortographer)
// and the kustomize config/default. It holds them to the generated CRD and RBAC, to each
// other, to helm lint and the values schema, and to a real kube-apiserver (server-side
// dry-run) and kubeconform with JSON schemas built from that apiserver's OpenAPI, since
// none can be downloaded here.
//
// The tools come from the Makefile (HELM, KUSTOMIZE, KUBECONFORM); run through
// `make test` or `make chart-test`.
package chart

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
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

// variants are the value sets every check renders: the defaults, everything switched on,
// the namespace-scoped mode and everything optional switched off.
var variants = []struct {
	name string
	args []string
}{
	{"defaults", nil},
	{"everything", []string{"-f", filepath.Join("testdata", "values-all.yaml")}},
	{"namespace-scoped", []string{"--set", "rbac.scope=namespace", "--set", "watchNamespaces={team-a,team-b}"}},
	{"minimal", []string{"--set", "crds.install=false,metrics.enabled=false,networkPolicy.enabled=false,serviceAccount.create=false,serviceAccount.name=default"}},
}

// tool is the path of a pinned tool the Makefile exports (HELM, KUSTOMIZE, KUBECONFORM).
func tool(t *testing.T, name string) string {
	t.Helper()
	p := os.Getenv(name)
	if p == "" {
		t.Fatalf("%s is not set: run through `make test` or `make chart-test`, which install the pinned tools under bin/", name)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s=%s: %v (run `make %s`)", name, p, err, p)
	}
	return p
}

func run(t *testing.T, stdin []byte, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = root
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String(), out)
	}
	return out, nil
}

// helmTemplate renders the chart as release "sortographer" in sortographer-system.
func helmTemplate(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	for i, a := range args {
		if i > 0 && args[i-1] == "-f" && !filepath.IsAbs(a) {
			args[i] = filepath.Join(root, "test", "chart", a)
		}
	}
	return run(t, nil, tool(t, "HELM"), append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
}

func mustHelmTemplate(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := helmTemplate(t, append([]string(nil), args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func kustomizeBuild(t *testing.T) []byte {
	t.Helper()
	out, err := run(t, nil, tool(t, "KUSTOMIZE"), "build", filepath.Join(root, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func one(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	got := ofKind(objs, kind)
	if len(got) != 1 {
		t.Fatalf("want one %s, got %d", kind, len(got))
	}
	return got[0]
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func TestHelmLint(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir, "--namespace", namespace}
			for i, a := range v.args {
				if i > 0 && v.args[i-1] == "-f" {
					a = filepath.Join(root, "test", "chart", a)
				}
				args = append(args, a)
			}
			if _, err := run(t, nil, tool(t, "HELM"), args...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestValuesSchemaRejectsWrongTypes(t *testing.T) {
	for _, c := range []struct {
		set, wantInError string
	}{
		{"replicas=two", "/replicas"},
		{"replicas=-1", "/replicas"},
		{"image.pullPolicy=Sometimes", "/image/pullPolicy"},
		{"image.digest=latest", "/image/digest"},
		{"image.registry=https://registry.example.com", "/image/registry"},
		{"galleryImage.digest=v0.3.0", "/galleryImage/digest"},
		{"managedImages.redisRepository=", "/managedImages/redisRepository"},
		{"metrics.port=metrics", "/metrics/port"},
		{"metrics.port=70000", "/metrics/port"},
		{"crds.install=yes", "/crds/install"},
		{"rbac.scope=everywhere", "/rbac/scope"},
		{"watchNamespaces=team-a", "/watchNamespaces"},
		{"watchNamespaces={Team_A}", "/watchNamespaces/0"},
		{"resources=big", "/resources"},
		{"resources.requests.cpu=true", "/resources/requests/cpu"},
		{"tolerations.key=x", "/tolerations"},
		{"logLevel=verbose", "/logLevel"},
		{"podDisruptionBudget.minAvailable=half", "/podDisruptionBudget/minAvailable"},
		{"serviceMonitor.interval=often", "/serviceMonitor/interval"},
		{"prometheusRule.notReadyFor=soon", "/prometheusRule/notReadyFor"},
		{"prometheusRule.uploadErrorRatio=5", "/prometheusRule/uploadErrorRatio"},
		{"dashboard.enabled=1", "/dashboard/enabled"},
		{"replica=2", "replica"}, // a typo is not silently ignored
		{"rbac.scope=namespace", "watchNamespaces"},
	} {
		t.Run(c.set, func(t *testing.T) {
			_, err := helmTemplate(t, "--set", c.set)
			if err == nil {
				t.Fatalf("--set %s was accepted", c.set)
			}
			if !strings.Contains(err.Error(), c.wantInError) {
				t.Fatalf("--set %s: error does not name %q:\n%v", c.set, c.wantInError, err)
			}
		})
	}
	// The checks above fail for the right reason only if good values pass.
	mustHelmTemplate(t, "--set", "replicas=2,podDisruptionBudget.minAvailable=50%,logLevel=debug")
}

// permissions expands RBAC rules into one "group/resource verb" string per grant, so
// rule sets compare equal however they are grouped.
func permissions(t *testing.T, rules any) []string {
	t.Helper()
	raw, err := yaml.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	var rs []struct {
		APIGroups       []string `json:"apiGroups"`
		Resources       []string `json:"resources"`
		ResourceNames   []string `json:"resourceNames"`
		NonResourceURLs []string `json:"nonResourceURLs"`
		Verbs           []string `json:"verbs"`
	}
	if err := yaml.Unmarshal(raw, &rs); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, r := range rs {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Fatalf("rule with resourceNames or nonResourceURLs: extend permissions(): %+v", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					set[g+"/"+res+" "+v] = true
				}
			}
		}
	}
	var out []string
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func TestRBACMatchesGeneratedRole(t *testing.T) {
	want := permissions(t, readYAML(t, "config/rbac/role.yaml")["rules"])
	if len(want) < 20 {
		t.Fatalf("config/rbac/role.yaml has only %d permissions: is it generated?", len(want))
	}
	copied, _ := os.ReadFile(filepath.Join(chartDir, "files", "rbac", "role.yaml"))
	generated, _ := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if !bytes.Equal(copied, generated) {
		t.Errorf("charts/sortographer/files/rbac/role.yaml differs from config/rbac/role.yaml: run `make chart-sync`")
	}

	t.Run("cluster", func(t *testing.T) {
		objs := testenv.Objects(t, mustHelmTemplate(t))
		if n := len(ofKind(objs, "Role")); n != 1 {
			t.Errorf("cluster mode: want only the leader-election Role, got %d Roles", n)
		}
		got := permissions(t, one(t, objs, "ClusterRole").Object["rules"])
		if !reflect.DeepEqual(got, want) {
			t.Errorf("chart ClusterRole diverges from config/rbac/role.yaml:\n%s", setDiff(got, want))
		}
		binding := one(t, objs, "ClusterRoleBinding")
		if ref := binding.Object["roleRef"].(map[string]any)["name"]; ref != one(t, objs, "ClusterRole").GetName() {
			t.Errorf("ClusterRoleBinding refers to %v", ref)
		}
	})

	t.Run("namespace", func(t *testing.T) {
		objs := testenv.Objects(t, mustHelmTemplate(t, "--set", "rbac.scope=namespace", "--set", "watchNamespaces={team-a,team-b}"))
		if n := len(ofKind(objs, "ClusterRole")) + len(ofKind(objs, "ClusterRoleBinding")); n != 0 {
			t.Errorf("namespace mode must grant nothing cluster-wide, got %d cluster objects", n)
		}
		seen := map[string]bool{}
		for _, r := range ofKind(objs, "Role") {
			if strings.HasSuffix(r.GetName(), "-leader-election") {
				continue
			}
			seen[r.GetNamespace()] = true
			if got := permissions(t, r.Object["rules"]); !reflect.DeepEqual(got, want) {
				t.Errorf("Role in %s diverges from config/rbac/role.yaml:\n%s", r.GetNamespace(), setDiff(got, want))
			}
		}
		if !seen["team-a"] || !seen["team-b"] || len(seen) != 2 {
			t.Errorf("want a Role in team-a and team-b, got %v", seen)
		}
		if n := len(ofKind(objs, "RoleBinding")); n != 3 {
			t.Errorf("want 3 RoleBindings (two namespaces, leader election), got %d", n)
		}
		env := container(t, one(t, objs, "Deployment"))["env"]
		if !strings.Contains(fmt.Sprint(env), "team-a,team-b") {
			t.Errorf("WATCH_NAMESPACES not set to the watched namespaces: %v", env)
		}
	})

	t.Run("leader election stays in the release namespace", func(t *testing.T) {
		objs := testenv.Objects(t, mustHelmTemplate(t))
		var le *unstructured.Unstructured
		for _, r := range ofKind(objs, "Role") {
			le = r
		}
		if le == nil || le.GetNamespace() != namespace {
			t.Fatalf("leader-election Role not in %s: %v", namespace, le)
		}
		got := permissions(t, le.Object["rules"])
		want := []string{"/events create", "/events patch", "coordination.k8s.io/leases create", "coordination.k8s.io/leases delete",
			"coordination.k8s.io/leases get", "coordination.k8s.io/leases list", "coordination.k8s.io/leases patch",
			"coordination.k8s.io/leases update", "coordination.k8s.io/leases watch", "events.k8s.io/events create", "events.k8s.io/events patch"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("leader-election Role:\n%s", setDiff(got, want))
		}
	})
}

func setDiff(got, want []string) string {
	in := func(s []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range s {
			m[x] = true
		}
		return m
	}
	g, w := in(got), in(want)
	var b strings.Builder
	for _, x := range want {
		if !g[x] {
			fmt.Fprintf(&b, "  missing: %s\n", x)
		}
	}
	for _, x := range got {
		if !w[x] {
			fmt.Fprintf(&b, "  extra:   %s\n", x)
		}
	}
	return b.String()
}

func TestCRDIsTheGeneratedOneAndKept(t *testing.T) {
	copied, _ := os.ReadFile(filepath.Join(chartDir, "files", "crds", "sortographer.io_galleries.yaml"))
	generated, err := os.ReadFile(filepath.Join(root, "config", "crd", "bases", "sortographer.io_galleries.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(copied, generated) {
		t.Fatalf("charts/sortographer/files/crds/sortographer.io_galleries.yaml differs from config/crd/bases: run `make chart-sync`")
	}
	want := testenv.Objects(t, generated)[0]

	crd := one(t, testenv.Objects(t, mustHelmTemplate(t)), "CustomResourceDefinition")
	if got := crd.GetAnnotations()["helm.sh/resource-policy"]; got != "keep" {
		t.Errorf("CRD must carry helm.sh/resource-policy: keep, got %q", got)
	}
	if got := crd.GetLabels()["app.kubernetes.io/managed-by"]; got != "Helm" {
		t.Errorf("CRD must carry Helm's labels, got managed-by %q", got)
	}
	// Apart from Helm's metadata, the rendered CRD is the generated one.
	stripped := crd.DeepCopy()
	stripped.SetLabels(nil)
	a := stripped.GetAnnotations()
	delete(a, "helm.sh/resource-policy")
	stripped.SetAnnotations(a)
	if !reflect.DeepEqual(stripped.Object, want.Object) {
		t.Errorf("rendered CRD differs from config/crd/bases beyond labels and the keep annotation:\n%s", lineDiff(t, stripped.Object, want.Object))
	}

	notKept := one(t, testenv.Objects(t, mustHelmTemplate(t, "--set", "crds.keep=false")), "CustomResourceDefinition")
	if _, ok := notKept.GetAnnotations()["helm.sh/resource-policy"]; ok {
		t.Errorf("crds.keep=false still annotates the CRD")
	}
	if n := len(ofKind(testenv.Objects(t, mustHelmTemplate(t, "--set", "crds.install=false")), "CustomResourceDefinition")); n != 0 {
		t.Errorf("crds.install=false still renders %d CRDs", n)
	}
}

func container(t *testing.T, d *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("want one container, got %d", len(cs))
	}
	return cs[0].(map[string]any)
}

func TestOperatorDeployment(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			d := one(t, testenv.Objects(t, mustHelmTemplate(t, v.args...)), "Deployment")
			labels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
			// A Gallery's Redis NetworkPolicy admits the backlog scaler by this label.
			if labels["app.kubernetes.io/name"] != galleryv1alpha1.OperatorName {
				t.Errorf("pod label app.kubernetes.io/name = %q, want %q", labels["app.kubernetes.io/name"], galleryv1alpha1.OperatorName)
			}
			c := container(t, d)
			if args := fmt.Sprint(c["args"]); !strings.Contains(args, "--leader-elect") {
				t.Errorf("leader election is off: %s", args)
			}
			checks := map[string]any{
				"spec.template.spec.securityContext.runAsNonRoot": true,
			}
			for path, want := range checks {
				got, _, _ := unstructured.NestedFieldNoCopy(d.Object, strings.Split(path, ".")...)
				if got != want {
					t.Errorf("%s = %v, want %v", path, got, want)
				}
			}
			sc, _ := c["securityContext"].(map[string]any)
			if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false || fmt.Sprint(sc["capabilities"]) != "map[drop:[ALL]]" {
				t.Errorf("container securityContext is not locked down: %v", sc)
			}
			if c["resources"] == nil {
				t.Errorf("no resources")
			}
			// The operator's Go memory limit follows the container's (cmd/manager).
			var memoryLimit any
			for _, e := range c["env"].([]any) {
				if e := e.(map[string]any); e["name"] == "SORTOGRAPHER_MEMORY_LIMIT" {
					memoryLimit, _, _ = unstructured.NestedFieldNoCopy(e, "valueFrom", "resourceFieldRef")
				}
			}
			if want := map[string]any{"containerName": c["name"], "resource": "limits.memory"}; !reflect.DeepEqual(memoryLimit, want) {
				t.Errorf("SORTOGRAPHER_MEMORY_LIMIT from %v, want the downward API's %v", memoryLimit, want)
			}
		})
	}
	d := one(t, testenv.Objects(t, mustHelmTemplate(t, "--set", "replicas=2")), "Deployment")
	if r, _, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "replicas"); fmt.Sprint(r) != "2" {
		t.Errorf("replicas=2 rendered %v", r)
	}
}

// The registry and a tag or digest per image reach the operator's container image and
// its RELATED_IMAGE_* variables, the operator's default images.
func TestImagesFollowTheRegistry(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		name                          string
		set                           []string
		operator, gallery, redis, mdb string
	}{
		{name: "defaults", operator: "ghcr.io/sortographer/sortographer-operator:v0.3.0",
			gallery: "ghcr.io/sortographer/sortographer:v0.3.0", redis: "docker.io/library/redis", mdb: "docker.io/library/mariadb"},
		{name: "one registry for everything", set: []string{"image.registry=registry.example.com:5000/mirror/", "managedImages.registry=registry.example.com:5000/mirror"},
			operator: "registry.example.com:5000/mirror/sortographer/sortographer-operator:v0.3.0",
			gallery:  "registry.example.com:5000/mirror/sortographer/sortographer:v0.3.0",
			redis:    "registry.example.com:5000/mirror/library/redis", mdb: "registry.example.com:5000/mirror/library/mariadb"},
		{name: "digests and a separate gallery registry", set: []string{"image.digest=" + digest, "galleryImage.registry=apps.example.com", "galleryImage.digest=" + digest, "galleryImage.tag=v9"},
			operator: "ghcr.io/sortographer/sortographer-operator@" + digest, gallery: "apps.example.com/sortographer/sortographer@" + digest,
			redis: "docker.io/library/redis", mdb: "docker.io/library/mariadb"},
		{name: "whole references without a registry", set: []string{"image.registry=", "image.repository=localhost/op", "image.tag=dev", "galleryImage.repository=localhost/app"},
			operator: "localhost/op:dev", gallery: "localhost/app:v0.3.0", redis: "docker.io/library/redis", mdb: "docker.io/library/mariadb"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var args []string
			for _, s := range c.set {
				args = append(args, "--set", s)
			}
			ctr := container(t, one(t, testenv.Objects(t, mustHelmTemplate(t, args...)), "Deployment"))
			env := map[string]string{}
			list, _ := ctr["env"].([]any)
			for _, e := range list {
				m := e.(map[string]any)
				env[fmt.Sprint(m["name"])] = fmt.Sprint(m["value"])
			}
			if ctr["image"] != c.operator || env["RELATED_IMAGE_GALLERY"] != c.gallery ||
				env["RELATED_IMAGE_REDIS"] != c.redis || env["RELATED_IMAGE_MARIADB"] != c.mdb {
				t.Errorf("operator %v, gallery %s, redis %s, mariadb %s; want %s, %s, %s, %s", ctr["image"],
					env["RELATED_IMAGE_GALLERY"], env["RELATED_IMAGE_REDIS"], env["RELATED_IMAGE_MARIADB"], c.operator, c.gallery, c.redis, c.mdb)
			}
		})
	}
}

// normalize drops what legitimately differs between a Helm release and the kustomize
// build: who manages it, the chart's version label, the keep policy.
func normalize(o *unstructured.Unstructured) map[string]any {
	o = o.DeepCopy()
	l := o.GetLabels()
	delete(l, "helm.sh/chart")
	delete(l, "app.kubernetes.io/managed-by")
	o.SetLabels(l)
	a := o.GetAnnotations()
	delete(a, "helm.sh/resource-policy")
	if len(a) == 0 {
		a = nil
	}
	o.SetAnnotations(a)
	// Round-trip through JSON so numbers compare alike.
	raw, _ := o.MarshalJSON()
	m := map[string]any{}
	_ = yaml.Unmarshal(raw, &m)
	return m
}

func key(o *unstructured.Unstructured) string {
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

func TestKustomizeIsEquivalentToChartDefaults(t *testing.T) {
	helmObjs := map[string]map[string]any{}
	for _, o := range testenv.Objects(t, mustHelmTemplate(t)) {
		helmObjs[key(o)] = normalize(o)
	}
	kustObjs := map[string]map[string]any{}
	for _, o := range testenv.Objects(t, kustomizeBuild(t)) {
		if o.GetKind() == "Namespace" {
			continue // helm install --create-namespace makes it
		}
		kustObjs[key(o)] = normalize(o)
	}
	var keys []string
	for k := range helmObjs {
		keys = append(keys, k)
	}
	for k := range kustObjs {
		if _, ok := helmObjs[k]; !ok {
			t.Errorf("kustomize builds %s, the chart does not", k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		k8s, ok := kustObjs[k]
		if !ok {
			t.Errorf("the chart renders %s, kustomize does not", k)
			continue
		}
		if !reflect.DeepEqual(helmObjs[k], k8s) {
			t.Errorf("%s differs (- chart, + kustomize):\n%s", k, lineDiff(t, helmObjs[k], k8s))
		}
	}
}

// lineDiff shows the YAML lines only one side has: enough to find a difference.
func lineDiff(t *testing.T, a, b map[string]any) string {
	t.Helper()
	ya, _ := yaml.Marshal(a)
	yb, _ := yaml.Marshal(b)
	la, lb := strings.Split(string(ya), "\n"), strings.Split(string(yb), "\n")
	count := func(ls []string) map[string]int {
		m := map[string]int{}
		for _, l := range ls {
			m[l]++
		}
		return m
	}
	ca, cb := count(la), count(lb)
	var out strings.Builder
	for _, l := range la {
		if cb[l] < ca[l] {
			fmt.Fprintf(&out, "- %s\n", l)
		}
	}
	for _, l := range lb {
		if ca[l] < cb[l] {
			fmt.Fprintf(&out, "+ %s\n", l)
		}
	}
	return out.String()
}
