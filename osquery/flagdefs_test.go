package osquery

import (
	"errors"
	"strings"
	"testing"
)

func TestFlagTableParses(t *testing.T) {
	t.Parallel()
	tbl, err := parseFlagTable(flagdefsTSV)
	if err != nil {
		t.Fatalf("embedded flagdefs.tsv does not parse: %v", err)
	}
	// 277 osquery flags and aliases extracted, minus the macro's own line,
	// plus what orbit appended (gflags, S/D/A/L, glog).
	if n := len(tbl.flags); n < 280 {
		t.Fatalf("only %d flags in the table", n)
	}
	if len(tbl.aliases) != 9 {
		t.Fatalf("aliases = %v, want the 9 FLAG_ALIAS of osquery", tbl.aliases)
	}
	if !strings.HasPrefix(flagdefsTSV, "# osqueryd's flags as osquery's source defines them (github.com/osquery/osquery") {
		t.Fatal("flagdefs.tsv lost its header line saying where it comes from")
	}
}

func TestParseFlagTableRefusesBrokenData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, data, want string }{
		{"fields", "a\tbool\tFLAG\n", "want 4 tab-separated fields"},
		{"type", "a\tfloat\tFLAG\tx.cpp\n", "unknown type"},
		{"name", "a-b\tbool\tFLAG\tx.cpp\n", "bad flag name"},
		{"duplicate", "a\tbool\tFLAG\tx.cpp\na\tbool\tFLAG\ty.cpp\n", "defined twice"},
		{"dangling alias", "a\talias of n\tFLAG_ALIAS\tflagalias.h\n", "which is not a flag"},
		{"alias is a flag", "a\tbool\tFLAG\tx.cpp\nb\tbool\tFLAG\tx.cpp\na\talias of b\tFLAG_ALIAS\tx.cpp\n", "defined twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := parseFlagTable(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLookupFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		wantName string
		wantType FlagType
		macro    string
	}{
		{"distributed_interval", "distributed_interval", FlagUint64, "FLAG"},
		{"verbose", "verbose", FlagBool, "FLAG"},
		{"watchdog_level", "watchdog_level", FlagInt32, "CLI_FLAG"},
		{"carver_block_size", "carver_block_size", FlagUint32, "CLI_FLAG"},
		{"tls_hostname", "tls_hostname", FlagString, "CLI_FLAG"},
		{"json", "json", FlagBool, "SHELL_FLAG"},
		{"allow_unsafe", "allow_unsafe", FlagBool, "HIDDEN_FLAG"},
		// Aliases resolve to the flag they set, with its type.
		{"db_path", "database_path", FlagString, "CLI_FLAG"},
		{"osquery_log_dir", "logger_path", FlagString, "FLAG"},
		{"socket", "extensions_socket", FlagString, "CLI_FLAG"},
		{"timeout", "extensions_timeout", FlagString, "CLI_FLAG"},
		{"interval", "extensions_interval", FlagString, "CLI_FLAG"},
		{"config_tls_refresh", "config_refresh", FlagUint64, "CLI_FLAG"},
		{"logger_tls_max", "logger_tls_max_linesize", FlagUint64, "FLAG"},
		// gflags' own flags, as gflags defines them.
		{"flagfile", "flagfile", FlagString, "GFLAGS"},
		{"fromenv", "fromenv", FlagString, "GFLAGS"},
		{"tryfromenv", "tryfromenv", FlagString, "GFLAGS"},
		{"undefok", "undefok", FlagString, "GFLAGS"},
		{"help", "help", FlagBool, "GFLAGS"},
		{"helpon", "helpon", FlagString, "GFLAGS"},
		{"version", "version", FlagBool, "GFLAGS"},
		// osquery's upper-case switches and glog's flags.
		{"S", "S", FlagBool, "CLI_FLAG"},
		{"A", "A", FlagString, "SHELL_FLAG"},
		{"minloglevel", "minloglevel", FlagInt32, "GLOG"},
		{"stop_logging_if_full_disk", "stop_logging_if_full_disk", FlagBool, "GLOG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, ok := LookupFlag(tc.name)
			if !ok {
				t.Fatalf("%s not found", tc.name)
			}
			if d.Name != tc.wantName || d.Type != tc.wantType || d.Macro != tc.macro || d.Source == "" {
				t.Fatalf("LookupFlag(%q) = %+v, want %s %s %s", tc.name, d, tc.wantName, tc.wantType, tc.macro)
			}
		})
	}
	for _, name := range []string{"", "a", "n", "no_such_flag", "noverbose", "Verbose", "distributed-interval", "--verbose", "enable_bpf_events"} {
		if d, ok := LookupFlag(name); ok {
			t.Errorf("LookupFlag(%q) = %+v, want not found", name, d)
		}
	}
}

