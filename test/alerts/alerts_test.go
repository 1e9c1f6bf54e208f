package alerts

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// contractAlerts are the alerts issue 18 asks for, by the names agreed for them.
var contractAlerts = []string{
	"SortographerGalleryNotReady",
	"SortographerServerUnavailable",
	"SortographerWorkersUnavailable",
	"SortographerContainerMemoryNearLimit",
	"SortographerContainerOOMKilled",
	"SortographerContainerRestarting",
	"SortographerVolumeFillingUp",
	"SortographerCPUSaturated",
	"SortographerClassificationBacklogOld",
	"SortographerDeadLettersGrowing",
	"SortographerProviderThrottled",
	"SortographerUploadErrors",
	"SortographerOperatorDown",
	"SortographerReconcileStale",
}

const defaultRunbookBase = "https://github.com/sortographer/sortographer/blob/main/docs/alerts.md"

func TestRulesPassPromtoolCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		set  []string
	}{
		{"defaults", nil},
		// Every threshold and duration changed, so each value reaches valid PromQL.
		{"tuned", []string{
			"prometheusRule.operatorJob=monitoring/sortographer-.*",
			"prometheusRule.operatorDownFor=1m,prometheusRule.notReadyFor=30m,prometheusRule.unavailableFor=90s",
			"prometheusRule.memoryNearLimitRatio=0.85,prometheusRule.memoryNearLimitFor=1h",
			"prometheusRule.restartsThreshold=5,prometheusRule.restartsWindow=30m",
			"prometheusRule.volumeFreeRatio=0.2,prometheusRule.volumeFillingUpFor=1h",
			"prometheusRule.cpuThrottledRatio=0.5,prometheusRule.cpuRequestRatio=3,prometheusRule.cpuSaturatedFor=1h",
			"prometheusRule.oldestJobAgeSeconds=20,prometheusRule.oldestLowPriorityJobAgeSeconds=3600,prometheusRule.oldestJobAgeFor=10s",
			"prometheusRule.deadLettersWindow=6h",
			"prometheusRule.providerThrottledRatio=0.3,prometheusRule.providerThrottledFor=1h",
			"prometheusRule.uploadErrorRatio=0.01,prometheusRule.uploadErrorsFor=2m",
			"prometheusRule.reconcileStaleSeconds=86400,prometheusRule.reconcileFailingSeconds=600",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, raw := chartRules(t, c.set...)
			checkRules(t, raw)
		})
	}
}

