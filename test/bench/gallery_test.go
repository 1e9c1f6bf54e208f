package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
)

// repoRoot is the repository's top folder, found from this source file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// binary is the sortographer binary the benchmarks run: -e2e.binary, or one built from
// this tree once per test binary (cgo as the default build, so the built-in model runs
// on ONNX Runtime as it does in the image).
func binary(b *testing.B) string {
	b.Helper()
	if *binaryFlag != "" {
		return *binaryFlag
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "sortographer-bench-"); buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "sortographer")
		cmd := exec.Command("go", "build", "-buildvcs=false", "-o", buildBin, "./cmd/sortographer")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build sortographer: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return buildBin
}

func removeBuild() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// modelDir is where the built-in model's files are: SORTOGRAPHER_MODEL_DIR or bin/model.
func modelDir(b *testing.B) string {
	b.Helper()
	dir := os.Getenv(config.EnvModelDir)
	if dir == "" {
		dir = filepath.Join(repoRoot(), "bin", "model")
	}
	if _, err := os.Stat(filepath.Join(dir, "labels.txt")); err != nil {
		b.Fatalf("the built-in model is missing from %s: run hack/model.sh (%v)", dir, err)
	}
	return dir
}

// tunables are the settings a run takes from the environment, to measure another pacing
// or concurrency; the harness decides every other setting, so a developer's shell
// (SORTOGRAPHER_DATABASE_DRIVER=mysql) cannot change what is measured.
var tunables = []string{
	config.EnvWorkerConcurrency, config.EnvProviderRequestsPerSecond, config.EnvIntakePerSecond,
	config.EnvBatchSize, config.EnvBuiltinMinScore, config.EnvONNXRuntimeLib, config.EnvLogLevel,
}

// galleryEnv is the environment of a gallery process: this process's own without any
// SORTOGRAPHER_* or AWS_* variable (the machine's AWS credentials are never handed on)
// and without a runtimeSetting, the tunables that are set, then settings. The loopback
// address is a trusted proxy, so that each benchmark user is a client at an address of
// its own (X-Forwarded-For, client.addr) as real users are, and the sign-in limits per
// address do not count the whole benchmark as one client.
func galleryEnv(settings ...string) []string {
	env := []string{config.EnvTrustedProxies + "=127.0.0.0/8,::1/128"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SORTOGRAPHER_") && !strings.HasPrefix(kv, "AWS_") && !runtimeSetting(kv) {
			env = append(env, kv)
		}
	}
	for _, name := range tunables {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return append(env, settings...)
}

// runtimeSetting reports a variable that changes how much memory and how many threads
// a gallery process uses (Go's GC target and memory limit, libvips' threads), which the
// benchmarks measure: a developer's shell does not hand it on.
func runtimeSetting(kv string) bool {
	for _, prefix := range []string{"GOGC=", "GOMEMLIMIT=", "VIPS_"} {
		if strings.HasPrefix(kv, prefix) {
			return true
		}
	}
	return false
}

// settingsSummary names the pacing a gallery's workers run with, for the table.
func settingsSummary(b *testing.B, env []string) string {
	b.Helper()
	cfg, err := config.Load(env)
	if err != nil {
		b.Fatalf("gallery settings: %v", err)
	}
	w := cfg.Workers
	return fmt.Sprintf("concurrency %d, provider %g/s, intake %g/s", w.Concurrency, w.ProviderRequestsPerSecond, w.IntakePerSecond)
}

// process is one gallery process (serve or work) logging to a file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error
}

// start runs `sortographer <command>` with env until the benchmark ends, then stops it
// with SIGTERM as Kubernetes would (SIGKILL if it outlives its grace). When the benchmark
// failed, the end of the process's log is printed.
func start(b *testing.B, command string, env []string, dir string) *process {
	b.Helper()
	p := &process{name: command, logPath: filepath.Join(dir, command+".log"), exited: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		b.Fatal(err)
	}
	p.cmd = exec.Command(binary(b), command)
	p.cmd.Env = env
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	// No gallery outlives a benchmark binary that crashed.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		_ = logFile.Close()
		b.Fatalf("start sortographer %s: %v", command, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	b.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
			b.Errorf("sortographer %s ignored SIGTERM for 20s and was killed", command)
		}
		if b.Failed() {
			b.Logf("end of the %s log:\n%s", command, p.tail(30))
		}
	})
	return p
}

// waitReady waits until url (a readiness endpoint) answers 200, failing early if the
// process exits.
func (p *process) waitReady(b *testing.B, url string) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			b.Fatalf("sortographer %s exited before it was ready (%v):\n%s", p.name, p.err, p.tail(30))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Fatalf("sortographer %s not ready at %s after 60s (%v):\n%s", p.name, url, err, p.tail(30))
		}
	}
}

// tail is the end of the process's log.
func (p *process) tail(lines int) string {
	data, _ := os.ReadFile(p.logPath)
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(len(all)-lines, 0):], "\n")
}

// logField finds the first JSON log line with message msg and returns its field key.
func (p *process) logField(msg, key string) string {
	data, _ := os.ReadFile(p.logPath)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == msg {
			return fmt.Sprint(line[key])
		}
	}
	return ""
}

// memory is the process's resident memory now (VmRSS) and its high-water mark since it
// started (VmHWM), in bytes, from /proc/<pid>/status.
func (p *process) memory(b *testing.B) (rss, peak int64) {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatalf("memory of sortographer %s: %v", p.name, err)
	}
	for line := range strings.Lines(string(data)) {
		key, value, _ := strings.Cut(line, ":")
		if key != "VmRSS" && key != "VmHWM" {
			continue
		}
		var kb int64
		if _, err := fmt.Sscanf(strings.TrimSpace(value), "%d kB", &kb); err != nil {
			b.Fatalf("memory of sortographer %s: %s: %v", p.name, strings.TrimSpace(line), err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	if rss == 0 || peak == 0 {
		b.Fatalf("memory of sortographer %s: no VmRSS or VmHWM in /proc/%d/status", p.name, p.cmd.Process.Pid)
	}
	return rss, peak
}

// errorLines counts the lines the process logged at level ERROR.
func (p *process) errorLines() int {
	data, _ := os.ReadFile(p.logPath)
	return bytes.Count(data, []byte(`"level":"ERROR"`))
}
