package objects

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/sortographer/sortographer/internal/testservers"
)

// stores makes each Store implementation, empty, for one test. The behaviour tests below
// run against every one of them, the S3 store against a real S3-compatible server.
var stores = []struct {
	name string
	new  func(t *testing.T) Store
}{
	{"filesystem", func(t *testing.T) Store {
		s, err := NewFilesystem(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
	{"s3", func(t *testing.T) Store {
		srv := testservers.S3(t)
		s, err := NewS3(srv.Client(), S3Options{Bucket: srv.Bucket(t), Prefix: "gallery-a"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

// forEachStore runs test against every Store implementation.
func forEachStore(t *testing.T, test func(t *testing.T, s Store)) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			test(t, st.new(t))
		})
	}
}

func put(t *testing.T, s Store, key string, data []byte, contentType string) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), contentType); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

func get(t *testing.T, s Store, key string) ([]byte, Info) {
	t.Helper()
	rc, info, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b, info
}

func wantInfo(t *testing.T, got Info, key string, size int64, contentType string) {
	t.Helper()
	if got.Key != key || got.Size != size || got.ContentType != contentType {
		t.Errorf("info = %+v, want key %s, size %d, content type %s", got, key, size, contentType)
	}
}

func TestStorePutGetHead(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		data := []byte("\xff\xd8\xff not really a jpeg")
		put(t, s, "images/1/2/original", data, "image/jpeg")

		got, info := get(t, s, "images/1/2/original")
		if !bytes.Equal(got, data) {
			t.Errorf("Get = %q, want %q", got, data)
		}
		wantInfo(t, info, "images/1/2/original", int64(len(data)), "image/jpeg")

		info, err := s.Head(ctx, "images/1/2/original")
		if err != nil {
			t.Fatalf("Head: %v", err)
		}
		wantInfo(t, info, "images/1/2/original", int64(len(data)), "image/jpeg")
		if ok, err := Exists(ctx, s, "images/1/2/original"); !ok || err != nil {
			t.Errorf("Exists = %v, %v; want true, nil", ok, err)
		}
	})
}

func TestStoreNotFound(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		put(t, s, "images/1/2/original", []byte("x"), "image/png")
		for _, key := range []string{"images/1/2/thumb.jpg", "images/9/9/original", "images/1/2", "images/1/2/original/more"} {
			if _, _, err := s.Get(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(%s) error = %v, want ErrNotFound", key, err)
			}
			if _, err := s.Head(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Errorf("Head(%s) error = %v, want ErrNotFound", key, err)
			}
			if ok, err := Exists(ctx, s, key); ok || err != nil {
				t.Errorf("Exists(%s) = %v, %v; want false, nil", key, ok, err)
			}
		}
	})
}

func TestStoreOverwrite(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		put(t, s, "a/b", []byte("a longer first version"), "image/png")
		put(t, s, "a/b", []byte("second"), "image/webp")
		got, info := get(t, s, "a/b")
		if string(got) != "second" {
			t.Errorf("Get = %q, want the second version", got)
		}
		wantInfo(t, info, "a/b", 6, "image/webp")
	})
}

func TestStoreDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		put(t, s, "images/1/2/original", []byte("x"), "image/png")
		put(t, s, "images/1/3/original", []byte("y"), "image/png")
		if err := s.Delete(ctx, "images/1/2/original"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Head(ctx, "images/1/2/original"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Head after Delete error = %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "images/1/2/original"); err != nil {
			t.Errorf("Delete of a missing object = %v, want nil", err)
		}
		if got, _ := get(t, s, "images/1/3/original"); string(got) != "y" {
			t.Errorf("neighbour object = %q after Delete, want %q", got, "y")
		}
		// The key can be used again.
		put(t, s, "images/1/2/original", []byte("z"), "image/png")
	})
}

