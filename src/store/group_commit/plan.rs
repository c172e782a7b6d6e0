//! The decisions of a batch, with no database in them: which seqs to reserve, what becomes of
//! each message, which seq each new one gets and which go back, and what each request is told.
//! `phases` runs the queries in between.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Message, Sent};
use crate::ids::{RoomId, Seq, UserId};
use crate::store::events::{EventKind, EventRow, EventView};
use crate::store::message_changes::ERASED;
use crate::store::{Rejection, StoreError};

/// What a request is told.
pub(super) type Outcome = Result<Sent, StoreError>;
/// Stored Idempotency-Keys: `(author, room, key) -> (request digest, event it stored)`.
pub(super) type StoredKeys = HashMap<(UserId, RoomId, String), (String, Option<i64>)>;

/// How one message of the batch is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    New,
    /// Replays a stored event.
    Stored(i64),
    /// Replays an earlier message of this same batch.
    SameAs(usize),
    Refuse(Rejection),
}

/// `(room, n)` for each room of the batch, by room id: every message reserves a seq up front,
/// so the common batch moves each room's counter once; `assign_seqs` hands back the unused.
pub(super) fn reservations(batch: &[&Message]) -> Vec<(RoomId, i64)> {
    let mut counts: BTreeMap<RoomId, i64> = BTreeMap::new();
    for m in batch {
        *counts.entry(m.room_id).or_default() += 1;
    }
    counts.into_iter().collect()
}

/// The `(author, room, key)` of each keyed message.
pub(super) fn key_triples<'a>(batch: &[&'a Message]) -> HashSet<(UserId, RoomId, &'a str)> {
    batch
        .iter()
        .filter_map(|m| {
            m.key
                .as_ref()
                .map(|(k, _)| (m.author.id, m.room_id, k.as_str()))
        })
        .collect()
}

/// `((room, author), n)`: how many messages each author sends to each room in the batch.
pub(super) fn own_counts(batch: &[&Message]) -> Vec<((RoomId, UserId), i64)> {
    let mut counts: BTreeMap<(RoomId, UserId), i64> = BTreeMap::new();
    for m in batch {
        *counts.entry((m.room_id, m.author.id)).or_default() += 1;
    }
    counts.into_iter().collect()
}

/// `((room, author), -n)`: the `n` messages of each member's count in `own_counts` that were
/// not stored (replays, refusals), to give back before commit.
pub(super) fn own_unused(
    batch: &[&Message],
    plans: &[Plan],
    members: &HashSet<(RoomId, UserId)>,
) -> Vec<((RoomId, UserId), i64)> {
    let mut unused: BTreeMap<(RoomId, UserId), i64> = BTreeMap::new();
    for (m, p) in batch.iter().zip(plans) {
        let pair = (m.room_id, m.author.id);
        if *p != Plan::New && members.contains(&pair) {
            *unused.entry(pair).or_default() -= 1;
        }
    }
    unused.into_iter().collect()
}

/// Decides each message: store it, replay a stored one, or refuse it. `last` has an entry for
/// each room that exists.
pub(super) fn plan(
    batch: &[&Message],
    last: &HashMap<RoomId, Seq>,
    members: &HashSet<(RoomId, UserId)>,
    stored_keys: &StoredKeys,
) -> Vec<Plan> {
    // Keys first used earlier in this batch: (author, room, key) -> (index, digest).
    let mut seen: HashMap<(UserId, RoomId, &str), (usize, &str)> = HashMap::new();
    batch
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if !last.contains_key(&m.room_id) {
                return Plan::Refuse(Rejection::RoomNotFound);
            }
            if let Some((key, hash)) = &m.key {
                if let Some((stored_hash, event)) =
                    stored_keys.get(&(m.author.id, m.room_id, key.clone()))
                {
                    // A deleted message's keys lost their digest: any body replays the tombstone.
                    let same = stored_hash == hash || stored_hash == ERASED;
                    return match (same, event) {
                        (true, Some(id)) => Plan::Stored(*id),
                        _ => Plan::Refuse(Rejection::IdempotencyKeyReused),
                    };
                }
                if let Some((first, first_hash)) = seen.get(&(m.author.id, m.room_id, key.as_str()))
                {
                    return if *first_hash == hash.as_str() {
                        Plan::SameAs(*first)
                    } else {
                        Plan::Refuse(Rejection::IdempotencyKeyReused)
                    };
                }
            }
            if !members.contains(&(m.room_id, m.author.id)) {
                return Plan::Refuse(Rejection::NotAMember);
            }
            if let Some((key, hash)) = &m.key {
                seen.insert((m.author.id, m.room_id, key.as_str()), (i, hash.as_str()));
            }
            Plan::New
        })
        .collect()
}

