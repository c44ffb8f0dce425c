package falleval

import (
	"bytes"
	"io"
	"math"
	"slices"
	"testing"
)

// FuzzParseSisFall checks the reader never panics, keeps its axes aligned,
// and reads the same whatever way the bytes arrive (whole, or in two halves).
func FuzzParseSisFall(f *testing.F) {
	f.Add([]byte("  -9,-257, -25,  84, 247,  27,-120,-987,  63;\r\n  -3,-263, -23,  99, 258,  35,-110,-1016,  68;\r\n"))
	f.Add([]byte("1,2,3;\n\n4,5,6\n"))
	f.Add([]byte("1,2;\n"))
	f.Add([]byte("a,b,c;\n"))
	f.Add([]byte("99999,0,0;\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		x, y, z, err := ParseSisFall(bytes.NewReader(data))
		half := len(data) / 2
		x2, y2, z2, err2 := ParseSisFall(io.MultiReader(bytes.NewReader(data[:half]), bytes.NewReader(data[half:])))
		if (err == nil) != (err2 == nil) || !slices.Equal(x, x2) || !slices.Equal(y, y2) || !slices.Equal(z, z2) {
			t.Fatalf("whole and halves differ: %v / %v", err, err2)
		}
		if err != nil {
			return
		}
		if len(x) != len(y) || len(x) != len(z) {
			t.Fatalf("axes %d, %d, %d", len(x), len(y), len(z))
		}
		for i := range x {
			for _, v := range []float32{x[i], y[i], z[i]} {
				if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 128 {
					t.Fatalf("sample %d: %v g", i, v)
				}
			}
		}
	})
}

func TestParseTrialName(t *testing.T) {
	tests := []struct {
		name, activity, subject string
		run                     int
		ok                      bool
	}{
		{"F05_SA01_R04.txt", "F05", "SA01", 4, true},
		{"/data/SE06/D17_SE06_R02.txt", "D17", "SE06", 2, true},
		{"Readme.txt", "", "", 0, false},
		{"X05_SA01_R04.txt", "", "", 0, false},
		{"F05_SA01_04.txt", "", "", 0, false},
		{"F05_SA01_R04.csv", "", "", 0, false},
	}
	for _, tt := range tests {
		a, s, r, err := ParseTrialName(tt.name)
		if (err == nil) != tt.ok || a != tt.activity || s != tt.subject || r != tt.run {
			t.Errorf("%s: %q %q %d %v", tt.name, a, s, r, err)
		}
	}
}

func TestParseSisFallUnits(t *testing.T) {
	x, y, z, err := ParseSisFall(bytes.NewReader([]byte("0,-256,8192;\r\n")))
	if err != nil || len(x) != 1 {
		t.Fatal(x, err)
	}
	// 256 LSB of the ADXL345 (±16 g in 13 bits) is 1 g.
	if x[0] != 0 || y[0] != -1 || z[0] != 32 {
		t.Errorf("got %v %v %v g", x[0], y[0], z[0])
	}
}
