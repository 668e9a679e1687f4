#pragma once
// Errors as values (LevelDB style). A Status is a code plus a message; Result<T>
// is a value or a non-ok Status. Operator-facing stable codes are listed in
// docs/errors.md; `reason()` carries one when the error has it.

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace keel {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,  // caller's input is wrong; do not retry
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,  // state does not allow it (closed run, newer schema...)
  kConditionFailed,     // optimistic check lost: reload and retry
  kUnavailable,         // transient: locked database, lost connection
  kResourceExhausted,   // disk full, size limit
  kCorruption,
  kInternal,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m, std::string r = "invalid_argument") {
    return Status(StatusCode::kInvalidArgument, std::move(m), std::move(r));
  }
  static Status NotFound(std::string m, std::string r = "not_found") {
    return Status(StatusCode::kNotFound, std::move(m), std::move(r));
  }
  static Status AlreadyExists(std::string m, std::string r = "already_exists") {
    return Status(StatusCode::kAlreadyExists, std::move(m), std::move(r));
  }
  static Status FailedPrecondition(std::string m, std::string r = "failed_precondition") {
    return Status(StatusCode::kFailedPrecondition, std::move(m), std::move(r));
  }
  static Status ConditionFailed(std::string m, std::string r = "condition_failed") {
    return Status(StatusCode::kConditionFailed, std::move(m), std::move(r));
  }
  static Status Unavailable(std::string m, std::string r = "unavailable") {
    return Status(StatusCode::kUnavailable, std::move(m), std::move(r));
  }
  static Status ResourceExhausted(std::string m, std::string r = "resource_exhausted") {
    return Status(StatusCode::kResourceExhausted, std::move(m), std::move(r));
  }
  static Status Corruption(std::string m, std::string r = "corruption") {
    return Status(StatusCode::kCorruption, std::move(m), std::move(r));
  }
  static Status Internal(std::string m, std::string r = "internal") {
    return Status(StatusCode::kInternal, std::move(m), std::move(r));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Stable, documented code (docs/errors.md), e.g. "nondeterminism".
  const std::string& reason() const { return reason_; }
  // Transient errors are worth retrying as they are.
  bool transient() const {
    return code_ == StatusCode::kUnavailable || code_ == StatusCode::kConditionFailed;
  }
  std::string ToString() const;

 private:
  Status(StatusCode c, std::string m, std::string r)
      : code_(c), message_(std::move(m)), reason_(std::move(r)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string reason_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit on purpose
  Result(Status status) : v_(std::move(status)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  // By value, so `for (auto& x : F().value())` keeps the temporary's value alive.
  T value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace keel

#define KEEL_RETURN_IF_ERROR(expr) \
  do {                             \
    ::keel::Status _st = (expr);   \
    if (!_st.ok()) return _st;     \
  } while (0)

#define KEEL_CONCAT_INNER(a, b) a##b
#define KEEL_CONCAT(a, b) KEEL_CONCAT_INNER(a, b)
#define KEEL_ASSIGN_OR_RETURN(lhs, expr) \
  KEEL_ASSIGN_OR_RETURN_IMPL(KEEL_CONCAT(_res_, __LINE__), lhs, expr)
#define KEEL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
