package peersfile

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Timestamps are octez's Time.System.encoding (src/lib_base/time.ml):
// written by Ptime.to_rfc3339 ~frac_s:3 with no tz_offset_s, read by
// Ptime.of_rfc3339 (non-strict) or, failing that, as a JSON string holding
// an OCaml Int64.of_string count of seconds. The functions below port
// ptime's parser and printer (ptime ≥ 1.1.0, src/ptime.ml) rather than use
// time.Parse, which accepts and refuses different things.

// Ptime's range: 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999999Z.
var (
	ptimeMin = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	ptimeMax = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

const (
	ptimeMinSeconds = -62167219200 // ptimeMin.Unix()
	ptimeMaxSeconds = 253402300799 // ptimeMax.Unix()
)

var errTimestamp = errors.New("invalid timestamp")

// formatTimestamp renders t as octez writes it: UTC, exactly three
// fraction digits truncated (not rounded) towards the past, and the RFC
// 3339 "unknown local offset" suffix -00:00, e.g.
// "2024-05-06T07:08:09.123-00:00".
func formatTimestamp(t time.Time) (string, error) {
	t = t.UTC()
	if t.Before(ptimeMin) || t.After(ptimeMax) {
		return "", fmt.Errorf("%w: %v is outside years 0000-9999", errTimestamp, t)
	}
	// Go's ".000" truncates like Ptime.to_rfc3339; before 1970 both take
	// the fraction of the floor second.
	return t.Format("2006-01-02T15:04:05.000") + "-00:00", nil
}

// parseTimestamp reads a timestamp string as octez does: RFC 3339 first,
// then an Int64.of_string number of seconds since the epoch.
func parseTimestamp(s string) (time.Time, error) {
	if t, ok := parseRFC3339(s); ok {
		return t, nil
	}
	if secs, ok := parseOCamlInt64(s); ok && ptimeMinSeconds <= secs && secs <= ptimeMaxSeconds {
		return time.Unix(secs, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%w: %q is neither RFC 3339 nor a number of seconds", errTimestamp, s)
}

// parseRFC3339 is Ptime.of_rfc3339 ~strict:false ~sub:false: fixed-width
// YYYY-MM-DD, 'T', 't' or ' ', HH:MM:SS, an optional '.' and at least one
// fraction digit (digits past the picosecond are ignored), then 'Z', 'z',
// or a sign and HH, HHMM or HH:MM. Seconds may be 60 (mapped to the next
// second, as POSIX mktime does). The result must lie in Ptime's range.
// Go keeps nanoseconds: picosecond digits are truncated.
func parseRFC3339(s string) (time.Time, bool) {
	digits := func(pos, count int) (int, bool) {
		if pos+count > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[pos : pos+count]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	char := func(pos int, c byte) bool { return pos < len(s) && s[pos] == c }

	y, ok1 := digits(0, 4)
	mo, ok2 := digits(5, 2)
	d, ok3 := digits(8, 2)
	hh, ok4 := digits(11, 2)
	mm, ok5 := digits(14, 2)
	ss, ok6 := digits(17, 2)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		!char(4, '-') || !char(7, '-') || !char(13, ':') || !char(16, ':') ||
		!(char(10, 'T') || char(10, 't') || char(10, ' ')) {
		return time.Time{}, false
	}
	pos := 19
	nanos := 0
	if char(pos, '.') {
		pos++
		start := pos
		for pos < len(s) && '0' <= s[pos] && s[pos] <= '9' {
			if n := pos - start; n < 9 {
				nanos = nanos*10 + int(s[pos]-'0')
			}
			pos++
		}
		if pos == start || pos >= len(s) {
			// No digit, or the string ends inside the fraction: ptime
			// wants a time zone after it.
			return time.Time{}, false
		}
		for n := pos - start; n < 9; n++ {
			nanos *= 10
		}
	}
	if pos >= len(s) {
		return time.Time{}, false
	}
	offset := 0 // seconds east of UTC
	switch s[pos] {
	case 'Z', 'z':
		pos++
	case '+', '-':
		sign := 1
		if s[pos] == '-' {
			sign = -1
		}
		pos++
		tzh, ok := digits(pos, 2)
		if !ok {
			return time.Time{}, false
		}
		pos += 2
		tzm := 0
		switch {
		case char(pos, ':'):
			if tzm, ok = digits(pos+1, 2); !ok {
				return time.Time{}, false
			}
			pos += 3
		case pos < len(s) && '0' <= s[pos] && s[pos] <= '9':
			if tzm, ok = digits(pos, 2); !ok {
				return time.Time{}, false
			}
			pos += 2
		}
		if tzh > 23 || tzm > 59 {
			return time.Time{}, false
		}
		offset = sign * (tzh*3600 + tzm*60)
	default:
		return time.Time{}, false
	}
	if pos != len(s) {
		return time.Time{}, false // trailing input
	}
	// Ptime.of_date_time: field ranges (hours ≤ 23, seconds ≤ 60) and a
	// real calendar date; time.Date would normalise 02-30 to 03-02.
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, hh, mm, ss, nanos, time.UTC).Add(-time.Duration(offset) * time.Second)
	// Ptime checks the range before adding the fraction, then again after.
	if whole := t.Add(-time.Duration(nanos)); whole.Before(ptimeMin) || whole.After(ptimeMax) || t.After(ptimeMax) {
		return time.Time{}, false
	}
	return t, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseOCamlInt64 is OCaml's Int64.of_string (runtime/ints.c,
// parse_intnat): an optional sign, an optional 0x/0o/0b/0u prefix (any
// case), at least one digit, then digits and '_' separators. Decimal
// without 0u must fit a signed int64; the other bases accept up to 2^64-1,
// wrapping to negative values.
func parseOCamlInt64(s string) (int64, bool) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	base, signed := uint64(10), true
	if i+1 < len(s) && s[i] == '0' {
		switch s[i+1] {
		case 'x', 'X':
			base, signed = 16, false
			i += 2
		case 'o', 'O':
			base, signed = 8, false
			i += 2
		case 'b', 'B':
			base, signed = 2, false
			i += 2
		case 'u', 'U':
			signed = false
			i += 2
		}
	}
	digit := func(c byte) uint64 {
		switch {
		case '0' <= c && c <= '9':
			return uint64(c - '0')
		case 'a' <= c && c <= 'f':
			return uint64(c-'a') + 10
		case 'A' <= c && c <= 'F':
			return uint64(c-'A') + 10
		}
		return math.MaxUint64
	}
	if i >= len(s) || digit(s[i]) >= base {
		return 0, false
	}
	var res uint64
	for ; i < len(s); i++ {
		if s[i] == '_' {
			continue
		}
		d := digit(s[i])
		if d >= base {
			return 0, false // stops early: trailing garbage
		}
		hi, lo := bits.Mul64(res, base)
		if hi != 0 {
			return 0, false
		}
		lo, carry := bits.Add64(lo, d, 0)
		if carry != 0 {
			return 0, false
		}
		res = lo
	}
	if signed {
		if (!neg && res >= 1<<63) || (neg && res > 1<<63) {
			return 0, false
		}
	}
	v := int64(res)
	if neg {
		v = -v
	}
	return v, true
}
