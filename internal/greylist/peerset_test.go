package greylist

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestPeerSet(t testing.TB, capacity int) *PeerSet[string] {
	t.Helper()
	s, err := NewPeerSet[string](capacity)
	require.NoError(t, err)
	return s
}

func TestNewPeerSetInvalid(t *testing.T) {
	for _, c := range []int{-1, 0} {
		_, err := NewPeerSet[int](c)
		assert.ErrorIs(t, err, ErrInvalidSize)
	}
}

// The first four cases mirror src/lib_p2p/test/test_p2p_peerset.ml.
func TestPeerSet(t *testing.T) {
	type check struct {
		in, out []string
		list    []string
	}
	tests := []struct {
		name     string
		capacity int
		adds     []string
		removes  []string
		evicted  []string // evicted elements, in order
		want     check
	}{
		{
			name: "empty", capacity: 10,
			want: check{out: []string{"foo", "bar", "baz"}, list: []string{}},
		},
		{
			name: "add", capacity: 10, adds: []string{"foo", "bar", "baz"},
			want: check{in: []string{"foo", "bar", "baz"}, list: []string{"foo", "bar", "baz"}},
		},
		{
			name: "remove", capacity: 10, adds: []string{"foo", "bar", "baz"}, removes: []string{"bar"},
			want: check{in: []string{"foo", "baz"}, out: []string{"bar"}, list: []string{"foo", "baz"}},
		},
		{
			// test_LRU_overflow, first half: re-adding "foo" refreshes it, so
			// "zor" evicts "bar".
			name: "overflow after refresh", capacity: 3, adds: []string{"foo", "bar", "baz", "foo", "zor"},
			evicted: []string{"bar"},
			want:    check{in: []string{"zor", "foo", "baz"}, out: []string{"bar"}, list: []string{"baz", "foo", "zor"}},
		},
		{
			// test_LRU_overflow, whole: "baz" re-added three times, then
			// "qux" evicts "foo".
			name: "LRU overflow", capacity: 3, adds: []string{"foo", "bar", "baz", "foo", "zor", "baz", "baz", "baz", "qux"},
			evicted: []string{"bar", "foo"},
			want:    check{in: []string{"zor", "baz", "qux"}, out: []string{"foo", "bar"}, list: []string{"zor", "baz", "qux"}},
		},
		{
			name: "plain FIFO eviction", capacity: 2, adds: []string{"a", "b", "c", "d"},
			evicted: []string{"a", "b"},
			want:    check{in: []string{"c", "d"}, out: []string{"a", "b"}, list: []string{"c", "d"}},
		},
		{
			name: "capacity one", capacity: 1, adds: []string{"a", "a", "b"},
			evicted: []string{"a"},
			want:    check{in: []string{"b"}, out: []string{"a"}, list: []string{"b"}},
		},
		{
			name: "remove frees a slot", capacity: 2, adds: []string{"a", "b"}, removes: []string{"a", "zzz"},
			want: check{in: []string{"b"}, out: []string{"a"}, list: []string{"b"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestPeerSet(t, tt.capacity)
			var evicted []string
			for _, k := range tt.adds {
				if old, ok := s.Add(k); ok {
					evicted = append(evicted, old)
				}
			}
			for _, k := range tt.removes {
				s.Remove(k)
			}
			assert.Equal(t, tt.evicted, evicted)
			for _, k := range tt.want.in {
				assert.True(t, s.Contains(k), "%q should be in", k)
			}
			for _, k := range tt.want.out {
				assert.False(t, s.Contains(k), "%q should be out", k)
			}
			assert.Equal(t, tt.want.list, s.List())
			assert.True(t, slices.Equal(tt.want.list, slices.Collect(s.All())), "All: %v", slices.Collect(s.All()))
			assert.Equal(t, len(tt.want.list), s.Len())
			assert.Equal(t, tt.capacity, s.Cap())
		})
	}
}

func TestPeerSetContainsDoesNotRefresh(t *testing.T) {
	s := newTestPeerSet(t, 2)
	s.Add("a")
	s.Add("b")
	assert.True(t, s.Contains("a"))
	old, ok := s.Add("c")
	assert.True(t, ok)
	assert.Equal(t, "a", old, "FIFO: a read does not promote")
}

func TestPeerSetRemoveReturnAndClear(t *testing.T) {
	s := newTestPeerSet(t, 3)
	s.Add("a")
	assert.True(t, s.Remove("a"))
	assert.False(t, s.Remove("a"))
	assert.Zero(t, s.Len())
	assert.Empty(t, s.List())
	for _, k := range []string{"a", "b", "c"} {
		s.Add(k)
	}
	assert.True(t, s.Full())
	s.Clear()
	assert.Zero(t, s.Len())
	assert.False(t, s.Full())
	assert.False(t, s.Contains("a"))
	assert.Empty(t, slices.Collect(s.All()))
	s.Add("d")
	assert.Equal(t, []string{"d"}, s.List())
}

func TestPeerSetAllEarlyStop(t *testing.T) {
	s := newTestPeerSet(t, 5)
	for _, k := range []string{"a", "b", "c"} {
		s.Add(k)
	}
	var got []string
	for k := range s.All() {
		got = append(got, k)
		if k == "b" {
			break
		}
	}
	assert.Equal(t, []string{"a", "b"}, got)
}

// TestPeerSetModel compares the set against a naive slice model under random
// operations.
func TestPeerSetModel(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const capacity = 8
	s, err := NewPeerSet[int](capacity)
	require.NoError(t, err)
	model := []int{} // oldest first
	for step := range 20_000 {
		k := r.IntN(20)
		switch r.IntN(10) {
		case 0:
			i := slices.Index(model, k)
			require.Equal(t, i >= 0, s.Remove(k), "step %d", step)
			if i >= 0 {
				model = slices.Delete(model, i, i+1)
			}
		case 1:
			if r.IntN(50) == 0 {
				s.Clear()
				model = model[:0]
			}
		default:
			var wantOld int
			wantEvicted := false
			if i := slices.Index(model, k); i >= 0 {
				model = slices.Delete(model, i, i+1)
			} else if len(model) == capacity {
				wantOld, wantEvicted = model[0], true
				model = model[1:]
			}
			model = append(model, k)
			old, evicted := s.Add(k)
			require.Equal(t, wantEvicted, evicted, "step %d", step)
			require.Equal(t, wantOld, old, "step %d", step)
		}
		require.Equal(t, model, s.List(), "step %d", step)
		require.Equal(t, s.Contains(k), slices.Contains(model, k))
	}
}

// TestPeerSetLazyMap: an empty set holds no map, whatever its capacity,
// until the first Add, and again after Clear.
func TestPeerSetLazyMap(t *testing.T) {
	s, err := NewPeerSet[[16]byte](DefaultPeerGreylistSize)
	require.NoError(t, err)
	assert.Nil(t, s.m)
	assert.False(t, s.Contains([16]byte{1}))
	assert.False(t, s.Remove([16]byte{1}))
	assert.Empty(t, s.List())
	assert.Nil(t, s.m, "reads and removals leave it unallocated")
	s.Add([16]byte{1})
	assert.True(t, s.Contains([16]byte{1}))
	s.Clear()
	assert.Nil(t, s.m)
	assert.Zero(t, s.Len())
	s.Add([16]byte{2})
	assert.Equal(t, [][16]byte{{2}}, s.List())
}
