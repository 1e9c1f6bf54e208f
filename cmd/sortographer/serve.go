package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sortographer/sortographer/internal/accounts"
	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/auth"
	"github.com/sortographer/sortographer/internal/cache"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/oidc"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/sessions"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/web"
	"github.com/sortographer/sortographer/internal/worker"
)

var (
	serveFlags = flag.NewFlagSet("serve", flag.ContinueOnError)
	// serveMigrate: "auto" migrates the embedded SQLite database only; the operator
	// runs `sortographer migrate` as an init container for the others.
	serveMigrate = migrateMode("auto")
)

func init() {
	commands["serve"] = serve
	serveFlags.Var(&serveMigrate, "migrate", "migrate the database before serving: true, false, or auto (only the embedded SQLite database)")
	commandFlags["serve"] = serveFlags
}

// migrateMode is the -migrate flag: true, false or auto. A bare -migrate means true.
type migrateMode string

func (m *migrateMode) String() string   { return string(*m) }
func (m *migrateMode) IsBoolFlag() bool { return true }
func (m *migrateMode) Set(v string) error {
	if v == "auto" {
		*m = "auto"
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("must be true, false or auto")
	}
	*m = migrateMode(strconv.FormatBool(b))
	return nil
}

func (m migrateMode) enabled(cfg config.Config) bool {
	if m == "auto" {
		return cfg.Database.Driver == config.DriverSQLite
	}
	return m == "true"
}

// Rate limits. Sign-in and sign-up: api.DefaultSignInRules (per account, per client
// address, per second across the Gallery). Uploads per user, each request counting
// once whatever its file count; share-link requests per client address (an album page
// of 60 thumbnails is about 62 requests, and a campus may share one address, so the
// limit is generous: it bounds floods, not guessing, which 256-bit tokens make hopeless
// anyway).
var (
	uploadRule = ratelimit.Rule{Name: "upload", Limit: 60, Window: time.Minute}
	shareRule  = ratelimit.Rule{Name: "share", Limit: 3000, Window: time.Minute}
	// exportRule: a data export reads every byte a user stored; a few an hour is
	// plenty for a person and bounds what one account can make the server read.
	exportRule = ratelimit.Rule{Name: "export", Limit: 5, Window: time.Hour}
)

