package preflight

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
)

// Redis connects to the Redis c describes with the gallery's client options (AUTH with
// c's user and password, TLS trusting ca when c.TLS is set), sends PING and expects
// PONG.
func Redis(ctx context.Context, c config.Redis, ca []byte) error {
	if !c.TLS && !speaksPlainRedis(ctx, c.Addr) && speaksTLS(ctx, c.Addr) {
		// Asked before logging in, so the password never goes out in plain text to a
		// server that expects TLS.
		return fail(galleryv1alpha1.ReasonTLSMismatch, fmt.Errorf("redis at %s speaks TLS only; turn on spec.cache.external.tls", c.Addr))
	}
	opts, err := queue.RedisOptions(c, ca)
	if err != nil {
		return fail(galleryv1alpha1.ReasonCheckFailed, err)
	}
	// One attempt: the operator retries the whole check later.
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	opts.PoolSize = 1
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = checkTimeout, checkTimeout, checkTimeout
	client := redis.NewClient(opts)
	defer func() { _ = client.Close() }()
	pong, err := client.Ping(ctx).Result()
	if err == nil && pong != "PONG" {
		err = fmt.Errorf("PING answered %q", pong)
	}
	if err == nil {
		return nil
	}
	return redisFailure(ctx, c, err)
}

// redisFailure names why the PING with credentials failed.
func redisFailure(ctx context.Context, c config.Redis, err error) error {
	msg := err.Error()
	switch {
	case redis.IsAuthError(err), strings.HasPrefix(msg, "WRONGPASS"), strings.HasPrefix(msg, "NOAUTH"),
		strings.Contains(msg, "AUTH") && strings.Contains(msg, "without any password configured"):
		return failf(galleryv1alpha1.ReasonAuthenticationFailed, err, "redis refused the credentials")
	case redis.IsPermissionError(err):
		return failf(galleryv1alpha1.ReasonAccessDenied, err, "redis let the user in but not run PING")
	}
	if c.TLS && isTimeout(err) && speaksPlainRedis(ctx, c.Addr) {
		// A plain-text server reads our ClientHello as the start of a command and waits
		// for the rest.
		return failf(galleryv1alpha1.ReasonTLSMismatch, err, "redis at %s does not speak TLS; turn off spec.cache.external.tls or enable TLS on the server", c.Addr)
	}
	if reason, ok := transportReason(err); ok {
		switch reason {
		case galleryv1alpha1.ReasonTLSMismatch:
			return failf(reason, err, "redis at %s does not speak TLS; turn off spec.cache.external.tls or enable TLS on the server", c.Addr)
		case galleryv1alpha1.ReasonCertificateRejected:
			return failf(reason, err, "redis at %s sent a certificate the CA bundle does not trust", c.Addr)
		}
		return fail(reason, err)
	}
	var redisErr redis.Error
	if errors.As(err, &redisErr) {
		return failf(galleryv1alpha1.ReasonCheckFailed, err, "redis answered PING with an error")
	}
	return fail(galleryv1alpha1.ReasonCheckFailed, err)
}

// speaksPlainRedis reports whether the server at address answers an inline PING in
// plain text (with PONG, or with an error such as NOAUTH: either is Redis talking).
func speaksPlainRedis(ctx context.Context, address string) bool {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return false
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(checkTimeout))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && (strings.HasPrefix(reply, "+") || strings.HasPrefix(reply, "-"))
}
