// Package testenv starts a real kube-apiserver and etcd (controller-runtime's envtest)
// from the pinned binaries that hack/k8s-bin.sh builds, with Sortographer's CRD
// installed. Tests that need a control plane call Start once from TestMain.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/kubeversion"
)

// Env is a running control plane.
type Env struct {
	Config *rest.Config
	Client client.Client
	// Kubeconfig is a kubeconfig file for the control plane (for kubectl in tests).
	Kubeconfig string
	// BinDir holds kube-apiserver, etcd and kubectl.
	BinDir string
	// ServerMinor is the API server's minor version: make test runs the envtest suites
	// on the oldest supported Kubernetes as well as the pinned one, and a test that
	// meets a feature of later versions asks it.
	ServerMinor int
	env         *envtest.Environment
}

// RepoRoot is the repository's top folder, found from this source file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Start starts kube-apiserver and etcd and installs the CRDs from config/crd/bases,
// plus any extra CRD files or folders (relative to the repository root). It fails with a
// clear message when the binaries are missing: run `make k8s-bin`.
func Start(extraCRDs ...string) (*Env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run tests through `make test`, or export KUBEBUILDER_ASSETS=$(make -s k8s-bin)")
	}
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return nil, fmt.Errorf("%s missing from KUBEBUILDER_ASSETS=%s: run `make k8s-bin`: %w", b, assets, err)
		}
	}
	if err := galleryv1alpha1.AddToScheme(scheme.Scheme); err != nil {
		return nil, fmt.Errorf("register gallery types: %w", err)
	}
	e := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crdPaths(extraCRDs),
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := e.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest control plane: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("build client: %w", err)
	}
	user, err := e.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("add admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("render kubeconfig: %w", err)
	}
	f, err := os.CreateTemp("", "sortographer-envtest-*.kubeconfig")
	if err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	if _, err := f.Write(kc); err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	_ = f.Close()
	minor, err := kubeversion.Minor(cfg)
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Kubeconfig: f.Name(), BinDir: assets, ServerMinor: minor, env: e}, nil
}

// Stop stops the control plane and removes the kubeconfig.
func (e *Env) Stop() error {
	_ = os.Remove(e.Kubeconfig)
	return e.env.Stop()
}

func crdPaths(extra []string) []string {
	paths := []string{filepath.Join(RepoRoot(), "config", "crd", "bases")}
	for _, p := range extra {
		paths = append(paths, filepath.Join(RepoRoot(), p))
	}
	return paths
}