// serve runs the gallery: HTTP API, web UI and probes on the listen address, metrics on
// the metrics address, and in the embedded default (SORTOGRAPHER_IN_PROCESS_WORKERS) the
// classification workers. On SIGTERM it fails readiness, stops accepting connections,
// and lets in-flight requests (uploads) and jobs finish within
// SORTOGRAPHER_SHUTDOWN_GRACE.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	rt, err := startRuntime(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer rt.Close()
	st, obj, rc := rt.store, rt.objects, rt.redis
	if err := prepareSchema(ctx, st, serveMigrate.enabled(cfg), log); err != nil {
		return err
	}
	key, err := auth.LoadKey(cfg.Auth.JWTSecret, cfg.DataDir)
	if err != nil {
		return err
	}
	if cfg.Auth.JWTSecret == "" {
		log.Warn("no session key configured: using one generated in the data directory, which suits a single replica only", "env", config.EnvJWTSecret)
	}
	// Sessions are rows in the database, cached in Redis when there is one (every
	// replica then sees a revocation at once; see internal/sessions).
	sessionManager, err := sessions.New(st, sessions.Options{
		Key: key, Lifetime: cfg.Auth.TokenLifetime, RememberLifetime: cfg.Auth.RememberMeLifetime,
		MaxLifetime: cfg.Auth.SessionMaxLifetime, Redis: rt.redisClient(),
		Prefix: config.RedisPrefix(cfg.GalleryName), Log: log.With("component", "sessions"),
	})
	if err != nil {
		return err
	}
	devices, err := auth.NewDevices(key)
	if err != nil {
		return err
	}

	qopts := queue.Options{VisibilityTimeout: cfg.Workers.VisibilityTimeout}
	deps := api.Deps{
		Objects: obj, Sessions: sessionManager, Devices: devices, Log: log,
		TrustedProxies: cfg.TrustedProxies,
		Registry:       prometheus.NewRegistry(),
		UI:             web.Handler(),
		MaxUploadBytes: cfg.MaxUploadBytes,
		AllowSignUp:    cfg.Auth.AllowSignUp,
		Admins:         cfg.Auth.Admins,
		// Sharing switches (SORTOGRAPHER_SHARING_ENABLED, SORTOGRAPHER_SHARE_MAX_LIFETIME).
		SharingDisabled:    !cfg.Auth.SharingEnabled,
		ShareMaxLifetime:   cfg.Auth.ShareMaxLifetime,
		ShareKeepsLocation: !cfg.Auth.ShareStripLocation,
		Ready:              []api.Check{{Name: "database", Ping: st.Ping}},
		SearchExamples:     searchExamples(cfg, log),
		Quota:              defaultQuota(cfg.Auth),
	}
	if deps.SSO, err = singleSignOn(cfg.Auth.OIDC); err != nil {
		return err
	}
	var (
		consumer    queue.Consumer
		labelCounts cache.LabelCounts
	)
	if rc != nil {
		q := queue.NewRedis(rc, cfg.GalleryName, qopts)
		deps.Queue, consumer = q, q
		// Limits are shared through Redis and kept per replica while it fails
		// (ratelimit.Fallback; docs/security.md says why neither open nor closed).
		prefix := config.RedisPrefix(cfg.GalleryName)
		shared := func(rule ratelimit.Rule) ratelimit.Limiter { return ratelimit.NewShared(rc, prefix, rule, log) }
		deps.SignInLimits = api.NewSignInLimits(api.DefaultSignInRules(cfg.Auth.SignInsPerSecond), shared)
		deps.UploadLimiter = shared(uploadRule)
		deps.ShareLimiter = shared(shareRule)
		deps.ExportLimiter = shared(exportRule)
		deps.Ready = append(deps.Ready, api.Check{Name: "redis", Ping: func(ctx context.Context) error { return rc.Ping(ctx).Err() }})
		labelCounts = cache.NewRedis(rc, cfg.GalleryName, cache.Options{}, log)
	} else {
		q := queue.NewMemory(qopts)
		deps.Queue, consumer = q, q
		deps.SignInLimits = api.NewSignInLimits(api.DefaultSignInRules(cfg.Auth.SignInsPerSecond),
			func(rule ratelimit.Rule) ratelimit.Limiter { return ratelimit.NewMemory(rule) })
		deps.UploadLimiter = ratelimit.NewMemory(uploadRule)
		deps.ShareLimiter = ratelimit.NewMemory(shareRule)
		deps.ExportLimiter = ratelimit.NewMemory(exportRule)
		labelCounts = cache.NewMemory(cache.Options{})
	}
	// Read-your-writes with read replicas: after a user writes, their reads go to the
	// writer for a while, on every server replica (the marks are in Redis). Workers
	// mark an image's owner when they commit its labels.
	recentWrites := newRecentWrites(cfg, rc, log)
	deps.RecentWrites = recentWrites
	deps.Registry.MustRegister(store.NewReaderMetrics(st))
	// The API and the in-process workers share the cached store, so that uploads,
	// deletes and label commits invalidate the counts that GET /api/labels serves.
	cached := cache.NewStore(st, labelCounts, log)
	deps.Store = cached
	srv := api.New(deps)

	var workers sync.WaitGroup
	workCtx, stopWorkers := context.WithCancel(ctx)
	defer func() { stopWorkers(); workers.Wait() }()
	// Erasures of deleted accounts that a crash or a restart interrupted are finished
	// by whichever server replica gets there first (every step is idempotent).
	workers.Go(func() { srv.Eraser().ResumeErasures(workCtx, accounts.DefaultResumeInterval) })
	if cfg.Workers.InProcess {
		redisClient := rt.redisClient()
		limiter := worker.ProviderLimiter(cfg, redisClient, log)
		classifier, err := newClassifier(ctx, cfg, log, limiter)
		if err != nil {
			return err
		}
		textReader, err := startTextReader(ctx, cfg, log, limiter)
		if err != nil {
			return err
		}
		workers.Go(func() {
			err := worker.Run(workCtx, worker.Deps{
				Config: cfg, Store: cached, Objects: obj, Queue: consumer, Producer: deps.Queue,
				Classifier: classifier, TextReader: textReader, Redis: redisClient, Logger: log.With("component", "worker"),
				Metrics: deps.Registry, ProviderLimiter: limiter, RecentWrites: recentWrites,
			})
			if err != nil {
				log.Error("in-process workers stopped", "error", err)
			}
		})
	} else if cfg.Redis.Addr == "" {
		log.Warn("no Redis and no in-process workers: uploads will wait unclassified", "env", config.EnvInProcessWorkers)
	}

	hs := newHTTPServer(cfg.ListenAddr, srv.Handler(), serverTimeouts, log)
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	metrics, err := startMetricsServer(ctx, cfg, srv.MetricsHandler(), log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	log.Info("serving gallery", "addr", ln.Addr().String(), "database", cfg.Database.Driver,
		"storage", cfg.Storage.Backend, "redis", cfg.Redis.Addr != "", "inProcessWorkers", cfg.Workers.InProcess)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve HTTP: %w", err)
	case err := <-metrics.Failed():
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests", "grace", cfg.ShutdownGrace.String())
	srv.Drain()
	stopWorkers()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	err = hs.Shutdown(shutdownCtx)
	workers.Wait()
	// The metrics stay scrapeable through the drain, and stop with the main server.
	if merr := metrics.Shutdown(shutdownCtx); merr != nil {
		log.Warn("metrics server did not stop cleanly", "error", merr)
	}
	if err != nil {
		_ = hs.Close()
		return fmt.Errorf("requests still running after the %s shutdown grace: %w", cfg.ShutdownGrace, err)
	}
	log.Info("shut down cleanly")
	return nil
}

