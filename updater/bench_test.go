//go:build !windows

package updater

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/benchrec"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/rootdir"
)

// BenchmarkNoChangeCheck: cost of a check when nothing changed.
func BenchmarkNoChangeCheck(b *testing.B) {
	e := newBenchEnv(b)
	e.repo.addTarget(osqTarget, script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	u, err := New(e.cfg(e.newRoot()))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := u.Check(context.Background()); err != nil {
		b.Fatal(err)
	}
	var reqs, bytes int64
	for b.Loop() {
		res, err := u.Check(context.Background())
		if err != nil || len(res.Unchanged) != 1 {
			b.Fatalf("%+v %v", res, err)
		}
		reqs += res.Requests
		bytes += res.Bytes
		benchrec.Record(b, "nochange_requests", float64(res.Requests))
		benchrec.Record(b, "nochange_bytes", float64(res.Bytes))
	}
	b.ReportMetric(float64(reqs)/float64(b.N), "requests/op")
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/op")
	// The least any TUF client does to learn that nothing changed: ask for
	// the next root (a 404) and fetch timestamp.json. A plain GET of each,
	// from the same server in the same run, is the baseline.
	var minimal int64
	for _, p := range []string{fmt.Sprintf("/%d.root.json", e.repo.root.Signed.Version+1), "/timestamp.json"} {
		resp, err := http.Get(e.srv.srv.URL + p)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		minimal += n
	}
	benchrec.Record(b, "nochange_minimal_requests", 2)
	benchrec.Record(b, "nochange_minimal_bytes", float64(minimal))
}

// BenchmarkApply50MB times installing a 50 MB target against
// curl + sha512sum + mv of the same file from the same server, in the same
// iteration, and reports both and their ratio.
func BenchmarkApply50MB(b *testing.B) {
	curl := testbin.NeedTool(b, "curl")
	e := newBenchEnv(b)
	data := script("50.0.0", 0, e.marks, 50<<20)
	e.repo.addTarget(osqTarget, data, "50.0.0")
	e.repo.publish()
	url := e.srv.srv.URL + "/targets/" + osqTarget
	var orbitTotal, curlTotal time.Duration
	for b.Loop() {
		dir := b.TempDir()
		t0 := time.Now()
		cmd := exec.Command("bash", "-c", `set -e; "$1" -fsS -o "$2/dl" "$3"; sha512sum "$2/dl" >/dev/null; mv "$2/dl" "$2/osqueryd"`, "_", curl, dir, url)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("curl pipeline: %v %s", err, out)
		}
		curlTime := time.Since(t0)
		curlTotal += curlTime

		u, err := New(e.cfg(e.newRoot()))
		if err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		res, err := u.Check(context.Background())
		orbitTime := time.Since(t0)
		orbitTotal += orbitTime
		if err != nil || len(res.Installed) != 1 {
			b.Fatalf("%+v %v", res, err)
		}
		benchrec.RecordDuration(b, "apply_orbit_ms", orbitTime)
		benchrec.RecordDuration(b, "apply_curl_ms", curlTime)
	}
	n := float64(b.N)
	b.ReportMetric(float64(orbitTotal.Milliseconds())/n, "orbit_ms/op")
	b.ReportMetric(float64(curlTotal.Milliseconds())/n, "curl_ms/op")
	b.ReportMetric(float64(orbitTotal)/float64(curlTotal), "ratio")
}

// BenchmarkApplyPeakRSS applies a 20 MB and a 200 MB target, each in a
// fresh child process, and reports the children's peak RSS: streaming
// keeps it flat.
func BenchmarkApplyPeakRSS(b *testing.B) {
	e := newBenchEnv(b)
	for b.Loop() {
		small := e.childPeakRSS(b, 20<<20)
		large := e.childPeakRSS(b, 200<<20)
		b.ReportMetric(float64(small), "rss_20MB_KiB")
		b.ReportMetric(float64(large), "rss_200MB_KiB")
		benchrec.Record(b, "apply_rss_20MB_KiB", float64(small))
		benchrec.Record(b, "apply_rss_200MB_KiB", float64(large))
	}
}

func TestPeakRSSDoesNotGrowWithTargetSize(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MB")
	}
	t.Parallel()
	e := newBenchEnv(t)
	small := e.childPeakRSS(t, 8<<20)
	large := e.childPeakRSS(t, 80<<20)
	t.Logf("peak RSS: 8 MB target %d KiB, 80 MB target %d KiB", small, large)
	// Reading the target into memory would add 72 MB; allow noise only.
	if large > small+16<<10 {
		t.Fatalf("peak RSS grew from %d KiB to %d KiB with the target size", small, large)
	}
}

type benchEnv struct {
	tb    testing.TB
	repo  *testRepo
	srv   *testServer
	marks string
}

func newBenchEnv(tb testing.TB) *benchEnv {
	e := &benchEnv{tb: tb, repo: newTestRepo(tb, false), marks: tb.TempDir()}
	e.srv = newTestServer(tb, e.repo.dir)
	return e
}

func (e *benchEnv) newRoot() rootdir.Layout {
	l := rootdir.Layout{Root: filepath.Join(e.tb.TempDir(), "root")}
	if err := l.Create(); err != nil {
		e.tb.Fatal(err)
	}
	return l
}

func (e *benchEnv) cfg(l rootdir.Layout) Config {
	return Config{Layout: l, UpdateURL: e.srv.srv.URL, RootJSON: e.repo.bundled, Platform: "linux",
		Components: []Component{osqComp}, Logger: zerolog.New(io.Discard)}
}

// childPeakRSS publishes a target of size bytes and applies it in a child
// process (helperApply), returning the child's peak RSS in KiB.
func (e *benchEnv) childPeakRSS(tb testing.TB, size int) int64 {
	tb.Helper()
	e.repo.addTarget(osqTarget, script(fmt.Sprintf("%d.0.0", size>>20), 0, e.marks, size), fmt.Sprintf("%d.0.0", size>>20))
	e.repo.publish()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	rootFile := filepath.Join(tb.TempDir(), "root.json")
	os.WriteFile(rootFile, e.repo.bundled, 0o644)
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), "ORBIT_UPDATER_HELPER=apply", "ORBIT_UPDATER_ROOT="+e.newRoot().Root,
		"ORBIT_UPDATER_URL="+e.srv.srv.URL, "ORBIT_UPDATER_ROOTJSON="+rootFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("apply child: %v\n%s", err, out)
	}
	// VmHWM is the child's own peak. wait4's maxrss is only a fallback: Linux
	// carries the forked parent's RSS (the test holds the target in memory)
	// over the exec into it.
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "vmhwm_kib="); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	return ru.Maxrss
}

// helperApply installs osqueryd once and prints its peak RSS.
func helperApply() int {
	if code := helperCheck(); code != 0 {
		return code
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0 // the parent falls back to rusage
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			fmt.Printf("vmhwm_kib=%s\n", strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0
}
