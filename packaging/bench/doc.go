// Package bench holds the benchmark of all four installer formats on the
// same agent (bench_test.go), for make bench: each build against
// dpkg-deb --build of the deb's own tree, in the same run.
package bench
