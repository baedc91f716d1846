// A provider for engine tests: serves every type from a map of resource id -> observed
// attributes, counting observe() calls; apply() does nothing.
#pragma once

#include <map>
#include <string>

#include "engine/api/provider.h"

namespace converge::test {

class MapProvider : public Provider {
 public:
  ObserveResponse observe(const ObserveRequest& req) override {
    ++calls;
    ObserveResponse r;
    for (const auto& v : req.resources) {
      Observation o;
      if (auto it = world.find(*v.id); it != world.end()) {
        o.exists = true;
        o.attrs = it->second;
      }
      r.results.push_back(std::move(o));
    }
    return r;
  }
  ApplyResponse apply(const ApplyRequest&) override { return {}; }
  std::map<std::string, AttrMap> world;
  int calls = 0;
};

}  // namespace converge::test
