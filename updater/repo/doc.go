// Package repo is the repository side of orbit's updates: it creates, signs
// and maintains a TUF repository in Fleet's layout (the engine behind
// `orbitctl updates`), verifies one as a client would, serves it for
// development and publishes it to S3-compatible storage.
//
// Directory layout (DIR is the --path):
//
//	DIR/orbitctl.json      marker written by Init; Open refuses a DIR without it
//	DIR/.orbitctl.lock     flock/LockFileEx: one orbitctl at a time per DIR
//	DIR/keys/              encrypted private keys (0700 dir, 0600 files), never published
//	DIR/keys/revoked/      keys replaced by Rotate
//	DIR/repository/        the only published part: root.json, N.root.json,
//	                       targets.json, snapshot.json, timestamp.json,
//	                       targets/<component>/<platform>/<channel>/<file>
//	DIR/tmp/txn/           staging of the operation in progress
//
// Every operation stages all the files it writes (fsynced) and moves them
// into place only after writing a manifest, in the order target files, key
// files, N.root.json, root.json, [N.]targets.json, [N.]snapshot.json,
// timestamp.json. A crash before the manifest leaves the old repository; a
// crash after it is rolled forward by the next Open.
//
// Keys are ed25519. A private key file holds the 32-byte seed sealed with
// XChaCha20-Poly1305 under a key derived from the role's passphrase by
// scrypt (N=2^15, r=8, p=1 by default; the parameters are stored in the
// file, so tests can use a cheap ScryptLogN).
//
// Targets carry sha256 and sha512 hashes and custom {"version": "X.Y.Z"}.
// Consistent snapshots are off by default, as in Fleet's repositories; when
// on, each target is stored once per hash as <dir>/<hex>.<file> and
// N.targets.json / N.snapshot.json are written. N.root.json is always
// written.
//
// API, for fixtures in tests of TUF clients:
//
//	dir := t.TempDir()
//	pass := repo.MapPassphrases{"root": "r", "targets": "t", "snapshot": "s", "timestamp": "ts"}
//	err := repo.Init(dir, repo.InitOptions{Passphrases: pass, ScryptLogN: 10})
//	r, err := repo.Open(dir, repo.OpenOptions{Passphrases: pass, ScryptLogN: 10})
//	defer r.Close()
//	err = r.AddTarget(ctx, repo.AddTarget{File: bin, Name: "orbit", Platform: "linux",
//		Version: "1.2.3", Tags: []string{"stable", "1.2", "1"}})
//	rootJSON, err := r.RootJSON()               // trusted root for the client
//	srv := httptest.NewServer(repo.Handler(dir)) // metadata at /, targets at /targets/
//	err = r.Timestamp()                          // re-sign timestamp only
//	err = r.Rotate("targets")                    // new key, old revoked, root re-signed
//	st, err := r.Status()
//	rep, err := repo.Verify(dir, rootJSON, time.Now())
//
// OpenOptions.Clock and InitOptions.Clock set the signing time, so tests can
// make metadata that is already expired or about to expire;
// OpenOptions.Expiries / InitOptions.Expiries set lifetimes.
package repo
