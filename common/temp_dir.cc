#include "common/temp_dir.h"

#include <stdlib.h>

#include <filesystem>

namespace keel {

Result<TempDir> TempDir::Create(const std::string& prefix) {
  std::error_code ec;
  std::filesystem::path base = std::filesystem::temp_directory_path(ec);
  if (ec) base = "/tmp";
  std::string tmpl = (base / (prefix + "-XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) {
    return Status::FailedPrecondition("cannot create a temp dir under " + base.string(),
                                      "db_unusable");
  }
  return TempDir(tmpl);
}

TempDir::~TempDir() {
  if (path_.empty() || keep_) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace keel
