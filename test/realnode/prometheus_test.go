package realnode

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/testenv"
	"github.com/sortographer/sortographer/test/alerts"
)

// prometheus is a real Prometheus (built from the module proxy by hack/prometheus.sh)
// running on this machine. It finds the Gallery's pods and the operator's pod through the
// API server, as the Prometheus Operator's PodMonitor would make it, scrapes them across
// the node's bridge, and evaluates the chart's alert rules.
type prometheus struct {
	base string
	cmd  *exec.Cmd
	log  string
}

// promInterval is the scrape and rule-evaluation interval: short, so the test's alerts
// go pending and firing within seconds of their conditions.
const promInterval = 2 * time.Second

// chartRules renders the chart's PrometheusRule with the given values and returns its
// rule groups as a Prometheus rules file.
func chartRules(t *testing.T, set ...string) []byte {
	t.Helper()
	args := []string{"template", "sortographer", filepath.Join(env.root, "charts", "sortographer"),
		"--show-only", "templates/prometheusrule.yaml", "--set", "prometheusRule.enabled=true"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := runTool(env.helmBin, "", args...)
	if err != nil {
		t.Fatalf("helm template the PrometheusRule: %v\n%s", err, out)
	}
	var rule struct {
		Spec struct {
			Groups []any `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(out), &rule); err != nil {
		t.Fatalf("the rendered PrometheusRule: %v\n%s", err, out)
	}
	if len(rule.Spec.Groups) == 0 {
		t.Fatalf("the rendered PrometheusRule has no rule groups:\n%s", out)
	}
	b, err := yaml.Marshal(map[string]any{"groups": rule.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// prometheusConfig scrapes the Gallery's server and workers pods on their "metrics" port
// with the PodMonitor's relabelling (gallery, component, namespace, pod), and the
// operator's pod with honor_labels, as the chart's ServiceMonitor does.
func prometheusConfig(kubeconfig, rules string) string {
	return fmt.Sprintf(`global: {scrape_interval: %[1]s, evaluation_interval: %[1]s, scrape_timeout: %[1]s}
rule_files: [%[3]q]
scrape_configs:
  - job_name: sortographer-gallery
    kubernetes_sd_configs: [{role: pod, kubeconfig_file: %[2]q, namespaces: {names: [%[4]s]}}]
    relabel_configs:
      - {source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_managed_by], regex: sortographer-operator, action: keep}
      - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: metrics, action: keep}
      - {source_labels: [__meta_kubernetes_pod_phase], regex: Running, action: keep}
      - {source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_instance], target_label: gallery}
      - {source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_component], target_label: component}
      - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
      - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
  - job_name: sortographer-operator
    honor_labels: true
    kubernetes_sd_configs: [{role: pod, kubeconfig_file: %[2]q, namespaces: {names: [%[5]s]}}]
    relabel_configs:
      - {source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name], regex: sortographer-operator, action: keep}
      - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: metrics, action: keep}
      - {source_labels: [__meta_kubernetes_pod_phase], regex: Running, action: keep}
`, promInterval, kubeconfig, rules, namespace, releaseNamespace)
}

// startPrometheus runs Prometheus with the chart's rules (rendered with set) until owner's
// cleanup (the whole walk-through's test, so later steps can read its alerts).
func startPrometheus(t, owner *testing.T, set ...string) *prometheus {
	t.Helper()
	bin := os.Getenv("PROMETHEUS")
	if bin == "" {
		t.Fatal("PROMETHEUS is not set: run through make test or make e2e, which build the pinned Prometheus (hack/prometheus.sh)")
	}
	dir := filepath.Join(env.tmp, "prometheus")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, chartRules(t, set...), 0o644); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "prometheus.yaml")
	if err := os.WriteFile(config, []byte(prometheusConfig(env.kubeconfig, rules)), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	p := &prometheus{base: "http://" + addr, log: filepath.Join(dir, "prometheus.log")}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	owner.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.cmd.Wait()
		_ = logFile.Close()
		if owner.Failed() {
			b, _ := os.ReadFile(p.log)
			owner.Logf("prometheus log:\n%s", b)
		}
	})
	testenv.Eventually(t, time.Minute, "Prometheus ready", func() error {
		return p.get("/-/ready", nil)
	})
	return p
}

// get reads a Prometheus API path; out (if not nil) receives the response's data.
func (p *prometheus) get(path string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, res.Status, body)
	}
	if out == nil {
		return nil
	}
	var envelope struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if envelope.Status != "success" {
		return fmt.Errorf("GET %s: status %q: %s", path, envelope.Status, body)
	}
	return json.Unmarshal(envelope.Data, out)
}

type promTarget struct {
	Labels    map[string]string `json:"labels"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
}

// targetsUp checks that every wanted component has a target and every target is up.
func (p *prometheus) targetsUp(want ...string) error {
	var data struct {
		ActiveTargets []promTarget `json:"activeTargets"`
	}
	if err := p.get("/api/v1/targets?state=active", &data); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, tg := range data.ActiveTargets {
		if tg.Health != "up" {
			return fmt.Errorf("target %v is %s: %s", tg.Labels, tg.Health, tg.LastError)
		}
		seen[tg.Labels["job"]+"/"+tg.Labels["component"]] = true
	}
	for _, w := range want {
		if !seen[w] {
			return fmt.Errorf("no target for %s among %v", w, data.ActiveTargets)
		}
	}
	return nil
}

