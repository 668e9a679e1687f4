#pragma once
// Secrets on the command line: each is --NAME VALUE (or KEEL_NAME), or --NAME-file
// PATH (or KEEL_NAME_FILE), whose first line is the secret, so it stays out of `ps`
// and shell history. Secrets are never logged.

#include <CLI/CLI.hpp>
#include <string>

#include "common/status.h"

namespace keel::cli {

struct SecretFlag {
  std::string value, file;
};

// Adds --NAME and --NAME-file to `cmd`.
void AddSecretOption(CLI::App* cmd, const std::string& name, SecretFlag& flag,
                     const std::string& help);
// The secret: the value, or the file's first line; "" when neither is given.
// usage errors: both given, an unreadable or empty file.
Result<std::string> ResolveSecret(const SecretFlag& flag, const std::string& name);

}  // namespace keel::cli
