package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/imaging"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testenv"
	"github.com/sortographer/sortographer/internal/testservers"
)

// memLimit is the hard memory limit the server runs under: the server container's
// default limit (1Gi), here shared by the embedded gallery's server and its in-process
// workers with the built-in model. (At 512 MiB the decodes stay within their budget, but
// ONNX Runtime's sessions, which no budget bounds, take the process over the limit
// while they classify: the embedded mode needs the default limit.)
const memLimit = 1 << 30

// worstSide is the side of the worst photos: 10,000 × 10,000 is imaging.MaxPixels, the
// most an upload may declare.
const worstSide = 10_000

// TestServeSurvivesTheWorstUploadsInAMemoryLimit runs the real `sortographer serve`
// (embedded SQLite, in-process workers with the built-in classifier) as a child process
// in a cgroup v1 memory cgroup with a hard limit of memLimit, and GOMEMLIMIT as the
// operator sets it for that limit. Two users upload, all at once and each photo its own
// request, the photos that cost the most memory to decode for their bytes (photoKinds),
// each kind twice: at MaxPixels, where each decodes to hundreds of megabytes from a file
// of a few (vipsthumbnail alone peaks at 0.45-1 GB on most), and at the largest size
// whose decode the server's budget admits, so that decodes do run, queued on the budget,
// and show whether its estimates hold. Every answer is a 2xx or a 413/422 that says why
// (a photo the budget admits: a 2xx), never a 5xx or a broken connection; the workers
// finish every accepted photo; the process is alive, the kernel OOM-killed nothing, and
// afterwards /readyz answers and a normal upload is accepted.
func TestServeSurvivesTheWorstUploadsInAMemoryLimit(t *testing.T) {
	testenv.NeedRoot(t, "a memory cgroup with a hard limit")
	goMemLimit := specs.GoMemLimit(*resource.NewQuantity(memLimit, resource.BinarySI))
	budget := config.DefaultDecodeMemory(goMemLimit)
	type upload struct {
		photo
		fits bool // within the decode budget: must be accepted
	}
	var uploads []upload
	dir := t.TempDir()
	for _, k := range photoKinds {
		side := fittingSide(k.header, budget)
		uploads = append(uploads,
			upload{photo{fmt.Sprintf("%d-%s", worstSide, k.name), k.make(t, dir, worstSide)}, false},
			upload{photo{fmt.Sprintf("%d-%s", side, k.name), k.make(t, dir, side)}, true})
	}
	for i, u := range uploads {
		info, err := imaging.InspectBytes(u.data)
		if err != nil {
			t.Fatalf("%s: %v, want an accepted image", u.name, err)
		}
		// The fitting size must fit; at MaxPixels most kinds cannot (a lossless WebP
		// at 10,000² still fits a 1Gi container's budget: then it is decoded too).
		need := imaging.DecodeMemory(info, imaging.ClassifierSide)
		if u.fits && need > budget {
			t.Fatalf("%s: decodes to %d MiB, the budget is %d MiB: want it to fit", u.name, need>>20, budget>>20)
		}
		uploads[i].fits = need <= budget
		if int64(len(u.data)) > 25<<20 {
			t.Fatalf("%s: %d bytes, more than the default upload limit", u.name, len(u.data))
		}
	}

	cg := newMemoryCgroup(t, memLimit)
	bin := buildSortographer(t)
	listen := testenv.FreeAddr(t)
	srv := cg.start(t, bin, []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		config.EnvDataDir + "=" + t.TempDir(),
		config.EnvListenAddr + "=" + listen,
		config.EnvMetricsAddr + "=" + testenv.FreeAddr(t),
		config.EnvModelDir + "=" + testservers.ModelDir(t),
		specs.EnvGoMemLimit + "=" + strconv.FormatInt(goMemLimit, 10),
	}, "serve")
	base := "http://" + listen
	srv.waitReady(t, base)
	if want := fmt.Sprintf(`"decodeMemoryBytes":%d`, budget); !strings.Contains(srv.out.String(), want) {
		t.Fatalf("the server did not log %s, a third of its GOMEMLIMIT:\n%s", want, srv.out.String())
	}

	tokens := []string{signUpToken(t, base, "ann@example.com"), signUpToken(t, base, "bob@example.com")}
	type answer struct {
		upload
		token  string
		status int
		body   []byte
		err    error
	}
	answers := make(chan answer)
	client := &http.Client{Timeout: 10 * time.Minute}
	for _, token := range tokens {
		for _, u := range uploads {
			go func() {
				status, body, err := uploadPhoto(client, base, token, u.name, u.data)
				answers <- answer{u, token, status, body, err}
			}()
		}
	}
	accepted := map[string]string{} // image id -> token
	var grace time.Duration         // for an exit under way, when a request had no answer
	for range len(tokens) * len(uploads) {
		a := <-answers
		var out struct {
			Images []struct{ ID string }
			Error  struct{ Code, Message string }
		}
		switch {
		case a.err != nil:
			t.Errorf("%s: no answer: %v", a.name, a.err)
			grace = 5 * time.Second
		case a.status == http.StatusOK || a.status == http.StatusAccepted:
			if err := json.Unmarshal(a.body, &out); err != nil || len(out.Images) != 1 {
				t.Errorf("%s: %d %s", a.name, a.status, a.body)
				continue
			}
			accepted[out.Images[0].ID] = a.token
			t.Logf("%s: %d", a.name, a.status)
		case a.fits:
			t.Errorf("%s: %d %s, want 2xx: its decode fits the budget", a.name, a.status, a.body)
		case a.status == http.StatusRequestEntityTooLarge || a.status == http.StatusUnprocessableEntity:
			if err := json.Unmarshal(a.body, &out); err != nil || out.Error.Message == "" {
				t.Errorf("%s: %d without a reason: %s", a.name, a.status, a.body)
				continue
			}
			t.Logf("%s: %d %s: %s", a.name, a.status, out.Error.Code, out.Error.Message)
		default:
			t.Errorf("%s: %d %s, want 2xx, 413 or 422", a.name, a.status, a.body)
		}
	}
	srv.alive(t, grace)

	// The in-process workers decode each accepted photo again for the classifier.
	for id, token := range accepted {
		status, reason := waitClassified(t, srv, base, token, id, 5*time.Minute)
		t.Logf("image %s: %s %s", id, status, reason)
	}
	srv.alive(t, 0)

	res, err := http.Get(base + config.ReadinessPath)
	if err != nil {
		srv.alive(t, 5*time.Second)
		t.Fatalf("readyz after the worst uploads: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("readyz after the worst uploads: %s, want 200", res.Status)
	}
	var normal bytes.Buffer
	if err := jpeg.Encode(&normal, image.NewGray(image.Rect(0, 0, 640, 480)), nil); err != nil {
		t.Fatal(err)
	}
	status, reply, err := uploadPhoto(client, base, tokens[0], "normal.jpg", normal.Bytes())
	if err != nil {
		srv.alive(t, 5*time.Second)
		t.Fatalf("a normal upload after the worst: %v", err)
	}
	if status != http.StatusAccepted {
		t.Errorf("a normal upload after the worst: %d %s, want 202", status, reply)
	}
	srv.alive(t, 0)

	peak, failures := cg.number(t, "memory.max_usage_in_bytes"), cg.number(t, "memory.failcnt")
	t.Logf("memory: peak %d MiB of the %d MiB limit (memory.max_usage_in_bytes: all the cgroup's pages, page cache included); "+
		"the server's peak RSS %d MiB (VmHWM, with the shared libraries' pages charged elsewhere); the limit was reached %d times "+
		"(memory.failcnt); GOMEMLIMIT %d, decode budget %d MiB",
		peak>>20, memLimit>>20, srv.peakRSS>>20, failures, goMemLimit, budget>>20)
	oom := cg.fields(t, "memory.oom_control")
	if oom["oom_kill"] != 0 || oom["under_oom"] != 0 {
		t.Errorf("memory.oom_control: oom_kill %d, under_oom %d; want 0: the kernel killed in the cgroup", oom["oom_kill"], oom["under_oom"])
	}
}

