#include "cli/cli.h"

int main(int argc, char** argv) { return keel::cli::RunCli(argc, argv); }
