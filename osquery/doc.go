// Package osquery is orbit's side of osqueryd's extension socket, through
// the official SDK (github.com/osquery/osquery-go and its Thrift service):
//
//   - Extension registers orbit as an extension on the socket once osqueryd
//     is up, serves orbit's tables (orbit_info, fleetd_logs) on
//     "<socket>.<uuid>", and registers again whenever osqueryd forgets it
//     (osqueryd restarted, or its watcher dropped us).
//   - Health pings osqueryd on the socket and reports one that stopped
//     answering, so the agent can restart it.
//   - Client runs a query through osqueryd and returns bounded rows.
//
// It also knows osqueryd's flags: the table of every flag osqueryd
// defines (flagdefs.tsv, with gflags' value rules: LookupFlag, ParseValue),
// the flags orbit manages (ProtectedFlags), osqueryd's command line
// (Flags), and the flagfile from the Fleet server's startup flags
// (ParseServerFlags, RenderFlagfile). Package osquery/tlsproxy is the
// local TLS proxy that lets --insecure reach osqueryd.
//
// osqueryd's socket is a Unix socket on Linux and macOS and a named pipe on
// Windows (socket_*.go). Every call uses its own connection, as osquery's
// own clients do, so a call that timed out never leaves a half-read answer
// for the next one.
package osquery
