#pragma once
// Plain structs to and from JSON, for payloads that outlive the code that wrote them
// (workflow and activity inputs and results are kept in histories for ever).
//
//   struct Hold { std::string hold_id; int64_t quantity = 0; std::optional<std::string> note; };
//   BOOST_DESCRIBE_STRUCT(Hold, (), (hold_id, quantity, note))
//
//   json::value v = Encode(hold);          // {"hold_id":"h1","quantity":2}
//   Hold h = Decode<Hold>(v, "hold");      // throws JsonShapeError naming the field
//
// Members convert in declaration order: strings, bool, integers, double, std::vector,
// std::optional, json::value/object/array, and other described structs.
// Encode: an object with every member; an empty optional is left out.
// Decode: keys the struct does not know are ignored (a newer writer added them); a
// missing key is an error unless its member is a std::optional; a value of the wrong
// type is an error. (Boost.JSON's own conversion of described structs refuses unknown
// and missing keys alike, which would make old histories unreadable.)

#include <boost/describe.hpp>
#include <boost/mp11/algorithm.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/json.h"

namespace keel {

// A JSON value that does not have the shape a struct needs. what() names the path.
class JsonShapeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace json_struct {

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
struct IsVector : std::false_type {};
template <class T, class A>
struct IsVector<std::vector<T, A>> : std::true_type {};

template <class T>
inline constexpr bool kDescribed = boost::describe::has_describe_members<T>::value;

[[noreturn]] inline void Wrong(const std::string& path, const char* want) {
  throw JsonShapeError(path + ": expected " + want);
}

template <class T>
json::value EncodeAny(const T& v) {
  if constexpr (kDescribed<T>) {
    json::object o;
    boost::mp11::mp_for_each<boost::describe::describe_members<
        T, boost::describe::mod_public | boost::describe::mod_inherited>>([&](auto d) {
      const auto& m = v.*d.pointer;
      using M = std::decay_t<decltype(m)>;
      if constexpr (IsOptional<M>::value) {
        if (m) o[d.name] = EncodeAny(*m);
      } else {
        o[d.name] = EncodeAny(m);
      }
    });
    return o;
  } else if constexpr (IsVector<T>::value) {
    json::array a;
    a.reserve(v.size());
    for (const auto& x : v) a.push_back(EncodeAny(x));
    return a;
  } else if constexpr (IsOptional<T>::value) {
    return v ? EncodeAny(*v) : json::value(nullptr);
  } else {
    return json::value_from(v);  // scalars, strings, json::value/object/array
  }
}

template <class T>
void DecodeInto(const json::value& v, T& out, const std::string& path) {
  if constexpr (kDescribed<T>) {
    if (!v.is_object()) Wrong(path, "an object");
    const json::object& o = v.as_object();
    boost::mp11::mp_for_each<boost::describe::describe_members<
        T, boost::describe::mod_public | boost::describe::mod_inherited>>([&](auto d) {
      auto& m = out.*d.pointer;
      using M = std::decay_t<decltype(m)>;
      const std::string sub = path.empty() ? d.name : path + "." + d.name;
      const json::value* f = o.if_contains(d.name);
      if (!f) {
        if constexpr (IsOptional<M>::value) return;
        throw JsonShapeError(sub + ": missing");
      }
      DecodeInto(*f, m, sub);
    });
  } else if constexpr (IsOptional<T>::value) {
    if (v.is_null()) {
      out.reset();
    } else {
      DecodeInto(v, out.emplace(), path);
    }
  } else if constexpr (IsVector<T>::value) {
    if (!v.is_array()) Wrong(path, "an array");
    out.clear();
    out.resize(v.as_array().size());
    for (size_t i = 0; i < out.size(); ++i) {
      DecodeInto(v.as_array()[i], out[i], path + "[" + std::to_string(i) + "]");
    }
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) Wrong(path, "a string");
    out.assign(v.as_string().data(), v.as_string().size());
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_bool()) Wrong(path, "true or false");
    out = v.as_bool();
  } else if constexpr (std::is_integral_v<T>) {
    if (v.is_int64() && std::in_range<T>(v.as_int64())) {
      out = static_cast<T>(v.as_int64());
    } else if (v.is_uint64() && std::in_range<T>(v.as_uint64())) {
      out = static_cast<T>(v.as_uint64());
    } else {
      Wrong(path, "an integer in range");
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) Wrong(path, "a number");
    out = static_cast<T>(v.to_number<double>());
  } else if constexpr (std::is_same_v<T, json::value>) {
    out = v;
  } else if constexpr (std::is_same_v<T, json::object>) {
    if (!v.is_object()) Wrong(path, "an object");
    out = v.as_object();
  } else if constexpr (std::is_same_v<T, json::array>) {
    if (!v.is_array()) Wrong(path, "an array");
    out = v.as_array();
  } else {
    static_assert(sizeof(T) == 0, "no JSON conversion for this member type");
  }
}

}  // namespace json_struct

template <class T>
json::value Encode(const T& v) {
  return json_struct::EncodeAny(v);
}

// Throws JsonShapeError; `what` names the value in the message ("reserve input").
template <class T>
T Decode(const json::value& v, const std::string& what = "value") {
  T out{};
  json_struct::DecodeInto(v, out, what);
  return out;
}

}  // namespace keel
