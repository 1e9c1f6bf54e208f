package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"net/netip"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDefaultsRunAnEmbeddedGallery(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatalf("Load(nil) = %v, want the embedded defaults to be valid", err)
	}
	if c.Database.Driver != DriverSQLite || c.Storage.Backend != StorageFilesystem || c.Redis.Addr != "" || !c.Workers.InProcess {
		t.Fatalf("defaults are not the embedded gallery: %+v", c)
	}
	if got := c.SQLiteFile(); got != "./data/sortographer.db" {
		t.Errorf("SQLiteFile() = %q", got)
	}
	if c.Auth.TokenLifetime != 24*time.Hour || c.Workers.VisibilityTimeout != 2*time.Minute {
		t.Errorf("duration defaults: %v %v", c.Auth.TokenLifetime, c.Workers.VisibilityTimeout)
	}
	// The operator leaves the variable out when spec.auth.sessionMaxLifetime is this
	// default, so the two must agree.
	if c.Auth.SessionMaxLifetime != DefaultSessionMaxLifetime {
		t.Errorf("session max lifetime default %v, DefaultSessionMaxLifetime %v", c.Auth.SessionMaxLifetime, DefaultSessionMaxLifetime)
	}
	if c.Database.ReaderMaxLag != 30*time.Second || c.Database.ReadYourWritesWindow != 5*time.Second {
		t.Errorf("reader defaults: max lag %v, read-your-writes window %v", c.Database.ReaderMaxLag, c.Database.ReadYourWritesWindow)
	}
	if c.ListenAddr != ":8080" || c.MetricsAddr != ":9090" {
		t.Errorf("listen %q, metrics %q; want :8080 and :9090", c.ListenAddr, c.MetricsAddr)
	}
}

// SORTOGRAPHER_METRICS_ADDR: unset is the default port, set and empty turns the metrics
// server off, and anything else is the address.
func TestMetricsAddr(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"unset", nil, DefaultMetricsAddr},
		{"empty turns it off", []string{EnvMetricsAddr + "="}, ""},
		{"an address", []string{EnvMetricsAddr + "=127.0.0.1:9100"}, "127.0.0.1:9100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.env)
			if err != nil || c.MetricsAddr != tc.want {
				t.Fatalf("Load(%q) metrics address = %q, %v; want %q", tc.env, c.MetricsAddr, err, tc.want)
			}
		})
	}
}

