package analyze

import (
	"fmt"
	"strconv"
	"strings"
)

// This file parses the C expressions crash's "p" passes to gdb:
// variables, member access (. and ->), indexing, unary * & - ~ !,
// casts to named types and pointers to them, sizeof, and integer
// arithmetic with C's precedence.

// Expr is a parsed C expression.
type Expr interface{ String() string }

type (
	identExpr struct{ Name string }
	numExpr   struct {
		Val            uint64
		Unsigned, Long bool
	}
	memberExpr struct {
		X     Expr
		Name  string
		Arrow bool
	}
	indexExpr struct{ X, Index Expr }
	unaryExpr struct {
		Op string
		X  Expr
	}
	castExpr struct {
		Type TypeSpec
		X    Expr
	}
	binaryExpr struct {
		Op   string
		X, Y Expr
	}
	sizeofExpr struct {
		Type *TypeSpec // sizeof(type), or
		X    Expr      // sizeof expr
	}
)

// TypeSpec is a type name in a cast: a base ("struct task_struct",
// "unsigned long", a typedef) and a number of '*'.
type TypeSpec struct {
	Base string
	Ptrs int
}

func (t TypeSpec) String() string {
	if t.Ptrs == 0 {
		return t.Base
	}
	return t.Base + " " + strings.Repeat("*", t.Ptrs)
}

func (e *identExpr) String() string { return e.Name }
func (e *numExpr) String() string   { return strconv.FormatUint(e.Val, 10) }
func (e *memberExpr) String() string {
	return e.X.String() + map[bool]string{true: "->", false: "."}[e.Arrow] + e.Name
}
func (e *indexExpr) String() string { return e.X.String() + "[" + e.Index.String() + "]" }
func (e *unaryExpr) String() string { return "(" + e.Op + e.X.String() + ")" }
func (e *castExpr) String() string  { return "((" + e.Type.String() + ")" + e.X.String() + ")" }
func (e *binaryExpr) String() string {
	return "(" + e.X.String() + " " + e.Op + " " + e.Y.String() + ")"
}
func (e *sizeofExpr) String() string {
	if e.Type != nil {
		return "sizeof(" + e.Type.String() + ")"
	}
	return "sizeof(" + e.X.String() + ")"
}

// SyntaxError reports an expression that does not parse.
type SyntaxError struct {
	Expr string
	Pos  int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("syntax error in expression %q at offset %d: %s", e.Expr, e.Pos, e.Msg)
}

type token struct {
	kind byte // 'i' identifier, 'n' number, 'p' punctuator, 0 end
	text string
	pos  int
}

var puncts = []string{"->", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||",
	".", "[", "]", "(", ")", "*", "&", "+", "-", "~", "!", "/", "%", "<", ">", "^", "|", ",", "@"}

func tokenize(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			toks = append(toks, token{'i', s[i:j], i})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
				j++
			}
			toks = append(toks, token{'n', s[i:j], i})
			i = j
		default:
			ok := false
			for _, p := range puncts {
				if strings.HasPrefix(s[i:], p) {
					toks = append(toks, token{'p', p, i})
					i += len(p)
					ok = true
					break
				}
			}
			if !ok {
				return nil, &SyntaxError{s, i, fmt.Sprintf("unexpected character %q", c)}
			}
		}
	}
	return append(toks, token{0, "", len(s)}), nil
}

type parser struct {
	src    string
	toks   []token
	i      int
	isType func(name string) bool
}

// ParseExpr parses a C expression. isType says whether an identifier
// names a typedef, which decides whether "(x)" opens a cast.
func ParseExpr(s string, isType func(string) bool) (Expr, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	if isType == nil {
		isType = func(string) bool { return false }
	}
	p := &parser{src: s, toks: toks, isType: isType}
	e, err := p.binary(0)
	if err != nil {
		return nil, err
	}
	if p.peek().kind != 0 {
		return nil, p.errf("unexpected %q", p.peek().text)
	}
	return e, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != 0 {
		p.i++
	}
	return t
}
func (p *parser) errf(format string, args ...any) error {
	return &SyntaxError{p.src, p.peek().pos, fmt.Sprintf(format, args...)}
}
func (p *parser) accept(punct string) bool {
	if t := p.peek(); t.kind == 'p' && t.text == punct {
		p.i++
		return true
	}
	return false
}
func (p *parser) expect(punct string) error {
	if !p.accept(punct) {
		return p.errf("expected %q", punct)
	}
	return nil
}

// C binary operators by precedence, loosest first.
var binaryPrec = []map[string]bool{
	{"||": true}, {"&&": true}, {"|": true}, {"^": true}, {"&": true},
	{"==": true, "!=": true}, {"<": true, ">": true, "<=": true, ">=": true},
	{"<<": true, ">>": true}, {"@": true}, {"+": true, "-": true}, {"*": true, "/": true, "%": true},
}

func (p *parser) binary(level int) (Expr, error) {
	if level == len(binaryPrec) {
		return p.unary()
	}
	x, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != 'p' || !binaryPrec[level][t.text] {
			return x, nil
		}
		p.next()
		y, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		x = &binaryExpr{Op: t.text, X: x, Y: y}
	}
}