/// The seqs of a batch, from `assign_seqs`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Seqs {
    /// Each message's seq; `None` for all but the new ones.
    pub each: Vec<Option<Seq>>,
    /// `(room, -n)`: the `n` reserved seqs no message took, to give back before commit.
    pub unused: Vec<(RoomId, i64)>,
}

/// Hands out seqs in batch order from the bottom of each room's reserved range, which ends at
/// `last` (the room's counter after the reservation), so the unused ones are at its top and
/// giving them back leaves no gap.
pub(super) fn assign_seqs(
    batch: &[&Message],
    plans: &[Plan],
    reserved: &[(RoomId, i64)],
    last: &HashMap<RoomId, Seq>,
) -> Seqs {
    // Seq arithmetic stays in here, on plain numbers: counts move counters.
    let mut next: BTreeMap<RoomId, i64> = reserved
        .iter()
        .filter_map(|(room, n)| Some((*room, last.get(room)?.0 + 1 - n)))
        .collect();
    let each = batch
        .iter()
        .zip(plans)
        .map(|(m, p)| match p {
            Plan::New => next.get_mut(&m.room_id).map(|s| {
                *s += 1;
                Seq(*s - 1)
            }),
            _ => None,
        })
        .collect();
    let unused = next
        .iter()
        .filter_map(|(room, next)| {
            let top = last.get(room)?.0;
            (*next <= top).then_some((*room, next - top - 1))
        })
        .collect();
    Seqs { each, unused }
}