// prepareSchema migrates the database, or checks that someone did: a server on an
// older schema than it knows would fail on its first query.
func prepareSchema(ctx context.Context, st store.Store, migrate bool, log *slog.Logger) error {
	if migrate {
		if err := st.Migrate(ctx); err != nil {
			return err
		}
	}
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if v < store.LatestSchemaVersion {
		return fmt.Errorf("database schema is at version %d, this server needs %d: run `sortographer migrate` or start with -migrate", v, store.LatestSchemaVersion)
	}
	log.Info("database schema ready", "schemaVersion", v, "migrated", migrate)
	return nil
}

// singleSignOn is the OpenID provider of SORTOGRAPHER_OIDC_*; nil when it is off. The
// provider is discovered at the first sign-in, so the server starts while it is down.
func singleSignOn(c config.OIDC) (*api.SingleSignOn, error) {
	if !c.Enabled() {
		return nil, nil
	}
	p, err := oidc.New(oidc.Config{
		Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: c.Scopes,
		EmailClaim: c.EmailClaim, NameClaim: c.NameClaim,
		AdminClaim: c.AdminClaim, AdminValues: c.AdminValues, QuotaClaim: c.QuotaClaim,
		HTTPClient: &http.Client{Timeout: 15 * time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("single sign-on: %w", err)
	}
	return &api.SingleSignOn{
		Provider: p, ProviderName: c.ProviderName, RedirectURL: c.RedirectURL,
		CreateAccounts: c.CreateAccounts, LocalPasswords: c.LocalPasswords,
	}, nil
}

// defaultQuota is every user's quota from the configuration (spec.auth.quota): zero
// is unlimited.
func defaultQuota(a config.Auth) store.Quota {
	var q store.Quota
	if a.QuotaStorageBytes > 0 {
		q.Bytes = &a.QuotaStorageBytes
	}
	if a.QuotaPhotos > 0 {
		q.Photos = &a.QuotaPhotos
	}
	return q
}
