package ukob

import (
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
)

// Paging (SPEC §8): page is 1-based, page-size 1..1000 with a default of 100;
// the contract refuses values outside. A page past the end is empty.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

type pageReq struct{ page, size int }

func (p pageReq) offset() int { return (p.page - 1) * p.size }

func pageOf(c echo.Context) (pageReq, error) {
	p := pageReq{page: 1, size: defaultPageSize}
	var err error
	if p.page, err = intParam(c, "page", 1, 1, 1<<31-1); err != nil {
		return p, err
	}
	p.size, err = intParam(c, "page-size", defaultPageSize, 1, maxPageSize)
	if forced, ok := c.Get(httpx.KeyPageSize).(int); ok && forced < p.size {
		p.size = forced // a scenario's short pages
	}
	return p, err
}

func intParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, bank.Errorf(bank.KindFieldInvalid, name, "%s must be a whole number from %d to %d", name, lo, hi)
	}
	return n, nil
}

func totalPages(total, size int) int {
	return max(1, (total+size-1)/size)
}

// links builds absolute obwire.Links for a (possibly paged) response: Self is the
// request as made; First, Prev, Next and Last keep every other parameter.
func (s *Server) links(c echo.Context, p pageReq, pages int) obwire.Links {
	u := *c.Request().URL
	base := s.Cfg.Issuer + u.Path
	self := base
	if u.RawQuery != "" {
		self += "?" + u.RawQuery
	}
	l := obwire.Links{Self: self}
	if pages == 0 {
		return l
	}
	q := u.Query()
	if p.size != defaultPageSize {
		q.Set("page-size", strconv.Itoa(p.size))
	}
	at := func(n int) string {
		q.Set("page", strconv.Itoa(n))
		return base + "?" + q.Encode()
	}
	l.First, l.Last = at(1), at(pages)
	if p.page > 1 {
		l.Prev = at(min(p.page-1, pages))
	}
	if p.page < pages {
		l.Next = at(p.page + 1)
	}
	return l
}

// paginate cuts one page out of a list held in memory.
func paginate[T any](items []T, p pageReq) ([]T, int) {
	pages := totalPages(len(items), p.size)
	lo := min(p.offset(), len(items))
	hi := min(lo+p.size, len(items))
	return items[lo:hi], pages
}

// queryDate parses a date query parameter the standard's way: a date with an
// optional time; any timezone is ignored and the time taken as UTC (AIS
// profile, "Filtering"). A '+' sent unencoded arrives as a space.
func queryDate(c echo.Context, name string) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, nil
	}
	v = strings.ReplaceAll(v, " ", "+")
	if i := strings.IndexByte(v, 'T'); i > 0 {
		t := v[i:]
		if j := strings.IndexAny(t, "Z+-"); j > 0 {
			v = v[:i+j]
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, bank.Errorf(bank.KindFieldInvalidDate, name, "%s must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ss", name)
}

// dateRange reads a from/to pair of date parameters; from after to is refused.
func dateRange(c echo.Context, fromName, toName string) (time.Time, time.Time, error) {
	from, err := queryDate(c, fromName)
	if err != nil {
		return from, from, err
	}
	to, err := queryDate(c, toName)
	if err != nil {
		return from, to, err
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return from, to, bank.Errorf(bank.KindFieldInvalidDate, toName, "%s is before %s", toName, fromName)
	}
	return from, to, nil
}