func (p *parser) unary() (Expr, error) {
	t := p.peek()
	if t.kind == 'p' {
		switch t.text {
		case "*", "&", "-", "+", "~", "!":
			p.next()
			x, err := p.unary()
			if err != nil {
				return nil, err
			}
			return &unaryExpr{Op: t.text, X: x}, nil
		case "(":
			if p.startsType(p.i + 1) {
				p.next()
				ts, err := p.typeSpec()
				if err != nil {
					return nil, err
				}
				if err := p.expect(")"); err != nil {
					return nil, err
				}
				x, err := p.unary()
				if err != nil {
					return nil, err
				}
				return &castExpr{Type: ts, X: x}, nil
			}
		}
	}
	if t.kind == 'i' && t.text == "sizeof" {
		p.next()
		if p.peek().text == "(" && p.startsType(p.i+1) {
			p.next()
			ts, err := p.typeSpec()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return &sizeofExpr{Type: &ts}, nil
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &sizeofExpr{X: x}, nil
	}
	return p.postfix()
}

var typeWords = map[string]bool{"struct": true, "union": true, "enum": true, "unsigned": true,
	"signed": true, "int": true, "long": true, "short": true, "char": true, "void": true,
	"_Bool": true, "const": true, "volatile": true}

func (p *parser) startsType(i int) bool {
	t := p.toks[i]
	return t.kind == 'i' && (typeWords[t.text] || p.isType(t.text))
}

func (p *parser) typeSpec() (TypeSpec, error) {
	var words []string
loop:
	for {
		t := p.peek()
		if t.kind != 'i' {
			break
		}
		switch {
		case t.text == "const" || t.text == "volatile":
			p.next()
			continue
		case t.text == "struct" || t.text == "union" || t.text == "enum":
			p.next()
			n := p.next()
			if n.kind != 'i' {
				return TypeSpec{}, p.errf("expected a %s tag", t.text)
			}
			words = append(words, t.text, n.text)
			break loop
		case typeWords[t.text]:
			p.next()
			words = append(words, t.text)
		case len(words) == 0:
			p.next()
			words = append(words, t.text)
			break loop
		default:
			break loop
		}
	}
	if len(words) == 0 {
		return TypeSpec{}, p.errf("expected a type name")
	}
	ts := TypeSpec{Base: normalizeBase(words)}
	for p.accept("*") {
		ts.Ptrs++
		for p.peek().text == "const" || p.peek().text == "volatile" {
			p.next()
		}
	}
	return ts, nil
}

// normalizeBase spells C's integer type words the way the index knows
// them ("long unsigned int" and "unsigned long" are one type).
func normalizeBase(words []string) string {
	if words[0] == "struct" || words[0] == "union" || words[0] == "enum" || len(words) == 1 && !typeWords[words[0]] {
		return strings.Join(words, " ")
	}
	unsigned, longs, short, char, other := false, 0, false, false, ""
	for _, w := range words {
		switch w {
		case "unsigned":
			unsigned = true
		case "signed", "int":
		case "long":
			longs++
		case "short":
			short = true
		case "char":
			char = true
		default:
			other = w
		}
	}
	if other != "" {
		return other
	}
	base := "int"
	switch {
	case char:
		base = "char"
		if !unsigned && words[0] == "signed" {
			return "signed char"
		}
	case short:
		base = "short"
	case longs == 1:
		base = "long"
	case longs >= 2:
		base = "long long"
	}
	if unsigned {
		return "unsigned " + base
	}
	return base
}

func (p *parser) postfix() (Expr, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.accept("."), p.peek().text == "->" && p.peek().kind == 'p':
			arrow := p.accept("->")
			n := p.next()
			if n.kind != 'i' {
				return nil, p.errf("expected a member name")
			}
			x = &memberExpr{X: x, Name: n.text, Arrow: arrow}
		case p.accept("["):
			idx, err := p.binary(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			x = &indexExpr{X: x, Index: idx}
		default:
			return x, nil
		}
	}
}

func (p *parser) primary() (Expr, error) {
	t := p.next()
	switch t.kind {
	case 'i':
		return &identExpr{Name: t.text}, nil
	case 'n':
		return parseNumber(t.text, p)
	case 'p':
		if t.text == "(" {
			x, err := p.binary(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return x, nil
		}
	case 0: // next does not move past the end
		return nil, p.errf("unexpected end of expression")
	}
	p.i--
	return nil, p.errf("unexpected %q", t.text)
}

// parseNumber reads a C integer constant and gives it C's type: int,
// long or their unsigned forms, by suffix and by size.
func parseNumber(s string, p *parser) (Expr, error) {
	lower := strings.ToLower(s)
	body := strings.TrimRight(lower, "ul")
	suffix := lower[len(body):]
	v, err := strconv.ParseUint(body, 0, 64)
	if err != nil {
		if body != "" && body[0] == '0' && len(body) > 1 && body[1] != 'x' {
			v, err = strconv.ParseUint(body[1:], 8, 64)
		}
		if err != nil {
			return nil, p.errf("invalid number %q", s)
		}
	}
	n := &numExpr{Val: v, Unsigned: strings.Contains(suffix, "u"), Long: strings.Contains(suffix, "l")}
	decimal := !strings.HasPrefix(body, "0") || body == "0"
	switch {
	case n.Long:
	case !n.Unsigned && v <= 0x7fffffff, n.Unsigned && v <= 0xffffffff:
	case !n.Unsigned && !decimal && v <= 0xffffffff:
		n.Unsigned = true
	default:
		n.Long = true
	}
	if n.Long && !n.Unsigned && v > 0x7fffffffffffffff {
		n.Unsigned = true
	}
	return n, nil
}
