// Package bench measures the gallery end to end through its real HTTP API: it builds the
// sortographer binary, starts it as an admin would, signs up, uploads real photos and
// watches them until labelled, and reports the time from upload to labelled (p50, p99)
// and the throughput as benchmark metrics, with a table at the end.
//
// It holds benchmarks only, so `go test` without -bench runs nothing here:
//
//	go test -run '^$' -bench . ./test/bench/
//	go test -run '^$' -bench 'UploadToLabelled/embedded' ./test/bench/ -e2e.uploads=20
//
// hack/bench.sh runs them with every other benchmark of the project. The gallery runs with
// the product's defaults; the pacing and concurrency settings listed in tunables are taken
// from the environment when set (SORTOGRAPHER_PROVIDER_RPS=50 hack/bench.sh), and the
// table shows the values in effect.
package bench

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/sortographer/sortographer/internal/testservers"
)

var (
	uploadsFlag = flag.Int("e2e.uploads", 40, "photos uploaded per round of each end-to-end benchmark (at most 60: the upload rate limit per user)")
	timeoutFlag = flag.Duration("e2e.timeout", 60*time.Second, "longest a round may take before the benchmark fails")
	latencyFlag = flag.Duration("e2e.rekognition-latency", 150*time.Millisecond, "how long the local DetectLabels endpoint takes to answer")
	binaryFlag  = flag.String("e2e.binary", "", "a sortographer binary to run (default: built from ./cmd/sortographer)")
)

func TestMain(m *testing.M) {
	code := testservers.Run(m) // stops the shared MariaDB and PostgreSQL afterwards
	printTable(os.Stdout)
	removeBuild()
	os.Exit(code)
}

// row is one finished end-to-end benchmark, for the table.
type row struct {
	scenario, load string
	settings       string
	images         int
	p50, p99       time.Duration
	uploadP50      time.Duration
	perSecond      float64
}

var (
	rowsMu sync.Mutex
	rows   []row
)

func addRow(r row) {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	rows = append(rows, r)
}

// printTable writes the end-to-end figures; hack/bench.sh copies this block into its
// summary, from the title line to the blank line after the table.
func printTable(w io.Writer) {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\n# Upload to labelled, end to end through the HTTP API")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tload\timages\tp50\tp99\tupload p50\timages/s\tsettings")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%.1f\t%s\n", r.scenario, r.load, r.images,
			ms(r.p50), ms(r.p99), ms(r.uploadP50), r.perSecond, r.settings)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "p50/p99: from sending the upload to the labelledAt the server recorded (nearest rank: with 40 images p99 is the slowest).")
	fmt.Fprintln(w)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
