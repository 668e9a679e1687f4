#include "cli/secrets.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>

namespace keel::cli {

void AddSecretOption(CLI::App* cmd, const std::string& name, SecretFlag& flag,
                     const std::string& help) {
  cmd->add_option("--" + name, flag.value, help + " (prefer --" + name + "-file)");
  cmd->add_option("--" + name + "-file", flag.file,
                  "a file whose first line is the " + name + " (kept out of ps)");
}

Result<std::string> ResolveSecret(const SecretFlag& flag, const std::string& name) {
  if (flag.file.empty()) return flag.value;
  if (!flag.value.empty()) {
    return Status::InvalidArgument("give --" + name + " or --" + name + "-file, not both", "usage");
  }
  std::ifstream in(flag.file);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return Status::InvalidArgument("--" + name + "-file: cannot read " + flag.file, "usage");
  }
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) {
    return Status::InvalidArgument("--" + name + "-file: " + flag.file + " is empty", "usage");
  }
  struct stat st {};
  if (stat(flag.file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    spdlog::warn("--{}-file {} is readable by other users (chmod 600 it)", name, flag.file);
  }
  return line;
}

}  // namespace keel::cli
