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
	var ca []byte
	if c.TLS && c.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(c.CAFile); err != nil {
			return nil, fmt.Errorf("read redis CA file: %w", err)
		}
	}
	opts, err := RedisOptions(c, ca)
	if err != nil {
		return nil, err
	}
	return redis.NewClient(opts), nil
}

// RedisOptions are the client options for the Redis that c describes, trusting the CA
// bundle ca (PEM; nil: the system roots) when c.TLS is set. The operator's preflight
// connects with them too, so its check proves the gallery's connection.
func RedisOptions(c config.Redis, ca []byte) (*redis.Options, error) {
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
		if len(ca) > 0 {
			t.RootCAs = x509.NewCertPool()
			if !t.RootCAs.AppendCertsFromPEM(ca) {
				return nil, errors.New("the redis CA bundle holds no PEM certificates")
			}
		}
		opts.TLSConfig = t
	}
	return opts, nil
}
