package testservers

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"sigs.k8s.io/yaml"
)

// RegistryServer is an OCI registry (the CNCF distribution registry) of one test's own,
// on a loopback port, over plain HTTP and without authentication, storing blobs in a
// temporary folder. It starts in well under a second, so every test gets its own.
type RegistryServer struct {
	// Host is the registry's "127.0.0.1:PORT", the first part of a reference to an image
	// in it (go-containerregistry speaks plain HTTP to loopback addresses by itself).
	Host string
	// Dir is the filesystem storage driver's root.
	Dir  string
	proc *process
}

// registryBinEnv names a registry binary to use instead of building the pinned one.
const registryBinEnv = "REGISTRY_BIN"

// registry is the pinned CNCF distribution registry (hack/registry.sh: about a minute
// on 2 cores the first time; later runs reuse bin/ or the per-user cache).
var registry = pinnedTool{script: "registry.sh", env: registryBinEnv}

// registryConfig is the part of the registry's configuration file the tests set.
type registryConfig struct {
	Version string `json:"version"`
	Log     struct {
		Level string `json:"level"`
	} `json:"log"`
	Storage struct {
		Filesystem struct {
			RootDirectory string `json:"rootdirectory"`
		} `json:"filesystem"`
		Delete struct {
			Enabled bool `json:"enabled"`
		} `json:"delete"`
	} `json:"storage"`
	HTTP struct {
		Addr string `json:"addr"`
		// Secret signs upload state; without one the registry warns on every start.
		Secret string `json:"secret"`
	} `json:"http"`
}

// Registry starts a registry for this test and stops it, removing its data, when the test
// ends. It fails the test when the registry cannot be built or started; only -short skips.
func Registry(t testing.TB) *RegistryServer {
	t.Helper()
	skipIfShort(t)
	bin, err := registry.path()
	if err != nil {
		t.Fatalf("start registry: %v", err)
	}
	// Made before the cleanup below is registered, so it is removed after the registry
	// has stopped.
	dir := t.TempDir()
	r := &RegistryServer{Dir: filepath.Join(dir, "data")}
	// The registry runs under env, which execs it in the same process: env drops every
	// REGISTRY_* variable (REGISTRY_BIN, a REGISTRY_VERSION from make), which the registry
	// would read as configuration, and turns off the OpenTelemetry trace export that
	// otherwise logs an error every few seconds for want of a collector on localhost:4318.
	env, err := exec.LookPath("env")
	if err != nil {
		t.Fatalf("start registry: %v", err)
	}
	var envArgs []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "REGISTRY_") {
			envArgs = append(envArgs, "-u", k)
		}
	}
	envArgs = append(envArgs, "OTEL_TRACES_EXPORTER=none", bin, "serve")
	r.proc = &process{name: "registry", bin: env, logPath: filepath.Join(dir, "registry.log"), stopSignal: syscall.SIGTERM}
	t.Cleanup(r.proc.stop)
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("start registry: %v", err)
		}
		r.Host = "127.0.0.1:" + strconv.Itoa(port)
		configPath := filepath.Join(dir, "config.yml")
		if err := r.writeConfig(configPath); err != nil {
			t.Fatalf("start registry: %v", err)
		}
		r.proc.args = append(slices.Clone(envArgs), configPath)
		if err = r.start(); err == nil {
			return r
		}
		if attempt == startAttempts || !portTaken(r.proc.logPath) {
			t.Fatalf("start registry: %v", err)
		}
	}
}

// writeConfig writes the registry's configuration file for r.Host and r.Dir.
func (r *RegistryServer) writeConfig(path string) error {
	var c registryConfig
	c.Version = "0.1"
	c.Log.Level = "warn"
	c.Storage.Filesystem.RootDirectory = r.Dir
	c.Storage.Delete.Enabled = true
	c.HTTP.Addr = r.Host
	c.HTTP.Secret = "sortographer-test-registry"
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode registry config: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write registry config: %w", err)
	}
	return nil
}

func (r *RegistryServer) start() error {
	if err := r.proc.start(); err != nil {
		return err
	}
	if err := r.proc.waitReady(r.ping); err != nil {
		r.proc.stop()
		return err
	}
	return nil
}

// ping checks that the registry answers the distribution API's base endpoint with 200.
func (r *RegistryServer) ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Host+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v2/ answered %s", resp.Status)
	}
	return nil
}
