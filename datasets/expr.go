package datasets

import (
	"fmt"
	"strconv"
	"strings"
)

// A column mapping is either a plain source column name or an arithmetic
// expression over numeric source columns: + - * / and parentheses, numbers,
// bare identifiers ([A-Za-z_][A-Za-z0-9_.]*), `back-quoted names` and $N for
// the N-th column (1-based) of a file without a header.

// isExpr reports whether a mapping value is an expression rather than a
// column name.
func isExpr(v string) bool {
	if strings.HasPrefix(v, "`") && strings.HasSuffix(v, "`") && strings.Count(v, "`") == 2 {
		return false
	}
	return strings.ContainsAny(v, "*/+()") || strings.Contains(v, " - ")
}

// exprOp is one step of a postfix program.
type exprOp struct {
	op   byte    // 'c' column, 'k' constant, or + - * / 'n' (negate)
	col  string  // column reference (for 'c')
	k    float64 // constant
	slot int     // resolved slot of col
}

type expr struct {
	src  string
	prog []exprOp
}

// columns lists the source columns an expression refers to.
func (e *expr) columns() []string {
	var out []string
	for _, o := range e.prog {
		if o.op == 'c' {
			out = append(out, o.col)
		}
	}
	return out
}

// eval runs the program; vals[slot] holds each column's value.
func (e *expr) eval(vals []float64, stack []float64) float64 {
	stack = stack[:0]
	for _, o := range e.prog {
		switch o.op {
		case 'c':
			stack = append(stack, vals[o.slot])
		case 'k':
			stack = append(stack, o.k)
		case 'n':
			stack[len(stack)-1] = -stack[len(stack)-1]
		default:
			b := stack[len(stack)-1]
			a := stack[len(stack)-2]
			stack = stack[:len(stack)-1]
			switch o.op {
			case '+':
				a += b
			case '-':
				a -= b
			case '*':
				a *= b
			case '/':
				a /= b
			}
			stack[len(stack)-1] = a
		}
	}
	return stack[0]
}

type exprParser struct {
	s   string
	pos int
	out []exprOp
}

func parseExpr(s string) (*expr, error) {
	p := &exprParser{s: s}
	if err := p.sum(); err != nil {
		return nil, err
	}
	p.skip()
	if p.pos != len(p.s) {
		return nil, fmt.Errorf("expression %q: unexpected %q at offset %d", s, p.s[p.pos:], p.pos)
	}
	return &expr{src: s, prog: p.out}, nil
}

func (p *exprParser) skip() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

func (p *exprParser) sum() error {
	if err := p.product(); err != nil {
		return err
	}
	for {
		p.skip()
		if p.pos >= len(p.s) || (p.s[p.pos] != '+' && p.s[p.pos] != '-') {
			return nil
		}
		op := p.s[p.pos]
		p.pos++
		if err := p.product(); err != nil {
			return err
		}
		p.out = append(p.out, exprOp{op: op})
	}
}

func (p *exprParser) product() error {
	if err := p.unary(); err != nil {
		return err
	}
	for {
		p.skip()
		if p.pos >= len(p.s) || (p.s[p.pos] != '*' && p.s[p.pos] != '/') {
			return nil
		}
		op := p.s[p.pos]
		p.pos++
		if err := p.unary(); err != nil {
			return err
		}
		p.out = append(p.out, exprOp{op: op})
	}
}

func (p *exprParser) unary() error {
	p.skip()
	if p.pos < len(p.s) && p.s[p.pos] == '-' {
		p.pos++
		if err := p.unary(); err != nil {
			return err
		}
		p.out = append(p.out, exprOp{op: 'n'})
		return nil
	}
	return p.atom()
}

func (p *exprParser) atom() error {
	p.skip()
	if p.pos >= len(p.s) {
		return fmt.Errorf("expression %q: ends early", p.s)
	}
	c := p.s[p.pos]
	switch {
	case c == '(':
		p.pos++
		if err := p.sum(); err != nil {
			return err
		}
		p.skip()
		if p.pos >= len(p.s) || p.s[p.pos] != ')' {
			return fmt.Errorf("expression %q: missing )", p.s)
		}
		p.pos++
		return nil
	case c == '`':
		end := strings.IndexByte(p.s[p.pos+1:], '`')
		if end < 0 {
			return fmt.Errorf("expression %q: unclosed `", p.s)
		}
		p.out = append(p.out, exprOp{op: 'c', col: p.s[p.pos+1 : p.pos+1+end]})
		p.pos += end + 2
		return nil
	case c == '$':
		start := p.pos + 1
		p.pos++
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == start {
			return fmt.Errorf("expression %q: $ must be followed by a column number", p.s)
		}
		p.out = append(p.out, exprOp{op: 'c', col: p.s[start:p.pos]})
		return nil
	case c >= '0' && c <= '9' || c == '.':
		start := p.pos
		for p.pos < len(p.s) && (p.s[p.pos] >= '0' && p.s[p.pos] <= '9' || p.s[p.pos] == '.' || p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
			p.pos++
		}
		k, err := strconv.ParseFloat(p.s[start:p.pos], 64)
		if err != nil {
			return fmt.Errorf("expression %q: bad number %q", p.s, p.s[start:p.pos])
		}
		p.out = append(p.out, exprOp{op: 'k', k: k})
		return nil
	case c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
		start := p.pos
		for p.pos < len(p.s) {
			c := p.s[p.pos]
			if c == '_' || c == '.' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
				p.pos++
				continue
			}
			break
		}
		p.out = append(p.out, exprOp{op: 'c', col: p.s[start:p.pos]})
		return nil
	}
	return fmt.Errorf("expression %q: unexpected %q at offset %d", p.s, string(c), p.pos)
}
