package analyze

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kcrash/kcrash/symbols"
)

// Scope is what evaluating an expression may look up: the kernel's
// variables (at run-time addresses), types, functions, and memory.
type Scope interface {
	LookupVar(name string) (symbols.Var, error)
	LookupFunc(name string) (symbols.Func, error)
	LookupEnumerator(name string) (int64, *dwarf.EnumType, error)
	LookupType(name string) (dwarf.Type, error)
	Read(p []byte, addr uint64) error
}

// Value is the result of an expression: an object in memory (an
// lvalue, at Addr) or a computed value held in Bytes.
type Value struct {
	Type  dwarf.Type
	Addr  uint64
	LVal  bool
	Bytes []byte
}

// EvalError reports an expression that parses but cannot be evaluated.
type EvalError struct {
	Expr string
	Msg  string
}

func (e *EvalError) Error() string { return e.Msg }

func evalErr(format string, args ...any) error {
	return &EvalError{Msg: fmt.Sprintf(format, args...)}
}

// Eval evaluates e in scope.
func Eval(s Scope, e Expr) (Value, error) {
	ev := evaluator{s}
	return ev.eval(e)
}

// Load returns the bytes of v, reading memory for an lvalue.
func Load(s Scope, v Value) ([]byte, error) {
	if !v.LVal {
		return v.Bytes, nil
	}
	size := symbols.Unqualify(v.Type).Size()
	if size < 0 {
		size = 0
	}
	if size > 1<<24 {
		return nil, evalErr("object of %d bytes is too large to print", size)
	}
	b := make([]byte, size)
	if err := s.Read(b, v.Addr); err != nil {
		return nil, err
	}
	return b, nil
}

type evaluator struct{ s Scope }

// C's integer types for arithmetic results.
var (
	intType   = mkInt("int", 4, true)
	uintType  = mkInt("unsigned int", 4, false)
	longType  = mkInt("long", 8, true)
	ulongType = mkInt("unsigned long", 8, false)
)

func mkInt(name string, size int64, signed bool) dwarf.Type {
	c := dwarf.CommonType{ByteSize: size, Name: name}
	if signed {
		return &dwarf.IntType{BasicType: dwarf.BasicType{CommonType: c}}
	}
	return &dwarf.UintType{BasicType: dwarf.BasicType{CommonType: c}}
}

func pointerTo(t dwarf.Type) *dwarf.PtrType {
	return &dwarf.PtrType{CommonType: dwarf.CommonType{ByteSize: 8}, Type: t}
}

func intValue(t dwarf.Type, v uint64) Value {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	return Value{Type: t, Bytes: b[:max(symbols.Unqualify(t).Size(), 1)]}
}

func (ev evaluator) eval(e Expr) (Value, error) {
	switch x := e.(type) {
	case *identExpr:
		return ev.ident(x.Name)
	case *numExpr:
		t := intType
		switch {
		case x.Long && x.Unsigned:
			t = ulongType
		case x.Long:
			t = longType
		case x.Unsigned:
			t = uintType
		}
		return intValue(t, x.Val), nil
	case *memberExpr:
		v, err := ev.eval(x.X)
		if err != nil {
			return Value{}, err
		}
		if x.Arrow {
			if v, err = ev.deref(v); err != nil {
				return Value{}, err
			}
		}
		return ev.member(v, x.Name)
	case *indexExpr:
		v, err := ev.eval(x.X)
		if err != nil {
			return Value{}, err
		}
		idx, err := ev.eval(x.Index)
		if err != nil {
			return Value{}, err
		}
		sum, err := ev.arith("+", v, idx)
		if err != nil {
			return Value{}, err
		}
		return ev.deref(sum)
	case *unaryExpr:
		return ev.unary(x)
	case *castExpr:
		t, err := ev.typeOf(x.Type)
		if err != nil {
			return Value{}, err
		}
		v, err := ev.eval(x.X)
		if err != nil {
			return Value{}, err
		}
		return ev.cast(v, t)
	case *sizeofExpr:
		var t dwarf.Type
		if x.Type != nil {
			var err error
			if t, err = ev.typeOf(*x.Type); err != nil {
				return Value{}, err
			}
		} else {
			v, err := ev.eval(x.X)
			if err != nil {
				return Value{}, err
			}
			t = v.Type
		}
		return intValue(ulongType, uint64(symbols.Unqualify(t).Size())), nil
	case *binaryExpr:
		a, err := ev.eval(x.X)
		if err != nil {
			return Value{}, err
		}
		b, err := ev.eval(x.Y)
		if err != nil {
			return Value{}, err
		}
		if x.Op == "@" {
			return ev.artificialArray(a, b)
		}
		return ev.arith(x.Op, a, b)
	}
	return Value{}, evalErr("cannot evaluate %s", e)
}

