package repo

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// fanout copies src to every dst, each dst in its own goroutine, so the
// target copy, sha256 and sha512 run on separate cores instead of one
// after another as with io.MultiWriter.
func fanout(ctx context.Context, src io.Reader, dsts ...io.Writer) (int64, error) {
	type chunk struct {
		b    []byte
		refs atomic.Int32
	}
	const chunkSize = 1 << 20
	pool := sync.Pool{New: func() any { return &chunk{b: make([]byte, chunkSize)} }}
	chans := make([]chan *chunk, len(dsts))
	errs := make([]error, len(dsts))
	var wg sync.WaitGroup
	for i, w := range dsts {
		chans[i] = make(chan *chunk, 4)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range chans[i] {
				// After an error keep draining so the reader never blocks.
				if errs[i] == nil {
					if _, err := w.Write(c.b); err != nil {
						errs[i] = err
					}
				}
				if c.refs.Add(-1) == 0 {
					c.b = c.b[:cap(c.b)]
					pool.Put(c)
				}
			}
		}()
	}
	var n int64
	var rerr error
	for {
		if err := ctx.Err(); err != nil {
			rerr = err
			break
		}
		c := pool.Get().(*chunk)
		m, err := io.ReadFull(src, c.b)
		if m > 0 {
			c.b = c.b[:m]
			n += int64(m)
			c.refs.Store(int32(len(dsts)))
			for _, ch := range chans {
				ch <- c
			}
		} else {
			pool.Put(c)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()
	if rerr != nil {
		return n, rerr
	}
	for _, err := range errs {
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
