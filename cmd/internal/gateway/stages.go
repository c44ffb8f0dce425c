package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// stages runs the long-lived parts of the gateway, each with its own context,
// so that shutdown can stop them in the order data flows: intake first, the
// store last, so that everything accepted is written before the process
// exits.
type stages struct {
	log    zerolog.Logger
	byName map[stageName]*stage
	failed chan error
}

type stage struct {
	cancel context.CancelFunc
	done   chan error
}

func newStages(log zerolog.Logger) *stages {
	return &stages{log: log, byName: map[stageName]*stage{}, failed: make(chan error, 8)}
}

func (s *stages) start(name stageName, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	st := &stage{cancel: cancel, done: make(chan error, 1)}
	s.byName[name] = st
	go func() {
		err := run(ctx)
		if err != nil && ctx.Err() == nil {
			s.failed <- fmt.Errorf("%s: %w", name, err)
		}
		st.done <- err
	}()
}

// stop cancels the stages step by step, waiting for each step to return,
// all within timeout. A step names one stage, or several that do not
// depend on each other and stop together (their final saves then overlap:
// at national scale each takes seconds, and hubs are disconnected
// meanwhile, so every second of it lengthens their backoff).
func (s *stages) stop(timeout time.Duration, order [][]stageName) error {
	deadline := time.After(timeout)
	var errs []error
	for k, step := range order {
		began := time.Now()
		var names []stageName
		for _, name := range step {
			if st, ok := s.byName[name]; ok {
				st.cancel()
				names = append(names, name)
			}
		}
		for i, name := range names {
			select {
			case err := <-s.byName[name].done:
				if err != nil && !errors.Is(err, context.Canceled) {
					errs = append(errs, fmt.Errorf("%s: %w", name, err))
				}
				s.log.Info().Str("stage", string(name)).Dur("took", time.Since(began)).Msg("stopped")
			case <-deadline:
				// Out of time: still stop every later stage (the store last
				// among them) and give each a moment, rather than closing the
				// database under a writer that was never told to stop.
				errs = append(errs, fmt.Errorf("shutdown timed out while stopping %s", name))
				s.abandon(names[i:], order[k+1:]) // names[:i] have returned
				return errors.Join(errs...)
			}
		}
	}
	return errors.Join(errs...)
}

// shutdownGrace is what each remaining stage gets once the deadline passed.
const shutdownGrace = time.Second

// abandon gives the stages of the step that ran out of time, then those of
// the later steps, shutdownGrace each to stop.
func (s *stages) abandon(current []stageName, later [][]stageName) {
	names := current
	for _, step := range later {
		names = append(names, step...)
	}
	for _, name := range names {
		st, ok := s.byName[name]
		if !ok {
			continue
		}
		st.cancel()
		select {
		case <-st.done:
		case <-time.After(shutdownGrace):
			s.log.Error().Str("stage", string(name)).Msg("did not stop within the shutdown grace")
		}
	}
}