func (ev evaluator) ident(name string) (Value, error) {
	if v, err := ev.s.LookupVar(name); err == nil {
		return Value{Type: v.Type, Addr: v.Addr, LVal: true}, nil
	} else if !errors.Is(err, symbols.ErrNotFound) {
		return Value{}, err
	}
	if f, err := ev.s.LookupFunc(name); err == nil {
		return Value{Type: f.Type, Addr: f.Addr, LVal: true}, nil
	}
	if val, et, err := ev.s.LookupEnumerator(name); err == nil && et != nil {
		return intValue(et, uint64(val)), nil
	}
	return Value{}, evalErr("No symbol \"%s\" in current context.", name)
}

func (ev evaluator) typeOf(ts TypeSpec) (dwarf.Type, error) {
	t, err := ev.s.LookupType(ts.Base)
	if err != nil {
		return nil, evalErr("No symbol \"%s\" in current context.", ts.Base)
	}
	for range ts.Ptrs {
		t = pointerTo(t)
	}
	return t, nil
}

// complete replaces a struct declaration with its definition, looked
// up by name as gdb resolves opaque types.
func (ev evaluator) complete(t dwarf.Type) dwarf.Type {
	st, ok := symbols.Unqualify(t).(*dwarf.StructType)
	if !ok || !st.Incomplete || st.StructName == "" {
		return t
	}
	if full, err := ev.s.LookupType(st.Kind + " " + st.StructName); err == nil {
		return full
	}
	return t
}

func (ev evaluator) member(v Value, name string) (Value, error) {
	st, ok := symbols.Unqualify(ev.complete(v.Type)).(*dwarf.StructType)
	if !ok {
		return Value{}, evalErr("Attempt to extract a component of a value that is not a structure.")
	}
	m, ok := symbols.FindMember(st, name)
	if !ok {
		return Value{}, evalErr("There is no member named %s.", name)
	}
	if m.BitSize != 0 {
		b, err := Load(ev.s, v)
		if err != nil {
			return Value{}, err
		}
		var u uint64
		for i := range m.BitSize {
			bit := m.BitPos + i
			if bit/8 < int64(len(b)) && b[bit/8]&(1<<(bit%8)) != 0 {
				u |= 1 << i
			}
		}
		if _, signed := symbols.Unqualify(m.Type).(*dwarf.IntType); signed && u&(1<<(m.BitSize-1)) != 0 {
			u |= ^uint64(0) << m.BitSize
		}
		return intValue(m.Type, u), nil
	}
	if v.LVal {
		return Value{Type: m.Type, Addr: v.Addr + m.Offset, LVal: true}, nil
	}
	end := m.Offset + uint64(max(symbols.Unqualify(m.Type).Size(), 0))
	if end > uint64(len(v.Bytes)) {
		return Value{}, evalErr("member %s lies outside the value", name)
	}
	return Value{Type: m.Type, Bytes: v.Bytes[m.Offset:end]}, nil
}

// deref follows a pointer (or takes an array's first element).
func (ev evaluator) deref(v Value) (Value, error) {
	switch t := symbols.Unqualify(v.Type).(type) {
	case *dwarf.PtrType:
		addr, err := ev.uint(v)
		if err != nil {
			return Value{}, err
		}
		if _, void := t.Type.(*dwarf.VoidType); void || t.Type == nil {
			return Value{}, evalErr("Attempt to take contents of a non-pointer value.")
		}
		return Value{Type: ev.complete(t.Type), Addr: addr, LVal: true}, nil
	case *dwarf.ArrayType:
		if !v.LVal {
			return Value{}, evalErr("array value is not in memory")
		}
		return Value{Type: t.Type, Addr: v.Addr, LVal: true}, nil
	case *dwarf.FuncType:
		return v, nil
	}
	return Value{}, evalErr("Attempt to take contents of a non-pointer value.")
}