/// What each request is told, in batch order. `inserted` are the new rows by `(room, seq)`,
/// `replayed` the stored events replays point at, by id.
pub(super) fn outcomes(
    batch: &[&Message],
    plans: &[Plan],
    seqs: &[Option<Seq>],
    mut inserted: HashMap<(RoomId, Seq), EventRow>,
    replayed: &HashMap<i64, EventView>,
) -> Vec<Outcome> {
    let mut views: Vec<Option<EventView>> = Vec::with_capacity(batch.len());
    let mut outcomes = Vec::with_capacity(batch.len());
    for ((m, p), seq) in batch.iter().zip(plans).zip(seqs) {
        let outcome = match p {
            Plan::New => seq
                .and_then(|s| inserted.remove(&(m.room_id, s)))
                .map(|event| EventView {
                    event,
                    actor: m.author.clone(),
                })
                .ok_or(Rejection::RoomNotFound),
            // Only a send's key replays: one an edit stored names a `message.updated` event.
            Plan::Stored(id) => replayed
                .get(id)
                .filter(|v| v.event.kind == EventKind::MessageCreated)
                .cloned()
                .ok_or(Rejection::IdempotencyKeyReused),
            Plan::SameAs(i) => views
                .get(*i)
                .cloned()
                .flatten()
                .ok_or(Rejection::IdempotencyKeyReused),
            Plan::Refuse(r) => Err(*r),
        };
        views.push(outcome.as_ref().ok().cloned());
        outcomes.push(match (p, outcome) {
            (Plan::New, Ok(v)) => Ok(Sent::New(v)),
            (_, Ok(v)) => Ok(Sent::Replayed(v)),
            (_, Err(r)) => Err(StoreError::Rejected(r)),
        });
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::store::accounts::Profile;
    use crate::store::events::EventKind;

    fn msg(room: i64, author: i64, key: Option<(&str, &str)>) -> Message {
        Message {
            room_id: RoomId(room),
            author: Profile {
                id: UserId(author),
                username: format!("u{author}"),
                is_bot: false,
            },
            content: "hi".into(),
            key: key.map(|(k, h)| (k.into(), h.into())),
            received_at: Instant::now(),
        }
    }

    fn row(id: i64, room: i64, seq: i64, actor: i64) -> EventRow {
        EventRow {
            id,
            room_id: RoomId(room),
            seq: Seq(seq),
            kind: EventKind::MessageCreated,
            actor_id: UserId(actor),
            content: Some("hi".into()),
            created_at: 0,
            target_id: None,
            edited_at: None,
            deleted_at: None,
        }
    }

    /// Test literals as ids: `(room, n)` pairs and `(room, last seq)` maps.
    fn rooms(pairs: &[(i64, i64)]) -> Vec<(RoomId, i64)> {
        pairs.iter().map(|(r, n)| (RoomId(*r), *n)).collect()
    }

    fn lasts(pairs: &[(i64, i64)]) -> HashMap<RoomId, Seq> {
        pairs.iter().map(|(r, s)| (RoomId(*r), Seq(*s))).collect()
    }

    fn seq_list(each: &[Option<i64>]) -> Vec<Option<Seq>> {
        each.iter().map(|s| s.map(Seq)).collect()
    }

    fn refs(batch: &[Message]) -> Vec<&Message> {
        batch.iter().collect()
    }

    #[test]
    fn reservations_count_each_room_once_in_room_order() {
        let batch = [msg(7, 1, None), msg(3, 1, None), msg(7, 2, None)];
        assert_eq!(reservations(&refs(&batch)), rooms(&[(3, 1), (7, 2)]));
        assert_eq!(reservations(&[]), []);
    }

    #[test]
    fn pairs_and_triples_are_deduplicated() {
        let batch = [
            msg(1, 5, Some(("k", "h"))),
            msg(1, 5, Some(("k", "h"))),
            msg(2, 5, None),
        ];
        let batch = refs(&batch);
        assert_eq!(
            own_counts(&batch),
            [((RoomId(1), UserId(5)), 2), ((RoomId(2), UserId(5)), 1)]
        );
        assert_eq!(
            key_triples(&batch),
            HashSet::from([(UserId(5), RoomId(1), "k")])
        );
    }

    #[test]
    fn own_counts_give_back_what_members_did_not_store() {
        let batch = [
            msg(1, 5, None),
            msg(1, 5, None),
            msg(1, 6, None),
            msg(2, 7, None),
        ];
        let members = HashSet::from([(RoomId(1), UserId(5)), (RoomId(1), UserId(6))]);
        let plans = [
            Plan::New,
            Plan::SameAs(0),
            Plan::Refuse(Rejection::IdempotencyKeyReused),
            Plan::Refuse(Rejection::NotAMember),
        ];
        // Not a member: no row was counted, so none is given back.
        assert_eq!(
            own_unused(&refs(&batch), &plans, &members),
            [((RoomId(1), UserId(5)), -1), ((RoomId(1), UserId(6)), -1)]
        );
        assert!(own_unused(&refs(&batch[..1]), &plans[..1], &members).is_empty());
    }

    #[test]
    fn plan_refuses_missing_rooms_and_non_members_and_replays_keys() {
        let batch = [
            msg(9, 1, None),                // room 9 does not exist
            msg(1, 2, None),                // 2 is not a member of room 1
            msg(1, 1, Some(("old", "h"))),  // stored with the same digest
            msg(1, 1, Some(("bad", "h2"))), // stored with another digest
            msg(1, 1, Some(("new", "h"))),  // first use
            msg(1, 1, Some(("new", "h"))),  // same key again in this batch
            msg(1, 1, Some(("new", "x"))),  // same key, other body
            msg(1, 1, None),
        ];
        let last = lasts(&[(1, 10)]);
        let members = HashSet::from([(RoomId(1), UserId(1))]);
        let stored: StoredKeys = HashMap::from([
            ((UserId(1), RoomId(1), "old".into()), ("h".into(), Some(40))),
            ((UserId(1), RoomId(1), "bad".into()), ("h".into(), Some(41))),
        ]);
        assert_eq!(
            plan(&refs(&batch), &last, &members, &stored),
            [
                Plan::Refuse(Rejection::RoomNotFound),
                Plan::Refuse(Rejection::NotAMember),
                Plan::Stored(40),
                Plan::Refuse(Rejection::IdempotencyKeyReused),
                Plan::New,
                Plan::SameAs(4),
                Plan::Refuse(Rejection::IdempotencyKeyReused),
                Plan::New,
            ]
        );
    }

    #[test]
    fn seqs_are_handed_out_from_the_bottom_and_the_top_goes_back() {
        // Room 1 reserved 4 (last 4 -> 8: seqs 5..=8), room 2 reserved 2 (last 0 -> 2).
        let batch = [
            msg(1, 1, None),
            msg(2, 1, None),
            msg(1, 1, None),
            msg(1, 1, None),
            msg(2, 1, None),
            msg(1, 1, None),
        ];
        let plans = [
            Plan::New,
            Plan::Refuse(Rejection::NotAMember),
            Plan::Stored(3),
            Plan::New,
            Plan::Refuse(Rejection::NotAMember),
            Plan::New,
        ];
        let reserved = reservations(&refs(&batch));
        assert_eq!(reserved, rooms(&[(1, 4), (2, 2)]));
        let seqs = assign_seqs(&refs(&batch), &plans, &reserved, &lasts(&[(1, 8), (2, 2)]));
        assert_eq!(
            seqs,
            Seqs {
                each: seq_list(&[Some(5), None, None, Some(6), None, Some(7)]),
                unused: rooms(&[(1, -1), (2, -2)]),
            }
        );
    }

    #[test]
    fn a_batch_of_new_messages_gives_nothing_back() {
        let batch = [msg(4, 1, None), msg(4, 2, None)];
        let seqs = assign_seqs(
            &refs(&batch),
            &[Plan::New, Plan::New],
            &rooms(&[(4, 2)]),
            &lasts(&[(4, 2)]),
        );
        assert_eq!(seqs.each, [Some(Seq(1)), Some(Seq(2))]);
        assert!(seqs.unused.is_empty());
    }

    #[test]
    fn a_missing_room_gets_no_seq_and_gives_nothing_back() {
        let batch = [msg(4, 1, None)];
        let seqs = assign_seqs(
            &refs(&batch),
            &[Plan::Refuse(Rejection::RoomNotFound)],
            &rooms(&[(4, 1)]),
            &HashMap::new(),
        );
        assert_eq!(seqs.each, [None]);
        assert!(seqs.unused.is_empty());
    }

    #[test]
    fn outcomes_pair_each_request_with_its_row_or_refusal() {
        let batch = [
            msg(1, 1, Some(("k", "h"))),
            msg(1, 1, Some(("k", "h"))),
            msg(1, 1, Some(("old", "h"))),
            msg(1, 2, None),
            msg(1, 1, None),
        ];
        let plans = [
            Plan::New,
            Plan::SameAs(0),
            Plan::Stored(40),
            Plan::Refuse(Rejection::NotAMember),
            Plan::New,
        ];
        let seqs = seq_list(&[Some(5), None, None, None, Some(6)]);
        let inserted = HashMap::from([
            ((RoomId(1), Seq(6)), row(101, 1, 6, 1)),
            ((RoomId(1), Seq(5)), row(100, 1, 5, 1)),
        ]);
        let stored = EventView {
            event: row(40, 1, 2, 1),
            actor: batch[2].author.clone(),
        };
        let replayed = HashMap::from([(40, stored)]);
        let got: Vec<String> = outcomes(&refs(&batch), &plans, &seqs, inserted, &replayed)
            .into_iter()
            .map(|o| match o {
                Ok(Sent::New(v)) => format!("new {} seq {}", v.event.id, v.event.seq),
                Ok(Sent::Replayed(v)) => format!("replayed {} seq {}", v.event.id, v.event.seq),
                Err(e) => format!("{e}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                "new 100 seq 5",
                "replayed 100 seq 5",
                "replayed 40 seq 2",
                "rejected: NotAMember",
                "new 101 seq 6",
            ]
        );
    }

    #[test]
    fn a_replay_whose_event_is_gone_is_refused() {
        let batch = [msg(1, 1, Some(("k", "h"))), msg(1, 1, Some(("k", "h")))];
        // The first was refused, so the second has nothing to replay.
        let plans = [Plan::Stored(7), Plan::SameAs(0)];
        let got = outcomes(
            &refs(&batch),
            &plans,
            &[None, None],
            HashMap::new(),
            &HashMap::new(),
        );
        assert!(got.iter().all(|o| matches!(
            o,
            Err(StoreError::Rejected(Rejection::IdempotencyKeyReused))
        )));
    }
}
