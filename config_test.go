package p2ppool

import (
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestValidateReportsInFieldOrder: a Config with an error in many groups
// (and two in one) gets the same message from every Validate call, the
// errors in the order of the fields. Validate used to range over maps, so
// the order changed from call to call.
func TestValidateReportsInFieldOrder(t *testing.T) {
	cfg := Config{
		Identity:          testIdentity(t),
		ProofOfWorkTarget: 300,
		Network:           NetworkConfig{TrustedPoints: []netip.AddrPort{{}}},
		Limits:            Limits{MaxConnections: -1, OutgoingMessageQueueSize: -1},
		Budgets:           BudgetConfig{TotalIncomingQueueSize: -1, MaxMessageSize: -1},
		Admission:         AdmissionConfig{MaxPendingPerAddr: -1, SubnetBitsIPv4: 33, HandshakeFailureLimit: -2},
		Timeouts:          TimeoutConfig{Connection: -1, FirstMessage: -2, Idle: -2, Write: -2},
		Tables:            TableConfig{MaxKnownPoints: TableLimit{High: 1, Low: 2}, PointsHistorySize: -1},
		Greylist:          GreylistConfig{Timeout: -1, IPSizeKiB: 9000, PeerSize: -1},
		Reconnection:      ReconnectionConfig{InitialDelay: -1},
		Maintenance:       MaintenanceConfig{IdleTime: -2, SwapLinger: -2},
		PeersFile:         PeersFileConfig{SavePeriod: -2},
		Wire:              WireConfig{BinaryChunksSize: 1, UnknownMessages: 9},
		Control:           ControlConfig{Bootstrap: RateLimit{Rate: -1}},
		Dial:              DialConfig{MaxInFlight: -1},
	}
	want := []string{
		"ProofOfWorkTarget",
		"Network.TrustedPoints",
		"Limits.MaxConnections", "Limits.OutgoingMessageQueueSize",
		"Budgets.TotalIncomingQueueSize", "Budgets.MaxMessageSize",
		"Admission.MaxPendingPerAddr", "Admission.SubnetBitsIPv4", "Admission.HandshakeFailureLimit",
		"Timeouts.Connection", "Timeouts.FirstMessage", "Timeouts.Idle", "Timeouts.Write",
		"Tables.MaxKnownPoints", "Tables.PointsHistorySize",
		"Greylist.Timeout", "Greylist.IPSizeKiB", "Greylist.PeerSize",
		"Reconnection.InitialDelay",
		"Maintenance.IdleTime", "Maintenance.SwapLinger",
		"PeersFile.SavePeriod",
		"Wire.BinaryChunksSize", "Wire.UnknownMessages",
		"Control.Bootstrap",
		"Dial.MaxInFlight",
	}
	first := cfg.Validate()
	require.Error(t, first)
	lines := strings.Split(first.Error(), "\n")
	require.Len(t, lines, len(want), "one error per bad field:\n%v", first)
	for i, name := range want {
		assert.Contains(t, lines[i], name, "error %d", i)
	}
	for range 100 {
		require.Equal(t, first.Error(), cfg.Validate().Error(), "the same message every time")
	}
}

// TestZeroIsTheDefaultAndDisabledIsOff: every group's zero value is its
// documented default; every field that may be turned off accepts
// Disabled (int(Disabled), int64(Disabled) for counts and speeds), keeps
// it after the defaults are applied, and refuses other negative values;
// the fields that cannot be turned off refuse Disabled.
func TestZeroIsTheDefaultAndDisabledIsOff(t *testing.T) {
	id := testIdentity(t)
	d := Config{Identity: id}.withDefaults()
	assert.Equal(t, Limits{
		MinConnections: DefaultMinConnections, ExpectedConnections: DefaultExpectedConnections, MaxConnections: DefaultMaxConnections,
		IncomingAppMessageQueueSize: DefaultIncomingAppMessageQueueSize, IncomingMessageQueueSize: DefaultIncomingMessageQueueSize,
		OutgoingMessageQueueSize: DefaultOutgoingMessageQueueSize,
	}, d.Limits)
	assert.Equal(t, BudgetConfig{DefaultTotalIncomingQueueSize, DefaultTotalOutgoingQueueSize, DefaultMaxMessageSize}, d.Budgets)
	assert.Equal(t, AdmissionConfig{
		MaxIncomingConnections: DefaultMaxIncomingConnections,
		MaxPendingPerAddr:      DefaultMaxPendingPerAddr, MaxPendingPerSubnet: DefaultMaxPendingPerSubnet,
		MaxIncomingPerAddr: DefaultMaxIncomingPerAddr, MaxIncomingPerSubnet: DefaultMaxIncomingPerSubnet,
		SubnetBitsIPv4: DefaultSubnetBitsIPv4, AddrBitsIPv6: DefaultAddrBitsIPv6, SubnetBitsIPv6: DefaultSubnetBitsIPv6,
		HandshakeFailureLimit: DefaultHandshakeFailureLimit,
	}, d.Admission)
	assert.Equal(t, TimeoutConfig{
		Connection: DefaultConnectionTimeout, Authentication: DefaultAuthenticationTimeout,
		FirstMessage: DefaultFirstMessageTimeout, Idle: 0, Write: DefaultWriteTimeout,
	}, d.Timeouts, "Idle's default is none")
	assert.Equal(t, TableConfig{DefaultMaxKnownPoints, DefaultMaxKnownPeerIDs, DefaultKnownPeerIDsHistorySize, DefaultKnownPointsHistorySize}, d.Tables)
	assert.Equal(t, GreylistConfig{DefaultGreylistTimeout, DefaultIPGreylistSizeKiB, DefaultPeerGreylistSize}, d.Greylist)
	assert.Equal(t, MaintenanceConfig{DefaultMaintenanceIdleTime, DefaultSwapLinger}, d.Maintenance)
	assert.Equal(t, PeersFileConfig{SavePeriod: DefaultPeersFileSavePeriod}, d.PeersFile)
	assert.Equal(t, DefaultNodeProofOfWork, d.ProofOfWorkTarget)

	type field struct {
		name string
		set  func(c *Config, v int64)
		get  func(c *Config) int64
	}
	dur := func(p func(c *Config) *time.Duration) (func(*Config, int64), func(*Config) int64) {
		return func(c *Config, v int64) { *p(c) = time.Duration(v) }, func(c *Config) int64 { return int64(*p(c)) }
	}
	count := func(p func(c *Config) *int) (func(*Config, int64), func(*Config) int64) {
		return func(c *Config, v int64) { *p(c) = int(v) }, func(c *Config) int64 { return int64(*p(c)) }
	}
	speed := func(p func(c *Config) *int64) (func(*Config, int64), func(*Config) int64) {
		return func(c *Config, v int64) { *p(c) = v }, func(c *Config) int64 { return *p(c) }
	}
	mk := func(name string, set func(*Config, int64), get func(*Config) int64) field {
		return field{name, set, get}
	}
	var (
		fm1, fm2   = dur(func(c *Config) *time.Duration { return &c.Timeouts.FirstMessage })
		id1, id2   = dur(func(c *Config) *time.Duration { return &c.Timeouts.Idle })
		wr1, wr2   = dur(func(c *Config) *time.Duration { return &c.Timeouts.Write })
		mi1, mi2   = dur(func(c *Config) *time.Duration { return &c.Maintenance.IdleTime })
		sl1, sl2   = dur(func(c *Config) *time.Duration { return &c.Maintenance.SwapLinger })
		sp1, sp2   = dur(func(c *Config) *time.Duration { return &c.PeersFile.SavePeriod })
		hf1, hf2   = count(func(c *Config) *int { return &c.Admission.HandshakeFailureLimit })
		md1, md2   = speed(func(c *Config) *int64 { return &c.Limits.MaxDownloadSpeed })
		mu1, mu2   = speed(func(c *Config) *int64 { return &c.Limits.MaxUploadSpeed })
		mcd1, mcd2 = speed(func(c *Config) *int64 { return &c.Limits.MaxConnDownloadSpeed })
		mcu1, mcu2 = speed(func(c *Config) *int64 { return &c.Limits.MaxConnUploadSpeed })
		ct1, ct2   = dur(func(c *Config) *time.Duration { return &c.Timeouts.Connection })
		at1, at2   = dur(func(c *Config) *time.Duration { return &c.Timeouts.Authentication })
		gt1, gt2   = dur(func(c *Config) *time.Duration { return &c.Greylist.Timeout })
		mp1, mp2   = count(func(c *Config) *int { return &c.Admission.MaxPendingPerAddr })
		iq1, iq2   = count(func(c *Config) *int { return &c.Limits.IncomingMessageQueueSize })
	)
	for _, f := range []field{
		mk("Timeouts.FirstMessage", fm1, fm2), mk("Timeouts.Idle", id1, id2), mk("Timeouts.Write", wr1, wr2),
		mk("Maintenance.IdleTime", mi1, mi2), mk("Maintenance.SwapLinger", sl1, sl2),
		mk("PeersFile.SavePeriod", sp1, sp2), mk("Admission.HandshakeFailureLimit", hf1, hf2),
		mk("Limits.MaxDownloadSpeed", md1, md2), mk("Limits.MaxUploadSpeed", mu1, mu2),
		mk("Limits.MaxConnDownloadSpeed", mcd1, mcd2), mk("Limits.MaxConnUploadSpeed", mcu1, mcu2),
	} {
		c := Config{Identity: id}
		f.set(&c, int64(Disabled))
		require.NoError(t, c.Validate(), "%s accepts Disabled", f.name)
		assert.Equal(t, int64(Disabled), f.get(new(c.withDefaults())), "%s stays Disabled", f.name)
		f.set(&c, -2)
		assert.ErrorContains(t, c.Validate(), f.name, "%s refuses -2", f.name)
	}
	for _, f := range []field{
		mk("Timeouts.Connection", ct1, ct2), mk("Timeouts.Authentication", at1, at2), mk("Greylist.Timeout", gt1, gt2),
		mk("Admission.MaxPendingPerAddr", mp1, mp2), mk("Limits.IncomingMessageQueueSize", iq1, iq2),
	} {
		c := Config{Identity: id}
		f.set(&c, int64(Disabled))
		assert.ErrorContains(t, c.Validate(), f.name, "%s cannot be turned off", f.name)
	}
	// A disabled speed cap is no cap for the scheduler, as zero is.
	assert.Zero(t, Limits{MaxDownloadSpeed: int64(Disabled), MaxUploadSpeed: int64(Disabled),
		MaxConnDownloadSpeed: int64(Disabled), MaxConnUploadSpeed: int64(Disabled)}.sched())
}

// TestIdleTimeoutDisabled: Timeouts.Idle = Disabled, like its zero
// default, never ends a quiet connection.
func TestIdleTimeoutDisabled(t *testing.T) {
	for _, idle := range []time.Duration{0, Disabled} {
		synctest.Test(t, func(t *testing.T) {
			n := newNetwork("mem")
			a := newNode(t, n, nil)
			b := newNode(t, n, func(c *Config) { c.Timeouts.Idle = idle })
			connect(t, a, b)
			time.Sleep(24 * time.Hour)
			synctest.Wait()
			assert.Equal(t, 1, b.Conns().Len(), "Idle %v: still connected", idle)
			assert.Zero(t, b.Stats().Connections.Ended[ReasonIdle])
		})
	}
}

// TestSetLimitsQueueSizesApplyToNewConnections: the three queue sizes of
// Limits, IncomingMessageQueueSize among them, apply to the connections
// established after SetLimits; those already running keep theirs.
func TestSetLimitsQueueSizesApplyToNewConnections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork("mem")
		hub := newNode(t, n, nil)
		_, before := connect(t, newNode(t, n, nil), hub)
		l := hub.Config().Limits
		l.IncomingAppMessageQueueSize, l.IncomingMessageQueueSize, l.OutgoingMessageQueueSize = 7, 3<<10, 5<<10
		require.NoError(t, hub.SetLimits(l))
		_, after := connect(t, newNode(t, n, nil), hub)

		assert.Equal(t, DefaultIncomingMessageQueueSize, before.queue.maxBytes)
		assert.Equal(t, DefaultIncomingAppMessageQueueSize, before.queue.appCap)
		assert.Equal(t, 3<<10, after.queue.maxBytes)
		assert.Equal(t, 7, after.queue.appCap)
		assert.Equal(t, 5<<10, after.out.max)
		assert.Equal(t, l, hub.Config().Limits)
	})
}
