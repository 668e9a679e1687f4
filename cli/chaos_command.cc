// keel chaos: the fault drill of SPEC section 8 (cli/chaos/drill.h).

#include <unistd.h>

#include <climits>

#include "cli/chaos/drill.h"
#include "cli/commands.h"

namespace keel::cli {

void AddChaosCommand(CLI::App& app, CliState& state) {
  static DrillOptions o;
  auto* cmd = app.add_subcommand(
      "chaos",
      "a fault drill: the shop in separate processes, killed and paused under load, "
      "then audited; exit 1 on any violation");
  cmd->add_option("--db", o.db, "sqlite:DIR or postgresql://... (the drill's store)")
      ->required()
      ->envname("KEEL_DB");
  cmd->add_option("--duration", o.duration_s, "seconds of faults and traffic")
      ->check(CLI::Range(5, 24 * 3600));
  cmd->add_option("--kill-every", o.kill_every_s, "seconds between faults (jittered)")
      ->check(CLI::Range(0.2, 3600.0));
  cmd->add_option("--checkouts", o.checkouts, "checkouts started over the drill")
      ->check(CLI::Range(1, 10'000'000));
  cmd->add_option("--hot-skus", o.hot_skus, "scarce items that everyone buys")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--seed", o.seed, "repeats a drill's choices (0: from the clock)");
  cmd->add_option("--clients", o.clients, "concurrent clients")->check(CLI::Range(1, 256));
  cmd->add_option("--workers", o.workers, "worker processes (at least 2)")
      ->check(CLI::Range(2, 32));
  cmd->add_option("--pg-restart", o.pg_restart,
                  "a shell command that restarts the PostgreSQL server (immediate mode), run "
                  "as one of the faults");
  cmd->add_option("--payment-window-ms", o.payment_window_ms, "the shop's payment window")
      ->check(CLI::Range(int64_t{2000}, int64_t{3'600'000}));
  cmd->add_option("--stop-for-ms", o.stop_for_ms,
                  "how long a SIGSTOPped worker stays stopped (past its leases)")
      ->check(CLI::Range(int64_t{100}, int64_t{600'000}));
  cmd->add_option("--work-dir", o.work_dir, "logs and secrets (default: a new temp dir)");
  cmd->add_option("--sim-data", o.sim_data,
                  "the simulators' ledgers (default: the sqlite dir, or ./keel-sim-data)");
  cmd->add_flag("--hold-on-failure", o.hold_on_failure,
                "when the drill fails, leave its processes running for inspection");
  cmd->callback([&state] {
    state.action = [] {
      char self[PATH_MAX];
      ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
      if (n <= 0) return ReportError(Status::Internal("cannot find this keel binary"));
      self[n] = '\0';
      o.binary = self;
      return RunDrill(o);
    };
  });
}

}  // namespace keel::cli