// SORTOGRAPHER_DECODE_MEMORY: unset is a third of the Go runtime's memory limit
// (GOMEMLIMIT), or FallbackDecodeMemory without one; set, it is the bytes given.
func TestDecodeMemory(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultDecodeMemory(debug.SetMemoryLimit(-1)); c.DecodeMemory != want {
		t.Errorf("unset: %d, want %d", c.DecodeMemory, want)
	}
	if c, err := Load([]string{EnvDecodeMemory + "=268435456"}); err != nil || c.DecodeMemory != 256<<20 {
		t.Errorf("set: %d, %v; want 268435456", c.DecodeMemory, err)
	}
	for _, tc := range []struct {
		limit, want int64
	}{
		{math.MaxInt64, FallbackDecodeMemory}, // no GOMEMLIMIT
		{3 << 30, 1 << 30},
		{3 << 20, 1 << 20},
		{1, 1},
	} {
		if got := DefaultDecodeMemory(tc.limit); got != tc.want {
			t.Errorf("DefaultDecodeMemory(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
	// The runtime's limit is what GOMEMLIMIT sets, and the default follows it.
	prev := debug.SetMemoryLimit(3 << 30)
	defer debug.SetMemoryLimit(prev)
	if c, err := Load(nil); err != nil || c.DecodeMemory != 1<<30 {
		t.Errorf("with a 3 GiB memory limit: %d, %v; want 1 GiB", c.DecodeMemory, err)
	}
}

func TestLoadReadsEveryKind(t *testing.T) {
	c, err := Load([]string{
		EnvDatabaseDriver + "=mysql", EnvDatabaseHost + "=db", EnvDatabaseReaderHosts + "=r1,r2",
		EnvDatabasePort + "=3307", EnvStorageBackend + "=s3", EnvS3Bucket + "=photos",
		EnvRedisAddr + "=redis:6379", EnvRedisTLS + "=true", EnvAllowSignUp + "=false",
		EnvProviderRequestsPerSecond + "=2.5", EnvVisibilityTimeout + "=90s",
		EnvTrustedProxies + "=10.0.0.0/8,fd00::/8", EnvSignInsPerSecond + "=7",
		EnvQuotaStorageBytes + "=10737418240", EnvQuotaPhotos + "=2000",
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}; !reflect.DeepEqual(c.TrustedProxies, want) || c.Auth.SignInsPerSecond != 7 {
		t.Errorf("trusted proxies %v, sign-ins a second %d", c.TrustedProxies, c.Auth.SignInsPerSecond)
	}
	if !reflect.DeepEqual(c.Database.ReaderHosts, []string{"r1", "r2"}) || c.Database.Port != 3307 {
		t.Errorf("database: %+v", c.Database)
	}
	if c.Auth.QuotaStorageBytes != 10<<30 || c.Auth.QuotaPhotos != 2000 {
		t.Errorf("quota: %+v", c.Auth)
	}
	if !c.Redis.TLS || c.Auth.AllowSignUp || c.Workers.ProviderRequestsPerSecond != 2.5 || c.Workers.VisibilityTimeout != 90*time.Second {
		t.Errorf("parsed: %+v", c)
	}
}

func TestLoadRejectsWhatCannotWork(t *testing.T) {
	cases := map[string]struct {
		env  []string
		want string
	}{
		"unknown driver":      {[]string{EnvDatabaseDriver + "=oracle"}, EnvDatabaseDriver},
		"mysql without host":  {[]string{EnvDatabaseDriver + "=mysql"}, EnvDatabaseHost},
		"s3 without bucket":   {[]string{EnvStorageBackend + "=s3"}, EnvS3Bucket},
		"short jwt key":       {[]string{EnvJWTSecret + "=short"}, EnvJWTSecret},
		"bad classifier":      {[]string{EnvClassifier + "=magic"}, EnvClassifier},
		"bad duration":        {[]string{EnvTokenLifetime + "=soon"}, EnvTokenLifetime},
		"zero concurrency":    {[]string{EnvWorkerConcurrency + "=0"}, EnvWorkerConcurrency},
		"bad tls mode":        {[]string{EnvDatabaseTLSMode + "=maybe"}, EnvDatabaseTLSMode},
		"non-numeric upload":  {[]string{EnvMaxUploadBytes + "=lots"}, EnvMaxUploadBytes},
		"negative upload cap": {[]string{EnvMaxUploadBytes + "=-1"}, EnvMaxUploadBytes},
		"negative quota":      {[]string{EnvQuotaStorageBytes + "=-1"}, EnvQuotaStorageBytes},
		"negative photo cap":  {[]string{EnvQuotaPhotos + "=-5"}, EnvQuotaPhotos},
		"quota with a unit":   {[]string{EnvQuotaStorageBytes + "=10Gi"}, EnvQuotaStorageBytes},
		"zero decode memory":  {[]string{EnvDecodeMemory + "=0"}, EnvDecodeMemory},
		"bad decode memory":   {[]string{EnvDecodeMemory + "=1GiB"}, EnvDecodeMemory},
		"negative reader lag": {[]string{EnvDatabaseReaderMaxLag + "=-1s"}, EnvDatabaseReaderMaxLag},
		"negative ryw window": {[]string{EnvDatabaseReadYourWritesWindow + "=-1s"}, EnvDatabaseReadYourWritesWindow},
		"metrics on listen":   {[]string{EnvListenAddr + "=:8080", EnvMetricsAddr + "=:8080"}, EnvMetricsAddr},
		"bad text reader":     {[]string{EnvTextReader + "=eyes"}, EnvTextReader},
		"text confidence":     {[]string{EnvTextMinConfidence + "=101"}, EnvTextMinConfidence},
		"tesseract, no langs": {[]string{EnvTextReader + "=tesseract", EnvTextLanguages + "=eng,"}, EnvTextLanguages},
		"oidc http issuer":    {oidcEnv(EnvOIDCIssuer + "=http://idp.example.com"), EnvOIDCIssuer},
		"oidc no client id":   {oidcEnv(EnvOIDCClientID + "="), EnvOIDCClientID},
		"oidc no secret":      {oidcEnv(EnvOIDCClientSecret + "="), EnvOIDCClientSecret},
		"oidc admin no value": {oidcEnv(EnvOIDCAdminClaim + "=groups"), EnvOIDCAdminValues},
		"oidc bad redirect":   {oidcEnv(EnvOIDCRedirectURL + "=/callback"), EnvOIDCRedirectURL},
		"no passwords no sso": {[]string{EnvOIDCLocalPasswords + "=false"}, EnvOIDCLocalPasswords},
		"proxy not a CIDR":    {[]string{EnvTrustedProxies + "=10.0.0.1"}, EnvTrustedProxies},
		"no sign-ins":         {[]string{EnvSignInsPerSecond + "=0"}, EnvSignInsPerSecond},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load(%v) = %v, want an error naming %s", tc.env, err, tc.want)
			}
		})
	}
}

// SORTOGRAPHER_TEXT_READER: auto reads text offline with the built-in classifier and
// not with Rekognition (billed per image); set, it is what it says.
func TestTextReader(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, TextReaderTesseract},
		{[]string{EnvClassifier + "=rekognition"}, ""},
		{[]string{EnvClassifier + "=rekognition", EnvTextReader + "=rekognition"}, TextReaderRekognition},
		{[]string{EnvTextReader + "=none"}, ""},
		{[]string{EnvClassifier + "=rekognition", EnvTextReader + "=tesseract"}, TextReaderTesseract},
	} {
		c, err := Load(tc.env)
		if err != nil || c.Workers.TextReaderName() != tc.want {
			t.Errorf("Load(%q): text reader %q, %v; want %q", tc.env, c.Workers.TextReaderName(), err, tc.want)
		}
	}
	c, err := Load(nil)
	if err != nil || c.Workers.TextMinConfidence != DefaultTextMinConfidence || !reflect.DeepEqual(c.Workers.TextLanguages, []string{"eng", "kor"}) {
		t.Errorf("text defaults: %v %v, %v", c.Workers.TextMinConfidence, c.Workers.TextLanguages, err)
	}
}