func (ev evaluator) unary(x *unaryExpr) (Value, error) {
	v, err := ev.eval(x.X)
	if err != nil {
		return Value{}, err
	}
	switch x.Op {
	case "*":
		return ev.deref(v)
	case "&":
		if !v.LVal {
			return Value{}, evalErr("Attempt to take address of value not located in memory.")
		}
		return intValue(pointerTo(v.Type), v.Addr), nil
	case "+":
		return ev.arith("+", intValue(intType, 0), v)
	case "-":
		return ev.arith("-", intValue(intType, 0), v)
	case "~":
		return ev.arith("^", v, intValue(intType, ^uint64(0)))
	case "!":
		u, err := ev.uint(v)
		if err != nil {
			return Value{}, err
		}
		return intValue(intType, b2u(u == 0)), nil
	}
	return Value{}, evalErr("unknown operator %s", x.Op)
}

func (ev evaluator) cast(v Value, t dwarf.Type) (Value, error) {
	switch symbols.Unqualify(t).(type) {
	case *dwarf.StructType, *dwarf.ArrayType:
		return Value{}, evalErr("Invalid cast.")
	}
	u, err := ev.uint(v)
	if err != nil {
		return Value{}, err
	}
	return intValue(t, u), nil
}

// uint returns a scalar's value (an array or function decays to its
// address), sign-extended to 64 bits for signed types.
func (ev evaluator) uint(v Value) (uint64, error) {
	switch t := symbols.Unqualify(v.Type).(type) {
	case *dwarf.ArrayType, *dwarf.FuncType:
		if !v.LVal {
			return 0, evalErr("value is not in memory")
		}
		return v.Addr, nil
	case *dwarf.StructType:
		return 0, evalErr("Attempt to use a %s value as a number.", t.Kind)
	}
	b, err := Load(ev.s, v)
	if err != nil {
		return 0, err
	}
	var u uint64
	for i := min(len(b), 8) - 1; i >= 0; i-- {
		u = u<<8 | uint64(b[i])
	}
	if isSigned(v.Type) && len(b) < 8 && len(b) > 0 && b[len(b)-1]&0x80 != 0 {
		u |= ^uint64(0) << (8 * len(b))
	}
	return u, nil
}