// photo is a named upload.
type photo struct {
	name string
	data []byte
}

// photoKind is a photo that costs much memory to decode for its bytes, made at test
// time by Debian's tools (vips from libvips-tools, heif-enc from libheif-examples) or,
// for the GIF, by image/gif.
type photoKind struct {
	name string
	// header is what imaging.DecodeMemory reads of the photo's header, but its size.
	header imaging.Info
	// make makes one side×side in dir.
	make func(t *testing.T, dir string, side int) []byte
}

var photoKinds = []photoKind{
	// Adam7-interlaced: libpng then holds the whole image; transparent: flattened on white.
	{"rgba16-interlaced.png", imaging.Info{Format: imaging.PNG, Bands: 4, BytesPerBand: 2, Alpha: true, Progressive: true}, func(t *testing.T, dir string, side int) []byte {
		return vipsMake(t, dir, side, 4, "cast", ".png", "[bitdepth=16,interlace]", "ushort")
	}},
	// Progressive, without chroma subsampling: libjpeg holds every DCT coefficient.
	{"progressive444.jpg", imaging.Info{Format: imaging.JPEG, Bands: 3, BytesPerBand: 1, Progressive: true}, func(t *testing.T, dir string, side int) []byte {
		return vipsMake(t, dir, side, 3, "copy", ".jpg", "[interlace,subsample-mode=off,Q=95]")
	}},
	{"rgba16.tif", imaging.Info{Format: imaging.TIFF, Bands: 4, BytesPerBand: 2, Alpha: true}, func(t *testing.T, dir string, side int) []byte {
		return vipsMake(t, dir, side, 4, "cast", ".tif", "[compression=deflate]", "ushort")
	}},
	{"lossless.webp", imaging.Info{Format: imaging.WebP, Bands: 3, BytesPerBand: 1}, func(t *testing.T, dir string, side int) []byte {
		return vipsMake(t, dir, side, 3, "copy", ".webp", "[lossless]")
	}},
	{"single.heic", imaging.Info{Format: imaging.HEIC, Bands: 3, BytesPerBand: 1}, func(t *testing.T, dir string, side int) []byte {
		return heifEnc(t, dir, side, "single.heic", "-p", "preset=ultrafast", "-q", "30")
	}},
	{"photo.avif", imaging.Info{Format: imaging.AVIF, Bands: 3, BytesPerBand: 1}, func(t *testing.T, dir string, side int) []byte {
		return heifEnc(t, dir, side, "photo.avif", "-A", "-p", "speed=9", "-q", "30")
	}},
	// A grid of 512 px tiles, as phones save HEIC: libheif decodes every tile and
	// assembles the whole picture.
	{"grid.heic", imaging.Info{Format: imaging.HEIC, Bands: 3, BytesPerBand: 1}, func(t *testing.T, dir string, side int) []byte {
		tile := heifEnc(t, dir, 512, "tile.heic", "-q", "50")
		grid, err := heicGrid(tile, 512, side, side)
		if err != nil {
			t.Fatalf("make a HEIC grid: %v", err)
		}
		return grid
	}},
	{"canvas.gif", imaging.Info{Format: imaging.GIF, Bands: 3, BytesPerBand: 1}, func(t *testing.T, _ string, side int) []byte {
		return hugeCanvasGIF(t, side)
	}},
}

