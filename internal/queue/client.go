package queue

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/config"
)

// NewRedisClient connects to the Redis that c describes (it does not dial yet). It
// errors when c.Addr is empty: that configuration runs without Redis.
func NewRedisClient(c config.Redis) (*redis.Client, error) {
	if c.Addr == "" {
		return nil, errors.New("redis: no address configured")
	}
	opts := &redis.Options{
		Addr:     c.Addr,
		Username: c.Username,
		Password: c.Password,
		DB:       c.DB,
		// Blocking reads add their block time to this (go-redis does it per command).
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 5 * time.Second,
		DialTimeout:  5 * time.Second,
	}
	if c.TLS {
		t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("read redis CA file: %w", err)
			}
			t.RootCAs = x509.NewCertPool()
			if !t.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("read redis CA file %s: no PEM certificates", c.CAFile)
			}
		}
		opts.TLSConfig = t
	}
	return redis.NewClient(opts), nil
}