func TestStoreDefaultContentType(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		put(t, s, "k", []byte("data"), "")
		_, info := get(t, s, "k")
		wantInfo(t, info, "k", 4, DefaultContentType)
	})
}

func TestStoreEmptyObject(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		put(t, s, "empty", nil, "text/plain")
		got, info := get(t, s, "empty")
		if len(got) != 0 {
			t.Errorf("Get = %q, want nothing", got)
		}
		wantInfo(t, info, "empty", 0, "text/plain")
	})
}

func TestStoreLargeObject(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		data := make([]byte, 8<<20)
		rng := rand.NewChaCha8([32]byte{1})
		_, _ = rng.Read(data)
		put(t, s, "images/1/2/original", data, "image/jpeg")
		got, info := get(t, s, "images/1/2/original")
		if sha256.Sum256(got) != sha256.Sum256(data) {
			t.Errorf("Get returned %d bytes that differ from the %d put", len(got), len(data))
		}
		wantInfo(t, info, "images/1/2/original", int64(len(data)), "image/jpeg")
	})
}

func TestStoreUnseekableReader(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		data := bytes.Repeat([]byte("0123456789"), 100_000)
		for _, size := range []int64{int64(len(data)), -1} {
			r := iotest.HalfReader(io.MultiReader(bytes.NewReader(data)))
			if err := s.Put(ctx, "k", r, size, "image/png"); err != nil {
				t.Fatalf("Put(size %d): %v", size, err)
			}
			got, info := get(t, s, "k")
			if !bytes.Equal(got, data) {
				t.Errorf("size %d: Get returned %d bytes, want the %d put", size, len(got), len(data))
			}
			wantInfo(t, info, "k", int64(len(data)), "image/png")
		}
	})
}

func TestStoreSizeMismatchStoresNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		for _, tc := range []struct {
			name string
			r    io.Reader
			size int64
		}{
			{"seekable short", strings.NewReader("12345"), 10},
			{"seekable long", strings.NewReader("12345"), 3},
			{"stream short", io.MultiReader(strings.NewReader("12345")), 10},
			{"stream long", io.MultiReader(strings.NewReader("12345")), 3},
		} {
			err := s.Put(ctx, "k", tc.r, tc.size, "image/png")
			if !errors.Is(err, ErrSizeMismatch) {
				t.Errorf("%s: Put error = %v, want ErrSizeMismatch", tc.name, err)
			}
			if _, err := s.Head(ctx, "k"); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: Head after a failed Put error = %v, want ErrNotFound", tc.name, err)
			}
		}
	})
}

func TestStoreFailedReaderStoresNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		put(t, s, "k", []byte("old"), "image/png")
		r := io.MultiReader(strings.NewReader("new bytes"), iotest.ErrReader(errors.New("client went away")))
		if err := s.Put(ctx, "k", r, -1, "image/gif"); err == nil {
			t.Fatal("Put from a failing reader succeeded")
		}
		got, info := get(t, s, "k")
		if string(got) != "old" {
			t.Errorf("Get = %q after a failed Put, want the old object", got)
		}
		wantInfo(t, info, "k", 3, "image/png")
	})
}

func TestStoreRefusesInvalidKeys(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		for _, key := range []string{"", "/abs", "../escape", "a/../../b", "a//b", `a\b`, ".hidden", "a/"} {
			if err := s.Put(ctx, key, strings.NewReader("x"), 1, ""); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Put(%q) error = %v, want ErrInvalidKey", key, err)
			}
			if _, _, err := s.Get(ctx, key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Get(%q) error = %v, want ErrInvalidKey", key, err)
			}
			if _, err := s.Head(ctx, key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Head(%q) error = %v, want ErrInvalidKey", key, err)
			}
			if err := s.Delete(ctx, key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Delete(%q) error = %v, want ErrInvalidKey", key, err)
			}
		}
	})
}