// fittingSide is the largest side of a square photo with this header whose decode for
// the classifier (the larger of the two decodes an upload gets) fits the budget.
func fittingSide(header imaging.Info, budget int64) int {
	lo, hi := imaging.ThumbnailSize, worstSide // DecodeMemory fits at lo, not at hi
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		header.Width, header.Height = mid, mid
		if imaging.DecodeMemory(header, imaging.ClassifierSide) <= budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// runTool runs a tool that makes a test photo.
func runTool(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// blackPNG is a side×side black PNG of bands bands in dir, made once.
func blackPNG(t *testing.T, dir string, side, bands int) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("black-%d-%d.png", side, bands))
	if _, err := os.Stat(p); err != nil {
		runTool(t, "vips", "black", p, strconv.Itoa(side), strconv.Itoa(side), "--bands", strconv.Itoa(bands))
	}
	return p
}

// vipsMake runs `vips op` from a black side×side PNG of bands bands to a file of
// extension ext saved with vips' options (e.g. "[lossless]"), then args, and returns
// the file.
func vipsMake(t *testing.T, dir string, side, bands int, op, ext, options string, args ...string) []byte {
	t.Helper()
	out := filepath.Join(dir, fmt.Sprintf("%d-%d-%s%s", side, bands, op, ext))
	runTool(t, append([]string{"vips", op, blackPNG(t, dir, side, bands), out + options}, args...)...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// heifEnc encodes a black side×side picture with heif-enc and its options.
func heifEnc(t *testing.T, dir string, side int, name string, options ...string) []byte {
	t.Helper()
	out := filepath.Join(dir, fmt.Sprintf("%d-%s", side, name))
	runTool(t, append(append([]string{"heif-enc"}, options...), "-o", out, blackPNG(t, dir, side, 3))...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hugeCanvasGIF is a GIF of 35 bytes whose one frame is one pixel at the far corner of
// a side×side screen. libnsgif (libvips 8.14) sizes the canvas to the frames' extent
// (a 1-pixel frame at the origin is a 1×1 image) and composes onto it: vipsthumbnail
// peaks at 450 MB on a 10,000 px one.
func hugeCanvasGIF(t *testing.T, side int) []byte {
	t.Helper()
	frame := image.NewPaletted(image.Rect(side-1, side-1, side, side), color.Palette{color.Black, color.White})
	var b bytes.Buffer
	err := gif.EncodeAll(&b, &gif.GIF{
		Image: []*image.Paletted{frame}, Delay: []int{0},
		Config: image.Config{ColorModel: frame.Palette, Width: side, Height: side},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// uploadPhoto uploads one photo as the token's user.
func uploadPhoto(client *http.Client, base, token, name string, data []byte) (int, []byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("file", name)
	_, _ = part.Write(data)
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, base+"/api/images", &body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// waitClassified waits for the workers to label the image or give up on it, and returns
// its status and the reason for a failure.
func waitClassified(t *testing.T, srv *cgroupProcess, base, token, id string, within time.Duration) (store.ImageStatus, string) {
	t.Helper()
	var img struct {
		Status        store.ImageStatus
		FailureReason string
	}
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		srv.alive(t, 0)
		req, _ := http.NewRequest(http.MethodGet, base+"/api/images/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			srv.alive(t, 5*time.Second)
			t.Fatalf("get image %s: %v", id, err)
		}
		err = json.NewDecoder(res.Body).Decode(&img)
		res.Body.Close()
		if err != nil {
			t.Fatalf("get image %s: %d, %v", id, res.StatusCode, err)
		}
		if img.Status != store.StatusQueued {
			return img.Status, img.FailureReason
		}
	}
	t.Fatalf("image %s still queued %s after the uploads", id, within)
	return "", ""
}

// buildSortographer builds the gallery binary as the image has it (cgo, libvips).
func buildSortographer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sortographer")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the gallery binary: %v\n%s", err, out)
	}
	return bin
}

// memoryCgroup is a cgroup v1 memory cgroup of this test's, removed at its end.
type memoryCgroup struct{ dir string }

// newMemoryCgroup makes a memory cgroup with a hard limit of limit bytes, swap
// included, so that going over means reclaim or the OOM killer, never swap.
func newMemoryCgroup(t *testing.T, limit int64) *memoryCgroup {
	t.Helper()
	const root = "/sys/fs/cgroup/memory"
	if _, err := os.Stat(filepath.Join(root, "memory.limit_in_bytes")); err != nil {
		t.Fatalf("no cgroup v1 memory controller at %s: %v", root, err)
	}
	c := &memoryCgroup{dir: filepath.Join(root, fmt.Sprintf("sortographer-memlimit-%d-%d", os.Getpid(), time.Now().UnixNano()))}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		t.Fatalf("make a memory cgroup: %v", err)
	}
	t.Cleanup(func() {
		// The processes may take a moment to leave it after they are killed.
		var err error
		for range 50 {
			if err = os.Remove(c.dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("remove the memory cgroup %s: %v", c.dir, err)
	})
	c.write(t, "memory.limit_in_bytes", limit)
	if _, err := os.Stat(c.file("memory.memsw.limit_in_bytes")); err == nil {
		c.write(t, "memory.memsw.limit_in_bytes", limit)
	}
	if got := c.number(t, "memory.limit_in_bytes"); got != limit {
		t.Fatalf("memory.limit_in_bytes = %d after writing %d", got, limit)
	}
	return c
}

func (c *memoryCgroup) file(name string) string { return filepath.Join(c.dir, name) }

func (c *memoryCgroup) write(t *testing.T, name string, v int64) {
	t.Helper()
	if err := os.WriteFile(c.file(name), []byte(strconv.FormatInt(v, 10)), 0o644); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
}

// number reads a cgroup file that holds one number.
func (c *memoryCgroup) number(t *testing.T, name string) int64 {
	t.Helper()
	b, err := os.ReadFile(c.file(name))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

// fields reads a cgroup file of "key value" lines.
func (c *memoryCgroup) fields(t *testing.T, name string) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile(c.file(name))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, " ")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", name, line, err)
		}
		out[k] = n
	}
	return out
}

// cgroupProcess is a process started inside a memory cgroup.
type cgroupProcess struct {
	cg      *memoryCgroup
	cmd     *exec.Cmd
	out     *testenv.LogBuffer
	done    chan error
	peakRSS int64 // VmHWM, read by alive
}

// start runs bin with args and only env, inside the cgroup from its first instruction:
// a shell moves itself into the cgroup and then execs bin. The test's end stops it with
// SIGTERM, as the kubelet does, and wants it to exit 0; it prints its output if the test
// failed.
func (c *memoryCgroup) start(t *testing.T, bin string, env []string, args ...string) *cgroupProcess {
	t.Helper()
	p := &cgroupProcess{cg: c, out: &testenv.LogBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command("/bin/sh", append([]string{"-c", `echo $$ >"$0" && exec "$@"`, c.file("cgroup.procs"), bin}, args...)...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		failed := t.Failed() // before: the process already ended a failed test
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			err = <-p.done
			t.Errorf("%s still ran 30 s after SIGTERM", filepath.Base(bin))
		}
		if err != nil && !failed {
			t.Errorf("%s exited with %v on SIGTERM, want status 0", filepath.Base(bin), err)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), p.out.String())
		}
	})
	return p
}

