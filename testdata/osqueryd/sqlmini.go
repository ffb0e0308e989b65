package main

import (
	"fmt"
	"strconv"
	"strings"
)

// A tiny SQL subset, enough for what orbit and Fleet send to osquery:
//
//	SELECT [DISTINCT] item, ... [FROM t [AS] a, t2 b [JOIN t3 c ON cond]]
//	  [WHERE cond] [ORDER BY ...] [LIMIT n] [;]
//
// item: *, a.*, column, a.column, 'literal', number, each with [AS] alias.
// cond: comparisons (=, ==, !=, <>, <, <=, >, >=, LIKE, NOT LIKE) joined by
// AND / OR, with parentheses. Errors read like SQLite's, because osquery
// passes SQLite's messages through.

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokSym
)

type token struct {
	kind tokKind
	text string // identifiers keep their case; keywords compare lower-case
}

func (t token) is(kw string) bool {
	return t.kind == tokIdent && strings.EqualFold(t.text, kw)
}

type sqlError struct{ msg string }

func (e *sqlError) Error() string { return e.msg }

func syntaxErr(near string) error {
	if near == "" {
		return &sqlError{"incomplete input"}
	}
	return &sqlError{fmt.Sprintf("near \"%s\": syntax error", near)}
}

func tokenize(q string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '\'':
			var sb strings.Builder
			i++
			for {
				if i >= len(q) {
					return nil, &sqlError{"unrecognized token: \"'" + sb.String() + "\""}
				}
				if q[i] == '\'' {
					if i+1 < len(q) && q[i+1] == '\'' {
						sb.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				sb.WriteByte(q[i])
				i++
			}
			toks = append(toks, token{tokString, sb.String()})
		case c == '"' || c == '`':
			end := strings.IndexByte(q[i+1:], c)
			if end < 0 {
				return nil, &sqlError{"unrecognized token: \"" + q[i:] + "\""}
			}
			toks = append(toks, token{tokIdent, q[i+1 : i+1+end]})
			i += end + 2
		case c >= '0' && c <= '9':
			j := i
			for j < len(q) && (q[j] >= '0' && q[j] <= '9' || q[j] == '.') {
				j++
			}
			toks = append(toks, token{tokNumber, q[i:j]})
			i = j
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(q) && (q[j] == '_' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= 'A' && q[j] <= 'Z' || q[j] >= '0' && q[j] <= '9') {
				j++
			}
			toks = append(toks, token{tokIdent, q[i:j]})
			i = j
		default:
			two := ""
			if i+1 < len(q) {
				two = q[i : i+2]
			}
			switch two {
			case "!=", "<>", "<=", ">=", "==":
				toks = append(toks, token{tokSym, two})
				i += 2
				continue
			}
			if strings.IndexByte(",*.()=<>;", c) >= 0 {
				toks = append(toks, token{tokSym, string(c)})
				i++
				continue
			}
			return nil, &sqlError{fmt.Sprintf("unrecognized token: \"%c\"", c)}
		}
	}
	return toks, nil
}

type expr struct {
	lit     *string // literal value
	qual    string  // table alias for a column reference
	col     string  // column name
	rawText string  // how sqlite names an unaliased column of this expression
}

type selItem struct {
	star  bool
	qual  string // for a.*
	e     expr
	alias string
}

type tableRef struct {
	name  string
	alias string
}

type cond struct {
	op          string // "and", "or", or a comparison
	left, right *cond
	a, b        expr
	not         bool
}

type selectStmt struct {
	distinct bool
	items    []selItem
	from     []tableRef
	where    *cond
	limit    int // -1: none
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{kind: tokEOF}
}

func (p *parser) next() token {
	t := p.peek()
	if p.pos < len(p.toks) {
		p.pos++
	}
	return t
}

func (p *parser) sym(s string) bool {
	if t := p.peek(); t.kind == tokSym && t.text == s {
		p.pos++
		return true
	}
	return false
}

func (p *parser) kw(s string) bool {
	if p.peek().is(s) {
		p.pos++
		return true
	}
	return false
}

var reserved = map[string]bool{
	"select": true, "from": true, "where": true, "and": true, "or": true, "as": true,
	"limit": true, "order": true, "by": true, "join": true, "on": true, "like": true,
	"not": true, "group": true, "inner": true, "left": true, "cross": true, "distinct": true,
	"union": true, "having": true, "asc": true, "desc": true,
}

func (p *parser) ident() (string, error) {
	t := p.peek()
	if t.kind != tokIdent || reserved[strings.ToLower(t.text)] {
		return "", syntaxErr(t.text)
	}
	p.pos++
	return t.text, nil
}

