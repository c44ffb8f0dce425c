package store_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

func TestHomeStateRoundTrip(t *testing.T) {
	for name, cfg := range map[string]func(testing.TB) store.Config{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		t.Run(name, func(t *testing.T) {
			s, err := store.Open(context.Background(), cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if err := s.State().SaveHomes(ctx, []detectors.HomeSnapshot{{Hub: "hub-1", Data: []byte{1, 2, 0, 3}}, {Hub: "hub-2", Data: []byte("x")}}); err != nil {
				t.Fatal(err)
			}
			if err := s.State().SaveHomes(ctx, []detectors.HomeSnapshot{{Hub: "hub-2", Data: []byte("newer")}}); err != nil {
				t.Fatal(err)
			}
			got, err := s.State().LoadHomes(ctx)
			if err != nil || len(got) != 2 {
				t.Fatalf("LoadHomes = %v, %v", got, err)
			}
			if got[0].Hub != "hub-1" || !bytes.Equal(got[0].Data, []byte{1, 2, 0, 3}) || string(got[1].Data) != "newer" {
				t.Errorf("LoadHomes = %+v", got)
			}
			one, ok, err := s.State().LoadHome(ctx, "hub-2")
			if err != nil || !ok || one.Hub != "hub-2" || string(one.Data) != "newer" {
				t.Errorf("LoadHome(hub-2) = %+v, %v, %v", one, ok, err)
			}
			if one, ok, err := s.State().LoadHome(ctx, "hub-none"); err != nil || ok {
				t.Errorf("LoadHome(hub-none) = %+v, %v, %v; want none", one, ok, err)
			}
		})
	}
}