// waitReady waits for /readyz to answer 200 and checks that the process is in the
// cgroup.
func (p *cgroupProcess) waitReady(t *testing.T, base string) {
	t.Helper()
	testenv.Eventually(t, time.Minute, "the server to answer /readyz", func() error {
		p.alive(t, 0)
		res, err := http.Get(base + config.ReadinessPath)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return errors.New(res.Status)
		}
		return nil
	})
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.cmd.Process.Pid))
	if err != nil || !strings.Contains(string(b), ":memory:/sortographer-memlimit-") {
		t.Fatalf("the server is not in the memory cgroup: %v\n%s", err, b)
	}
}

// alive fails the test if the process has exited, or exits within grace (after a
// request failed: an OOM kill closes the sockets a moment before the exit is seen), and
// records its peak RSS.
func (p *cgroupProcess) alive(t *testing.T, grace time.Duration) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		oom := p.cg.fields(t, "memory.oom_control")
		t.Fatalf("the server exited (%v); the cgroup's memory.oom_control says oom_kill %d, its peak was %d MiB of %d MiB",
			err, oom["oom_kill"], p.cg.number(t, "memory.max_usage_in_bytes")>>20, p.cg.number(t, "memory.limit_in_bytes")>>20)
	case <-time.After(grace):
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			p.peakRSS = max(p.peakRSS, kb<<10)
		}
	}
}
