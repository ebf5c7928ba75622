"""The controller: the engine's datapath sequenced over a whole sequence, one step after the other.

:class:`EngineCore` holds the gate-gradient unit, the dz buffer, the zero-skip
encoder, the MAC lanes and the step memories, and sequences them. It talks to
the outside through *want* signals instead of streams: in a cycle in which it
wants an input (or has an output) the engine top either completes that
transfer or freezes the whole core for the cycle (an ``EnableInserter`` on its
clock domain). A frozen cycle changes nothing, so the core's behaviour in its
own cycles does not depend on the host's handshakes at all: its ``cycles``
counter equals golden_model.cycles' prediction under any valid/ready pattern,
and the cycles lost to the host are counted apart by the top.

A sequence (after ``start``; the run-time registers tau, dense, T and B are
sampled then):

1. the a-loader fills the two a buffers, step after step, as soon as a buffer
   is free (the step that used it has finished): B x C chunk transfers a step;
2. per step (t = T-1 down to 0): *feed* B x H elements (unit j, batch b
   within j) into the gate-gradient unit, together with dh_rec and dc_next
   of the step before (zero for the first); its dz go to the dz buffer, its
   dc_prev to the dc memory; the encoder issues the nonzeros (all entries in
   dense mode) to the lanes; when the encoder and the lanes are done, *read
   out* da (B x C chunks), rounded to the grad format: dx goes out, dh_rec
   stays for the next step;
3. then dh0 and dc0 go out (B x H, unit j, batch b within j), dW (4H x C
   chunks, row k, chunk c within k) and db (4H), each accumulator cleared as
   it is read.

After reset the controller clears every accumulator before it is idle.
"""

import enum

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, memory, wiring
from amaranth.lib.wiring import In, Out

from golden_model.cycles import counter_width
from golden_model.engine_config import EngineConfig
from golden_model.engine_model import FLAGS

from . import fixed
from .bits import address, depth, equals
from .encoder import ZeroSkipEncoder
from .fixed import shape_of
from .gate_grad import GateGradUnit
from .layouts import chunk_layout, dz_layout, element_layout, state_layout
from .mac_lanes import MacLanes

__all__ = ["EngineCore", "COUNTERS", "counters_layout", "flags_layout", "micro_arch"]


class State(enum.Enum):
    """The sequencer's states (a Switch over an enum: Amaranth's FSM compares its state with
    narrow constants, which Verilator warns about)."""
    CLEAR_DA = 0
    IDLE = 1
    WAIT = 2
    FEED = 3
    MAC = 4
    DRAIN = 5
    STATE = 6
    DW = 7
    DB = 8
    LAST = 9

#: The performance counters, in the order of golden_model.cycles.CycleCounts.
COUNTERS = ("cycles", "steps", "mac_busy", "hazard", "issued", "nonzeros", "zeros_skipped")


def counters_layout(config):
    return data.StructLayout({name: counter_width(config) for name in COUNTERS})


def flags_layout():
    return data.StructLayout({name: 1 for name in FLAGS})


def micro_arch(config):
    """The golden_model.cycles.MicroArch of this hardware for ``config``, from its components' own
    latencies: an element's feed register, the gate-gradient unit's latency (its schedule, which
    tests/hw/test_gate_grad.py holds equal to the simulated unit) and the dz buffer (a buffered
    FIFO: two cycles from write to read); the feed interval; the lanes' read-modify-write depth;
    their write latency and the cycle in which the controller sees them idle."""
    from golden_model.cycles import MicroArch, ggu_schedule
    ggu = ggu_schedule(config.ggu_cycles)
    return MicroArch(ggu_latency=1 + ggu.latency + 2, buffer_latency=2, rmw_depth=MacLanes.rmw_depth,
                     mac_drain=MacLanes.write_latency + 1, feed_interval=ggu.interval)


