#pragma once
// Apply: the one function that writes a Transition, on any store, in the order its
// writes were made. Provisional task ids become the store's ids (in the execution
// rows that name them, and in the tasks handed over after the commit).
//
// Errors: the store's, unchanged (a stale version is kConditionFailed and the
// transition is decided again); kTimerGone / kRequestSeen (transition.h) when a write
// found the transition moot, which the caller reports as success.

#include "engine/transitions/transition.h"

namespace keel::transitions {

Status Apply(persistence::Txn& txn, Transition& t);

// Fetches what Decide asked for (Tx::needed()) into the snapshot.
Status Load(persistence::Txn& txn, const Reads& reads, Snapshot& snap);

}  // namespace keel::transitions