func TestAllFlagsSortedWithoutAliases(t *testing.T) {
	t.Parallel()
	all := AllFlags()
	aliases := FlagAliases()
	for i, d := range all {
		if i > 0 && all[i-1].Name >= d.Name {
			t.Fatalf("not sorted at %d: %s >= %s", i, all[i-1].Name, d.Name)
		}
		if _, isAlias := aliases[d.Name]; isAlias {
			t.Fatalf("alias %s listed as a flag", d.Name)
		}
	}
	all[0].Name = "changed"
	if AllFlags()[0].Name == "changed" {
		t.Fatal("AllFlags returns the table itself, not a copy")
	}
}

func TestParseValue(t *testing.T) {
	t.Parallel()
	type c struct {
		in, want string // want "" and ok false: refused
		ok       bool
	}
	cases := map[FlagType][]c{
		FlagBool: {
			{"true", "true", true}, {"TRUE", "true", true}, {"t", "true", true}, {"1", "true", true},
			{"y", "true", true}, {"Yes", "true", true},
			{"false", "false", true}, {"F", "false", true}, {"0", "false", true}, {"n", "false", true}, {"NO", "false", true},
			{"", "", false}, {"maybe", "", false}, {"2", "", false}, {" true", "", false}, {"true ", "", false},
			{"on", "", false}, {"01", "", false},
			// strcasecmp folds ASCII only: U+017F (long s) is not an "s".
			{"ye\u017f", "", false},
		},
		FlagInt32: {
			{"0", "0", true}, {"7", "7", true}, {"-7", "-7", true}, {"+7", "7", true},
			{"2147483647", "2147483647", true}, {"-2147483648", "-2147483648", true},
			{"2147483648", "", false}, {"-2147483649", "", false},
			{"0x10", "16", true}, {"0XfF", "255", true}, {"010", "10", true}, // never octal
			{" 5", "5", true}, {"\t5", "5", true}, // strtoll skips blanks
			{"5 ", "", false}, {"", "", false}, {"x", "", false}, {"1.0", "", false}, {"1e3", "", false},
			{"0x", "", false}, {"-0x10", "", false}, {" 0x10", "", false}, {"+-1", "", false}, {"-", "", false},
			{"99999999999999999999", "", false},
		},
		FlagUint32: {
			{"0", "0", true}, {"4294967295", "4294967295", true}, {"4294967296", "", false},
			{"-1", "", false}, {" -1", "", false}, {"-0", "", false}, {"0x0", "0", true},
			// A minus after a tab slips past gflags' own check and wraps,
			// which for uint32 is out of range.
			{"\t-1", "", false}, {"\t-0", "0", true},
		},
		FlagUint64: {
			{"0", "0", true}, {"60", "60", true}, {"18446744073709551615", "18446744073709551615", true},
			{"18446744073709551616", "", false}, {"0xffffffffffffffff", "18446744073709551615", true},
			{"-1", "", false}, {"  7", "7", true}, {"60.0", "", false}, {"true", "", false}, {"", "", false},
			{"\t-1", "18446744073709551615", true},
		},
		FlagString: {
			{"", "", true}, {"anything at all", "anything at all", true}, {" padded ", " padded ", true},
		},
	}
	for typ, list := range cases {
		d := FlagDef{Name: "f", Type: typ}
		for _, tc := range list {
			got, err := d.ParseValue(tc.in)
			if tc.ok {
				if err != nil || got != tc.want {
					t.Errorf("%s ParseValue(%q) = %q, %v; want %q", typ, tc.in, got, err, tc.want)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s ParseValue(%q) = %q, want a refusal", typ, tc.in, got)
			} else if !errors.Is(err, ErrBadFlagValue) || !strings.Contains(err.Error(), typ.String()) {
				t.Errorf("%s ParseValue(%q) error %v, want ErrBadFlagValue naming the type", typ, tc.in, err)
			}
		}
	}
}

func TestCheckFlagValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"distributed_interval", "7", true},
		{"config_tls_refresh", "10", true}, // alias: the type of config_refresh
		{"config_tls_refresh", "ten", false},
		{"verbose", "yes", true},
		{"no_such_flag", "1", false},
		{"pack_delimiter", "/", true},
		{"pack_delimiter", "a\nb", false},
		{"pack_delimiter", "a\rb", false},
		{"pack_delimiter", "a\x00b", false},
	} {
		err := CheckFlagValue(tc.name, tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("CheckFlagValue(%q, %q) = %v, want ok=%v", tc.name, tc.value, err, tc.ok)
		}
	}
}
