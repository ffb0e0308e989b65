package repo

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// progress reports bytes done of a known total: a redrawn bar on a
// terminal, a plain line per quarter otherwise (logs stay readable).
type progress struct {
	w     io.Writer
	tty   bool
	label string
	total int64
	done  int64
	last  int // last reported percent (bar) or quarter (lines)
}

// minProgressSize keeps small files quiet.
const minProgressSize = 4 << 20

func newProgress(w io.Writer, label string, total int64) *progress {
	if w == nil || total < minProgressSize {
		return nil
	}
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, tty: tty, label: label, total: total, last: -1}
}

// Write counts bytes, so a progress can sit in an io.MultiWriter.
func (p *progress) Write(b []byte) (int, error) {
	if p == nil {
		return len(b), nil
	}
	p.done += int64(len(b))
	pct := int(p.done * 100 / p.total)
	if p.tty {
		if pct != p.last {
			p.last = pct
			const width = 30
			n := pct * width / 100
			fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %s/%s", p.label, strings.Repeat("=", n), strings.Repeat(" ", width-n), pct, mib(p.done), mib(p.total))
		}
	} else if q := pct / 25; q != p.last {
		p.last = q
		fmt.Fprintf(p.w, "%s: %d%% (%s of %s)\n", p.label, q*25, mib(p.done), mib(p.total))
	}
	return len(b), nil
}

func (p *progress) finish() {
	if p != nil && p.tty {
		fmt.Fprintln(p.w)
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