func parseSelect(q string) (*selectStmt, error) {
	toks, err := tokenize(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if !p.kw("select") {
		return nil, syntaxErr(p.peek().text)
	}
	st := &selectStmt{limit: -1}
	st.distinct = p.kw("distinct")
	for {
		it, err := p.selItem()
		if err != nil {
			return nil, err
		}
		st.items = append(st.items, it)
		if !p.sym(",") {
			break
		}
	}
	if p.kw("from") {
		tr, err := p.tableRef()
		if err != nil {
			return nil, err
		}
		st.from = append(st.from, tr)
		for {
			if p.sym(",") {
				tr, err := p.tableRef()
				if err != nil {
					return nil, err
				}
				st.from = append(st.from, tr)
				continue
			}
			if !(p.peek().is("join") || p.peek().is("inner") || p.peek().is("cross") || p.peek().is("left")) {
				break
			}
			// LEFT JOIN is treated as an inner join: our tables always
			// have rows, which is all the queries we serve rely on.
			if !p.kw("inner") && !p.kw("cross") {
				p.kw("left")
			}
			if !p.kw("join") {
				return nil, syntaxErr(p.peek().text)
			}
			tr, err := p.tableRef()
			if err != nil {
				return nil, err
			}
			st.from = append(st.from, tr)
			if p.kw("on") {
				c, err := p.orCond()
				if err != nil {
					return nil, err
				}
				st.where = andCond(st.where, c)
			}
		}
	}
	if p.kw("where") {
		c, err := p.orCond()
		if err != nil {
			return nil, err
		}
		st.where = andCond(st.where, c)
	}
	if p.kw("order") {
		if !p.kw("by") {
			return nil, syntaxErr(p.peek().text)
		}
		// Row order of our tiny tables is fixed; accept and ignore.
		for {
			if _, err := p.expr(); err != nil {
				return nil, err
			}
			if !p.kw("asc") {
				p.kw("desc")
			}
			if !p.sym(",") {
				break
			}
		}
	}
	if p.kw("limit") {
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tokNumber || err != nil {
			return nil, syntaxErr(t.text)
		}
		st.limit = n
	}
	p.sym(";")
	if t := p.peek(); t.kind != tokEOF {
		return nil, syntaxErr(t.text)
	}
	return st, nil
}

func andCond(a, b *cond) *cond {
	if a == nil {
		return b
	}
	return &cond{op: "and", left: a, right: b}
}

func (p *parser) tableRef() (tableRef, error) {
	name, err := p.ident()
	if err != nil {
		return tableRef{}, err
	}
	tr := tableRef{name: name, alias: name}
	if p.kw("as") {
		a, err := p.ident()
		if err != nil {
			return tableRef{}, err
		}
		tr.alias = a
	} else if t := p.peek(); t.kind == tokIdent && !reserved[strings.ToLower(t.text)] {
		p.pos++
		tr.alias = t.text
	}
	return tr, nil
}

func (p *parser) selItem() (selItem, error) {
	if p.sym("*") {
		return selItem{star: true}, nil
	}
	// a.*
	if t := p.peek(); t.kind == tokIdent && p.pos+2 < len(p.toks) &&
		p.toks[p.pos+1].text == "." && p.toks[p.pos+2].text == "*" {
		p.pos += 3
		return selItem{star: true, qual: t.text}, nil
	}
	e, err := p.expr()
	if err != nil {
		return selItem{}, err
	}
	it := selItem{e: e}
	if p.kw("as") {
		t := p.next()
		if t.kind != tokIdent && t.kind != tokString {
			return selItem{}, syntaxErr(t.text)
		}
		it.alias = t.text
	} else if t := p.peek(); t.kind == tokIdent && !reserved[strings.ToLower(t.text)] {
		p.pos++
		it.alias = t.text
	}
	return it, nil
}

func (p *parser) expr() (expr, error) {
	t := p.next()
	switch t.kind {
	case tokString:
		v := t.text
		return expr{lit: &v, rawText: "'" + strings.ReplaceAll(t.text, "'", "''") + "'"}, nil
	case tokNumber:
		v := t.text
		return expr{lit: &v, rawText: t.text}, nil
	case tokIdent:
		if reserved[strings.ToLower(t.text)] {
			return expr{}, syntaxErr(t.text)
		}
		if p.sym(".") {
			c, err := p.ident()
			if err != nil {
				return expr{}, err
			}
			return expr{qual: t.text, col: c, rawText: c}, nil
		}
		if p.peek().kind == tokSym && p.peek().text == "(" {
			return expr{}, &sqlError{fmt.Sprintf("no such function: %s", t.text)}
		}
		return expr{col: t.text, rawText: t.text}, nil
	}
	return expr{}, syntaxErr(t.text)
}

func (p *parser) orCond() (*cond, error) {
	l, err := p.andCond()
	if err != nil {
		return nil, err
	}
	for p.kw("or") {
		r, err := p.andCond()
		if err != nil {
			return nil, err
		}
		l = &cond{op: "or", left: l, right: r}
	}
	return l, nil
}

func (p *parser) andCond() (*cond, error) {
	l, err := p.primCond()
	if err != nil {
		return nil, err
	}
	for p.kw("and") {
		r, err := p.primCond()
		if err != nil {
			return nil, err
		}
		l = &cond{op: "and", left: l, right: r}
	}
	return l, nil
}

func (p *parser) primCond() (*cond, error) {
	if p.sym("(") {
		c, err := p.orCond()
		if err != nil {
			return nil, err
		}
		if !p.sym(")") {
			return nil, syntaxErr(p.peek().text)
		}
		return c, nil
	}
	a, err := p.expr()
	if err != nil {
		return nil, err
	}
	not := p.kw("not")
	var op string
	if p.kw("like") {
		op = "like"
	} else if t := p.peek(); t.kind == tokSym && !not {
		switch t.text {
		case "=", "==", "!=", "<>", "<", "<=", ">", ">=":
			op = t.text
			p.pos++
		}
	}
	if op == "" {
		return nil, syntaxErr(p.peek().text)
	}
	b, err := p.expr()
	if err != nil {
		return nil, err
	}
	return &cond{op: op, a: a, b: b, not: not}, nil
}

// ---- execution ----

// table is one virtual table: its column order and a row generator. Core
// tables set rows; extension tables set generate, which can fail (the
// extension went away) and declare column types.
type table struct {
	columns  []string
	types    []string // parallel to columns; nil means TEXT
	rows     func(env *queryEnv) []map[string]string
	generate func(env *queryEnv) ([]map[string]string, error)
}

func (t *table) columnType(i int) string {
	if i < len(t.types) && t.types[i] != "" {
		return t.types[i]
	}
	return "TEXT"
}

func (t *table) produce(env *queryEnv) ([]map[string]string, error) {
	if t.generate != nil {
		return t.generate(env)
	}
	return t.rows(env), nil
}

type boundTable struct {
	ref  tableRef
	t    *table
	rows []map[string]string
}

// queryResult keeps column order (and types, for getQueryColumns) for text
// output; rows carry the values.
type queryResult struct {
	columns []string
	types   []string
	rows    []map[string]string
}

func runQuery(env *queryEnv, q string) (*queryResult, error) {
	st, err := parseSelect(q)
	if err != nil {
		return nil, err
	}
	var bound []boundTable
	for _, tr := range st.from {
		t, ok := env.lookupTable(tr.name)
		if !ok {
			return nil, &sqlError{"no such table: " + tr.name}
		}
		rows, err := t.produce(env)
		if err != nil {
			return nil, err
		}
		bound = append(bound, boundTable{ref: tr, t: t, rows: rows})
	}
	// Resolve every column reference up front so errors match SQLite even
	// when a table is empty.
	resolve := func(e expr) error {
		if e.lit != nil {
			return nil
		}
		_, _, err := lookupColumn(bound, e)
		return err
	}
	for _, it := range st.items {
		if it.star {
			if it.qual != "" && findBound(bound, it.qual) < 0 {
				return nil, &sqlError{"no such table: " + it.qual}
			}
			if it.qual == "" && len(bound) == 0 {
				return nil, &sqlError{"no tables specified"}
			}
			continue
		}
		if err := resolve(it.e); err != nil {
			return nil, err
		}
	}
	if err := walkCond(st.where, resolve); err != nil {
		return nil, err
	}

	// Output columns.
	var cols []string
	type outCol struct {
		name, typ string
		get       func(combo []map[string]string) string
	}
	var outs []outCol
	for _, it := range st.items {
		if it.star {
			for bi, b := range bound {
				if it.qual != "" && !strings.EqualFold(b.ref.alias, it.qual) {
					continue
				}
				for ci, c := range b.t.columns {
					bi, c := bi, c
					outs = append(outs, outCol{name: c, typ: b.t.columnType(ci), get: func(combo []map[string]string) string { return combo[bi][c] }})
				}
			}
			continue
		}
		name := it.alias
		if name == "" {
			name = it.e.rawText
		}
		e := it.e
		typ := "TEXT"
		if e.lit == nil {
			if bi, c, err := lookupColumn(bound, e); err == nil {
				typ = bound[bi].t.columnType(indexOf(bound[bi].t.columns, c))
			}
		}
		outs = append(outs, outCol{name: name, typ: typ, get: func(combo []map[string]string) string { return evalExpr(bound, combo, e) }})
	}
	var types []string
	for _, o := range outs {
		cols = append(cols, o.name)
		types = append(types, o.typ)
	}

	res := &queryResult{columns: cols, types: types, rows: []map[string]string{}}
	seen := map[string]bool{}
	combo := make([]map[string]string, len(bound))
	var iterate func(i int) bool
	iterate = func(i int) bool {
		if i == len(bound) {
			if st.where != nil && !evalCond(bound, combo, st.where) {
				return true
			}
			row := make(map[string]string, len(outs))
			var key strings.Builder
			for _, o := range outs {
				v := o.get(combo)
				row[o.name] = v
				key.WriteString(v)
				key.WriteByte(0)
			}
			if st.distinct {
				if seen[key.String()] {
					return true
				}
				seen[key.String()] = true
			}
			res.rows = append(res.rows, row)
			return st.limit < 0 || len(res.rows) < st.limit
		}
		for _, r := range bound[i].rows {
			combo[i] = r
			if !iterate(i + 1) {
				return false
			}
		}
		return true
	}
	if st.limit != 0 {
		iterate(0)
	}
	return res, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func findBound(bound []boundTable, qual string) int {
	for i, b := range bound {
		if strings.EqualFold(b.ref.alias, qual) {
			return i
		}
	}
	return -1
}

func lookupColumn(bound []boundTable, e expr) (int, string, error) {
	full := e.col
	if e.qual != "" {
		full = e.qual + "." + e.col
		i := findBound(bound, e.qual)
		if i < 0 {
			return 0, "", &sqlError{"no such column: " + full}
		}
		for _, c := range bound[i].t.columns {
			if strings.EqualFold(c, e.col) {
				return i, c, nil
			}
		}
		return 0, "", &sqlError{"no such column: " + full}
	}
	found, foundCol := -1, ""
	for i, b := range bound {
		for _, c := range b.t.columns {
			if strings.EqualFold(c, e.col) {
				if found >= 0 {
					return 0, "", &sqlError{"ambiguous column name: " + e.col}
				}
				found, foundCol = i, c
			}
		}
	}
	if found < 0 {
		return 0, "", &sqlError{"no such column: " + full}
	}
	return found, foundCol, nil
}

func walkCond(c *cond, f func(expr) error) error {
	if c == nil {
		return nil
	}
	if c.op == "and" || c.op == "or" {
		if err := walkCond(c.left, f); err != nil {
			return err
		}
		return walkCond(c.right, f)
	}
	if err := f(c.a); err != nil {
		return err
	}
	return f(c.b)
}

func evalExpr(bound []boundTable, combo []map[string]string, e expr) string {
	if e.lit != nil {
		return *e.lit
	}
	i, c, err := lookupColumn(bound, e)
	if err != nil {
		return ""
	}
	return combo[i][c]
}

func evalCond(bound []boundTable, combo []map[string]string, c *cond) bool {
	switch c.op {
	case "and":
		return evalCond(bound, combo, c.left) && evalCond(bound, combo, c.right)
	case "or":
		return evalCond(bound, combo, c.left) || evalCond(bound, combo, c.right)
	}
	a, b := evalExpr(bound, combo, c.a), evalExpr(bound, combo, c.b)
	var r bool
	if c.op == "like" {
		r = likeMatch(strings.ToLower(b), strings.ToLower(a))
	} else {
		cmp := compareValues(a, b)
		switch c.op {
		case "=", "==":
			r = cmp == 0
		case "!=", "<>":
			r = cmp != 0
		case "<":
			r = cmp < 0
		case "<=":
			r = cmp <= 0
		case ">":
			r = cmp > 0
		case ">=":
			r = cmp >= 0
		}
	}
	if c.not {
		return !r
	}
	return r
}

// compareValues compares numerically when both sides are numbers (osquery
// columns are typed INTEGER/BIGINT), else as text.
func compareValues(a, b string) int {
	fa, ea := strconv.ParseFloat(a, 64)
	fb, eb := strconv.ParseFloat(b, 64)
	if ea == nil && eb == nil {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

// likeMatch implements SQL LIKE with % and _ (case folded by the caller).
func likeMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '%':
		for i := 0; i <= len(s); i++ {
			if likeMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '_':
		return s != "" && likeMatch(pattern[1:], s[1:])
	}
	return s != "" && s[0] == pattern[0] && likeMatch(pattern[1:], s[1:])
}

// splitStatements splits input on ';' outside quotes, dropping empty ones.
func splitStatements(in string) []string {
	var out []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == ';':
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, s)
			}
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
