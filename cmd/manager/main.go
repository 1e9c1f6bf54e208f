// Command manager runs the Sortographer operator.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/kubeversion"
)

func main() {
	var (
		metricsAddr     string
		probeAddr       string
		pprofAddr       string
		leaderElect     bool
		leaderElectNS   string
		watchNamespaces string
		tuning          tuning
		images          galleryv1alpha1.DefaultImages
	)
	builtin := galleryv1alpha1.BuiltinDefaultImages()
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address the metrics endpoint binds to (0 disables it)")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address the health and readiness probes bind to")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "address Go's pprof endpoints (/debug/pprof/) bind to, for profiling the operator's memory and CPU (empty: off)")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader, so that only one of several replicas reconciles")
	flag.StringVar(&leaderElectNS, "leader-election-namespace", "", "namespace of the leader-election Lease (default: the pod's own; required outside a cluster)")
	flag.StringVar(&watchNamespaces, "watch-namespaces", os.Getenv("WATCH_NAMESPACES"), "comma-separated namespaces to watch (empty: all)")
	flag.IntVar(&tuning.concurrent, "concurrent", controllers.DefaultConcurrency,
		"Galleries reconciled at once (one Gallery never twice at once); a pass mostly waits on the API server (the operator used 8 CPU-seconds to converge 100 Galleries in 96 s), so passes in parallel converge many Galleries faster; raise it with many Galleries and an API server that has room")
	flag.Float64Var(&tuning.qps, "kube-api-qps", 0,
		"the operator's requests per second to the API server, averaged (a client-side token bucket); 0 sets no client-side limit and leaves queueing to the API server's priority and fairness")
	flag.IntVar(&tuning.burst, "kube-api-burst", 0,
		"requests the operator may send at once above --kube-api-qps; 0 means client-go's default (10) when --kube-api-qps is set")
	// OLM's convention for the images an operator deploys: RELATED_IMAGE_* variables, so
	// a mirror tool can rewrite them. The chart sets them from image.registry.
	flag.StringVar(&images.Gallery, "gallery-image", envOr("RELATED_IMAGE_GALLERY", builtin.Gallery),
		"the gallery image of every Gallery whose spec.server.image is empty: upgrading the operator with a new one upgrades them")
	flag.StringVar(&images.RedisRepository, "redis-repository", envOr("RELATED_IMAGE_REDIS", builtin.RedisRepository),
		"repository of the managed Redis image when spec.cache.managed.image is empty; the tag is <version>-alpine")
	flag.StringVar(&images.MariaDBRepository, "mariadb-repository", envOr("RELATED_IMAGE_MARIADB", builtin.MariaDBRepository),
		"repository of the managed MariaDB image when spec.database.managed.image is empty; the tag is the version")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	if limit, err := setMemoryLimit(os.Getenv("GOMEMLIMIT"), os.Getenv(envMemoryLimit)); err != nil {
		log.Error(err, "memory limit not set")
		os.Exit(1)
	} else if limit > 0 {
		log.Info("Go memory limit set from the container's", "goMemLimitBytes", limit)
	}

	if percent := setGCPercent(os.Getenv("GOGC")); percent > 0 {
		log.Info("Go collector's heap growth set", "gcPercent", percent)
	}
	if pprofAddr != "" {
		// A heap profile's sample every 64 KiB rather than 512: the operator's heap is
		// tens of MiB of small cached objects, which the default rate sees as a few dozen
		// samples.
		goruntime.MemProfileRate = 64 << 10
	}

	if err := run(metricsAddr, probeAddr, pprofAddr, leaderElect, leaderElectNS, watchNamespaces, tuning, images); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

// envMemoryLimit is the container's memory limit in bytes, which the chart passes down
// (the downward API's limits.memory).
const envMemoryLimit = "SORTOGRAPHER_MEMORY_LIMIT"

// setMemoryLimit gives the Go runtime a soft memory limit of 90% of the container's
// (containerLimit, bytes), as the operator gives its gallery pods (specs.GoMemLimit): near
// it the collector runs harder instead of letting the heap's garbage grow into the
// kernel's hard limit. An explicit GOMEMLIMIT (goMemLimit non-empty) wins and is left to
// the runtime. It returns the limit set, or 0 when it set none.
func setMemoryLimit(goMemLimit, containerLimit string) (int64, error) {
	if goMemLimit != "" || containerLimit == "" {
		return 0, nil
	}
	q, err := resource.ParseQuantity(containerLimit)
	if err != nil || q.Sign() <= 0 {
		return 0, fmt.Errorf("%s=%q: want the container's memory limit in bytes", envMemoryLimit, containerLimit)
	}
	limit := specs.GoMemLimit(q)
	debug.SetMemoryLimit(limit)
	return limit, nil
}

// defaultGCPercent is the operator's GOGC unless the environment sets one: the heap may
// grow by a quarter of its live size between collections, not by all of it (Go's
// default, 100). Nearly all of the operator's heap is its cache, which lives as long as
// the process, so the default let the RSS settle at about three times the cache
// (docs/operator.md, Scale). The collector's work is CPU the operator has to spare: at a
// thousand Galleries the API server, not the operator, sets the pace, and at steady
// state nothing allocates and the collector does not run either way.
const defaultGCPercent = 25

