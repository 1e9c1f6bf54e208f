// Package kubeversion reads the API server's version, for code that behaves differently
// on older Kubernetes (the operator's start-up, the tests' expectations).
package kubeversion

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// Minor is the API server's minor version (1.30.14 → 30). Distributions' "30+" count as
// 30. A server whose major version is not 1 is refused: nothing here knows it.
func Minor(cfg *rest.Config) (int, error) {
	d, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return 0, fmt.Errorf("discovery client: %w", err)
	}
	v, err := d.ServerVersion()
	if err != nil {
		return 0, fmt.Errorf("read the API server's version: %w", err)
	}
	return parse(v.Major, v.Minor)
}

func parse(major, minor string) (int, error) {
	if strings.TrimRight(major, "+") != "1" {
		return 0, fmt.Errorf("the API server's major version %q: only 1 is known", major)
	}
	m, err := strconv.Atoi(strings.TrimRight(minor, "+"))
	if err != nil {
		return 0, fmt.Errorf("the API server's minor version %q: %w", minor, err)
	}
	return m, nil
}
