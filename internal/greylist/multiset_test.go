package greylist

import (
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMultiset(t *testing.T) {
	type op struct {
		add  bool // else RemoveOne
		key  string
		want int // count returned
	}
	tests := []struct {
		name     string
		ops      []op
		in, out  []string
		len      int
		distinct int
	}{
		{name: "empty", out: []string{"a"}},
		{name: "ban", ops: []op{{true, "a", 1}}, in: []string{"a"}, len: 1, distinct: 1},
		{name: "ban unban", ops: []op{{true, "a", 1}, {false, "a", 0}}, out: []string{"a"}},
		{
			// spec §2 Blacklist quirk: Hashtbl.add twice, Hashtbl.remove once.
			name: "double ban survives one unban",
			ops:  []op{{true, "a", 1}, {true, "a", 2}, {false, "a", 1}},
			in:   []string{"a"}, len: 1, distinct: 1,
		},
		{
			name: "double ban, double unban",
			ops:  []op{{true, "a", 1}, {true, "a", 2}, {false, "a", 1}, {false, "a", 0}},
			out:  []string{"a"},
		},
		{name: "unban absent", ops: []op{{false, "a", 0}, {true, "a", 1}}, in: []string{"a"}, len: 1, distinct: 1},
		{
			name: "independent keys",
			ops:  []op{{true, "a", 1}, {true, "b", 1}, {true, "a", 2}, {false, "b", 0}},
			in:   []string{"a"}, out: []string{"b"}, len: 2, distinct: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Multiset[string] // zero value is usable
			for i, o := range tt.ops {
				if o.add {
					assert.Equal(t, o.want, s.Add(o.key), "op %d", i)
				} else {
					assert.Equal(t, o.want, s.RemoveOne(o.key), "op %d", i)
				}
			}
			for _, k := range tt.in {
				assert.True(t, s.Contains(k), k)
			}
			for _, k := range tt.out {
				assert.False(t, s.Contains(k), k)
				assert.Zero(t, s.Count(k), k)
			}
			assert.Equal(t, tt.len, s.Len())
			assert.Equal(t, tt.distinct, s.Distinct())
		})
	}
}

func TestMultisetRemoveAllClearAll(t *testing.T) {
	var s Multiset[int]
	assert.False(t, s.RemoveAll(1))
	s.Clear()
	s.Add(1)
	s.Add(1)
	s.Add(2)
	assert.Equal(t, map[int]int{1: 2, 2: 1}, maps.Collect(s.All()))
	assert.True(t, s.RemoveAll(1))
	assert.False(t, s.Contains(1))
	assert.Equal(t, 1, s.Len())
	s.Clear()
	assert.Zero(t, s.Len())
	assert.False(t, s.Contains(2))
}