// TestAlertUnitTests runs `promtool test rules` on testdata/*.yaml against the rules the
// chart renders with its default values.
func TestAlertUnitTests(t *testing.T) {
	_, raw := chartRules(t)
	dir := t.TempDir()
	writeFile(t, dir, "rules.yaml", raw)
	files := unitTestFiles(t)
	var args []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, writeFile(t, dir, filepath.Base(f), data))
	}
	out, err := run(t, dir, tool(t, "PROMTOOL"), append([]string{"test", "rules"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "SUCCESS"); n != len(files) {
		t.Fatalf("want SUCCESS for each of %d files, got %d:\n%s", len(files), n, out)
	}
}

func unitTestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no unit tests in testdata/*.yaml (%v)", err)
	}
	return files
}

// unitTests is what this package needs of a promtool unit-test file.
type unitTests struct {
	RuleFiles []string `json:"rule_files"`
	Tests     []struct {
		Name       string      `json:"name"`
		AlertTests []alertTest `json:"alert_rule_test"`
	} `json:"tests"`
}

type alertTest struct {
	EvalTime  string `json:"eval_time"`
	Alertname string `json:"alertname"`
	ExpAlerts []struct {
		ExpLabels      map[string]string `json:"exp_labels"`
		ExpAnnotations map[string]string `json:"exp_annotations"`
	} `json:"exp_alerts"`
}

// TestEveryAlertFiresAndStaysQuiet: for every alert the chart renders, the unit tests hold
// at least one evaluation where it fires (with its labels and annotations spelled out)
// and one where it must not.
func TestEveryAlertFiresAndStaysQuiet(t *testing.T) {
	fires, quiet := map[string]int{}, map[string]int{}
	for _, f := range unitTestFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var u unitTests
		if err := yaml.Unmarshal(data, &u); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !slices.Equal(u.RuleFiles, []string{"rules.yaml"}) {
			t.Errorf("%s: rule_files must be [rules.yaml], the chart's rendered rules", f)
		}
		for _, tc := range u.Tests {
			for _, a := range tc.AlertTests {
				if len(a.ExpAlerts) == 0 {
					quiet[a.Alertname]++
					continue
				}
				fires[a.Alertname]++
				for _, e := range a.ExpAlerts {
					if e.ExpLabels["severity"] == "" || e.ExpAnnotations["description"] == "" || e.ExpAnnotations["runbook_url"] == "" {
						t.Errorf("%s: %s at %s: a firing case must spell out severity, description and runbook_url", f, a.Alertname, a.EvalTime)
					}
				}
			}
		}
	}
	rules, _ := chartRules(t)
	for _, a := range rules.alerts() {
		if fires[a.Alert] == 0 {
			t.Errorf("%s: no unit test where it fires", a.Alert)
		}
		if quiet[a.Alert] == 0 {
			t.Errorf("%s: no unit test where it must not fire", a.Alert)
		}
		delete(fires, a.Alert)
		delete(quiet, a.Alert)
	}
	for name := range fires {
		t.Errorf("unit tests name %s, which the chart does not render", name)
	}
}

func TestAlertsAreTheAgreedOnes(t *testing.T) {
	rules, _ := chartRules(t)
	var got []string
	for _, a := range rules.alerts() {
		got = append(got, a.Alert)
	}
	want := slices.Clone(contractAlerts)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("alerts:\n got %v\nwant %v", got, want)
	}
}

// TestAlertsSayWhatAndWhere: every alert has a severity, a summary, a description naming
// the Gallery, and a runbook_url whose anchor is its section of docs/alerts.md.
func TestAlertsSayWhatAndWhere(t *testing.T) {
	rules, _ := chartRules(t)
	anchors := docAnchors(t)
	for _, a := range rules.alerts() {
		t.Run(a.Alert, func(t *testing.T) {
			if s := a.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("severity %q, want warning or critical", s)
			}
			if a.Annotations["summary"] == "" {
				t.Errorf("no summary")
			}
			d := a.Annotations["description"]
			if a.Alert != "SortographerOperatorDown" && !strings.Contains(d, "Gallery {{ $labels.namespace }}/{{ $labels.gallery }}") {
				t.Errorf("description does not name the Gallery as namespace/name: %q", d)
			}
			anchor := strings.ToLower(a.Alert)
			if want := defaultRunbookBase + "#" + anchor; a.Annotations["runbook_url"] != want {
				t.Errorf("runbook_url %q, want %q", a.Annotations["runbook_url"], want)
			}
			if !anchors[anchor] {
				t.Errorf("docs/alerts.md has no section %q (a heading that is the alert's name)", a.Alert)
			}
			if len(a.Labels) != 1 {
				t.Errorf("labels %v: want only severity by default", a.Labels)
			}
			// App metrics are summed per Gallery; pod and volume metrics reach a Gallery
			// only through the operator's info series.
			if a.Alert != "SortographerOperatorDown" && !strings.Contains(a.Expr, "by (namespace, gallery") &&
				!strings.Contains(a.Expr, "sortographer_gallery_pod_info") && !strings.Contains(a.Expr, "sortographer_gallery_volume_info") {
				t.Errorf("expression neither aggregates by (namespace, gallery) nor joins an info series:\n%s", a.Expr)
			}
		})
	}
}

// docAnchors are the GitHub anchors of docs/alerts.md's headings.
func docAnchors(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(root, "docs", "alerts.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ +(.+?) *$`).FindAllStringSubmatch(string(doc), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	return anchors
}

// githubAnchor is the id GitHub gives a Markdown heading: lower case, punctuation other
// than - and _ dropped, spaces made -.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestDocsCoverValuesAndMetrics: docs/alerts.md names every prometheusRule value and every
// metric the rules and the dashboard read.
func TestDocsCoverValuesAndMetrics(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, "docs", "alerts.md"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		PrometheusRule map[string]any `json:"prometheusRule"`
		Dashboard      map[string]any `json:"dashboard"`
	}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	for k := range values.PrometheusRule {
		if !strings.Contains(string(doc), "`prometheusRule."+k) {
			t.Errorf("docs/alerts.md does not document prometheusRule.%s", k)
		}
	}
	for k := range values.Dashboard {
		if !strings.Contains(string(doc), "`dashboard."+k) {
			t.Errorf("docs/alerts.md does not document dashboard.%s", k)
		}
	}
	for _, n := range MetricNames() {
		if !strings.Contains(string(doc), "`"+n+"`") {
			t.Errorf("docs/alerts.md does not list the metric %s (%s)", n, MetricSource(n))
		}
	}
}

func TestRuleValues(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		out, err := run(t, root, tool(t, "HELM"), "template", release, chartDir, "--namespace", namespace)
		if err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{"kind: PrometheusRule", "kind: ConfigMap"} {
			if strings.Contains(out, kind) {
				t.Errorf("the default rendering has a %s", kind)
			}
		}
	})

	objs := render(t, "prometheusRule.labels.release=prometheus",
		"prometheusRule.alertLabels.team=photos", "prometheusRule.alertLabels.severity=page",
		"prometheusRule.runbookBaseURL=https://wiki.example.com/sortographer-alerts",
		"prometheusRule.operatorJob=ops/sortographer",
		"prometheusRule.notReadyFor=3m", "prometheusRule.oldestJobAgeSeconds=20", "prometheusRule.oldestJobAgeFor=10s")
	pr := only(t, objs, "PrometheusRule")
	if pr.GetNamespace() != namespace {
		t.Errorf("PrometheusRule in %q, want the release namespace %q", pr.GetNamespace(), namespace)
	}
	if pr.GetLabels()["release"] != "prometheus" {
		t.Errorf("prometheusRule.labels not on the PrometheusRule: %v", pr.GetLabels())
	}
	rules, _ := chartRules(t, "prometheusRule.alertLabels.team=photos", "prometheusRule.alertLabels.severity=page",
		"prometheusRule.runbookBaseURL=https://wiki.example.com/sortographer-alerts",
		"prometheusRule.operatorJob=ops/sortographer",
		"prometheusRule.notReadyFor=3m", "prometheusRule.oldestJobAgeSeconds=20", "prometheusRule.oldestJobAgeFor=10s")
	for _, a := range rules.alerts() {
		if a.Labels["team"] != "photos" {
			t.Errorf("%s: alertLabels not applied: %v", a.Alert, a.Labels)
		}
		if s := a.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("%s: alertLabels.severity replaced the alert's severity: %q", a.Alert, s)
		}
		if want := "https://wiki.example.com/sortographer-alerts#" + strings.ToLower(a.Alert); a.Annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url %q, want %q", a.Alert, a.Annotations["runbook_url"], want)
		}
		switch a.Alert {
		case "SortographerGalleryNotReady":
			if a.For != "3m" {
				t.Errorf("%s: for %q, want 3m", a.Alert, a.For)
			}
		case "SortographerClassificationBacklogOld":
			if a.For != "10s" || !strings.Contains(a.Expr, `{priority="normal"}) > 20`) {
				t.Errorf("%s: for %q, expr:\n%s", a.Alert, a.For, a.Expr)
			}
		case "SortographerOperatorDown":
			if !strings.Contains(a.Expr, `up{job=~"ops/sortographer"}`) {
				t.Errorf("%s: operatorJob not used:\n%s", a.Alert, a.Expr)
			}
		}
	}

	// The default operator job matches the ServiceMonitor's job (its Service's name), also
	// with a fullnameOverride.
	for _, c := range []struct{ set, job string }{
		{"fullnameOverride=", "sortographer-operator-metrics"},
		{"fullnameOverride=photos", "photos-operator-metrics"},
	} {
		rules, _ := chartRules(t, c.set)
		svc := ""
		for _, o := range render(t, c.set) {
			if o.GetKind() == "Service" {
				svc = o.GetName()
			}
		}
		if svc != c.job {
			t.Errorf("%s: the metrics Service is %q, want %q", c.set, svc, c.job)
		}
		for _, a := range rules.alerts() {
			if a.Alert != "SortographerOperatorDown" {
				continue
			}
			m := regexp.MustCompile(`job=~"([^"]*)"`).FindStringSubmatch(a.Expr)
			if m == nil || !regexp.MustCompile("^(?:"+m[1]+")$").MatchString(c.job) {
				t.Errorf("%s: %s's job matcher %v does not match the ServiceMonitor's job %q", c.set, a.Alert, m, c.job)
			}
		}
	}
}

func TestValuesSchema(t *testing.T) {
	for _, c := range []struct{ set, wantInError string }{
		{"prometheusRule.enabled=yes", "/prometheusRule/enabled"},
		{"prometheusRule.notReadyFor=ten", "/prometheusRule/notReadyFor"},
		{"prometheusRule.memoryNearLimitRatio=90", "/prometheusRule/memoryNearLimitRatio"},
		{"prometheusRule.oldestJobAgeSeconds=0", "/prometheusRule/oldestJobAgeSeconds"},
		{"prometheusRule.runbookBaseURL=docs/alerts.md", "/prometheusRule/runbookBaseURL"},
		{"prometheusRule.notReadyFr=5m", "notReadyFr"},
		{"dashboard.labels.grafana_dashboard=1", "/dashboard/labels/grafana_dashboard"},
		{"dashboard.folder=x", "folder"},
	} {
		t.Run(c.set, func(t *testing.T) {
			out, err := run(t, root, tool(t, "HELM"), "template", release, chartDir, "--namespace", namespace, "--set", c.set)
			if err == nil {
				t.Fatalf("--set %s was accepted", c.set)
			}
			if !strings.Contains(out, c.wantInError) {
				t.Fatalf("--set %s: error does not name %q:\n%s", c.set, c.wantInError, out)
			}
		})
	}
}
