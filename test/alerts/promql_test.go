package alerts

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// promqlKeywords are PromQL words that are never metric names: operators, modifiers and
// the aggregations (which may be followed by "by (...)" before their "(").
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// labelListKeywords are followed by a parenthesised list of label names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// exprMetricNames are the metric names a PromQL expression selects: the identifiers that
// are not functions or aggregations (followed by "("), keywords, label names (in braces,
// or in the lists after by, without, on, ignoring, group_left and group_right), strings,
// numbers or durations. promtool has parsed every expression before this runs, so it
// needs only to find names, not to check syntax; metricNameCases pins it down.
func exprMetricNames(expr string) ([]string, error) {
	var names []string
	s := []rune(expr)
	skipTo := func(i int, open, close rune) (int, error) {
		depth := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '"', '\'', '`':
				end, err := skipString(s, i)
				if err != nil {
					return 0, err
				}
				i = end
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					return i, nil
				}
			}
		}
		return 0, fmt.Errorf("unbalanced %c in %q", open, expr)
	}
	isStart := func(r rune) bool { return r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
	isPart := func(r rune) bool { return isStart(r) || r >= '0' && r <= '9' }
	nextNonSpace := func(i int) int {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
		return i
	}
	for i := 0; i < len(s); i++ {
		r := s[i]
		switch {
		case r == '"' || r == '\'' || r == '`':
			end, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case r == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case r == '{':
			end, err := skipTo(i, '{', '}')
			if err != nil {
				return nil, err
			}
			i = end
		case r == '[':
			end, err := skipTo(i, '[', ']')
			if err != nil {
				return nil, err
			}
			i = end
		case r >= '0' && r <= '9' || r == '.':
			// A number (0.9, 1e+06, 0x1f) or a duration (5m, 1h30m).
			for i+1 < len(s) && (isPart(s[i+1]) || s[i+1] == '.' ||
				(s[i+1] == '+' || s[i+1] == '-') && (s[i] == 'e' || s[i] == 'E')) {
				i++
			}
		case isStart(r):
			j := i
			for j < len(s) && isPart(s[j]) {
				j++
			}
			word := string(s[i:j])
			next := nextNonSpace(j)
			lower := strings.ToLower(word)
			switch {
			case labelListKeywords[lower]:
				if next < len(s) && s[next] == '(' {
					end, err := skipTo(next, '(', ')')
					if err != nil {
						return nil, err
					}
					j = end + 1
				}
			case promqlKeywords[lower]:
			case next < len(s) && s[next] == '(':
				// A function or an aggregation.
			default:
				if !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
			i = j - 1
		}
	}
	sort.Strings(names)
	return names, nil
}

func skipString(s []rune, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j, nil
		}
	}
	return 0, fmt.Errorf("unterminated string in %q", string(s))
}

var metricNameCases = []struct {
	expr string
	want []string
}{
	{`up`, []string{"up"}},
	{`absent(up{job=~"sortographer-operator.*"} == 1)`, []string{"up"}},
	{`sum by (namespace, gallery) (rate(a_total{code=~"5..", route="/api/{id}"}[5m])) / sum(rate(a_total[5m])) > 0.05`, []string{"a_total"}},
	{`max(x) by (le) * on (namespace, pod) group_left (gallery, component) group by (namespace, pod, gallery, component) (info)`, []string{"info", "x"}},
	{`histogram_quantile(0.95, sum by (le) (rate(h_bucket{method="POST"}[$__rate_interval])))`, []string{"h_bucket"}},
	{`label_replace(a / b > 0.25, "reason", "throttled", "", "") or c unless ignoring (pod) d`, []string{"a", "b", "c", "d"}},
	{`time() - max without (instance) (ts_seconds offset 5m) > 1e+06 and bool e`, []string{"e", "ts_seconds"}},
	{`topk(3, sum by (k) (increase(n:recorded[1h30m]))) > Inf`, []string{"n:recorded"}},
	{`sum by (x) ('quoted{not_a_metric}' == "") # comment names_nothing`, nil},
}

func TestExprMetricNames(t *testing.T) {
	for _, c := range metricNameCases {
		got, err := exprMetricNames(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.expr, got, c.want)
		}
	}
}

// TestMetricNamesAreWhatRulesAndDashboardRead: MetricNames lists exactly the metrics the
// rendered rules and the dashboard read, and every name that is not ours has a known
// source.
func TestMetricNamesAreWhatRulesAndDashboardRead(t *testing.T) {
	rules, _ := chartRules(t)
	used := map[string][]string{}
	add := func(where, expr string) {
		names, err := exprMetricNames(expr)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for _, n := range names {
			used[n] = append(used[n], where)
		}
	}
	for _, a := range rules.alerts() {
		add("alert "+a.Alert, a.Expr)
	}
	for _, q := range dashboardQueries(t, loadDashboard(t)) {
		add("dashboard "+q.where, q.expr)
	}
	for n, where := range used {
		src := MetricSource(n)
		switch {
		case src == "" && Ours(n):
			t.Errorf("%s (read by %s) is missing from names.go's metricSources", n, strings.Join(where, ", "))
		case src == "":
			t.Errorf("%s (read by %s) is not ours and has no known source: add it to names.go's metricSources with where it comes from, and to docs/alerts.md", n, strings.Join(where, ", "))
		}
	}
	for _, n := range MetricNames() {
		if _, ok := used[n]; !ok {
			t.Errorf("names.go lists %s, which neither the rules nor the dashboard read", n)
		}
		ourSource := map[string]bool{SourceServer: true, SourceWorkers: true, SourceServerAndWorkers: true, SourceOperator: true}
		if Ours(n) != ourSource[MetricSource(n)] {
			t.Errorf("%s: source %q does not match its name", n, MetricSource(n))
		}
	}
}
