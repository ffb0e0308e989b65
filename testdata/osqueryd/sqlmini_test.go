package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func init() {
	// A fixed table so engine tests do not depend on the host.
	tables["standin_test_people"] = &table{
		columns: []string{"id", "name", "team"},
		rows: func(*queryEnv) []map[string]string {
			return []map[string]string{
				{"id": "1", "name": "ann", "team": "a"},
				{"id": "2", "name": "bob", "team": "b"},
				{"id": "10", "name": "o'neil", "team": "a"},
			}
		},
	}
	tables["standin_test_teams"] = &table{
		columns: []string{"team", "title"},
		rows: func(*queryEnv) []map[string]string {
			return []map[string]string{{"team": "a", "title": "Alpha"}, {"team": "b", "title": "Beta"}}
		},
	}
}

func testEnv() *queryEnv {
	return &queryEnv{
		host:    func() hostInfo { return hostInfo{Hostname: "h", UUID: "U"} },
		flags:   newFlagSet(),
		version: "9.9.9", pid: 42, id: &identity{host: "U", instance: "i"}, startTime: time.Unix(100, 0),
		now: func() time.Time { return time.Unix(1000, 0) },
	}
}

func TestQueryEngine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		q        string
		wantCols []string
		want     []map[string]string
		wantErr  string
	}{
		{"star", "select * from standin_test_teams", []string{"team", "title"},
			[]map[string]string{{"team": "a", "title": "Alpha"}, {"team": "b", "title": "Beta"}}, ""},
		{"numeric compare", "SELECT name FROM standin_test_people WHERE id > 2", []string{"name"},
			[]map[string]string{{"name": "o'neil"}}, ""},
		{"quoted literal with escape", "select id from standin_test_people where name = 'o''neil';", []string{"id"},
			[]map[string]string{{"id": "10"}}, ""},
		{"like and not like", "select name from standin_test_people where name like '%N%' and name not like 'a%'", []string{"name"},
			[]map[string]string{{"name": "o'neil"}}, ""},
		{"or with parens", "select id from standin_test_people where (team = 'b' or id = 1) and id != 10", []string{"id"},
			[]map[string]string{{"id": "1"}, {"id": "2"}}, ""},
		{"join on", "select p.name, t.title as team_title from standin_test_people p join standin_test_teams t on p.team = t.team where p.id = 2",
			[]string{"name", "team_title"}, []map[string]string{{"name": "bob", "team_title": "Beta"}}, ""},
		{"comma join", "select p.id, t.title from standin_test_people AS p, standin_test_teams t where p.team = t.team limit 2",
			[]string{"id", "title"}, []map[string]string{{"id": "1", "title": "Alpha"}, {"id": "2", "title": "Beta"}}, ""},
		{"distinct", "select distinct team from standin_test_people", []string{"team"},
			[]map[string]string{{"team": "a"}, {"team": "b"}}, ""},
		{"qualified star", "select t.* from standin_test_people p, standin_test_teams t where p.id = 1 and t.team = 'b'",
			[]string{"team", "title"}, []map[string]string{{"team": "b", "title": "Beta"}}, ""},
		{"order by accepted", "select id from standin_test_people order by id desc limit 1", []string{"id"},
			[]map[string]string{{"id": "1"}}, ""},
		{"limit 0", "select id from standin_test_people limit 0", []string{"id"}, []map[string]string{}, ""},
		{"no from", "select 1, 'a' b", []string{"1", "b"}, []map[string]string{{"1": "1", "b": "a"}}, ""},
		{"case-insensitive names", "SELECT VERSION FROM OSQUERY_INFO", []string{"VERSION"}, []map[string]string{{"VERSION": "9.9.9"}}, ""},
		{"ambiguous column", "select team from standin_test_people, standin_test_teams", nil, nil, "ambiguous column name: team"},
		{"unknown table", "select * from nope", nil, nil, "no such table: nope"},
		{"unknown column", "select nope from standin_test_teams", nil, nil, "no such column: nope"},
		{"unknown qualified", "select x.team from standin_test_teams t", nil, nil, "no such column: x.team"},
		{"function", "select count(*) from standin_test_teams", nil, nil, "no such function: count"},
		{"trailing junk", "select 1 from standin_test_teams garbage more", nil, nil, "syntax error"},
		{"unterminated string", "select 'abc", nil, nil, "unrecognized token"},
		{"empty", "", nil, nil, "incomplete input"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := runQuery(testEnv(), tc.q)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.columns, tc.wantCols) || !reflect.DeepEqual(res.rows, tc.want) {
				t.Fatalf("got %v %v, want %v %v", res.columns, res.rows, tc.wantCols, tc.want)
			}
		})
	}
}

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	got := splitStatements("select 1; select ';' ;; select 2")
	want := []string{"select 1", "select ';'", "select 2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestFormatUUID(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"3d1219c7c4c5404aaa1f6d2a48adfda4":     "3D1219C7-C4C5-404A-AA1F-6D2A48ADFDA4",
		"3d1219c7-c4c5-404a-aa1f-6d2a48adfda4": "3D1219C7-C4C5-404A-AA1F-6D2A48ADFDA4",
		"not-a-uuid":                           "NOT-A-UUID",
	}
	for in, want := range cases {
		if got := formatUUID(in); got != want {
			t.Errorf("formatUUID(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkFleetHostInfoQuery(b *testing.B) {
	env := testEnv()
	const q = `SELECT si.uuid, si.hardware_serial, si.hostname, os.platform, os.version as os_version,
		oi.instance_id, oi.version as osquery_version FROM system_info si, os_version os, osquery_info oi`
	for b.Loop() {
		if _, err := runQuery(env, q); err != nil {
			b.Fatal(err)
		}
	}
}