class EngineCore(wiring.Component):
    """The engine's datapath and sequencing; see the module docstring.

    Ports (``*_want``: the core takes or gives a transfer in every cycle it runs with it high)
    -----
    elem, elem_want : the next element of the step (``element_layout``).
    a, a_want : the next chunk of a_t.
    weight, weight_valid, weight_take : a chunk of W, taken only while idle (never stalls).
    dx, dx_want; state, state_want; dw, dw_want; db, db_want : the outputs.
    start, tau, dense, seq_len, batch : the run-time registers, sampled at ``start`` while idle.
    idle : ready for ``start`` (and for weights).
    refused : the last ``start`` was refused: seq_len or batch out of range (1 .. max_seq, 1 .. max_batch).
    counters, flags : the performance counters and sticky overflow flags of the last sequence.
    """

    def __init__(self, config):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, not {type(config).__name__}")
        config.check_buildable()
        c = self.config = config
        super().__init__({
            "elem": In(element_layout(c)), "elem_want": Out(1),
            "a": In(chunk_layout(c, c.inp)), "a_want": Out(1),
            "weight": In(chunk_layout(c, c.weight)), "weight_valid": In(1), "weight_take": Out(1),
            "dx": Out(chunk_layout(c, c.grad)), "dx_want": Out(1),
            "state": Out(state_layout(c)), "state_want": Out(1),
            "dw": Out(chunk_layout(c, c.dw_acc)), "dw_want": Out(1),
            "db": Out(shape_of(c.db_acc)), "db_want": Out(1),
            "start": In(1), "tau": In(shape_of(c.grad)), "dense": In(1),
            "seq_len": In(range(1, c.max_seq + 1)), "batch": In(range(1, c.max_batch + 1)),
            "idle": Out(1), "refused": Out(1),
            "counters": Out(counters_layout(c)), "flags": Out(flags_layout()),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        H, I, N, P, C = c.hidden_size, c.input_size, c.n_inputs, c.lanes, c.cols_per_lane
        B, T, R = c.max_batch, c.max_seq, c.n_rows
        CI = -(-I // P)                       # chunks that hold dx columns

        m.submodules.ggu = ggu = GateGradUnit(c)
        m.submodules.encoder = enc = ZeroSkipEncoder(c)
        m.submodules.lanes = lanes = MacLanes(c)
        m.submodules.dz_fifo = dz_fifo = fifo.SyncFIFOBuffered(width=dz_layout(c).size, depth=max(B * H, 3))
        wiring.connect(m, enc.o_nz, lanes.i_nz)

        # -- run-time registers ----------------------------------------------------------------------
        tau, dense = Signal.like(self.tau), Signal()
        t_last = Signal(range(T + 1))         # seq_len - 1, as wide as the step counter
        b_last = Signal(range(max(B, 2)))     # batch - 1
        m.d.comb += [ggu.tau.eq(tau), enc.dense.eq(dense)]

        step = Signal(range(T + 1))           # steps finished in this sequence (step 0 is t = T-1)
        first_step = ~step.any()
        m.d.comb += lanes.abuf.eq(step[0])

        # -- counters and flags ------------------------------------------------------------------------
        cnt, flags = self.counters, self.flags
        running = Signal()                    # between start and the last output
        stepping = Signal()                   # between start and the end of the last step
        with m.If(running):
            m.d.sync += cnt.cycles.eq(cnt.cycles + 1)
        with m.If(stepping):
            m.d.sync += cnt.steps.eq(cnt.steps + 1)
        with m.If(lanes.i_nz.valid & lanes.i_nz.ready):
            m.d.sync += cnt.issued.eq(cnt.issued + 1)
        with m.If(lanes.hazard):
            m.d.sync += cnt.hazard.eq(cnt.hazard + 1)
        m.d.sync += flags.dw.eq(flags.dw | lanes.ovf_dw)
        m.d.sync += flags.da.eq(flags.da | lanes.ovf_da)
        m.d.sync += flags.db.eq(flags.db | lanes.ovf_db)

        # -- the a-loader: fills buffer (step % 2) as soon as it is free ----------------------------
        ld_step = Signal(range(T + 1))        # the step being loaded
        ld_ahead = Signal(range(3))           # buffers loaded and not yet used up: ld_step - step
        ld_all = Signal()                     # every step of the sequence loaded
        ld_c, ld_b = Signal(range(max(C, 2))), Signal(range(max(B, 2)))
        m.d.comb += self.a_want.eq(running & ~ld_all & ~ld_ahead[1])
        pad = N - (C - 1) * P                 # lanes of the last chunk that hold a real column
        m.d.comb += [lanes.a_we.eq(self.a_want), lanes.a_buf.eq(ld_step[0]),
                     lanes.a_addr.eq(address((ld_c, C), (ld_b, B)))]
        for p in range(P):
            real = 1 if p < pad else ~equals(ld_c, C - 1)
            m.d.comb += lanes.a_data[p].eq(Mux(real, self.a[p], 0))
        step_done = Signal()                  # this cycle ends a step's MAC work: its a buffer is free
        load_done = Signal()
        with m.If(self.a_want):
            m.d.sync += ld_c.eq(ld_c + 1)
            with m.If(equals(ld_c, C - 1)):
                m.d.sync += [ld_c.eq(0), ld_b.eq(ld_b + 1)]
                with m.If(ld_b == b_last):
                    m.d.sync += [ld_b.eq(0), ld_step.eq(ld_step + 1)]
                    m.d.comb += load_done.eq(1)
                    with m.If(ld_step == t_last):
                        m.d.sync += ld_all.eq(1)
        with m.If(load_done & ~step_done):
            m.d.sync += ld_ahead.eq(ld_ahead + 1)
        with m.If(step_done & ~load_done):
            m.d.sync += ld_ahead.eq(ld_ahead - 1)

        # -- the walk over elements (unit j, batch b within j): feed and state output ---------------
        # Element (j, b): dc at (j, b); dh_rec (column I + j of da) in lane (I + j) % P, chunk (I + j) // P.
        w_j, w_b = Signal(range(max(H, 2))), Signal(range(max(B, 2)))
        w_lane, w_chunk = Signal(range(max(P, 2))), Signal(range(max(C, 2)))
        walk_last = equals(w_j, H - 1) & (w_b == b_last)
        walking = Signal()
        pace = Signal(range(max(c.ggu_cycles, 2)))   # cycles since the feed's last element
        m.submodules.dc_mem = dc_mem = memory.Memory(shape=shape_of(c.grad), depth=depth(B, H), init=[])
        dc_wp, dc_rp = dc_mem.write_port(), dc_mem.read_port()
        out_rps, out_wps = [], []
        for p in range(P):
            mm = memory.Memory(shape=shape_of(c.grad), depth=depth(C, B), init=[])
            m.submodules[f"rec{p}"] = mm
            out_wps.append(mm.write_port())
            out_rps.append(mm.read_port(transparent_for=(out_wps[p],)))
            m.d.comb += out_rps[p].addr.eq(address((w_chunk, C), (w_b, B)))
        m.d.comb += dc_rp.addr.eq(address((w_b, B), (w_j, H)))
        with m.If(walking):
            m.d.sync += w_b.eq(w_b + 1)
            with m.If(w_b == b_last):
                m.d.sync += [w_b.eq(0), w_j.eq(w_j + 1), w_lane.eq(w_lane + 1)]
                with m.If(equals(w_lane, P - 1)):
                    m.d.sync += [w_lane.eq(0), w_chunk.eq(w_chunk + 1)]
                with m.If(equals(w_j, H - 1)):
                    m.d.sync += [w_j.eq(0), w_lane.eq(I % P), w_chunk.eq(I // P)]
        # stage 1 of the walk: the memories answer
        # (the element itself is taken from the host in this cycle, beside the memories' answers: no copy)
        e1_lane = Signal.like(w_lane)
        e1_feed, e1_state = Signal(), Signal()
        m.d.sync += e1_lane.eq(w_lane)
        m.d.comb += self.elem_want.eq(e1_feed)
        dh_rec = Signal(shape_of(c.grad))
        m.d.comb += dh_rec.eq(out_rps[P - 1].data)
        for p in range(P - 1):
            with m.If(equals(e1_lane, p)):
                m.d.comb += dh_rec.eq(out_rps[p].data)
        m.d.comb += [
            ggu.i_elem.valid.eq(e1_feed),
            ggu.i_elem.payload.dh_rec.eq(Mux(first_step, 0, dh_rec)),
            ggu.i_elem.payload.dc_next.eq(Mux(first_step, 0, dc_rp.data)),
            self.state_want.eq(e1_state),
            self.state.dh0.eq(dh_rec), self.state.dc0.eq(dc_rp.data),
        ]
        for name in element_layout(c).members:
            m.d.comb += ggu.i_elem.payload[name].eq(self.elem[name])

        # -- the gate-gradient unit's results: dz to the buffer, dc_prev to the dc memory -------------
        # Only elements with something to issue enter the dz buffer (every element in dense mode): an
        # element without a nonzero costs the encoder and the lanes nothing at all.
        g_j, g_b = Signal(range(max(H, 2))), Signal(range(max(B, 2)))
        ggu_all = Signal()                    # the unit has produced the step's last element
        m.d.comb += ggu.o_grad.ready.eq(1)
        out = ggu.o_grad.payload
        dz_in = Signal(dz_layout(c))
        nonzero = Signal(4)
        m.d.comb += [dz_in.j.eq(g_j), dz_in.b.eq(g_b), dz_fifo.w_data.eq(dz_in),
                     dz_fifo.w_en.eq(ggu.o_grad.valid & (nonzero.any() | dense)),
                     dc_wp.addr.eq(address((g_b, B), (g_j, H))), dc_wp.data.eq(out.dc_prev),
                     dc_wp.en.eq(ggu.o_grad.valid)]
        for q, name in enumerate(("dz_i", "dz_f", "dz_g", "dz_o")):
            m.d.comb += [dz_in.dz[q].eq(out[name]), nonzero[q].eq(out[name].any())]
        # nonzeros and skipped zeros of the element, registered at the counters' width (one cycle late)
        ones, zeros = Signal.like(cnt.nonzeros), Signal.like(cnt.zeros_skipped)
        m.d.sync += [ones.eq(0), zeros.eq(0)]
        with m.If(ggu.o_grad.valid):
            with m.Switch(nonzero):
                for pattern in range(16):
                    with m.Case(pattern):
                        n = bin(pattern).count("1")
                        m.d.sync += [ones.eq(n), zeros.eq(Mux(dense, 0, 4 - n))]
        m.d.sync += [cnt.nonzeros.eq(cnt.nonzeros + ones), cnt.zeros_skipped.eq(cnt.zeros_skipped + zeros)]
        with m.If(ggu.o_grad.valid):
            m.d.sync += [g_b.eq(g_b + 1), flags.gate.eq(flags.gate | out.overflow)]
            with m.If(g_b == b_last):
                m.d.sync += [g_b.eq(0), g_j.eq(g_j + 1)]
                with m.If(equals(g_j, H - 1)):
                    m.d.sync += [g_j.eq(0), ggu_all.eq(1)]

        # -- dz buffer -> encoder; the step's MAC work is done when every element went through -------
        m.d.comb += [enc.i_dz.payload.eq(dz_fifo.r_data), enc.i_dz.valid.eq(dz_fifo.r_rdy),
                     dz_fifo.r_en.eq(enc.i_dz.ready)]
        mac_done = ggu_all & ~dz_fifo.level.any() & ~enc.o_nz.valid & lanes.idle
        with m.If(lanes.busy):
            m.d.sync += cnt.mac_busy.eq(cnt.mac_busy + 1)

        # -- read-out walks over the accumulators: (c, b) of da, (c, k) of dW, k of db ---------------
        r_c, r_b = Signal(range(max(C, 2))), Signal(range(max(B, 2)))
        r_k = Signal(range(max(R, 2)))
        r_dx = Signal()                       # chunk r_c holds dx columns
        r_left = Signal(range(max(C, 2)))     # chunks of the da read-out after the current one
        ro_active, ro_buf = Signal(), Signal()   # a da read-out is running; its da buffer
        clr_buf = Signal()                    # the da buffer being cleared after reset
        m.d.comb += [lanes.rd_addr.eq(address((r_c, C), (r_b, B))), lanes.dbuf.eq(step[0]),
                     lanes.rd_dbuf.eq(ro_buf | clr_buf)]
        # stage 1 of the da read-out: round to the grad format, keep dh_rec, send dx
        ro_valid, ro_dx = Signal(), Signal()
        ro_clear = Signal(init=1)             # clearing after reset: the read-outs go nowhere
        ro_addr = Signal.like(out_wps[0].addr)
        ro_c = Signal.like(r_c)
        m.d.sync += [ro_addr.eq(address((r_c, C), (r_b, B))), ro_c.eq(r_c)]
        out_over = []
        for p in range(P):
            v, over = fixed.fit(fixed.round_shift(lanes.da_data[p], c.da_acc.frac - c.grad.frac, c.rounding),
                                c.grad, c.overflow)
            m.d.comb += [out_wps[p].addr.eq(ro_addr), out_wps[p].data.eq(v), out_wps[p].en.eq(ro_valid & ~ro_clear)]
            real = 1 if p < I - (CI - 1) * P else ~equals(ro_c, CI - 1)   # a dx column of the chunk
            m.d.comb += self.dx[p].eq(Mux(real, v, 0))
            out_over.append(over)
        m.d.comb += self.dx_want.eq(ro_valid & ro_dx & ~ro_clear)
        with m.If(ro_valid & ~ro_clear):
            m.d.sync += flags.out.eq(flags.out | Cat(out_over).any())

        dw_valid, db_valid = Signal(), Signal()
        m.d.comb += [self.dw.eq(lanes.dw_data), self.db.eq(lanes.db_data),
                     self.dw_want.eq(dw_valid & ~ro_clear), self.db_want.eq(db_valid & ~ro_clear)]
        m.d.sync += [ro_valid.eq(0), dw_valid.eq(0), db_valid.eq(0), e1_feed.eq(0), e1_state.eq(0)]

        # The da read-out of a step runs beside the next step's feed: chunks c0 = I // P .. C-1 (the
        # dh_rec columns) first, then 0 .. c0-1; batch b within each chunk. The next step's element
        # (j, b) needs chunk (I + j) // P of batch b, which is out by the time the feed reaches it.
        c0 = I // P
        start_readout = Signal()
        with m.If(start_readout):
            m.d.sync += [ro_active.eq(1), ro_buf.eq(step[0]), r_c.eq(c0), r_b.eq(0), r_left.eq(C - 1),
                         r_dx.eq(int(c0 < CI))]
        with m.If(ro_active):
            m.d.comb += lanes.rd_da.eq(1)
            m.d.sync += [ro_valid.eq(1), ro_dx.eq(r_dx), r_b.eq(r_b + 1)]
            with m.If(r_b == b_last):
                m.d.sync += [r_b.eq(0), r_c.eq(r_c + 1), r_left.eq(r_left - 1)]
                with m.If(equals(r_c, CI - 1)):
                    m.d.sync += r_dx.eq(0)
                with m.If(equals(r_c, C - 1)):
                    m.d.sync += [r_c.eq(0), r_dx.eq(1)]
                with m.If(~r_left.any()):
                    m.d.sync += ro_active.eq(0)

        # -- the sequencer ------------------------------------------------------------------------------
        m.d.comb += self.idle.eq(0)
        state = Signal(State, init=State.CLEAR_DA)

        def in_state(name):
            return equals(state, State[name].value)

        # after reset every accumulator is cleared (da, then dW and db through the read-out states)
        with m.If(in_state("CLEAR_DA")):      # both da buffers, one after the other
            m.d.comb += lanes.rd_da.eq(1)
            m.d.sync += r_c.eq(r_c + 1)
            with m.If(equals(r_c, C - 1)):
                m.d.sync += [r_c.eq(0), r_b.eq(r_b + 1)]
                with m.If(equals(r_b, B - 1)):
                    m.d.sync += [r_b.eq(0), clr_buf.eq(1)]
                    with m.If(clr_buf):
                        m.d.sync += [clr_buf.eq(0), state.eq(State.DW)]
        with m.Elif(in_state("IDLE")):
            m.d.comb += [self.idle.eq(1), self.weight_take.eq(self.weight_valid)]
            self._weight_load(m, lanes)
            # a start with T or B out of range is refused (the engine stays idle and says so)
            def at_most(value, limit):     # (no comparison where the width cannot exceed the limit)
                return value <= limit if (1 << len(value)) - 1 > limit else 1
            fits = self.seq_len.any() & at_most(self.seq_len, T) & self.batch.any() & at_most(self.batch, B)
            with m.If(self.start & ~fits):
                m.d.sync += self.refused.eq(1)
            with m.If(self.start & fits):
                m.d.sync += [
                    tau.eq(self.tau), dense.eq(self.dense), t_last.eq(self.seq_len - 1), b_last.eq(self.batch - 1),
                    running.eq(1), stepping.eq(1), step.eq(0), ld_step.eq(0), ld_ahead.eq(0), ld_all.eq(0), ld_c.eq(0),
                    ld_b.eq(0), cnt.eq(0), flags.eq(0), self.refused.eq(0),
                ]
                m.d.sync += state.eq(State.WAIT)
        with m.Elif(in_state("WAIT")):             # for step `step`'s a_t
            with m.If(ld_ahead.any()):
                m.d.sync += [w_j.eq(0), w_b.eq(0), w_lane.eq(I % P), w_chunk.eq(I // P),
                             g_j.eq(0), g_b.eq(0), ggu_all.eq(0), pace.eq(0)]
                m.d.sync += state.eq(State.FEED)
        with m.Elif(in_state("FEED")):     # one element every ggu_cycles cycles, the unit's rate
            tick = equals(pace, 0)
            m.d.comb += walking.eq(tick)
            m.d.sync += [e1_feed.eq(tick), pace.eq(Mux(equals(pace, c.ggu_cycles - 1), 0, pace + 1))]
            with m.If(walk_last & tick):
                m.d.sync += state.eq(State.MAC)
        with m.Elif(in_state("MAC")):         # until the step's entries are done and the last read-out too
            with m.If(mac_done & ~ro_active):
                m.d.comb += [start_readout.eq(1), step_done.eq(1)]
                m.d.sync += step.eq(step + 1)
                with m.If(step == t_last):
                    m.d.sync += state.eq(State.DRAIN)
                with m.Else():
                    m.d.sync += state.eq(State.WAIT)
        with m.Elif(in_state("DRAIN")):       # the last step's read-out
            with m.If(~ro_active):
                m.d.sync += [stepping.eq(0), w_j.eq(0), w_b.eq(0), w_lane.eq(I % P), w_chunk.eq(I // P)]
                m.d.sync += state.eq(State.STATE)
        with m.Elif(in_state("STATE")):            # dh0 and dc0
            m.d.comb += walking.eq(1)
            m.d.sync += e1_state.eq(1)
            with m.If(walk_last):
                m.d.sync += [r_c.eq(0), r_k.eq(0)]
                m.d.sync += state.eq(State.DW)
        with m.Elif(in_state("DW")):
            m.d.comb += [lanes.rd_dw.eq(1), lanes.rd_addr.eq(address((r_c, C), (r_k, R)))]
            m.d.sync += [dw_valid.eq(1), r_c.eq(r_c + 1)]
            with m.If(equals(r_c, C - 1)):
                m.d.sync += [r_c.eq(0), r_k.eq(r_k + 1)]
                with m.If(equals(r_k, R - 1)):
                    m.d.sync += r_k.eq(0)
                    m.d.sync += state.eq(State.DB)
        with m.Elif(in_state("DB")):
            m.d.comb += [lanes.rd_db.eq(1), lanes.rd_addr.eq(r_k)]
            m.d.sync += [db_valid.eq(1), r_k.eq(r_k + 1)]
            with m.If(equals(r_k, R - 1)):
                m.d.sync += r_k.eq(0)
                m.d.sync += state.eq(State.LAST)
        with m.Elif(in_state("LAST")):             # the last db word goes out
            m.d.sync += [running.eq(0), ro_clear.eq(0)]
            m.d.sync += state.eq(State.IDLE)
        with m.Else():                    # (no other encoding is reachable)
            m.d.sync += state.eq(State.IDLE)
        return m

    def _weight_load(self, m, lanes):
        """W arrives while idle, chunk c of row k after chunk c-1; padding columns are written as 0."""
        c = self.config
        C, N, P, R = c.cols_per_lane, c.n_inputs, c.lanes, c.n_rows
        wt_c, wt_k = Signal(range(max(C, 2))), Signal(range(max(R, 2)))
        m.d.comb += [lanes.w_we.eq(self.weight_valid), lanes.w_addr.eq(address((wt_c, C), (wt_k, R)))]
        for p in range(P):
            real = 1 if p < N - (C - 1) * P else ~equals(wt_c, C - 1)
            m.d.comb += lanes.w_data[p].eq(Mux(real, self.weight[p], 0))
        with m.If(self.weight_valid):
            m.d.sync += wt_c.eq(wt_c + 1)
            with m.If(equals(wt_c, C - 1)):
                m.d.sync += [wt_c.eq(0), wt_k.eq(wt_k + 1)]
                with m.If(equals(wt_k, R - 1)):
                    m.d.sync += wt_k.eq(0)
