// Retention: closed runs older than the retention period go, a batch at a time.
#include "engine/transitions/inputs.h"

namespace keel::transitions {

Input Retention(Millis retention, int limit) {
  Input in{"retention", {}, nullptr};
  in.decide = [retention, limit](Tx& tx) -> Status {
    tx.DeleteClosedRuns(tx.Now() - retention, limit);
    return Status::Ok();
  };
  return in;
}

}  // namespace keel::transitions
