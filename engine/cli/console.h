// The console view of an apply: one line per change as it finishes ("[3/12] + account.x:
// created"), failures with their error, skips with the dependency that failed. The engine never
// prints; this observer is the command line's. Called on the executor's scheduler thread only.
#pragma once

#include <string>

#include "engine/executor.h"

namespace converge::cli {

class ConsoleObserver : public ApplyObserver {
 public:
  // `total`: the changes in the plan. `header` is printed before the first line, or by start().
  ConsoleObserver(bool color, size_t total, std::string header = "")
      : color_(color), total_(total), header_(std::move(header)) {}
  // Keeps the changes in flight for the deadline's message (session.h, change_started()).
  void started(const PlannedResource& r) override;
  void finished(const PlannedResource& r, const ResourceOutcome& o) override;
  // Lines go out a batch of results at a time (one write, not one per change).
  Status batch_end() override;
  // Prints the header if no line has (so it appears even when nothing was printed).
  void start();

 private:
  bool color_;
  size_t total_;
  size_t n_ = 0;
  std::string header_;
  bool started_ = false;
};

}  // namespace converge::cli