func isSigned(t dwarf.Type) bool {
	switch x := symbols.Unqualify(t).(type) {
	case *dwarf.IntType, *dwarf.CharType:
		return true
	case *dwarf.EnumType:
		for _, v := range x.Val {
			if v.Val < 0 {
				return true
			}
		}
	}
	return false
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// promote applies C's usual arithmetic conversions to an integer type.
func promote(t dwarf.Type) dwarf.Type {
	size := symbols.Unqualify(t).Size()
	switch {
	case size < 4:
		return intType
	case size == 4 && isSigned(t):
		return intType
	case size == 4:
		if _, ok := symbols.Unqualify(t).(*dwarf.EnumType); ok {
			return uintType
		}
		return uintType
	case isSigned(t):
		return longType
	}
	return ulongType
}

func common(a, b dwarf.Type) dwarf.Type {
	pa, pb := promote(a), promote(b)
	sa, sb := pa.Size(), pb.Size()
	switch {
	case sa > sb:
		return pa
	case sb > sa:
		return pb
	case !isSigned(pa):
		return pa
	}
	return pb
}

func (ev evaluator) arith(op string, a, b Value) (Value, error) {
	pa, aPtr := ptrLike(a.Type)
	pb, bPtr := ptrLike(b.Type)
	x, err := ev.uint(a)
	if err != nil {
		return Value{}, err
	}
	y, err := ev.uint(b)
	if err != nil {
		return Value{}, err
	}
	switch {
	case aPtr && bPtr && op == "-":
		size := uint64(max(symbols.Unqualify(pa.(*dwarf.PtrType).Type).Size(), 1))
		return intValue(longType, uint64(int64(x-y)/int64(size))), nil
	case aPtr && !bPtr && (op == "+" || op == "-"):
		return ev.ptrAdd(op, pa, x, y)
	case bPtr && !aPtr && op == "+":
		return ev.ptrAdd(op, pb, y, x)
	case aPtr || bPtr:
		switch op {
		case "==", "!=", "<", ">", "<=", ">=", "&&", "||":
			return intValue(intType, compare(op, x, y, false)), nil
		}
		return Value{}, evalErr("Argument to arithmetic operation not a number or boolean.")
	}
	t := common(a.Type, b.Type)
	signed := isSigned(t)
	size := t.Size()
	var r uint64
	switch op {
	case "+":
		r = x + y
	case "-":
		r = x - y
	case "*":
		r = x * y
	case "/", "%":
		if trunc(y, size) == 0 {
			return Value{}, evalErr("Division by zero")
		}
		if signed {
			xs, ys := int64(signExt(x, size)), int64(signExt(y, size))
			if op == "/" {
				r = uint64(xs / ys)
			} else {
				r = uint64(xs % ys)
			}
		} else {
			xu, yu := trunc(x, size), trunc(y, size)
			if op == "/" {
				r = xu / yu
			} else {
				r = xu % yu
			}
		}
	case "&":
		r = x & y
	case "|":
		r = x | y
	case "^":
		r = x ^ y
	case "<<":
		if y >= uint64(size*8) {
			r = 0
		} else {
			r = x << y
		}
	case ">>":
		if signed {
			r = uint64(int64(signExt(x, size)) >> min(y, 63))
		} else {
			r = trunc(x, size) >> min(y, 63)
		}
	case "==", "!=", "<", ">", "<=", ">=", "&&", "||":
		return intValue(intType, compare(op, signExt(x, size), signExt(y, size), signed)), nil
	default:
		return Value{}, evalErr("unknown operator %s", op)
	}
	return intValue(t, r), nil
}

func (ev evaluator) ptrAdd(op string, pt dwarf.Type, p, n uint64) (Value, error) {
	size := uint64(max(symbols.Unqualify(pt.(*dwarf.PtrType).Type).Size(), 1))
	if op == "-" {
		return intValue(pt, p-n*size), nil
	}
	return intValue(pt, p+n*size), nil
}

// ptrLike returns the pointer type a value acts as in arithmetic (an
// array decays to a pointer to its first element).
func ptrLike(t dwarf.Type) (dwarf.Type, bool) {
	switch x := symbols.Unqualify(t).(type) {
	case *dwarf.PtrType:
		return x, true
	case *dwarf.ArrayType:
		return pointerTo(x.Type), true
	}
	return nil, false
}

func trunc(v uint64, size int64) uint64 {
	if size >= 8 {
		return v
	}
	return v & (1<<(8*size) - 1)
}

func signExt(v uint64, size int64) uint64 {
	if size >= 8 {
		return v
	}
	shift := 64 - 8*size
	return uint64(int64(v<<shift) >> shift)
}

func compare(op string, x, y uint64, signed bool) uint64 {
	less := x < y
	if signed {
		less = int64(x) < int64(y)
	}
	switch op {
	case "==":
		return b2u(x == y)
	case "!=":
		return b2u(x != y)
	case "<":
		return b2u(less)
	case ">":
		return b2u(!less && x != y)
	case "<=":
		return b2u(less || x == y)
	case ">=":
		return b2u(!less)
	case "&&":
		return b2u(x != 0 && y != 0)
	case "||":
		return b2u(x != 0 || y != 0)
	}
	return 0
}

// artificialArray is gdb's x@n: n objects of x's type starting at x.
func (ev evaluator) artificialArray(a, n Value) (Value, error) {
	if !a.LVal {
		return Value{}, evalErr("Only values in memory can be extended with '@'.")
	}
	count, err := ev.uint(n)
	if err != nil {
		return Value{}, err
	}
	if int64(count) <= 0 || count > 1<<20 {
		return Value{}, evalErr("Invalid number %d of repetitions.", int64(count))
	}
	size := max(symbols.Unqualify(a.Type).Size(), 0)
	at := &dwarf.ArrayType{CommonType: dwarf.CommonType{ByteSize: size * int64(count)}, Type: a.Type, Count: int64(count)}
	return Value{Type: at, Addr: a.Addr, LVal: true}, nil
}
