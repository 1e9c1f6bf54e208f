package queue

import (
	"context"
	"fmt"
	"time"
)

// Retrier is implemented by the deliveries of both queues here: it hands a job back as
// a failed attempt, to be delivered again (with Attempt one higher) no sooner than
// after. Delivery alone offers Ack and Release, and Release does not count the attempt,
// so without Retry a transient failure could only wait out the visibility timeout.
type Retrier interface {
	Retry(ctx context.Context, after time.Duration) error
}

var (
	_ Retrier = (*memDelivery)(nil)
	_ Retrier = (*redisDelivery)(nil)
)

// Retry implements Retrier: the job stays in hand, unseen, until after has passed.
func (d *memDelivery) Retry(_ context.Context, after time.Duration) error {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	if _, ok := d.m.inFlight[d.token]; ok {
		d.deadline = time.Now().Add(after)
	}
	return nil
}

// retryScript leaves the entry pending with its delivery count, idle as if delivered
// ARGV[4] milliseconds ago, so XAUTOCLAIM takes it (counting a delivery) once the
// visibility timeout is reached.
var retryScript = ownedScript(`
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[4], 'JUSTID')
return 1
`)

// Retry implements Retrier. The wait is at most the visibility timeout (plus the claim
// interval).
func (d *redisDelivery) Retry(ctx context.Context, after time.Duration) error {
	d.stop()
	idle := max(d.q.opts.VisibilityTimeout-after, 0).Milliseconds()
	err := retryScript.Run(ctx, d.q.client, []string{d.keys.stream}, d.q.group, d.q.consumer, d.id, idle).Err()
	if err != nil && !isNoGroup(err) {
		return fmt.Errorf("retry job of image %s: %w", d.job.ImageID, err)
	}
	return nil
}