// setGCPercent sets defaultGCPercent unless gogc (the GOGC environment variable, which
// the runtime has applied itself) is set; it returns the percent it set, or 0.
func setGCPercent(gogc string) int {
	if gogc != "" {
		return 0
	}
	debug.SetGCPercent(defaultGCPercent)
	return defaultGCPercent
}

// tuning is what sets the operator's pace (docs/operator.md, Scale).
type tuning struct {
	concurrent int
	qps        float64
	burst      int
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// checkImages refuses references no runtime could pull, at start-up rather than in
// every Gallery's pods.
func checkImages(d galleryv1alpha1.DefaultImages) error {
	if _, err := name.ParseReference(d.Gallery, name.StrictValidation); err != nil {
		return fmt.Errorf("--gallery-image=%q: %w", d.Gallery, err)
	}
	for flagName, repo := range map[string]string{"--redis-repository": d.RedisRepository, "--mariadb-repository": d.MariaDBRepository} {
		if _, err := name.NewRepository(repo, name.StrictValidation); err != nil {
			return fmt.Errorf("%s=%q: %w", flagName, repo, err)
		}
	}
	return nil
}

func run(metricsAddr, probeAddr, pprofAddr string, leaderElect bool, leaderElectNS, watchNamespaces string, tuning tuning, images galleryv1alpha1.DefaultImages) error {
	if err := checkImages(images); err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(galleryv1alpha1.AddToScheme(scheme))

	var namespaces []string
	for _, ns := range strings.Split(watchNamespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			namespaces = append(namespaces, ns)
		}
	}
	if tuning.concurrent < 1 {
		return fmt.Errorf("--concurrent=%d: must be at least 1", tuning.concurrent)
	}
	if tuning.qps < 0 || tuning.burst < 0 {
		return fmt.Errorf("--kube-api-qps=%g, --kube-api-burst=%d: must not be negative", tuning.qps, tuning.burst)
	}
	cfg := ctrl.GetConfigOrDie()
	if tuning.qps > 0 {
		cfg.QPS = float32(tuning.qps)
		cfg.Burst = tuning.burst
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         controllers.CacheOptions(namespaces),
		Client:                        controllers.ClientOptions(),
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:        probeAddr,
		PprofBindAddress:              pprofAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "sortographer.io",
		LeaderElectionNamespace:       leaderElectNS,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	r := &controllers.GalleryReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		MaxConcurrentReconciles: tuning.concurrent,
		Scheme:                  mgr.GetScheme(),
		Recorder:                mgr.GetEventRecorder("sortographer-operator"),
		Preflight:               controllers.NetPreflighter{},
		DefaultImages:           images,
		// KEDA and the Prometheus Operator are looked for once: installing either later
		// needs an operator restart.
		KEDAInstalled:       controllers.KEDAInstalled(mgr.GetRESTMapper()),
		PodMonitorInstalled: controllers.PodMonitorInstalled(mgr.GetRESTMapper()),
	}
	ctrl.Log.WithName("setup").Info("detected optional kinds", "keda", r.KEDAInstalled, "podMonitor", r.PodMonitorInstalled)
	r.HPAToleranceUnsupported = !hpaToleranceServed(mgr.GetClient(), cfg, probeNamespace(namespaces, leaderElectNS))
	ctrl.Log.WithName("setup").Info("default images", "gallery", images.Gallery, "redisRepository", images.RedisRepository, "mariadbRepository", images.MariaDBRepository)
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up gallery controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add readiness check: %w", err)
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}

// hpaToleranceServed asks the API server whether it keeps an HPA's tolerance
// (controllers.HPAToleranceServed). When it cannot ask (no right to create HPAs in the
// namespace, an admission policy, a quota), it goes by the server's version: on by
// default from 1.35.
func hpaToleranceServed(c client.Client, cfg *rest.Config, namespace string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := ctrl.Log.WithName("setup")
	served, err := controllers.HPAToleranceServed(ctx, c, namespace)
	if err == nil {
		log.Info("detected HPA scale-down tolerance", "served", served)
		return served
	}
	served, verr := toleranceByVersion(cfg)
	log.Info("could not ask whether HPAs keep a scale-down tolerance; going by the server's version",
		"namespace", namespace, "error", err.Error(), "served", served, "versionError", fmt.Sprint(verr))
	return served
}

// toleranceByVersion says whether the API server's version keeps an HPA's tolerance by
// default (1.35 and later); false when the version cannot be read.
func toleranceByVersion(cfg *rest.Config) (bool, error) {
	minor, err := kubeversion.Minor(cfg)
	if err != nil {
		return false, err
	}
	return minor >= 35, nil
}

// probeNamespace is a namespace the operator may create (dry-run) HPAs in: the first
// watched one, else its own.
func probeNamespace(watched []string, leaderElectNS string) string {
	if len(watched) > 0 {
		return watched[0]
	}
	if leaderElectNS != "" {
		return leaderElectNS
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	return "default"
}
