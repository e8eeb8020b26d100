package clock

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseAdvance reads a clock advance (or a delay): a Go duration ("36h",
// "90m") or whole days ("3d"), at most MaxOffset; zero, negative,
// unparseable or longer is an error.
func ParseAdvance(v string) (time.Duration, error) {
	const day = 24 * time.Hour
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(v, "d"); ok {
		var days int64
		if days, err = strconv.ParseInt(n, 10, 64); err == nil && days > int64(MaxOffset/day) {
			return 0, errTooFar
		}
		d = time.Duration(days) * day
	} else if d, err = time.ParseDuration(v); err == nil && d > MaxOffset {
		return 0, errTooFar
	}
	if err != nil || d <= 0 {
		return 0, errors.New(`advance must be a positive Go duration ("36h") or a number of days ("3d")`)
	}
	return d, nil
}

var errTooFar = fmt.Errorf("the sandbox clock runs at most 100 years (%dd) ahead of real time", MaxOffset/(24*time.Hour))
