//go:build linux

package main

import "testing"

func TestValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		v             Value
		want, min, mx float64
		how           string
	}{
		{"median odd", Median([]float64{5, 1, 3}), 3, 1, 5, "median of 3"},
		{"median even", Median([]float64{4, 1, 3, 2}), 2.5, 1, 4, "median of 4"},
		{"peak", Peak([]float64{2, 9, 4}), 9, 2, 9, "max of 3"},
		{"single agreeing", Single([]float64{7, 7}), 7, 7, 7, "same in 2 runs"},
		{"single one", Single([]float64{7}), 7, 7, 7, "1 run, an exact count"},
		{"single disagreeing", Single([]float64{7, 8}), 8, 7, 8, "max of 2"},
		{"over", Over(0.05, "over 30 s", []float64{0.01, 0.2}), 0.05, 0.01, 0.2, "over 30 s"},
	}
	for _, tt := range tests {
		if tt.v.V != tt.want || tt.v.Min != tt.min || tt.v.Max != tt.mx || tt.v.How != tt.how {
			t.Errorf("%s: got %+v, want %v [%v, %v] %q", tt.name, tt.v, tt.want, tt.min, tt.mx, tt.how)
		}
	}
}
