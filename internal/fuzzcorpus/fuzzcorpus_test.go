package fuzzcorpus

import (
	"bytes"
	"reflect"
	"testing"
)

func TestEncodeDecode(t *testing.T) {
	t.Parallel()
	in := []any{true, []byte("a\x00\"\n\xff"), "s\\"}
	b, err := Encode(in...)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("go test fuzz v1\nbool(true)\n[]byte(")) {
		t.Fatalf("encoded %q", b)
	}
	out, err := Decode(b)
	if err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("decoded %#v, %v", out, err)
	}
	if _, err := Encode(1); err == nil {
		t.Fatal("int accepted")
	}
	if _, err := Decode([]byte("go test fuzz v1\nint(1)\n")); err == nil {
		t.Fatal("int decoded")
	}
}
