// Rendering of plans and apply results for people. Two views over the same data: the human one
// here (terraform-plan style, colour only when asked) and the JSON one in Plan::to_json().
// Pure functions returning strings: the engine itself never prints.
#pragma once

#include <string>

#include "engine/executor.h"
#include "engine/plan.h"

namespace converge {

struct RenderOptions {
  bool color = false;
  bool show_noop = false;
};

std::string render_plan(const Plan& plan, const RenderOptions& opt);
std::string render_summary_line(const PlanSummary& s);
std::string render_apply_summary(const ApplySummary& s);
std::string action_symbol(Action a);

}  // namespace converge
