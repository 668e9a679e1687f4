#include "engine/lease_owners.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "common/ids.h"

namespace keel {
namespace {

std::string HostName() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return host;
}

}  // namespace

std::string NewEngineIdentity() {
  return HostName() + "-" + std::to_string(getpid()) + "-" + NewRandomUuid().substr(0, 6);
}

bool LeaseOwnerIsGone(const std::string& owner) {
  const size_t random = owner.rfind('-');
  if (random == std::string::npos || random == 0) return false;
  const size_t pid_at = owner.rfind('-', random - 1);
  if (pid_at == std::string::npos) return false;
  if (owner.compare(0, pid_at, HostName()) != 0 || pid_at != HostName().size()) return false;
  const std::string digits = owner.substr(pid_at + 1, random - pid_at - 1);
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  const pid_t pid = static_cast<pid_t>(std::atol(digits.c_str()));
  if (pid <= 1 || pid == getpid()) return false;
  return kill(pid, 0) == -1 && errno == ESRCH;
}

}  // namespace keel
