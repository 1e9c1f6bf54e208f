package controllers

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// window is one schedule's state at an instant.
type window struct {
	open bool
	// boundary is when it next opens (closed) or closes (open).
	boundary time.Time
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// windowAt says whether a schedule's window is open at now, in its time zone: it is open
// when its most recent start lies less than duration ago.
func windowAt(s galleryv1alpha1.ScheduleSpec, now time.Time) (window, error) {
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return window{}, fmt.Errorf("schedule %s: time zone %q: %w", s.Name, s.TimeZone, err)
	}
	sched, err := cronParser.Parse(s.Start)
	if err != nil {
		return window{}, fmt.Errorf("schedule %s: start %q: %w", s.Name, s.Start, err)
	}
	d := s.Duration.Duration
	local := now.In(loc)
	// The first start after (now - duration) is the one whose window could hold now.
	start := sched.Next(local.Add(-d))
	if !start.After(local) {
		return window{open: true, boundary: start.Add(d)}, nil
	}
	return window{open: false, boundary: start}, nil
}
