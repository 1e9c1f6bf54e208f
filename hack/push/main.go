// Command push pushes the OCI image archives that `make images` and `make images-base`
// write (dist/images/*.tar) to a registry, and copies images between registries for
// clusters that cannot reach the public ones. No Docker engine: it uses
// github.com/google/go-containerregistry, with credentials from the Docker config
// (~/.docker/config.json, `docker login`, credential helpers) through authn.DefaultKeychain.
//
//	push -registry HOST/PATH [-insecure] [-keep-path] [-copy SRC[=DST]]... ARCHIVE...
//
// Each archive's image goes to HOST/PATH/NAME:TAG, where NAME:TAG ends the reference the
// archive records (org.opencontainers.image.ref.name): ghcr.io/sortographer/sortographer:v0.2.0
// goes to HOST/PATH/sortographer:v0.2.0. With -keep-path the whole repository path is
// kept, HOST/PATH/sortographer/sortographer:v0.2.0, and docker.io/library/redis:7.4-alpine
// goes to HOST/PATH/library/redis:7.4-alpine: the path a containerd registry mirror for
// ghcr.io or docker.io asks for.
//
// Archives that record the same reference for different platforms (manager-amd64.tar,
// manager-arm64.tar) are pushed as one OCI image index under that reference; a reference
// with one archive is pushed as a plain image.
//
// -copy SRC=DST copies SRC, an image or a whole multi-platform index, from the registry it
// names to DST under HOST/PATH (a repository path, with a tag or else SRC's); without
// =DST the destination follows the archives' rule. An air-gapped cluster gets its Redis
// and MariaDB images so.
//
// It prints one line per pushed image, `REFERENCE@DIGEST`, for pinning by digest.
// -insecure allows plain HTTP to HOST (loopback and private addresses always may).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sortographer/sortographer/internal/ociarchive"
)

// containerdImageName is the annotation `ctr images import` names an image after;
// hack/baseimages sets it beside org.opencontainers.image.ref.name.
const containerdImageName = "io.containerd.image.name"

type options struct {
	registry string
	insecure bool
	keepPath bool
	copies   []string
	archives []string
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "push:", err)
		os.Exit(1)
	}
}

// run parses the command line and pushes and copies what it names, printing each
// pushed reference with its digest to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	p := pusher{o: o, remote: []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
	}}
	groups, err := p.readArchives()
	defer func() {
		for _, g := range groups {
			g.cleanup()
		}
	}()
	if err != nil {
		return err
	}
	for _, g := range groups {
		d, err := p.pushGroup(g)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s@%s\n", g.target, d)
	}
	for _, c := range o.copies {
		dst, d, err := p.copy(c)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s@%s\n", dst, d)
	}
	return nil
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.StringVar(&o.registry, "registry", "", "the registry and path to push to, HOST[:PORT][/PATH] (required)")
	fs.BoolVar(&o.insecure, "insecure", false, "allow plain HTTP to the registry")
	fs.BoolVar(&o.keepPath, "keep-path", false, "keep each recorded reference's whole repository path under -registry (for a containerd registry mirror)")
	fs.Var((*listFlag)(&o.copies), "copy", "SRC[=DST]: copy the image or index SRC to DST under -registry (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: push -registry HOST[/PATH] [-insecure] [-keep-path] [-copy SRC[=DST]]... ARCHIVE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.registry = strings.TrimSuffix(o.registry, "/")
	o.archives = fs.Args()
	for _, a := range o.archives {
		// flag stops at the first archive; a flag after it would be read as a file.
		if strings.HasPrefix(a, "-") {
			return o, fmt.Errorf("%s after the archives: flags go before them", a)
		}
	}
	if o.registry == "" {
		return o, errors.New("-registry is required: the registry (and path) to push to, such as registry.example.com/sortographer")
	}
	if len(o.archives) == 0 && len(o.copies) == 0 {
		return o, errors.New("nothing to push: name image archives (dist/images/*.tar) or -copy SRC=DST")
	}
	return o, nil
}

type pusher struct {
	o      options
	remote []remote.Option
}

// archiveImage is one image read from an archive, with the reference it records.
type archiveImage struct {
	archive  string
	ref      name.Tag
	img      v1.Image
	platform v1.Platform
}

// group is what one target reference receives: the images of every archive recording the
// same reference, one per platform.
type group struct {
	target  name.Tag
	images  []archiveImage
	cleanup func()
}

// readArchives reads every archive and groups the images by their target reference, in
// the order the archives were named. The groups' cleanups remove the unpacked layouts
// and must run, even after an error.
func (p pusher) readArchives() ([]*group, error) {
	var groups []*group
	byTarget := map[string]*group{}
	for _, archive := range p.o.archives {
		dir, err := os.MkdirTemp("", "push-*")
		if err != nil {
			return groups, fmt.Errorf("read %s: %w", archive, err)
		}
		cleanup := func() { _ = os.RemoveAll(dir) }
		ai, err := readArchive(archive, dir)
		if err != nil {
			cleanup()
			return groups, err
		}
		target, err := p.target(ai.ref)
		if err != nil {
			cleanup()
			return groups, fmt.Errorf("push %s (%s): %w", archive, ai.ref, err)
		}
		g, ok := byTarget[target.String()]
		if !ok {
			g = &group{target: target, cleanup: cleanup}
			byTarget[target.String()] = g
			groups = append(groups, g)
		} else {
			prev := g.cleanup
			g.cleanup = func() { prev(); cleanup() }
		}
		for _, other := range g.images {
			if other.ref.String() != ai.ref.String() {
				return groups, fmt.Errorf("%s (%s) and %s (%s) would both be pushed as %s: use -keep-path",
					other.archive, other.ref, archive, ai.ref, target)
			}
			if other.platform.Equals(ai.platform) {
				return groups, fmt.Errorf("%s and %s both hold %s for %s: one image per platform",
					other.archive, archive, ai.ref, ai.platform.String())
			}
		}
		g.images = append(g.images, ai)
	}
	return groups, nil
}