func TestStoreConcurrentOverwrites(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		versions := [][]byte{bytes.Repeat([]byte("a"), 300_000), bytes.Repeat([]byte("b"), 200_000)}
		put(t, s, "k", versions[0], "image/png")
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				v := versions[i%2]
				if err := s.Put(ctx, "k", bytes.NewReader(v), int64(len(v)), "image/png"); err != nil {
					t.Errorf("Put: %v", err)
				}
			})
			wg.Go(func() {
				rc, _, err := s.Get(ctx, "k")
				if err != nil {
					t.Errorf("Get during overwrites: %v", err)
					return
				}
				defer rc.Close()
				got, err := io.ReadAll(rc)
				if err != nil {
					t.Errorf("read during overwrites: %v", err)
					return
				}
				if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
					t.Errorf("Get during overwrites returned %d bytes that are neither version", len(got))
				}
			})
		}
		wg.Wait()
	})
}

func TestStorePing(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		if err := s.Ping(context.Background()); err != nil {
			t.Errorf("Ping = %v, want nil", err)
		}
	})
}

func TestStoreCanceledContext(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Put(ctx, "k", strings.NewReader("x"), 1, ""); !errors.Is(err, context.Canceled) {
			t.Errorf("Put error = %v, want context.Canceled", err)
		}
		if _, err := s.Head(context.Background(), "k"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Head after a canceled Put error = %v, want ErrNotFound", err)
		}
	})
}

// List reports exactly the keys under a prefix, in order, with their sizes: a prefix
// ending mid-name matches by string, the store's own dot-files never show, and another
// prefix's objects stay out.
func TestStoreList(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		for key, body := range map[string]string{
			"g/backups/20261205T010000Z/manifest.json": "{}",
			"g/backups/20261205T020000Z/db/users.gz":   "12345",
			"g/backups/20261204T230000Z/manifest.json": "{ }",
			"g/photos/images/1/a/original":             "abc",
			"other/backups/x":                          "x",
		} {
			put(t, s, key, []byte(body), "application/json")
		}
		list := func(prefix string) []string {
			var got []string
			err := s.(Lister).List(context.Background(), prefix, func(i Info) error {
				got = append(got, i.Key+"="+strings.Repeat("#", int(i.Size)))
				return nil
			})
			if err != nil {
				t.Fatalf("List(%q): %v", prefix, err)
			}
			return got
		}
		if got, want := strings.Join(list("g/backups/"), " "), "g/backups/20261204T230000Z/manifest.json=### g/backups/20261205T010000Z/manifest.json=## g/backups/20261205T020000Z/db/users.gz=#####"; got != want {
			t.Errorf("List(g/backups/) = %s\nwant %s", got, want)
		}
		if got, want := strings.Join(list("g/backups/20261205"), " "), "g/backups/20261205T010000Z/manifest.json=## g/backups/20261205T020000Z/db/users.gz=#####"; got != want {
			t.Errorf("List(g/backups/20261205) = %s\nwant %s", got, want)
		}
		if got := list("nothing/here/"); len(got) != 0 {
			t.Errorf("List(nothing/here/) = %v, want none", got)
		}
		stop := errors.New("stop")
		n := 0
		err := s.(Lister).List(context.Background(), "g/", func(Info) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("List stopping at fn's error: %v after %d calls, want stop after 1", err, n)
		}
	})
}

// List reports when each object was written, to the second (S3's LastModified), which
// the photos' orphan sweep compares with its grace period.
func TestStoreListModified(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		before := time.Now().Add(-time.Second)
		put(t, s, "m/images/1/a/original", []byte("abc"), "image/jpeg")
		after := time.Now().Add(time.Second)
		var got []Info
		if err := s.(Lister).List(context.Background(), "m/", func(i Info) error { got = append(got, i); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Modified.Before(before) || got[0].Modified.After(after) {
			t.Errorf("List = %+v; want one object modified between %s and %s", got, before, after)
		}
	})
}
