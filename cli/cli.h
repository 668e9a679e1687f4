#pragma once
// The `keel` command line. Exit codes: 0 ok, 1 failure found, 2 usage error.

namespace keel::cli {

int RunCli(int argc, char** argv);

}  // namespace keel::cli
