package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
)

const (
	// DefaultOutputLinesPerSecond is the sustained rate of child output lines
	// copied into the log; bursts of twice that pass.
	DefaultOutputLinesPerSecond = 50
	// MaxOutputLineBytes is where a child's output line is cut.
	MaxOutputLineBytes = 4096
	// logQueueLen bounds the lines waiting for a slow log writer; beyond it
	// lines are dropped so that the child never blocks on its stdout.
	logQueueLen = 256
	// streamDrainTimeout bounds the wait for a dead child's pipes to reach EOF
	// (a process outside the child's tree may still hold them open).
	streamDrainTimeout = 2 * time.Second
)

// childLog copies the output of one component's children into its logger:
// one event per line, lines truncated, rate-limited by a token bucket and
// decoupled from the writer by a bounded queue.
type childLog struct {
	log     zerolog.Logger
	limiter *lineLimiter // nil: unlimited
	queue   chan logEntry
	dropped atomic.Int64
	done    chan struct{}
	readers sync.WaitGroup
}

type logEntry struct {
	stream    string
	line      string
	truncated bool
	dropped   int64 // >0: a report of dropped lines, not a line
}

// newChildLog starts the writer goroutine; close stops it. linesPerSecond < 0
// disables rate limiting, 0 selects the default.
func newChildLog(log zerolog.Logger, clk clock.Clock, linesPerSecond int) *childLog {
	c := &childLog{
		log:   log,
		queue: make(chan logEntry, logQueueLen),
		done:  make(chan struct{}),
	}
	if linesPerSecond == 0 {
		linesPerSecond = DefaultOutputLinesPerSecond
	}
	if linesPerSecond > 0 {
		c.limiter = newLineLimiter(clk, float64(linesPerSecond), float64(2*linesPerSecond))
	}
	go c.write()
	return c
}

func (c *childLog) write() {
	defer close(c.done)
	for e := range c.queue {
		c.emit(e)
	}
	if n := c.dropped.Swap(0); n > 0 {
		c.emit(logEntry{dropped: n})
	}
}

func (c *childLog) emit(e logEntry) {
	if e.dropped > 0 {
		c.log.Warn().Int64("dropped_lines", e.dropped).Msg("child output lines dropped by the log rate limit")
		return
	}
	ev := c.log.Info().Str("stream", e.stream).Str("line", e.line)
	if e.truncated {
		ev = ev.Bool("truncated", true)
	}
	ev.Msg("child output")
}

// offer never blocks: a line the limiter or the full queue refuses is counted
// and the count is reported before the next line that gets through.
func (c *childLog) offer(e logEntry) {
	if c.limiter != nil && !c.limiter.allow() {
		c.dropped.Add(1)
		return
	}
	if n := c.dropped.Swap(0); n > 0 {
		select {
		case c.queue <- logEntry{dropped: n}:
		default:
			c.dropped.Add(n)
		}
	}
	select {
	case c.queue <- e:
	default:
		c.dropped.Add(1)
	}
}

// readLines splits r into lines until EOF or a read error.
func (c *childLog) readLines(r io.Reader, stream string) {
	br := bufio.NewReaderSize(r, MaxOutputLineBytes)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.offer(logEntry{stream: stream, line: string(line), truncated: true})
			// Discard the rest of the over-long line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil {
				return
			}
			continue
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) > 0 || err == nil {
			c.offer(logEntry{stream: stream, line: string(line)})
		}
		if err != nil {
			return
		}
	}
}

// close waits for all attached readers to finish, then flushes the queue.
func (c *childLog) close() {
	c.readers.Wait()
	close(c.queue)
	<-c.done
}

// childStreams are the stdout and stderr pipes of one child.
type childStreams struct {
	outR, outW, errR, errW *os.File
	done                   chan struct{}
}

// attach creates the pipes for one child and starts reading them.
func (c *childLog) attach() (*childStreams, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create stdout pipe for the child (too many open files?): %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("create stderr pipe for the child (too many open files?): %w", err)
	}
	s := &childStreams{outR: outR, outW: outW, errR: errR, errW: errW, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	c.readers.Add(1)
	go func() { defer wg.Done(); c.readLines(outR, "stdout") }()
	go func() { defer wg.Done(); c.readLines(errR, "stderr") }()
	go func() { wg.Wait(); close(s.done); c.readers.Done() }()
	return s, nil
}

// closeWriters drops our copies of the write ends once the child has them,
// so that the readers see EOF when the child's tree is gone.
func (s *childStreams) closeWriters() {
	s.outW.Close()
	s.errW.Close()
}

// detach waits (bounded) for the readers to reach EOF, then closes the read
// ends so that a pipe held open by an escaped process cannot pin a goroutine.
func (s *childStreams) detach() {
	s.closeWriters()
	t := time.NewTimer(streamDrainTimeout)
	select {
	case <-s.done:
		t.Stop()
	case <-t.C:
	}
	s.outR.Close()
	s.errR.Close()
}

// lineLimiter is a token bucket: rate tokens per second, at most burst.
type lineLimiter struct {
	mu     sync.Mutex
	clock  clock.Clock
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newLineLimiter(clk clock.Clock, rate, burst float64) *lineLimiter {
	if burst < 1 {
		burst = 1
	}
	return &lineLimiter{clock: clk, rate: rate, burst: burst, tokens: burst, last: clk.Now()}
}

func (l *lineLimiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if el := now.Sub(l.last); el > 0 {
		l.tokens += el.Seconds() * l.rate
		if l.tokens > l.burst {
			l.tokens = l.burst
		}
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true
	}
	return false
}
