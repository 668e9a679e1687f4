#pragma once
// Who holds a lease. An engine's identity is "HOST-PID-RANDOM", and its leases carry
// it. A process that died on this machine cannot finish what it leased: its leases
// need not run out (steps 10 s and more) before another worker takes the work.

#include <string>

namespace keel {

// "HOST-PID-RANDOM" for this process.
std::string NewEngineIdentity();

// True only when `owner` names a process of this host (by hostname) that no longer
// exists: never for this process, for another machine, or for a name of another form.
// A PID reused by an unrelated process reads as alive (the lease then runs out as
// usual); a wrong "gone" costs a duplicate attempt, which the lease token fences.
bool LeaseOwnerIsGone(const std::string& owner);

}  // namespace keel
