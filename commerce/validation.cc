#include "commerce/validation.h"

namespace keel::commerce {

Status FieldError(std::string_view field, std::string_view what) {
  return Status::InvalidArgument(std::string(field) + ": " + std::string(what),
                                 "validation_failed");
}

std::string FieldOf(const Status& s) {
  if (s.reason() != "validation_failed") return "";
  size_t colon = s.message().find(": ");
  return colon == std::string::npos ? "" : s.message().substr(0, colon);
}

Status CheckText(std::string_view field, std::string_view value, size_t min_len, size_t max_len) {
  if (value.size() < min_len) {
    return FieldError(field, min_len == 1
                                 ? "is required"
                                 : "must be at least " + std::to_string(min_len) + " characters");
  }
  if (value.size() > max_len) {
    return FieldError(field, "must be at most " + std::to_string(max_len) + " bytes");
  }
  for (unsigned char c : value) {
    if (c < 0x20 && c != '\n' && c != '\t') return FieldError(field, "has control characters");
  }
  return Status::Ok();
}

Status CheckCurrency(std::string_view field, std::string_view value) {
  bool ok = value.size() == 3;
  for (char c : value) ok = ok && c >= 'A' && c <= 'Z';
  return ok ? Status::Ok() : FieldError(field, "must be an ISO 4217 code such as USD");
}

Status CheckRange(std::string_view field, int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) {
    return FieldError(field,
                      "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return Status::Ok();
}

}  // namespace keel::commerce

namespace keel::commerce {

Status CheckCountry(std::string_view field, std::string_view value) {
  bool ok = value.size() == 2;
  for (char c : value) ok = ok && c >= 'A' && c <= 'Z';
  return ok ? Status::Ok() : FieldError(field, "must be an ISO 3166-1 alpha-2 code such as US");
}

Status CheckKnownFields(const json::object& o, std::string_view prefix,
                        std::initializer_list<std::string_view> names, std::string_view what) {
  for (const auto& [k, v] : o) {
    bool known = false;
    for (auto n : names) known = known || k == n;
    if (!known)
      return FieldError(std::string(prefix) + std::string(k), "is not " + std::string(what));
  }
  return Status::Ok();
}

std::string AsciiUpper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

}  // namespace keel::commerce
