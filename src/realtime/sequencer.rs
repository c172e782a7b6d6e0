//! One room's stream on this instance, made exact: frames reach the room's sockets once each
//! and in seq order, however the bus delivered them (late, twice, out of order, or not at all).
//!
//! It only decides; the hub does the I/O. A frame at or below the last one handed out is
//! dropped; the next one goes out with whatever waited behind it; one beyond a gap waits, and
//! the hub reads the gap from the database (one read per room, however many sockets it has).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Frame;
use crate::ids::Seq;

/// Read the events after `after`, up to and including `through`, and hand them to
/// [`Sequencer::repaired`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repair {
    pub after: Seq,
    pub through: Seq,
}

#[derive(Debug)]
pub struct Sequencer {
    /// The last seq handed to the sockets; `None` until the room's position is known.
    last: Option<Seq>,
    /// The highest seq known to be committed.
    known: Option<Seq>,
    /// Frames beyond a gap, waiting for it to be filled.
    pending: BTreeMap<Seq, Arc<Frame>>,
    /// At most this many wait; beyond, a frame is dropped and read from the database instead.
    cap: usize,
    repairing: bool,
}

impl Sequencer {
    pub fn new(cap: usize) -> Sequencer {
        Sequencer {
            last: None,
            known: None,
            pending: BTreeMap::new(),
            cap,
            repairing: false,
        }
    }

    pub fn last(&self) -> Option<Seq> {
        self.last
    }

    /// A frame from the bus or from this instance's commits. What may go out now is pushed
    /// on `out`, in order.
    pub fn offer(&mut self, frame: Arc<Frame>, out: &mut Vec<Arc<Frame>>) -> Option<Repair> {
        // `room.deleted` has no stored event to wait for: it ends the room at once.
        if frame.terminal {
            out.push(frame);
            return None;
        }
        let seq = frame.seq;
        match self.last {
            // The first frame a new stream sees sets its position.
            None => self.hand_out(frame, out),
            Some(last) if seq <= last => {}
            Some(last) if seq == last.next() => self.hand_out(frame, out),
            Some(_) => {
                self.raise_known(seq);
                if self.pending.len() < self.cap {
                    self.pending.insert(seq, frame);
                }
            }
        }
        self.needs_repair()
    }

    /// The start of the stream's only socket, read from the database: a stream whose
    /// position is unknown starts there (its socket reads what came before itself). A known
    /// position stays: the start is then only news of what is committed.
    pub fn seed(&mut self, seq: Seq) -> Option<Repair> {
        match self.last {
            None => {
                self.last = Some(seq);
                // Nothing waits while the position is unknown (frames pass through then).
                self.needs_repair()
            }
            Some(_) => self.committed_through(seq),
        }
    }

    /// Every event through `seq` is committed (the position check, or an event too large for
    /// the bus): anything beyond the last one handed out must be read.
    pub fn committed_through(&mut self, seq: Seq) -> Option<Repair> {
        if self.last.is_none() {
            // Unknown position: what the sockets need is theirs to read; start at `seq`.
            self.last = Some(Seq(seq.0.saturating_sub(1)));
        }
        self.raise_known(seq);
        self.needs_repair()
    }

    /// Events read from the database after `after` (in seq order, possibly a partial page).
    /// Returns whether the repair must go on.
    pub fn repaired(&mut self, events: Vec<Arc<Frame>>, out: &mut Vec<Arc<Frame>>) -> bool {
        let read_any = !events.is_empty();
        for frame in events {
            if self.last.is_none_or(|last| frame.seq > last) {
                // The database is the truth: its next event is the next one, whatever we held.
                self.pending.remove(&frame.seq);
                self.hand_out(frame, out);
            }
        }
        let behind = self.known.zip(self.last).is_some_and(|(k, l)| k > l);
        if behind && !read_any {
            // Nothing more to read (the room is gone, or a marker named a seq that is not
            // there): stop here rather than ask again forever.
            self.known = self.last;
            self.pending.clear();
            self.repairing = false;
            return false;
        }
        if !behind {
            self.repairing = false;
        }
        behind
    }

    /// The read failed: the next frame, position check or seed asks again.
    pub fn repair_failed(&mut self) {
        self.repairing = false;
    }

    /// Where a repair should read from now, if it is still needed (the gap may have been
    /// filled by the bus while the repair waited).
    pub fn still_needed(&mut self) -> Option<Repair> {
        match (self.last, self.known) {
            (Some(after), Some(through)) if through > after => Some(Repair { after, through }),
            _ => {
                self.repairing = false;
                None
            }
        }
    }

    fn hand_out(&mut self, frame: Arc<Frame>, out: &mut Vec<Arc<Frame>>) {
        self.last = Some(frame.seq);
        self.raise_known(frame.seq);
        out.push(frame);
        self.drain(out);
    }

