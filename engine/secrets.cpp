#include "engine/secrets.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace converge {

Result<std::string> resolve_secret(const std::string& ref, const std::string& base_dir) {
  if (ref.rfind("env:", 0) == 0) {
    std::string var = ref.substr(4);
    const char* v = std::getenv(var.c_str());
    if (!v || !*v)
      return Error::NotFound("secret: environment variable " + var + " is not set",
                             "export " + var + " before running");
    return std::string(v);
  }
  if (ref.rfind("file:", 0) == 0) {
    std::string path = ref.substr(5);
    if (!path.empty() && path[0] != '/' && !base_dir.empty()) path = base_dir + "/" + path;
    std::ifstream in(path, std::ios::binary);
    if (!in)
      return Error::NotFound("secret: cannot read file " + path,
                             "check the path and its permissions");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    if (!s.empty() && s.back() == '\n') s.pop_back();
    if (!s.empty() && s.back() == '\r') s.pop_back();
    if (s.empty()) return Error::Invalid("secret: file " + path + " is empty", "");
    return s;
  }
  return Error::Invalid("not a secret reference", "write { env = \"VAR\" } or { file = \"path\" }");
}

}  // namespace converge
