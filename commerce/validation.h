#pragma once
// Input checks shared by the services and the HTTP layer. A failed check is
// Status::InvalidArgument with reason "validation_failed" and a message
// "<field>: <what is wrong>", so the API can name the field (422, details.field).

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace keel::commerce {

Status FieldError(std::string_view field, std::string_view what);
// The field a validation error names, or "".
std::string FieldOf(const Status& s);

Status CheckText(std::string_view field, std::string_view value, size_t min_len, size_t max_len);
Status CheckCurrency(std::string_view field, std::string_view value);
Status CheckRange(std::string_view field, int64_t value, int64_t min, int64_t max);
// An ISO 3166-1 alpha-2 code, upper case ("US").
Status CheckCountry(std::string_view field, std::string_view value);
// `o` names no field but `names`; otherwise the unknown one is "<prefix><name>: is not
// <what>".
Status CheckKnownFields(const json::object& o, std::string_view prefix,
                        std::initializer_list<std::string_view> names, std::string_view what);
// ASCII letters upper-cased ("gb" is GB, "save10" is SAVE10).
std::string AsciiUpper(std::string s);

// Limits that keep one request or row bounded.
inline constexpr int64_t kMaxPriceMinor = 100'000'000'00;  // 100 million in major units
inline constexpr int64_t kMaxQuantity = 1'000'000;
inline constexpr int64_t kMaxCartLineQuantity = 999;
inline constexpr size_t kMaxCartLines = 100;
inline constexpr size_t kMaxAttributesBytes = 8 * 1024;

}  // namespace keel::commerce
