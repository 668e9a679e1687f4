#include "common/logging.h"

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace keel {

namespace {

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view text(msg.payload.data(), msg.payload.size());
    std::string wf, run;
    // "[wf=ID run=ID] rest"
    if (text.rfind("[wf=", 0) == 0) {
      size_t sp = text.find(" run=");
      size_t end = text.find("] ");
      if (sp != std::string_view::npos && end != std::string_view::npos && sp < end) {
        wf = std::string(text.substr(4, sp - 4));
        run = std::string(text.substr(sp + 5, end - sp - 5));
        text = text.substr(end + 2);
      }
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch());
    std::string out = "{\"ts\":";
    AppendJsonString(out, FormatUtc(ms.count()));
    out += ",\"level\":";
    auto level = spdlog::level::to_string_view(msg.level);
    AppendJsonString(out, std::string_view(level.data(), level.size()));
    if (!wf.empty()) {
      out += ",\"wf\":";
      AppendJsonString(out, wf);
      out += ",\"run\":";
      AppendJsonString(out, run);
    }
    if (std::string_view(msg.logger_name.data(), msg.logger_name.size()) == "access") {
      // Access lines are "k=v k=v ...": each pair becomes a field.
      AppendJsonString(out += ",\"log\":", "access");
      while (!text.empty()) {
        size_t sp = text.find(' ');
        std::string_view kv = text.substr(0, sp);
        size_t eq = kv.find('=');
        if (eq != std::string_view::npos) {
          out += ',';
          AppendJsonString(out, kv.substr(0, eq));
          out += ':';
          AppendJsonString(out, kv.substr(eq + 1));
        }
        text = sp == std::string_view::npos ? std::string_view() : text.substr(sp + 1);
      }
      out += "}\n";
      dest.append(out.data(), out.data() + out.size());
      return;
    }
    out += ",\"msg\":";
    AppendJsonString(out, text);
    out += "}\n";
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

void UseJsonLogs() { spdlog::set_formatter(std::make_unique<JsonFormatter>()); }

}  // namespace keel