// The operator builds pod environments from the Env* constants; every struct tag must be
// one of them, and every constant must be read by some field.
func TestEveryFieldHasAConstant(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "config.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	constants := map[string]bool{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			if strings.HasPrefix(v.Names[0].Name, "Env") {
				val, _ := strconv.Unquote(v.Values[0].(*ast.BasicLit).Value)
				constants[val] = false
			}
		}
	}
	var walk func(reflect.Type)
	walk = func(tp reflect.Type) {
		for i := range tp.NumField() {
			fld := tp.Field(i)
			if fld.Type.Kind() == reflect.Struct && fld.Type != reflect.TypeFor[time.Duration]() {
				walk(fld.Type)
				continue
			}
			name := fld.Tag.Get("env")
			if _, ok := constants[name]; !ok {
				t.Errorf("field %s reads %q, which has no Env constant", fld.Name, name)
			}
			constants[name] = true
		}
	}
	walk(reflect.TypeFor[Config]())
	for name, used := range constants {
		if !used {
			t.Errorf("constant %q is read by no field", name)
		}
	}
}

// oidcEnv is a valid single sign-on configuration with changes (later entries win).
func oidcEnv(changes ...string) []string {
	return append([]string{
		EnvOIDCIssuer + "=https://idp.example.com/realms/uni", EnvOIDCClientID + "=gallery",
		EnvOIDCClientSecret + "=s3cret",
	}, changes...)
}

// TestOIDC: single sign-on is off by default; its defaults are the brief's; a loopback
// http issuer is allowed for development.
func TestOIDC(t *testing.T) {
	c, err := Load(nil)
	if err != nil || c.Auth.OIDC.Enabled() || !c.Auth.OIDC.LocalPasswords || !c.Auth.OIDC.CreateAccounts {
		t.Fatalf("default OIDC = %+v, %v", c.Auth.OIDC, err)
	}
	c, err = Load(oidcEnv(EnvOIDCAdminClaim+"=groups", EnvOIDCAdminValues+"=gallery-admins,staff-admins", EnvOIDCLocalPasswords+"=false"))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Auth.OIDC
	if !o.Enabled() || !reflect.DeepEqual(o.Scopes, []string{"openid", "email", "profile"}) || o.EmailClaim != "email" || o.NameClaim != "name" ||
		!reflect.DeepEqual(o.AdminValues, []string{"gallery-admins", "staff-admins"}) || o.LocalPasswords {
		t.Errorf("parsed OIDC = %+v", o)
	}
	if _, err := Load(oidcEnv(EnvOIDCIssuer + "=http://127.0.0.1:5556/dex")); err != nil {
		t.Errorf("a loopback http issuer was refused: %v", err)
	}
	if !Secret(EnvOIDCClientSecret) {
		t.Error("the client secret is not marked secret")
	}
}

func TestDefaultSignInsPerSecond(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.SignInsPerSecond != DefaultSignInsPerSecond {
		t.Errorf("default sign-ins a second %d, DefaultSignInsPerSecond %d", c.Auth.SignInsPerSecond, DefaultSignInsPerSecond)
	}
}