// readArchive reads the image of an archive that internal/ociarchive wrote, unpacking it
// into dir, with the reference and the platform it records.
func readArchive(archive, dir string) (archiveImage, error) {
	ai := archiveImage{archive: archive}
	img, annotations, err := ociarchive.Read(archive, dir)
	if err != nil {
		return ai, fmt.Errorf("read %s as an OCI image archive: %w", archive, err)
	}
	recorded := annotations[ociarchive.RefName]
	if recorded == "" {
		recorded = annotations[containerdImageName]
	}
	if recorded == "" {
		return ai, fmt.Errorf("read %s: its image records no reference (%s)", archive, ociarchive.RefName)
	}
	// A reference by digest alone has no name to push under; one without a registry or a
	// tag takes Docker's defaults, docker.io and latest.
	ai.ref, err = name.NewTag(recorded)
	if err != nil {
		return ai, fmt.Errorf("read %s: recorded reference %q: %w", archive, recorded, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return ai, fmt.Errorf("read %s (%s): image config: %w", archive, ai.ref, err)
	}
	ai.img = img
	ai.platform = v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion, OSFeatures: cf.OSFeatures}
	return ai, nil
}

// target is where an image recorded as ref goes: HOST/PATH/NAME:TAG, with NAME the last
// element of ref's repository path, or its whole path with -keep-path.
func (p pusher) target(ref name.Tag) (name.Tag, error) {
	repo := ref.RepositoryStr()
	if !p.o.keepPath {
		repo = path.Base(repo)
	}
	return p.under(repo + ":" + ref.TagStr())
}

// under parses rel, a repository path with a tag, as a tag under -registry.
func (p pusher) under(rel string) (name.Tag, error) {
	opts := []name.Option{name.StrictValidation}
	if p.o.insecure {
		opts = append(opts, name.Insecure)
	}
	t, err := name.NewTag(p.o.registry+"/"+rel, opts...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("target under -registry %s: %w", p.o.registry, err)
	}
	return t, nil
}

// pushGroup pushes a group's one image as it is, or its images as one index, and
// returns the digest pushed.
func (p pusher) pushGroup(g *group) (v1.Hash, error) {
	first := g.images[0]
	if len(g.images) == 1 {
		if err := remote.Write(g.target, first.img, p.remote...); err != nil {
			return v1.Hash{}, fmt.Errorf("push %s (%s) to %s: %w", first.archive, first.ref, g.target, err)
		}
		d, err := first.img.Digest()
		if err != nil {
			return v1.Hash{}, fmt.Errorf("digest of %s (%s): %w", first.archive, first.ref, err)
		}
		return d, nil
	}
	archives := make([]string, len(g.images))
	adds := make([]mutate.IndexAddendum, len(g.images))
	for i, ai := range g.images {
		archives[i] = ai.archive
		platform := ai.platform
		adds[i] = mutate.IndexAddendum{Add: ai.img, Descriptor: v1.Descriptor{Platform: &platform}}
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	if err := remote.WriteIndex(g.target, idx, p.remote...); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s (%s) as one index to %s: %w", strings.Join(archives, ", "), first.ref, g.target, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("digest of the index of %s (%s): %w", strings.Join(archives, ", "), first.ref, err)
	}
	return d, nil
}

// copy copies spec's source, an image or an index with every platform it lists, to its
// destination under -registry, and returns the destination and the digest, which a copy
// keeps.
func (p pusher) copy(spec string) (name.Tag, v1.Hash, error) {
	srcStr, dstStr, hasDst := strings.Cut(spec, "=")
	src, err := name.ParseReference(srcStr)
	if err != nil {
		return name.Tag{}, v1.Hash{}, fmt.Errorf("-copy %s: source: %w", spec, err)
	}
	dst, err := p.copyTarget(src, dstStr, hasDst)
	if err != nil {
		return name.Tag{}, v1.Hash{}, fmt.Errorf("-copy %s: %w", spec, err)
	}
	desc, err := remote.Get(src, p.remote...)
	if err != nil {
		return name.Tag{}, v1.Hash{}, fmt.Errorf("copy %s to %s: fetch: %w", src, dst, err)
	}
	// Pushing the descriptor itself copies an index with all its platforms' images, and
	// an image as it is: both keep their digest.
	if err := remote.Push(dst, desc, p.remote...); err != nil {
		return name.Tag{}, v1.Hash{}, fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return dst, desc.Digest, nil
}

// copyTarget is a copy's destination: DST under -registry, with src's tag when DST has
// none; without DST, where an archive recording src would go.
func (p pusher) copyTarget(src name.Reference, dst string, hasDst bool) (name.Tag, error) {
	srcTag, srcHasTag := src.(name.Tag)
	if !hasDst {
		if !srcHasTag {
			return name.Tag{}, errors.New("a source by digest needs =DST with a tag")
		}
		return p.target(srcTag)
	}
	dst = strings.TrimPrefix(dst, "/")
	if dst == "" {
		return name.Tag{}, errors.New("empty DST")
	}
	// A tag follows the last colon after the last slash (a port precedes a slash).
	if !strings.Contains(path.Base(dst), ":") {
		if !srcHasTag {
			return name.Tag{}, errors.New("a source by digest needs a DST with a tag")
		}
		dst += ":" + srcTag.TagStr()
	}
	return p.under(dst)
}
