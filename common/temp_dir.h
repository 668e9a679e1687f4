#pragma once
// A fresh directory under the system temp dir, removed (with its contents) when the
// owner is destroyed, unless Keep() was called.

#include <string>

#include "common/status.h"

namespace keel {

class TempDir {
 public:
  // `prefix` names the dir, e.g. "keel-test" -> /tmp/keel-test-AbC123.
  static Result<TempDir> Create(const std::string& prefix);
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)), keep_(o.keep_) { o.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }
  void Keep() { keep_ = true; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
  bool keep_ = false;
};

}  // namespace keel
