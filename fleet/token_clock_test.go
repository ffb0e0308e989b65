package fleet

import (
	"os"
	"testing"
	"time"
)

// Within a run the token's age is the agent's clock, not the file's mtime:
// after the wall clock steps back an hour (seen here as an mtime an hour
// ahead of the clock, which is what the step leaves behind) the token
// still rotates on its hour, not an hour late.
func TestTokenRotatesOnTimeAfterTheWallClockStepsBack(t *testing.T) {
	t.Parallel()
	// The server's expiry, seen by the remote token check, would rotate the
	// token too and hide a local age judged on the wall clock: keep that
	// check out of this test's hour.
	e := newEnv(t, func(c *Config) { c.TokenRemoteCheck = 1000 * time.Hour })
	e.start()
	e.idle()
	tok1, mtime1, err := readToken(e.layout.Identifier())
	if err != nil || e.srv.DeviceTokens()[tok1] == "" {
		t.Fatalf("no registered token after the first check: %v", err)
	}
	ahead := mtime1.Add(time.Hour)
	if err := os.Chtimes(e.layout.Identifier(), ahead, ahead); err != nil {
		t.Fatal(err)
	}
	for e.clk.Now().Sub(mtime1) < DefaultTokenTTL+DefaultTokenCheckInterval {
		e.step(DefaultTokenCheckInterval)
	}
	tok2, _, err := readToken(e.layout.Identifier())
	if err != nil || tok2 == tok1 || e.srv.DeviceTokens()[tok2] == "" {
		t.Fatalf("token %q not rotated an hour after it was made (err %v)", tok2, err)
	}
}

// A token whose mtime lies in the future (the wall clock went back between
// runs) is stale: the next run rotates it at once instead of keeping it for
// as long as the clock was off.
func TestTokenFromTheFutureIsRotated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const old = "0f8fad5b-d9cb-469f-a165-70867728950e"
	future := e.clk.Now().Add(time.Hour)
	if err := writeToken(e.layout.Identifier(), old, future); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.idle()
	tok, _, err := readToken(e.layout.Identifier())
	if err != nil || tok == old || e.srv.DeviceTokens()[tok] == "" {
		t.Fatalf("token %q kept (err %v); want a new, registered one", tok, err)
	}
	if len(e.calls("POST", PathDeviceToken)) != 1 {
		t.Errorf("%d token posts, want one (the new token only)", len(e.calls("POST", PathDeviceToken)))
	}
}

// A token from an earlier run is dated by its mtime, and then ages on the
// agent's clock.
func TestTokenFromAnEarlierRunKeepsItsAge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const old = "0f8fad5b-d9cb-469f-a165-70867728950e"
	made := e.clk.Now().Add(-40 * time.Minute)
	if err := writeToken(e.layout.Identifier(), old, made); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.idle()
	if tok, _, _ := readToken(e.layout.Identifier()); tok != old || e.srv.DeviceTokens()[old] == "" {
		t.Fatalf("token from the earlier run not registered: %q", tok)
	}
	for e.clk.Now().Sub(made) < 59*time.Minute {
		e.step(DefaultTokenCheckInterval)
	}
	if tok, _, _ := readToken(e.layout.Identifier()); tok != old {
		t.Fatalf("token rotated after %s, before its hour", e.clk.Now().Sub(made))
	}
	for e.clk.Now().Sub(made) < DefaultTokenTTL+DefaultTokenCheckInterval {
		e.step(DefaultTokenCheckInterval)
	}
	if tok, _, _ := readToken(e.layout.Identifier()); tok == old {
		t.Fatal("token not rotated after its hour")
	}
}