// metricNames is every metric name Prometheus holds a series of.
func (p *prometheus) metricNames() ([]string, error) {
	var names []string
	if err := p.get("/api/v1/label/__name__/values", &names); err != nil {
		return nil, err
	}
	return names, nil
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// alertState is the state of the named alert for this test's Gallery: "" (inactive),
// "pending" or "firing".
func (p *prometheus) alertState(alertname string) (string, error) {
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	if err := p.get("/api/v1/alerts", &data); err != nil {
		return "", err
	}
	state := ""
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == alertname && a.Labels["namespace"] == namespace && a.Labels["gallery"] == name {
			if a.State == "firing" || state == "" {
				state = a.State
			}
		}
	}
	return state, nil
}

// waitAlert waits until the named alert for this test's Gallery is in state, and returns
// when (since start) it was first seen in each state on the way.
func (p *prometheus) waitAlert(t *testing.T, alertname, want string, start time.Time) map[string]time.Duration {
	t.Helper()
	seen := map[string]time.Duration{}
	testenv.Eventually(t, 3*time.Minute, alertname+" "+want, func() error {
		state, err := p.alertState(alertname)
		if err != nil {
			return err
		}
		if _, ok := seen[state]; !ok && state != "" {
			seen[state] = time.Since(start)
		}
		if state != want {
			return fmt.Errorf("alert is %q", state)
		}
		return nil
	})
	return seen
}

// query runs an instant PromQL query and returns its single value.
func (p *prometheus) query(q string) (string, error) {
	var data struct {
		Result []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		return "", err
	}
	if len(data.Result) != 1 {
		return "", fmt.Errorf("%s: %d series, want 1", q, len(data.Result))
	}
	s, _ := data.Result[0].Value[1].(string)
	return s, nil
}

// testPrometheusScrapes starts Prometheus beside the running Gallery. Every target is up,
// and every metric name the chart's alert rules and dashboard use from our own binaries
// (sortographer_*) is exported by the real server, workers and operator.
func testPrometheusScrapes(t, owner *testing.T) *prometheus {
	// Thresholds short enough for a test: the backlog alert fires when the oldest job
	// has waited 20 s for 10 s.
	p := startPrometheus(t, owner, backlogAlertValues...)
	testenv.Eventually(t, 2*time.Minute, "every target scraped and up", func() error {
		return p.targetsUp("sortographer-gallery/"+galleryv1alpha1.ComponentServer,
			"sortographer-gallery/"+galleryv1alpha1.ComponentWorkers, "sortographer-operator/")
	})
	testenv.Eventually(t, time.Minute, "every sortographer_* metric the rules and dashboard use is exported", func() error {
		have, err := p.metricNames()
		if err != nil {
			return err
		}
		var missing []string
		for _, n := range alerts.MetricNames() {
			if strings.HasPrefix(n, "sortographer_") && !slices.Contains(have, n) {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("used by the rules or the dashboard but not exported: %s", strings.Join(missing, ", "))
		}
		return nil
	})
	// The operator's own view and the app's agree on the Gallery's identity labels.
	if v, err := p.query(fmt.Sprintf(`sortographer_gallery_condition{namespace=%q,gallery=%q,condition="Ready",status="true"}`, namespace, name)); err != nil || v != "1" {
		t.Errorf("operator's Ready gauge for %s/%s = %q (%v), want 1", namespace, name, v, err)
	}
	if v, err := p.query(fmt.Sprintf(`max(sortographer_queue_depth{namespace=%q,gallery=%q,component="server"})`, namespace, name)); err != nil || v == "-1" {
		t.Errorf("server's queue depth for %s/%s = %q (%v), want a readable depth", namespace, name, v, err)
	}
	return p
}

// backlogAlertValues are the chart values that bring SortographerClassificationBacklogOld
// within a test's reach.
var backlogAlertValues = []string{"prometheusRule.oldestJobAgeSeconds=20", "prometheusRule.oldestJobAgeFor=10s"}

// testBacklogAlertFires stops every worker and uploads a photo: no job is taken, the
// oldest job's age climbs, and SortographerClassificationBacklogOld goes pending, then
// firing. With the workers back the photo is labelled and the alert resolves.
func testBacklogAlertFires(t *testing.T, p *prometheus, u *galleryUser) {
	if state, err := p.alertState("SortographerClassificationBacklogOld"); err != nil || state != "" {
		t.Fatalf("SortographerClassificationBacklogOld is %q (%v) before anything is wrong", state, err)
	}
	kubectl(t, "", "patch", "gallery", "-n", namespace, name, "--type=merge", "-p", `{"spec":{"workers":{"replicas":0}}}`)
	testenv.Eventually(t, 3*time.Minute, "no worker pod left", func() error {
		pods, err := listPods(galleryv1alpha1.ComponentWorkers)
		if err != nil {
			return err
		}
		if len(pods) > 0 {
			return fmt.Errorf("%d worker pods", len(pods))
		}
		return nil
	})
	start := time.Now()
	u.upload(t, newPhoto(t))
	seen := p.waitAlert(t, "SortographerClassificationBacklogOld", "firing", start)
	if _, ok := seen["pending"]; !ok {
		t.Errorf("the alert fired without going pending first (its for: was skipped)")
	}
	t.Logf("FIGURE backlog alert: pending after %s, firing after %s of a stopped queue", seen["pending"].Round(time.Second), seen["firing"].Round(time.Second))
	kubectl(t, "", "patch", "gallery", "-n", namespace, name, "--type=merge", "-p", `{"spec":{"workers":{"replicas":1}}}`)
	u.waitLabelled(t, 3*time.Minute)
	testenv.Eventually(t, 2*time.Minute, "SortographerClassificationBacklogOld resolved", func() error {
		state, err := p.alertState("SortographerClassificationBacklogOld")
		if err != nil {
			return err
		}
		if state != "" {
			return fmt.Errorf("alert is still %q", state)
		}
		return nil
	})
}