    /// Hands out what waited right behind `last`, and forgets what is already out.
    fn drain(&mut self, out: &mut Vec<Arc<Frame>>) {
        let Some(mut last) = self.last else {
            return;
        };
        while let Some((&seq, _)) = self.pending.first_key_value() {
            if seq > last.next() {
                break;
            }
            if let Some(frame) = self.pending.remove(&seq) {
                if seq == last.next() {
                    last = seq;
                    out.push(frame);
                }
            }
        }
        self.last = Some(last);
    }

    fn raise_known(&mut self, seq: Seq) {
        self.known = Some(self.known.map_or(seq, |k| k.max(seq)));
    }

    fn needs_repair(&mut self) -> Option<Repair> {
        if self.repairing {
            return None;
        }
        let repair = self.still_needed()?;
        self.repairing = true;
        Some(repair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RoomId;

    fn f(seq: i64) -> Arc<Frame> {
        Arc::new(Frame {
            room_id: RoomId(1),
            seq: Seq(seq),
            sent_at: None,
            terminal: false,
            ephemeral: None,
            json: format!("{seq}").into(),
        })
    }

    fn seqs(out: &[Arc<Frame>]) -> Vec<i64> {
        out.iter().map(|f| f.seq.0).collect()
    }

    #[test]
    fn in_order_duplicates_and_late_frames() {
        let mut s = Sequencer::new(16);
        let mut out = Vec::new();
        assert_eq!(s.seed(Seq(4)), None);
        for seq in [5, 5, 6, 4, 7] {
            assert_eq!(s.offer(f(seq), &mut out), None);
        }
        assert_eq!(seqs(&out), [5, 6, 7]);
    }

    #[test]
    fn a_gap_waits_for_the_bus_or_the_database() {
        let mut s = Sequencer::new(16);
        let mut out = Vec::new();
        s.seed(Seq(1));
        assert_eq!(
            s.offer(f(4), &mut out),
            Some(Repair {
                after: Seq(1),
                through: Seq(4)
            })
        );
        // One repair at a time.
        assert_eq!(s.offer(f(5), &mut out), None);
        assert!(out.is_empty());
        // The bus fills part of the gap; the repair then reads only the rest.
        s.offer(f(2), &mut out);
        assert_eq!(seqs(&out), [2]);
        assert_eq!(
            s.still_needed(),
            Some(Repair {
                after: Seq(2),
                through: Seq(5)
            })
        );
        assert!(!s.repaired(vec![f(3), f(4), f(5)], &mut out));
        assert_eq!(seqs(&out), [2, 3, 4, 5]);
        // The late original of a repaired frame is a duplicate.
        s.offer(f(3), &mut out);
        s.offer(f(6), &mut out);
        assert_eq!(seqs(&out), [2, 3, 4, 5, 6]);
    }

    #[test]
    fn the_position_check_repairs_a_lost_tail() {
        let mut s = Sequencer::new(16);
        let mut out = Vec::new();
        s.seed(Seq(10));
        assert_eq!(s.committed_through(Seq(10)), None);
        assert_eq!(
            s.committed_through(Seq(12)),
            Some(Repair {
                after: Seq(10),
                through: Seq(12)
            })
        );
        // A partial page goes on; an empty read of a seq that is not there stops.
        assert!(s.repaired(vec![f(11)], &mut out));
        assert!(!s.repaired(vec![], &mut out));
        assert_eq!(seqs(&out), [11]);
        assert_eq!(s.still_needed(), None);
        assert_eq!(s.offer(f(12), &mut out), None);
        assert_eq!(seqs(&out), [11, 12]);
    }

    #[test]
    fn an_unknown_position_is_set_by_the_first_frame_or_marker() {
        let mut out = Vec::new();
        let mut s = Sequencer::new(16);
        s.offer(f(7), &mut out);
        s.offer(f(8), &mut out);
        assert_eq!(seqs(&out), [7, 8]);
        let mut m = Sequencer::new(16);
        // A marker (an event too large for the bus) is read from the database.
        assert_eq!(
            m.committed_through(Seq(3)),
            Some(Repair {
                after: Seq(2),
                through: Seq(3)
            })
        );
    }

    #[test]
    fn a_full_waiting_room_drops_frames_that_the_repair_then_reads() {
        let mut s = Sequencer::new(2);
        let mut out = Vec::new();
        s.seed(Seq(0));
        assert!(s.offer(f(2), &mut out).is_some());
        for seq in 3..=6 {
            s.offer(f(seq), &mut out);
        }
        assert!(out.is_empty());
        assert!(!s.repaired((1..=6).map(f).collect(), &mut out));
        assert_eq!(seqs(&out), [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn terminal_frames_pass_at_once() {
        let mut s = Sequencer::new(2);
        let mut out = Vec::new();
        s.seed(Seq(3));
        let mut end = Frame {
            room_id: RoomId(1),
            seq: Seq(9),
            sent_at: None,
            terminal: true,
            ephemeral: None,
            json: "x".into(),
        };
        end.terminal = true;
        s.offer(Arc::new(end), &mut out);
        assert_eq!(seqs(&out), [9]);
    }
}
