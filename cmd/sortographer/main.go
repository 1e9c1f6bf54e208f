// Command sortographer is the gallery: `serve` runs the web app and API (and, in the
// embedded default, the classification workers), `work` runs workers on their own,
// `migrate` brings the database schema up to date and exits, `thumbnail IN OUT` makes
// one photo's thumbnail as an upload would.
//
// Settings come from the environment (internal/config); each subcommand may add flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/sortographer/sortographer/internal/config"
)

// command is a subcommand. It runs until its work is done or ctx ends (SIGTERM,
// SIGINT), and then shuts down within cfg.ShutdownGrace.
type command func(ctx context.Context, cfg config.Config, log *slog.Logger) error

// commands are the subcommands by name; each file registers its own from init().
// version is this build's release, set at link time (the Makefile's image-gallery:
// -X main.version=$(IMAGE_TAG)); `migrate` records it in the database.
var version = "dev"

var commands = map[string]command{}

// commandFlags are a subcommand's own flags, parsed before it runs; a file registers
// them from init() next to its command. A command without flags takes no arguments.
var commandFlags = map[string]*flag.FlagSet{}

// commandArgs name a subcommand's positional arguments, which it must be given all of
// after its flags and reads from its FlagSet's Args; a command not listed takes none.
var commandArgs = map[string][]string{}

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stderr))
}

func run(args, environ []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	name := args[0]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "sortographer: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	if fs := commandFlags[name]; fs != nil {
		fs.SetOutput(stderr)
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if want := commandArgs[name]; fs.NArg() != len(want) {
			if len(want) == 0 {
				fmt.Fprintf(stderr, "sortographer %s: unexpected arguments %q\n", name, fs.Args())
			} else {
				fmt.Fprintf(stderr, "sortographer %s: want %s, got %q\n", name, strings.Join(want, " "), fs.Args())
			}
			return 2
		}
	} else if len(args) > 1 {
		fmt.Fprintf(stderr, "sortographer %s: takes no arguments (settings come from SORTOGRAPHER_* environment variables)\n", name)
		return 2
	}

	cfg, err := config.Load(environ)
	if err != nil {
		fmt.Fprintf(stderr, "sortographer %s: %v\n", name, err)
		return 2
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sortographer %s: %v\n", name, err)
		return 2
	}
	log = log.With("gallery", cfg.GalleryName, "command", name)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := cmd(ctx, cfg, log); err != nil {
		log.Error("command failed", "error", err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	synopses := make([]string, len(names))
	for i, n := range names {
		synopses[i] = strings.Join(append([]string{n}, commandArgs[n]...), " ")
	}
	fmt.Fprintf(w, "usage: sortographer <command> [flags] [arguments]\n\ncommands: %s\n\nSettings come from SORTOGRAPHER_* environment variables; with none set, `serve` runs\na complete gallery on this machine (SQLite and images under ./data).\n", strings.Join(synopses, ", "))
	for _, n := range names {
		if fs := commandFlags[n]; fs != nil {
			fmt.Fprintf(w, "\n%s flags:\n", n)
			fs.SetOutput(w)
			fs.PrintDefaults()
		}
	}
}

// newLogger builds the structured logger the configuration asks for: JSON (the
// default, for log collectors) or text, at a level.
func newLogger(cfg config.Config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("%s: %q is not debug, info, warn or error", config.EnvLogLevel, cfg.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(cfg.LogFormat) {
	case "json", "":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("%s: %q is not json or text", config.EnvLogFormat, cfg.LogFormat)
	}
}
