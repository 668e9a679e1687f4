#pragma once
// `keel chaos` (SPEC section 8): a fault drill over a real deployment. The API
// (`keel serve --no-workers`), two or more `keel worker`s, the gateway and the carrier
// run as separate processes while clients check out scarce stock (declines, 3-D
// Secure, cancels and returns, against a gateway that fails, drops replies, lags and
// repeats its webhooks). Every --kill-every seconds a fault: a process SIGKILLed and
// restarted, a worker SIGSTOPped past its leases and resumed (a fenced zombie), or on
// PostgreSQL the server restarted. Then the faults stop, the system settles, and
// the audit runs. Exit 1 on any violation.

#include <cstdint>
#include <string>

#include "common/clock.h"

namespace keel::cli {

struct DrillOptions {
  std::string db;
  int duration_s = 60;
  double kill_every_s = 3;
  int checkouts = 300;  // started over the duration
  int hot_skus = 3;     // the scarce items everyone buys
  uint64_t seed = 0;    // 0: from the clock (printed, to repeat a drill)
  int clients = 12;
  int workers = 2;
  std::string pg_restart;  // a shell command that restarts the PostgreSQL server
  Millis payment_window_ms = 20'000;
  Millis stop_for_ms = 16'000;   // a SIGSTOP lasts this long: past every lease
  std::string work_dir;          // logs and secrets ("": a new temp dir)
  std::string sim_data;          // the simulators' ledgers ("": the sqlite dir, or ./keel-sim-data)
  std::string binary;            // this keel
  bool hold_on_failure = false;  // leave the processes running when the drill fails
};

// Runs the drill and prints its report; returns the exit code.
int RunDrill(const DrillOptions& options);

}  // namespace keel::cli
