package alerts

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const dashboardFile = "dashboards/gallery.json"

// dashboard is what these tests read of a Grafana dashboard's JSON model.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int        `json:"id"`
	Type       string     `json:"type"`
	Title      string     `json:"title"`
	Datasource datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string     `json:"refId"`
		Expr       string     `json:"expr"`
		Datasource datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chartDir, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows (collapsed rows hold their panels).
func (d dashboard) allPanels() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

type query struct {
	where string // panel title and refId, or the template variable
	expr  string // as written, with Grafana's variables
}

var labelValues = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// dashboardQueries are the PromQL expressions of every panel target and of every query
// variable (label_values(selector, label) gives its selector).
func dashboardQueries(t *testing.T, d dashboard) []query {
	t.Helper()
	var qs []query
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			qs = append(qs, query{fmt.Sprintf("panel %q %s", p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		m := labelValues.FindStringSubmatch(fmt.Sprint(q["query"]))
		if m == nil {
			t.Fatalf("variable %s: want label_values(selector, label), got %v", v.Name, v.Query)
		}
		qs = append(qs, query{"variable " + v.Name, m[1]})
	}
	return qs
}

// grafanaVariables stand in for the dashboard's variables so promtool can parse each
// expression.
var grafanaVariables = strings.NewReplacer(
	"$namespace", "photos",
	"$gallery", "gallery",
	"$__rate_interval", "5m",
	"$__range", "6h",
)

// TestDashboardQueriesParse writes every dashboard expression, with Grafana's variables
// substituted, as a recording rule and runs `promtool check rules` on them.
func TestDashboardQueriesParse(t *testing.T) {
	d := loadDashboard(t)
	var rules []rule
	for i, q := range dashboardQueries(t, d) {
		expr := grafanaVariables.Replace(q.expr)
		if strings.Contains(expr, "$") {
			t.Errorf("%s: a variable this test does not substitute: %s", q.where, q.expr)
		}
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: expr})
	}
	raw, err := yaml.Marshal(rulesFile{Groups: []ruleGroup{{Name: "dashboard", Rules: rules}}})
	if err != nil {
		t.Fatal(err)
	}
	checkRules(t, raw)
}

// TestDashboardShape: one Gallery at a time (datasource, namespace and gallery variables;
// every query scoped to $gallery), every panel on the chosen datasource, unique ids.
func TestDashboardShape(t *testing.T) {
	d := loadDashboard(t)
	if d.UID != "sortographer-gallery" || d.Title == "" {
		t.Errorf("uid %q title %q", d.UID, d.Title)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name+"/"+v.Type)
	}
	if want := []string{"datasource/datasource", "namespace/query", "gallery/query"}; !slices.Equal(vars, want) {
		t.Errorf("variables %v, want %v", vars, want)
	}
	ids := map[int]bool{}
	for _, p := range d.allPanels() {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W == 0 || p.GridPos.H == 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %+v, %d queries", p.Title, p.Datasource, len(p.Targets))
		}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q %s: datasource %+v", p.Title, tg.RefID, tg.Datasource)
			}
			if !strings.Contains(tg.Expr, `gallery="$gallery"`) {
				t.Errorf("panel %q %s: not scoped to the chosen Gallery: %s", p.Title, tg.RefID, tg.Expr)
			}
		}
	}
}

// TestDashboardCoversTheGallery: the dashboard shows what issue 18 lists, each by the
// metric that measures it.
func TestDashboardCoversTheGallery(t *testing.T) {
	var all strings.Builder
	for _, q := range dashboardQueries(t, loadDashboard(t)) {
		all.WriteString(q.expr + "\n")
	}
	exprs := all.String()
	for what, needle := range map[string]string{
		"uploads by result":            "sum by (result) (rate(sortographer_uploads_total",
		"upload latency p50":           `histogram_quantile(0.5, sum by (le) (rate(sortographer_http_request_duration_seconds_bucket{namespace="$namespace", gallery="$gallery", method="POST", route="/api/images"}`,
		"upload latency p95":           `histogram_quantile(0.95, sum by (le) (rate(sortographer_http_request_duration_seconds_bucket{namespace="$namespace", gallery="$gallery", method="POST", route="/api/images"}`,
		"queue depth":                  "sortographer_queue_depth{",
		"oldest job age by priority":   "max by (priority) (sortographer_queue_oldest_job_age_seconds{",
		"classification by outcome":    "sum by (outcome) (rate(sortographer_worker_jobs_total{",
		"classification failures":      "sortographer_worker_classify_failures_total{",
		"dead letters":                 "sortographer_queue_dead_letters{",
		"provider calls by result":     "sum by (provider, result) (rate(sortographer_provider_calls_total{",
		"pods":                         "sortographer_gallery_replicas{",
		"restarts":                     "kube_pod_container_status_restarts_total{",
		"memory against limits":        "container_spec_memory_limit_bytes{",
		"database health":              `condition="DatabaseReady"`,
		"Redis health":                 `condition="CacheReady"`,
		"database and Redis over time": `condition=~"DatabaseReady|CacheReady`,
		"storage bytes":                "sortographer_storage_bytes{",
		"volumes":                      "kubelet_volume_stats_available_bytes{",
	} {
		if !strings.Contains(exprs, needle) {
			t.Errorf("no query shows %s (%s)", what, needle)
		}
	}
}

// TestDashboardConfigMap: the chart ships the file unchanged in a ConfigMap Grafana's
// sidecar picks up.
func TestDashboardConfigMap(t *testing.T) {
	file, err := os.ReadFile(filepath.Join(chartDir, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	cm := only(t, render(t, "dashboard.annotations.grafana_folder=Sortographer"), "ConfigMap")
	if cm.GetNamespace() != namespace {
		t.Errorf("ConfigMap in %q, want %q", cm.GetNamespace(), namespace)
	}
	if cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("ConfigMap labels %v: want grafana_dashboard: \"1\" for the sidecar", cm.GetLabels())
	}
	if cm.GetAnnotations()["grafana_folder"] != "Sortographer" {
		t.Errorf("dashboard.annotations not applied: %v", cm.GetAnnotations())
	}
	data, _ := cm.Object["data"].(map[string]any)
	if len(data) != 1 || strings.TrimSpace(fmt.Sprint(data["sortographer-gallery.json"])) != strings.TrimSpace(string(file)) {
		t.Errorf("ConfigMap data is not %s as is (keys %d)", dashboardFile, len(data))
	}

	cm = only(t, render(t, "dashboard.labels.grafana_dashboard=null", "dashboard.labels.team-dashboards=photos"), "ConfigMap")
	if _, ok := cm.GetLabels()["grafana_dashboard"]; ok || cm.GetLabels()["team-dashboards"] != "photos" {
		t.Errorf("dashboard.labels not applied: %v", cm.GetLabels())
	}
}
